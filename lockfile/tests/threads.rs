//! Locks between threads of one process (semantics 1, 10 and 11).

use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use scoped_lockfile::{LockError, LockFile, LockOptions, LockedContext};

#[test]
fn same_thread_one_try_is_contended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let _held = LockFile::new(&path).unwrap();
    assert!(matches!(
        LockFile::new(&path),
        Err(LockError::Contended { .. })
    ));
}

/// Gives `guard` to another thread, which drops it after `after`.
fn drop_elsewhere_after<G: Send + 'static>(guard: G, after: Duration) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        thread::sleep(after);
        drop(guard);
    })
}

#[test]
fn a_guard_moved_to_another_thread_is_waited_for_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let guard = LockedContext::new(&name).unwrap();
    let dropper = drop_elsewhere_after(guard, Duration::from_millis(300));
    // This thread took the lock, but no longer holds it: waiting is correct.
    let again = LockedContext::new(&name).unwrap();
    again.close().unwrap();
    dropper.join().unwrap();
}

#[test]
fn a_thread_that_gave_its_guard_away_gets_the_lock_with_a_timeout() {
    // A pool thread that once took the lock and handed the guard to a task.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let lock = LockFile::new(&path).unwrap();
    let dropper = drop_elsewhere_after(lock, Duration::from_millis(300));
    let again = LockOptions::new()
        .timeout(Duration::from_secs(30))
        .lock(&path)
        .unwrap();
    again.close().unwrap();
    dropper.join().unwrap();
}

#[test]
fn a_timed_wait_for_a_lock_this_thread_holds_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let _held = LockedContext::new(&name).unwrap();
    let err = LockedContext::with_timeout(&name, Duration::from_millis(100)).unwrap_err();
    assert!(matches!(err, LockError::Timeout { .. }), "{err:?}");
}

#[scoped_lockfile::locked(name)]
fn run_locked<T>(name: &Path, body: impl FnOnce() -> T) -> T {
    body()
}

#[test]
fn a_locked_fn_reentered_on_its_own_thread_is_would_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let started = Instant::now();
    // Re-entered: the inner call panics with the error, as a fn that does not
    // return Result does.
    std::panic::set_hook(Box::new(|_| {})); // the panic is expected
    let panicked =
        std::panic::catch_unwind(|| run_locked(&name, || run_locked(&name, || ()))).unwrap_err();
    drop(std::panic::take_hook());
    let message = panicked.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("a #[locked] function running on this thread holds it"),
        "{message}"
    );
    // Any wait forever for the same lock inside it is refused too.
    let err = run_locked(&name, || LockedContext::new(&name).unwrap_err());
    match err {
        LockError::WouldDeadlock { path } => assert_eq!(path, dir.path().join("job.lock")),
        other => panic!("expected WouldDeadlock, got {other:?}"),
    }
    // Whatever path reaches the same file.
    let other_spelling = dir.path().join(".").join("job");
    let err = run_locked(&name, || LockedContext::new(&other_spelling).unwrap_err());
    assert!(matches!(err, LockError::WouldDeadlock { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "it waited");
}

#[test]
fn a_locked_fn_reentered_with_a_timeout_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let err = run_locked(&name, || {
        LockedContext::with_timeout(&name, Duration::from_millis(100)).unwrap_err()
    });
    assert!(matches!(err, LockError::Timeout { .. }), "{err:?}");
}

#[test]
fn a_locked_fn_on_another_thread_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let (entered, is_entered) = mpsc::channel();
    let other = {
        let name = name.clone();
        thread::spawn(move || {
            run_locked(&name, || {
                entered.send(()).unwrap();
                thread::sleep(Duration::from_millis(200));
            });
        })
    };
    is_entered.recv().unwrap();
    LockedContext::new(&name).unwrap().close().unwrap();
    other.join().unwrap();
}

/// Locks `path` on another thread, writing `template`, and holds it until told
/// to release it. (A guard taken here and moved there would still count as this
/// thread's: see `LockError::WouldDeadlock`.)
fn hold_on_other_thread(
    path: &Path,
    template: &'static str,
) -> (mpsc::Sender<()>, thread::JoinHandle<()>) {
    let path = path.to_path_buf();
    let (release, released) = mpsc::channel::<()>();
    let (taken, is_taken) = mpsc::channel();
    let holder = thread::spawn(move || {
        let lock = LockFile::with_content_template(path, template).unwrap();
        taken.send(()).unwrap();
        released.recv().unwrap();
        lock.close().unwrap();
    });
    is_taken.recv().unwrap();
    (release, holder)
}

