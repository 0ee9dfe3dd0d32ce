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
    // And as it started waiting, it said for whom (kept by the harness, shown
    // if the test fails or is killed).
    let noted = format!(
        "test times_out_waiting_for_named: waiting for the lock '{}', held by {pid} (test {me})",
        path.display()
    );
    assert!(said.contains(&noted), "expected {noted:?} in:\n{said}");
}

#[test]
#[ignore = "run by a_waiting_test_is_told_which_test_holds_the_lock"]
#[locked("named", timeout = "300ms")]
fn times_out_waiting_for_named() {}

/// Another checkout of the workspace has its own lock directory, so its tests
/// do not wait for ours: a second process with another `SCOPED_LOCKFILE_DIR`
/// takes "checkout" at once while this test holds it; one with ours cannot.
#[test]
#[locked("checkout")]
fn another_checkout_does_not_wait_for_this_one() {
    let elsewhere = Path::new(env!("CARGO_TARGET_TMPDIR")).join("another-checkout-locks");
    let other = lockfile_serializing_tests::ignored_command("takes_checkout_at_once")
        .env(LOCK_DIR_ENV, &elsewhere)
        .output()
        .unwrap();
    assert!(other.status.success(), "{other:?}");
    assert!(elsewhere.join("checkout.lock").exists());
    let same = run_ignored("takes_checkout_at_once");
    assert!(!same.status.success(), "{same:?}");
}

#[test]
#[ignore = "run by another_checkout_does_not_wait_for_this_one"]
#[locked("checkout", timeout = "0s")]
fn takes_checkout_at_once() {}

fn names_this_test(lock: &str, test: &str) {
    let content = std::fs::read_to_string(scoped_lockfile::in_lock_dir(lock)).unwrap();
    let pid = std::process::id();
    assert_eq!(content, format!(" {pid}\ntest {test} (pid {pid})\n"));
}

// The test's name is known in both attribute orders, on both runtimes: the
// lock is taken on the test's own thread (before the runtime, or in its
// `block_on`).
#[tokio::test(flavor = "multi_thread")]
#[locked("named-multi-tokio-first")]
async fn names_itself_multi_thread_tokio_first() {
    names_this_test(
        "named-multi-tokio-first.lock",
        "names_itself_multi_thread_tokio_first",
    );
}

#[locked("named-multi-locked-first")]
#[tokio::test(flavor = "multi_thread")]
async fn names_itself_multi_thread_locked_first() {
    tokio::task::yield_now().await;
    names_this_test(
        "named-multi-locked-first.lock",
        "names_itself_multi_thread_locked_first",
    );
}

#[locked("named-current")]
#[tokio::test]
async fn names_itself_current_thread_locked_first() {
    names_this_test(
        "named-current.lock",
        "names_itself_current_thread_locked_first",
    );
}

#[test]
fn with_lock_names_the_test_too() {
    scoped_lockfile::with_lock!("named-block", {
        names_this_test("named-block.lock", "with_lock_names_the_test_too");
    })
    .unwrap();
}
