//! `serial_test`'s `#[file_parallel]` cases (`ordering_key`), with
//! `#[locked(NAME, shared)]`: shared holders run together, an exclusive one
//! (`#[file_serial]`, `#[locked(NAME)]`) alone, and a holder that dies
//! leaves nothing behind (the kernel drops its lock; there is no counter).
//!
//! `serial_test` checks "together" with a `Barrier` of three threads, which
//! under a process per test would wait for ever; here each test checks,
//! through a journal every process appends to, that no exclusive holder came
//! or went while it was inside, and "together" is checked directly by a
//! second process taking the same shared lock with a single try.

// serial_test's cases return `Result<(), ()>` with nothing to fail: the
// shape is what they check.
#![allow(clippy::unnecessary_wraps)]

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use lockfile_serializing_tests::{Journal, exclusive_stay, run_ignored, shared_dir, shared_stay};
use scoped_lockfile::{locked, with_lock};

fn journal() -> Journal {
    Journal::new(&shared_dir(env!("CARGO_TARGET_TMPDIR")), "ordering_key")
}

#[test]
#[locked("ordering_key")]
fn file_serial_with_parallel_key_1() {
    exclusive_stay(&journal());
}

#[test]
#[locked("ordering_key")]
fn file_serial_with_parallel_key_2() {
    exclusive_stay(&journal());
}

#[test]
#[locked("ordering_key", shared)]
fn file_parallel_with_key_1() {
    shared_stay(&journal());
}

#[test]
#[locked("ordering_key", shared)]
fn file_parallel_with_key_2() {
    shared_stay(&journal());
}

#[test]
#[locked("ordering_key", shared)]
fn file_parallel_with_key_3() {
    shared_stay(&journal());
}

#[test]
#[locked("ordering_key", shared, on_error = "panic")]
fn file_parallel_with_return() -> Result<(), ()> {
    shared_stay(&journal());
    Ok(())
}

#[tokio::test]
#[locked("ordering_key", shared)]
async fn file_parallel_with_async() {
    shared_stay(&journal());
}

#[locked("ordering_key", shared, on_error = "panic")]
#[tokio::test(flavor = "multi_thread")]
async fn file_parallel_with_async_return() -> Result<(), ()> {
    shared_stay(&journal());
    Ok(())
}

// Shared is parallel, checked directly: while this test holds "together"
// shared, a test in another process takes it shared with a single try, and
// an exclusive single try fails.
#[test]
#[locked("together", shared)]
fn shared_tests_run_together() {
    let reader = run_ignored("takes_together_shared_at_once");
    assert!(reader.status.success(), "{reader:?}");
    let writer = run_ignored("takes_together_exclusive_at_once");
    assert!(!writer.status.success(), "{writer:?}");
    let said = String::from_utf8_lossy(&writer.stderr);
    assert!(said.contains("together.lock"), "{said}");
    assert!(said.contains("held shared"), "{said}");
}

#[test]
#[ignore = "run by shared_tests_run_together, in a process of its own"]
#[locked("together", shared, timeout = "0s")]
fn takes_together_shared_at_once() {}

#[test]
#[ignore = "run by shared_tests_run_together, in a process of its own"]
#[locked("together", timeout = "0s")]
fn takes_together_exclusive_at_once() {}

// A shared holder killed as nextest kills a test at its timeout (SIGKILL):
// the lock is free at once. serial_test's file_parallel keeps a count in a
// file, which stays high, and later tests wait for ever.
#[test]
fn a_killed_shared_holder_leaves_nothing_behind() {
    let mut child = lockfile_serializing_tests::ignored_command("holds_crash_shared_for_a_minute")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // libtest prints `test NAME ... ` before the test's own output, on its line.
    let held = lines.find_map(|line| line.ok().filter(|line| line.ends_with("holding")));
    assert!(held.is_some(), "the child never held the lock");
    let refused = with_lock!("crash", timeout = "0s", {});
    assert!(refused.is_err(), "held shared by the child: {refused:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    with_lock!("crash", timeout = "10s", {}).expect("free once its holder died");
}

#[test]
#[ignore = "run by a_killed_shared_holder_leaves_nothing_behind, and killed"]
#[locked("crash", shared)]
fn holds_crash_shared_for_a_minute() {
    println!("holding");
    std::thread::sleep(std::time::Duration::from_secs(60));
}

// A panicking test releases at once: run as libtest runs a test, on a
// thread of its own that unwinds.
#[locked("panics")]
fn panicking_test_body() {
    panic!("the test failed");
}

#[test]
fn a_panicking_test_releases_at_once() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // the panic is expected
    let joined = std::thread::spawn(panicking_test_body).join();
    std::panic::set_hook(previous);
    assert!(joined.is_err());
    with_lock!("panics", timeout = "0s", {}).expect("released as it unwound");
}
