//! `serial_test`'s `#[file_serial]` cases (`serial_test_test/src/lib.rs`), with
//! `#[locked]`: `#[file_serial]` is `#[locked("NAME")]`, a lock file per
//! name in the workspace's lock directory (`.cargo/config.toml`).

// serial_test's cases return `Result<(), ()>` with nothing to fail: the
// shape is what they check.
#![allow(clippy::unnecessary_wraps)]

use std::path::Path;

use lockfile_serializing_tests::{fs_test_fn, shared_dir};
use scoped_lockfile::{LockError, locked, with_lock};

fn dir() -> std::path::PathBuf {
    shared_dir(env!("CARGO_TARGET_TMPDIR"))
}

// test_file_1, _2, _3: three tests writing the same file, one at a time.
#[test]
#[locked("fs")]
fn test_file_1() {
    fs_test_fn(&dir(), 1, "fs");
}

#[test]
#[locked("fs")]
fn test_file_2() {
    fs_test_fn(&dir(), 2, "fs");
}

#[test]
#[locked("fs")]
fn test_file_3() {
    fs_test_fn(&dir(), 3, "fs");
}

// test_file_with_path: `file_serial(test, path => "/tmp/test")` is an
// absolute name; ours is in the workspace's target, not machine-wide.
#[test]
#[locked(Path::new(env!("CARGO_TARGET_TMPDIR")).join("test"))]
fn test_file_with_path() {
    assert!(
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("test.lock")
            .exists()
    );
}

// test_can_return: a test returning `Result<(), ()>`. `()` is no
// `From<LockError>`, so the lock error panics instead of being returned.
#[test]
#[locked("fs", on_error = "panic")]
fn test_can_return() -> Result<(), ()> {
    Ok(())
}

// A test returning a Result that a lock error converts into: returned.
#[test]
#[locked("fs")]
fn test_can_return_the_lock_error() -> Result<(), Box<dyn std::error::Error>> {
    fs_test_fn(&dir(), 1, "fs");
    Ok(())
}

// nested_return: `Result<Result<(), ()>, ()>`.
#[test]
#[locked("fs", on_error = "panic")]
fn nested_return() -> Result<Result<(), ()>, ()> {
    Ok(Ok(()))
}

// test_ignore_fun: an ignored test is not run, lock or not.
#[test]
#[locked("fs")]
#[ignore = "serial_test's test_ignore_fun: must not run"]
fn test_ignore_fun() {
    assert_eq!(2 + 2, 5);
}

// test_should_panic_fun: the panic is the test's; the lock is released as
// the test unwinds.
#[test]
#[locked("fs")]
#[should_panic(expected = "Testing panic")]
fn test_should_panic_fun() {
    panic!("Testing panic");
}

// test_with_key: another name, another lock.
#[test]
#[locked("test_key")]
fn test_with_key() {
    fs_test_fn(&dir(), 1, "test_key");
}

// test_serial_multi_arg (`serial(one, two)`): a set, taken in one canonical
// order whatever the order written, so these two never deadlock.
#[test]
#[locked(["one", "two"])]
fn test_serial_multi_arg() {
    fs_test_fn(&dir(), 1, "one");
    fs_test_fn(&dir(), 1, "two");
}

#[test]
#[locked(["two", "one"])]
fn test_serial_multi_arg_other_order() {
    fs_test_fn(&dir(), 2, "one");
    fs_test_fn(&dir(), 2, "two");
}

// test_reentrant_fun: serial_test's in-process `#[serial]` lets a serial fn
// call another. A sync #[locked] fn that waits on its own thread for a lock
// its own frame holds would wait for ever: refused with WouldDeadlock.
#[locked("reentrant")]
fn reentrant_inner() -> Result<(), LockError> {
    Ok(())
}

#[test]
#[locked("reentrant")]
fn test_reentrant_fun_is_refused_not_hung() -> Result<(), LockError> {
    assert!(matches!(
        reentrant_inner(),
        Err(LockError::WouldDeadlock { .. })
    ));
    // A block that waits with a timeout, on the same thread, times out.
    let nested = with_lock!("reentrant", timeout = "50ms", {});
    assert!(
        matches!(nested, Err(LockError::Timeout { .. })),
        "{nested:?}"
    );
    Ok(())
}

// test_async_serial_no_arg_tokio_first / _serial_first, and the multi-thread
// runtime (tokio_multi_1..3), in both attribute orders.
#[tokio::test]
#[locked("fs")]
async fn test_async_tokio_first() {
    fs_test_fn(&dir(), 1, "fs");
}

#[locked("fs")]
#[tokio::test]
async fn test_async_locked_first() {
    fs_test_fn(&dir(), 2, "fs");
}

#[tokio::test(flavor = "multi_thread")]
#[locked("fs")]
async fn tokio_multi_1() {
    fs_test_fn(&dir(), 1, "fs");
}

#[locked("fs")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_multi_2() {
    tokio::task::yield_now().await;
    fs_test_fn(&dir(), 2, "fs");
}

#[tokio::test]
#[locked("fs", on_error = "panic")]
async fn test_async_can_return() -> Result<(), ()> {
    Ok(())
}

#[locked("fs", on_error = "panic")]
#[tokio::test(flavor = "multi_thread")]
async fn nested_async_return() -> Result<Result<(), ()>, ()> {
    Ok(Ok(()))
}

// async_attribute_works: a #[locked] async fn that is not a test.
#[locked("fs")]
async fn async_attribute_works() {}

#[tokio::test]
async fn calls_a_locked_async_fn() {
    async_attribute_works().await;
}