#[test]
fn another_thread_waits_forever_and_gets_it_on_release() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let (release, holder) = hold_on_other_thread(&dir.path().join("job.lock"), "{pid}");
    let (got, got_it) = mpsc::channel();
    let waiter = {
        let name = name.clone();
        thread::spawn(move || {
            let guard = LockedContext::new(&name).unwrap();
            got.send(Instant::now()).unwrap();
            guard.close().unwrap();
        })
    };
    assert!(
        got_it.recv_timeout(Duration::from_millis(300)).is_err(),
        "waiter did not wait"
    );
    let released_at = Instant::now();
    release.send(()).unwrap();
    let acquired_at = got_it.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(acquired_at >= released_at);
    holder.join().unwrap();
    waiter.join().unwrap();
}

#[test]
fn timeout_elapses_while_another_thread_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let (release, holder) = hold_on_other_thread(&path, "holder-thread");
    let timeout = Duration::from_millis(200);
    let started = Instant::now();
    let err = LockOptions::new().timeout(timeout).lock(&path).unwrap_err();
    let elapsed = started.elapsed();
    match &err {
        LockError::Timeout {
            path: p,
            timeout: asked,
            waited,
            holder,
            ..
        } => {
            assert_eq!(p, &path);
            assert_eq!(*asked, timeout);
            assert!(*waited >= timeout, "{waited:?}");
            assert_eq!(holder.content.as_deref(), Some("holder-thread"));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(
        elapsed >= timeout && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("Couldn't lock '{}' within 200ms:", path.display())),
        "{message}"
    );
    assert!(message.ends_with(": held by holder-thread"), "{message}");
    release.send(()).unwrap();
    holder.join().unwrap();
    // The helper that was still blocked releases what it gets: the lock is free.
    let lock = LockOptions::new()
        .timeout(Duration::from_secs(30))
        .lock(&path)
        .unwrap();
    lock.close().unwrap();
}

#[test]
fn timed_waiter_gets_the_lock_when_released_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let (release, holder) = hold_on_other_thread(&path, "{pid}");
    let waiter = {
        let path = path.clone();
        thread::spawn(move || {
            LockOptions::new()
                .timeout(Duration::from_secs(60))
                .lock(&path)
        })
    };
    thread::sleep(Duration::from_millis(100));
    release.send(()).unwrap();
    let lock = waiter.join().unwrap().unwrap();
    holder.join().unwrap();
    // The waiter's thread took it: this thread may take it only after release.
    assert!(matches!(
        LockFile::new(&path),
        Err(LockError::Contended { .. })
    ));
    drop(lock);
    // Written by the waiter, read once released (Windows locks byte 0).
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!(" {}\n", std::process::id())
    );
    drop(LockFile::new(&path).unwrap());
}

#[test]
fn zero_timeout_is_one_try() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let (release, holder) = hold_on_other_thread(&path, "{pid}");
    let err = LockOptions::new()
        .timeout(Duration::ZERO)
        .lock(&path)
        .unwrap_err();
    assert!(matches!(err, LockError::Contended { .. }), "{err:?}");
    release.send(()).unwrap();
    holder.join().unwrap();
}

#[test]
fn max_timeout_means_forever_not_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let (release, holder) = hold_on_other_thread(&path, "{pid}");
    let waiter = {
        let path = path.clone();
        thread::spawn(move || LockOptions::new().timeout(Duration::MAX).lock(&path))
    };
    thread::sleep(Duration::from_millis(100));
    assert!(!waiter.is_finished());
    release.send(()).unwrap();
    drop(waiter.join().unwrap().unwrap());
    holder.join().unwrap();
}

