//! A wait interrupted by a signal goes on (semantic 11): a handler installed
//! without `SA_RESTART` makes `flock(2)` fail with `EINTR`, on the thread that
//! waits forever or on the helper thread of a timed or async wait.
//!
//! Linux only: the storm aims signals at threads with `tgkill(2)`.
#![cfg(target_os = "linux")]

mod support;

use std::time::Duration;

use support::{Holder, PATIENCE};

/// A `holder` waits for a lock another holds, under a storm of signals aimed
/// at its waiting thread and helpers; it must get the lock once released, and
/// have handled signals meanwhile.
fn waits_through_signals(wait: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let path = path.to_str().unwrap();
    let first = Holder::locked(&["lock", path]);
    let mut args = vec!["lock", path, "--signal-storm"];
    args.extend_from_slice(wait);
    let mut waiter = Holder::spawn(&args);
    // A wait that gave up on EINTR would say so now, instead of waiting.
    let early = waiter.next_line(Duration::from_millis(500));
    assert_eq!(early, None, "{wait:?}: the waiter stopped waiting");
    first.release();
    waiter.expect_line("locked");
    let signals = waiter.next_line(PATIENCE).unwrap();
    let counts: Vec<usize> = signals
        .strip_prefix("signals ")
        .unwrap_or_else(|| panic!("{signals}"))
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    println!(
        "COUNT signals/{wait:?}: {} sent, {} handled while waiting",
        counts[0], counts[1]
    );
    assert!(counts[1] > 0, "{wait:?}: no signal landed during the wait");
    waiter.release();
}

#[test]
fn a_wait_forever_goes_on_through_signals() {
    waits_through_signals(&["--wait", "forever"]);
}

#[test]
fn a_timed_wait_goes_on_through_signals_to_its_helper() {
    waits_through_signals(&["--wait", "30000"]);
}

#[test]
fn an_async_wait_goes_on_through_signals_to_its_helper() {
    waits_through_signals(&["--wait", "30000", "--async"]);
}
