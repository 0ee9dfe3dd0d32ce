//! What the harness and the workspace add: one lock directory for the whole
//! workspace (`.cargo/config.toml`), and the holding test named to a test
//! that waits for it.

use std::path::Path;

use lockfile_serializing_tests::run_ignored;
use scoped_lockfile::{LOCK_DIR_ENV, locked};

#[test]
fn the_workspace_sets_one_lock_directory_outside_the_source_tree() {
    let dir = std::env::var_os(LOCK_DIR_ENV).expect("set by .cargo/config.toml [env]");
    let dir = Path::new(&dir);
    assert!(dir.is_absolute(), "{dir:?}");
    assert!(dir.ends_with("target/locks"), "{dir:?}");
    assert_eq!(scoped_lockfile::in_lock_dir("db"), dir.join("db"));
    // The workspace root, not this package's directory.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    assert_eq!(dir, workspace.join("target/locks"));
}

/// The test names itself in the lock file, and a test in another process
/// that times out waiting for it says so, with the lock and how long it waited.
#[test]
#[locked("named")]
fn a_waiting_test_is_told_which_test_holds_the_lock() {
    let path = scoped_lockfile::in_lock_dir("named.lock");
    let content = std::fs::read_to_string(&path).unwrap();
    let me = "a_waiting_test_is_told_which_test_holds_the_lock";
    let pid = std::process::id();
    assert_eq!(content, format!(" {pid}\ntest {me} (pid {pid})\n"));

    let waiter = run_ignored("times_out_waiting_for_named");
    assert!(!waiter.status.success(), "{waiter:?}");
    let said = String::from_utf8_lossy(&waiter.stderr);
    let expected = format!(
        "Couldn't lock '{}' within 300ms: held by {pid} (test {me}); waited ",
        path.display()
    );
    assert!(
        said.contains(&expected),
        "expected {expected:?} in:\n{said}"
    );
}

#[test]
#[ignore = "run by a_waiting_test_is_told_which_test_holds_the_lock"]
#[locked("named", timeout = "300ms")]
fn times_out_waiting_for_named() {}