#[test]
fn many_timed_waiters_each_get_the_lock_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let (release, holder) = hold_on_other_thread(&path, "{pid}");
    let waiters: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            thread::spawn(move || {
                let lock = LockOptions::new()
                    .timeout(Duration::from_secs(60))
                    .lock(&path)?;
                thread::sleep(Duration::from_millis(5));
                lock.close()
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    release.send(()).unwrap();
    for waiter in waiters {
        waiter.join().unwrap().unwrap();
    }
    holder.join().unwrap();
}

#[test]
#[cfg_attr(
    wine,
    ignore = "Wine 8 renames a directory that holds an open file (Windows refuses), and its \
              ReOpenFile then looks the file up by its old path"
)]
fn a_helper_never_reopens_a_path_that_no_longer_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = (dir.path().join("before"), dir.path().join("after"));
    std::fs::create_dir(&before).unwrap();
    let (release, holder) = hold_on_other_thread(&before.join("lock"), "{pid}");
    let wait = |path: std::path::PathBuf| {
        thread::spawn(move || {
            let lock = LockOptions::new()
                .timeout(Duration::from_secs(30))
                .lock(&path)?;
            thread::sleep(Duration::from_millis(50));
            lock.close()
        })
    };
    // The first waiter's helper opened the file as `before/lock`...
    let first = wait(before.join("lock"));
    thread::sleep(Duration::from_millis(100));
    // ...which is now `after/lock`: the same file, another path.
    let renamed = std::fs::rename(&before, &after);
    // Windows refuses to rename a directory with a file open in it: there, the
    // path cannot change under a waiter.
    #[cfg(windows)]
    if renamed.is_err() {
        release.send(()).unwrap();
        holder.join().unwrap();
        first.join().unwrap().unwrap();
        return;
    }
    renamed.unwrap();
    let second = wait(after.join("lock"));
    thread::sleep(Duration::from_millis(100));
    release.send(()).unwrap();
    holder.join().unwrap();
    // The lock is the file at the path asked for; there is none any more, and
    // the waiter is told so rather than given a lock of another name.
    match first.join().unwrap() {
        Err(LockError::Io { path, source }) => {
            assert_eq!(path, before.join("lock"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected NotFound for the vanished path, got {other:?}"),
    }
    // Served by a helper of its own, not by re-opening `before/lock`.
    second.join().unwrap().unwrap();
    assert!(!before.exists());
}

#[scoped_lockfile::locked(name, on = scoped_lockfile::Files)]
fn run_locked_on_files<T>(name: &Path, body: impl FnOnce() -> T) -> T {
    body()
}

/// `on = Files` is the default spelled out: its re-entry on its own thread is
/// refused as the default's is, not a hang.
#[test]
fn a_locked_fn_on_files_reentered_on_its_own_thread_is_would_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let (done, finished) = std::sync::mpsc::channel();
    let reentered = std::thread::spawn(move || {
        let err = run_locked_on_files(&name, || LockedContext::new(&name).unwrap_err());
        done.send(()).unwrap();
        err
    });
    // A hang is reported as a failure, not as a test that never ends.
    assert!(
        finished.recv_timeout(Duration::from_secs(30)).is_ok(),
        "re-entry of #[locked(on = Files)] hangs"
    );
    let err = reentered.join().unwrap();
    assert!(matches!(err, LockError::WouldDeadlock { .. }), "{err:?}");
}

/// A helper opens the file as the caller that started it asked: a read-only
/// waiter's helper must not serve a writer, whose content write would fail
/// on a read-only descriptor although the lock was free and handed over.
#[cfg(unix)]
#[test]
fn a_writer_queued_behind_a_read_only_waiter_is_served_with_write_access() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let (release, holder) = hold_on_other_thread(&path, "{pid}");
    let read_only = {
        let path = path.clone();
        thread::spawn(move || {
            let lock = LockOptions::new()
                .read_only()
                .timeout(Duration::from_secs(30))
                .lock(&path)?;
            thread::sleep(Duration::from_millis(50));
            lock.close()
        })
    };
    // The read-only waiter's helper first, then a writer on the same file.
    thread::sleep(Duration::from_millis(100));
    let writer = {
        let path = path.clone();
        thread::spawn(move || {
            LockOptions::new()
                .timeout(Duration::from_secs(30))
                .content_template("writer")
                .lock(&path)?
                .close()
        })
    };
    thread::sleep(Duration::from_millis(100));
    release.send(()).unwrap();
    holder.join().unwrap();
    read_only.join().unwrap().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), " writer\n");
}
