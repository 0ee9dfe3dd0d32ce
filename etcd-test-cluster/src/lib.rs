//! Test support for `scoped-lockfile-etcd`, not published: local etcd clusters
//! (Debian's `etcd-server`, `/usr/bin/etcd`) on 127.0.0.1 with ephemeral
//! ports, and processes tied to the test process so that none outlives it.

mod cluster;
mod http;
mod tied;

pub use cluster::{Cluster, ETCD, Member};
pub use tied::{spawn_tied, tied_command};
