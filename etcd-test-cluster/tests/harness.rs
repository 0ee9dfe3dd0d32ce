//! The harness itself: a cluster starts, elects a leader, replaces a killed one.

use std::path::Path;
use std::time::Duration;

use etcd_test_cluster::Cluster;

#[test]
fn starts_elects_and_replaces_a_killed_leader() {
    let mut cluster = Cluster::start(3, Path::new(env!("CARGO_TARGET_TMPDIR"))).expect("cluster");
    eprintln!(
        "3 members healthy in {:?} (data under target/)",
        cluster.started_in()
    );
    let leader = cluster
        .wait_for_leader(Duration::from_secs(5))
        .expect("a leader");
    cluster.kill(leader);
    let next = cluster
        .wait_for_leader(Duration::from_secs(10))
        .expect("a new leader");
    assert_ne!(next, leader);
    let dir = cluster.dir().to_path_buf();
    drop(cluster);
    assert!(!dir.exists(), "data dir removed");
}

#[test]
#[ignore = "a measurement: cargo test -p etcd-test-cluster -- --ignored --nocapture"]
fn startup_on_disk_and_on_tmpfs() {
    for round in 0..8 {
        for (place, base) in [
            ("target/", env!("CARGO_TARGET_TMPDIR")),
            ("/dev/shm", "/dev/shm"),
        ] {
            let cluster = Cluster::start(3, Path::new(base)).expect("cluster");
            eprintln!(
                "round {round}: {place}: healthy in {:?}",
                cluster.started_in()
            );
        }
    }
}
