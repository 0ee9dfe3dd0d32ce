//! Several locks at once (semantic 20): `LockOptions::locked_set`, its async
//! form, and `#[locked([..])]` / `with_lock!([..], ..)`, across processes.

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use scoped_lockfile::{LockError, LockOptions, locked, with_lock};
use support::{Holder, PATIENCE, holder_command, try_lock_elsewhere};

/// Another process takes and releases the lock, waiting up to 5 s for it.
/// Not one try: a process that another test of this binary spawns right when
/// we release a lock holds a copy of our descriptors until its exec (see
/// `LockFile`'s docs); a lock this process still holds never comes free.
fn lock_elsewhere_waiting(path: &Path) -> std::process::Output {
    holder_command(&["lock", path.to_str().unwrap(), "--wait", "5000"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn spawn_sets(dir: &Path, rounds: usize, names: &str, is_async: bool) -> Child {
    let rounds = rounds.to_string();
    let mut args = vec!["sets", dir.to_str().unwrap(), &rounds, names];
    if is_async {
        args.push("--async");
    }
    holder_command(&args).stdin(Stdio::null()).spawn().unwrap()
}

/// Reaps every worker, or kills them all and fails if one is still running
/// after `PATIENCE`: a deadlock shows as a failure, not a hung suite.
fn finish_or_deadlock(mut workers: Vec<Child>) {
    let started = Instant::now();
    while !workers.is_empty() {
        let mut still = Vec::new();
        for mut worker in workers {
            match worker.try_wait().unwrap() {
                Some(status) => assert!(status.success(), "a worker failed: {status}"),
                None => still.push(worker),
            }
        }
        workers = still;
        if started.elapsed() > PATIENCE {
            for worker in &mut workers {
                let _ = worker.kill();
                let _ = worker.wait();
            }
            panic!("{} workers still waiting: deadlock", workers.len());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_not_interleaved(dir: &Path, expected_rounds: usize) {
    let marks = std::fs::read_to_string(dir.join("marks")).unwrap();
    let lines: Vec<&str> = marks.lines().collect();
    assert_eq!(lines.len(), 2 * expected_rounds, "{marks}");
    for pair in lines.chunks(2) {
        assert!(pair[0].starts_with("enter "), "{marks}");
        assert_eq!(pair[1], pair[0].replace("enter", "leave"), "{marks}");
    }
}

#[test]
fn sets_taken_in_opposite_orders_by_processes_never_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let rounds = 60;
    // Sync and async takers, each side naming the locks in its own order.
    let workers = vec![
        spawn_sets(dir.path(), rounds, "a,b", false),
        spawn_sets(dir.path(), rounds, "b,a", false),
        spawn_sets(dir.path(), rounds, "b,a", true),
        spawn_sets(dir.path(), rounds, "a,b,a", true),
    ];
    finish_or_deadlock(workers);
    assert_not_interleaved(dir.path(), 4 * rounds);
}

#[test]
fn a_set_that_fails_leaves_none_of_its_locks_held() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    let holder = Holder::locked(&["context", b.to_str().unwrap()]);
    let opts = LockOptions::new().timeout(Duration::from_millis(200));
    match opts.locked_set([&c, &b, &a]) {
        Err(LockError::Timeout {
            path,
            timeout,
            waited,
            holder: who,
        }) => {
            assert!(path.ends_with("b.lock"), "{path:?}");
            assert_eq!(timeout, Duration::from_millis(200));
            assert!(waited >= timeout, "{waited:?}");
            assert_eq!(who.content, Some(holder.pid().to_string()));
        }
        other => panic!("expected Timeout on b, got {other:?}"),
    }
    // `a` was taken before `b` was waited for; it is free again, and `c`
    // was never taken.
    for free in ["a.lock", "c.lock"] {
        let out = lock_elsewhere_waiting(&dir.path().join(free));
        assert!(out.status.success(), "{free}: {out:?}");
    }
    // A single try says Contended, as one lock would.
    let one_try = LockOptions::new().timeout(Duration::ZERO);
    assert!(matches!(
        one_try.locked_set([&a, &b]),
        Err(LockError::Contended { .. })
    ));
    assert!(
        lock_elsewhere_waiting(&dir.path().join("a.lock"))
            .status
            .success()
    );
    holder.release();
    assert_eq!(opts.locked_set([&c, &b, &a]).unwrap().len(), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_set_that_times_out_leaves_none_held() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let holder = Holder::locked(&["context", b.to_str().unwrap()]);
    let opts = LockOptions::new().timeout(Duration::from_millis(200));
    let err = opts.locked_set_async([&b, &a]).await.unwrap_err();
    assert!(matches!(err, LockError::Timeout { .. }), "{err:?}");
    assert!(
        lock_elsewhere_waiting(&dir.path().join("a.lock"))
            .status
            .success()
    );
    holder.release();
    assert_eq!(opts.locked_set_async([&b, &a]).await.unwrap().len(), 2);
}

#[test]
fn shared_applies_to_every_lock_of_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let readers = LockOptions::new().shared();
    let _set = readers.locked_set([&a, &b]).unwrap();
    for name in ["a.lock", "b.lock"] {
        let path = dir.path().join(name);
        let reader = Holder::locked(&["lock", path.to_str().unwrap(), "--shared"]);
        reader.release();
        let writer = try_lock_elsewhere(&path);
        assert_eq!(writer.status.code(), Some(3), "{name}: {writer:?}");
    }
}

#[test]
fn spellings_of_one_lock_are_merged_and_sorted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let spellings = [
        dir.path().join("b"),
        dir.path().join("sub/../a"),
        dir.path().join("a"),
        dir.path().join("./b"),
    ];
    let set = LockOptions::new()
        .timeout(Duration::ZERO)
        .locked_set(&spellings)
        .unwrap();
    let canonical = dir.path().canonicalize().unwrap();
    let paths: Vec<_> = set.paths().map(Path::to_path_buf).collect();
    assert_eq!(paths, [canonical.join("a.lock"), canonical.join("b.lock")]);
}

#[test]
fn a_name_in_a_missing_directory_is_an_error_naming_it_and_takes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let missing = dir.path().join("no-such-dir").join("x");
    let err = LockOptions::new().locked_set([&a, &missing]).unwrap_err();
    assert!(matches!(err, LockError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
    assert!(!dir.path().join("a.lock").exists(), "nothing is touched");
}

#[locked([a, b], timeout = "5s")]
fn both(a: &Path, b: &Path) -> Result<(), LockError> {
    for name in ["a.lock", "b.lock"] {
        let out = try_lock_elsewhere(&a.parent().unwrap().join(name));
        assert_eq!(out.status.code(), Some(3), "{name} is not held: {out:?}");
    }
    let _ = b;
    Ok(())
}

#[locked([a, b])]
fn reentered(a: &Path, b: &Path, again: bool) -> Result<(), LockError> {
    if again {
        return reentered(b, a, false);
    }
    Ok(())
}

#[test]
fn a_locked_fn_holds_its_whole_set_and_refuses_a_certain_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    both(&b, &a).unwrap();
    assert!(
        lock_elsewhere_waiting(&dir.path().join("a.lock"))
            .status
            .success()
    );
    // Re-entered on its own thread, in the other order: refused, not hung.
    assert!(matches!(
        reentered(&a, &b, true),
        Err(LockError::WouldDeadlock { .. })
    ));
    assert!(
        lock_elsewhere_waiting(&dir.path().join("b.lock"))
            .status
            .success()
    );
}

#[test]
fn with_lock_takes_a_set_and_evaluates_to_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let holder = Holder::locked(&["context", b.to_str().unwrap()]);
    let mut ran = false;
    let refused = with_lock!([&a, b.as_path()], timeout = "0s", {
        ran = true;
    });
    assert!(matches!(refused, Err(LockError::Contended { .. })));
    assert!(!ran);
    holder.release();
    let n = with_lock!([&a, b.as_path()], timeout = "5s", { 42 }).unwrap();
    assert_eq!(n, 42);
}

#[tokio::test(flavor = "multi_thread")]
async fn async_with_lock_and_locked_fn_take_sets() {
    #[locked([dir.join("x"), dir.join("y")], timeout = "5s")]
    async fn both_async(dir: &Path) -> Result<u32, LockError> {
        tokio::task::yield_now().await;
        Ok(1)
    }
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(both_async(dir.path()).await.unwrap(), 1);
    let n = with_lock!(async [dir.path().join("y"), dir.path().join("x")], {
        tokio::task::yield_now().await;
        2
    })
    .unwrap();
    assert_eq!(n, 2);
}

/// Runs `script` (`sh -c`, with `$1` the holder binary and `$2` DIR) in a
/// mount namespace of its own in which `DIR/zzz` is a bind mount of
/// `DIR/m/data`: one directory reached by two paths, as a container's volume
/// is seen by the host and by the container. `None` (a visible skip) where
/// that cannot be done (not root, no `unshare`).
#[cfg(target_os = "linux")]
fn with_bind_mount(dir: &Path, script: &str) -> Option<std::process::Output> {
    use std::process::Command;
    for sub in ["m/data", "srv", "zzz"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    // A new mount namespace's mounts are private (`unshare`'s default):
    // nothing is mounted outside it, and it goes when its processes exit.
    let in_namespace = |script: &str| {
        Command::new("unshare")
            .args(["--mount", "sh", "-c", script, "sh"])
            .arg(env!("CARGO_BIN_EXE_holder"))
            .arg(dir)
            .stdin(Stdio::null())
            .output()
    };
    let mount = "mount --bind \"$2/m/data\" \"$2/zzz\"";
    match in_namespace(mount) {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            let why = String::from_utf8_lossy(&output.stderr);
            support::skip(&format!("no bind mount (root needed): {}", why.trim()));
            return None;
        }
        Err(err) => {
            support::skip(&format!("unshare(1) cannot run: {err}"));
            return None;
        }
    }
    let output = in_namespace(&format!("set -u; {mount} || exit 97; {script}")).unwrap();
    assert!(output.status.success(), "{output:?}");
    Some(output)
}

/// The bug this guards against: ordered by the directory's resolved path,
/// `m/data/b` sorts before `srv/a` and `zzz/b` after it, though both are one
/// file; two processes then take the same two locks in opposite orders and
/// deadlock (so did all four workers here when the set was ordered by path).
/// Each worker is killed after 20 s, so a deadlock fails the test rather than
/// hanging it.
#[cfg(target_os = "linux")]
#[test]
fn one_directory_reached_through_a_bind_mount_is_ordered_alike_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let rounds = 200;
    let script = "r=ROUNDS; \
        timeout 20 \"$1\" sets \"$2\" $r m/data/b,srv/a & p1=$!; \
        timeout 20 \"$1\" sets \"$2\" $r zzz/b,srv/a & p2=$!; \
        timeout 20 \"$1\" sets \"$2\" $r srv/a,m/data/b --async & p3=$!; \
        timeout 20 \"$1\" sets \"$2\" $r srv/a,zzz/b --async & p4=$!; \
        codes=; for p in $p1 $p2 $p3 $p4; do wait $p; codes=\"$codes $?\"; done; \
        echo \"exit codes:$codes\"";
    let script = script.replace("ROUNDS", &rounds.to_string());
    let Some(output) = with_bind_mount(dir.path(), &script) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.trim(),
        "exit codes: 0 0 0 0",
        "124 is a worker killed after 20 s: deadlock; {output:?}"
    );
    assert_not_interleaved(dir.path(), 4 * rounds);
}

/// One set naming one file twice, once through the bind mount: merged into
/// one lock, not a wait on its own lock that never ends.
#[cfg(target_os = "linux")]
#[test]
fn one_lock_named_through_a_bind_mount_and_directly_is_merged() {
    let dir = tempfile::tempdir().unwrap();
    let script = "timeout 10 \"$1\" sets \"$2\" 1 m/data/x,zzz/x,srv/y; \
                  echo \"exit code: $?\"";
    let Some(output) = with_bind_mount(dir.path(), script) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.trim(),
        "exit code: 0",
        "124 is the set waiting 10 s on its own lock; {output:?}"
    );
    assert_not_interleaved(dir.path(), 1);
    assert!(dir.path().join("m/data/x.lock").exists());
}
