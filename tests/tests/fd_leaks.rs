//! Every error path gives back every descriptor it opened. Its own test binary
//! with one test, so no other test opens descriptors meanwhile.
//!
//! Linux only: descriptors are counted in `/proc`.
#![cfg(target_os = "linux")]

mod support;

use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

use scoped_lockfile::{LockError, LockFile, LockOptions, LockedContext, LockedFile, probe};
use support::{Holder, thread_count};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Runs `attempt`, which must fail, and checks the descriptor count is unchanged.
fn no_leak(what: &str, attempt: impl FnOnce() -> Result<(), LockError>) -> String {
    let before = open_fds();
    let err = attempt().expect_err(what);
    let after = open_fds();
    assert_eq!(before, after, "{what} leaked descriptors: {err}");
    format!("{what}: {before} = {after}")
}

#[scoped_lockfile::locked(name)]
fn locked_in<T>(name: &std::path::Path, body: impl FnOnce() -> T) -> T {
    body()
}

#[test]
fn no_error_path_leaks_a_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let (start_fds, start_threads) = (open_fds(), thread_count());
    std::fs::create_dir(at("a-directory")).unwrap();
    symlink("/etc/hostname", at("a-symlink")).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(at("a-fifo"))
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(at("victim"), "x").unwrap();
    std::fs::hard_link(at("victim"), at("a-hard-link")).unwrap();

    let held = Holder::locked(&["context", at("held").to_str().unwrap()]);
    let mut report = vec![
        no_leak("contended", || LockFile::new(at("held.lock")).map(drop)),
        no_leak("invalid template", || {
            LockFile::with_content_template(at("t"), "{x}").map(drop)
        }),
        no_leak("invalid mode", || LockedFile::open(at("m"), "rw").map(drop)),
        no_leak("symlink", || LockFile::new(at("a-symlink")).map(drop)),
        no_leak("directory", || LockFile::new(at("a-directory")).map(drop)),
        no_leak("fifo", || LockFile::new(at("a-fifo")).map(drop)),
        no_leak("hard link", || LockFile::new(at("a-hard-link")).map(drop)),
        no_leak("missing directory", || {
            LockFile::new(at("nope/x.lock")).map(drop)
        }),
        no_leak("data file missing", || {
            LockedFile::open(at("missing-data"), "r").map(drop)
        }),
        no_leak("data file a symlink", || {
            LockedFile::open(at("a-symlink"), "r").map(drop)
        }),
        no_leak("probe of a fifo", || probe(at("a-fifo")).map(drop)),
    ];
    // The one certain deadlock: a wait forever inside a #[locked] fn holding it.
    report.push(locked_in(&at("mine"), || {
        no_leak("would deadlock", || {
            LockedContext::new(at("mine")).map(drop)
        })
    }));

    // A timed-out wait leaves its helper blocked, holding the helper's own
    // descriptor and its anchor (an `O_PATH` descriptor of the file on
    // Linux, of its directory elsewhere), until the lock is released; then
    // they are gone too. Releasing
    // the holder also closes our two pipes to it, opened before `start_fds`.
    let fds = open_fds();
    let err = LockOptions::new()
        .timeout(Duration::from_millis(20))
        .locked_context(at("held"))
        .unwrap_err();
    assert!(matches!(err, LockError::Timeout { .. }), "{err:?}");
    assert_eq!(open_fds(), fds + 2, "the blocked helper's descriptors");
    held.release();
    let deadline = Instant::now() + support::PATIENCE;
    while (open_fds() > start_fds || thread_count() > start_threads) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        open_fds(),
        start_fds,
        "timeout leaked a descriptor after the release"
    );
    report.push(format!(
        "timeout: {start_fds} = {} once the helper is done",
        open_fds()
    ));
    println!(
        "COUNT faults/fd-leaks: {} error paths, 0 leaks ({})",
        report.len(),
        report.join("; ")
    );
}
