//! Every wait — timed, async, forever — waits on the file its caller opened
//! and, once it has a lock, checks that its path still names that file,
//! starting over if not (semantic 10). A deploy's `current -> releases/vN`
//! switch, a renamed working directory and a working directory deeper than
//! `PATH_MAX` must not give a waiter the wrong file, nor an error.
//!
//! Linux: the tests watch `/proc/locks` to know a waiter is blocked.
#![cfg(target_os = "linux")]

mod support;

use std::path::Path;

use support::{Holder, PATIENCE, await_blocked_on, blocked_on};

const WAITS: [&[&str]; 3] = [
    &["--wait", "60000"],
    &["--wait", "60000", "--async"],
    &["--wait", "forever"],
];

fn holder_at(cwd: &Path, args: &[&str]) -> Holder {
    Holder::spawn_in(cwd, args)
}

/// `cur -> v1` while a waiter waits for `cur/x.lock`; then `cur -> v2`, where a
/// newcomer takes `cur/x.lock`. When `v1`'s holder lets go, the waiter must not
/// report `cur/x.lock` as its own: the newcomer holds it. It waits for the
/// newcomer instead.
fn symlinked_directory_switch(wait: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = (dir.path().join("v1"), dir.path().join("v2"));
    std::fs::create_dir(&v1).unwrap();
    std::fs::create_dir(&v2).unwrap();
    let cur = dir.path().join("cur");
    std::os::unix::fs::symlink("v1", &cur).unwrap();
    let lock = cur.join("x.lock");

    let old_holder = Holder::locked(&["lock", v1.join("x.lock").to_str().unwrap()]);
    let mut args = vec!["lock", lock.to_str().unwrap()];
    args.extend_from_slice(wait);
    let mut waiter = Holder::spawn(&args);
    await_blocked_on(&v1.join("x.lock"));

    // The deploy's switch: a new link renamed over the old one.
    let next = dir.path().join("cur.next");
    std::os::unix::fs::symlink("v2", &next).unwrap();
    std::fs::rename(&next, &cur).unwrap();
    let newcomer = Holder::locked(&["lock", lock.to_str().unwrap()]);

    old_holder.release();
    // Either the waiter wrongly reports the old file as locked, or it starts
    // over and blocks on the newcomer's file.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(line) = waiter.next_line(std::time::Duration::from_millis(5)) {
            panic!(
                "{wait:?}: the waiter says {line:?} while the newcomer holds {}",
                lock.display()
            );
        }
        if blocked_on(&v2.join("x.lock")) > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{wait:?}: the waiter is stuck"
        );
    }
    newcomer.release();
    waiter.expect_line("locked");
    let content = std::fs::read_to_string(v2.join("x.lock")).unwrap();
    assert_eq!(content, format!(" {}\n", waiter.pid()), "{wait:?}");
    waiter.release();
}

#[test]
fn a_timed_waiter_starts_over_after_a_symlinked_directory_switch() {
    symlinked_directory_switch(WAITS[0]);
}

#[test]
fn an_async_waiter_starts_over_after_a_symlinked_directory_switch() {
    symlinked_directory_switch(WAITS[1]);
}

#[test]
fn a_waiter_forever_starts_over_after_a_symlinked_directory_switch() {
    symlinked_directory_switch(WAITS[2]);
}

/// A relative path whose working directory is renamed during the wait still
/// names the file the waiter opened: every kind of wait gets it.
#[test]
fn every_wait_gets_a_relative_path_whose_directory_was_renamed() {
    for wait in WAITS {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let holder = Holder::locked(&["lock", work.join("x.lock").to_str().unwrap()]);
        let mut args = vec!["lock", "x.lock"];
        args.extend_from_slice(wait);
        let mut waiter = holder_at(&work, &args);
        await_blocked_on(&work.join("x.lock"));
        let moved = dir.path().join("moved");
        std::fs::rename(&work, &moved).unwrap();
        holder.release();
        assert_eq!(
            waiter.next_line(PATIENCE).as_deref(),
            Some("locked"),
            "{wait:?}"
        );
        waiter.release();
        let content = std::fs::read_to_string(moved.join("x.lock")).unwrap();
        assert!(content.trim().parse::<u32>().is_ok(), "{content:?}");
    }
}

/// One try and every wait work in a working directory whose absolute path is
/// longer than `PATH_MAX`, through a relative path.
#[test]
fn every_wait_works_in_a_working_directory_deeper_than_path_max() {
    for wait in WAITS {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_str().unwrap();
        let holder = Holder::locked(&["lock", "x.lock", "--chdir-deep", base]);
        let mut args = vec!["lock", "x.lock", "--chdir-deep", base];
        args.extend_from_slice(wait);
        let mut waiter = Holder::spawn(&args);
        // The lock file's own path is too long for /proc/locks lookups by
        // path here; the holder's pid shows the waiter is blocked instead.
        let deadline = std::time::Instant::now() + PATIENCE;
        while !waiter_blocked(waiter.pid()) {
            if let Some(line) = waiter.next_line(std::time::Duration::from_millis(2)) {
                panic!("{wait:?}: {line}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{wait:?}: not blocked"
            );
        }
        holder.release();
        assert_eq!(
            waiter.next_line(PATIENCE).as_deref(),
            Some("locked"),
            "{wait:?}"
        );
        waiter.release();
    }
}

/// Whether process `pid` has a blocked flock request, by /proc/locks.
fn waiter_blocked(pid: u32) -> bool {
    let pid = pid.to_string();
    std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("->"))
        .any(|line| line.split_whitespace().nth(5) == Some(pid.as_str()))
}

/// Fair mode waits through the same loop: its timed helper waits on the
/// caller's file too, and a start-over takes a place in the new file's queue.
#[test]
fn fair_waiters_start_over_after_a_symlinked_directory_switch() {
    symlinked_directory_switch(&["--wait", "60000", "--fair"]);
    symlinked_directory_switch(&["--wait", "forever", "--fair"]);
}
