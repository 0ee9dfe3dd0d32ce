//! Test support for `scoped-lockfile-etcd`, not published: local etcd clusters
//! (the first `etcd` on `PATH`, or `$LOCKFILE_ETCD_BIN`) on 127.0.0.1 with ephemeral
//! ports, and processes tied to the test process so that none outlives it.

mod cluster;
mod http;
mod tied;

pub use cluster::{Cluster, ETCD_BIN_VAR, Member, etcd_binary};
pub use tied::{spawn_tied, tied_command};
