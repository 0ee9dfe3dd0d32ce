//! Fair mode within one process: each open is a participant of its own, so
//! threads queue as processes do; and where the platform cannot queue, a fair
//! lock is refused before anything is touched. Across processes:
//! tests/tests/fair.rs.

use std::time::Duration;

use scoped_lockfile::{LockFile, LockOptions};

#[test]
#[cfg(target_os = "linux")]
fn threads_are_granted_a_fair_lock_in_the_order_they_started_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    let held = LockFile::new(&path).unwrap();
    let (granted, order) = std::sync::mpsc::channel();
    let ways = [
        LockOptions::new().fair(),
        LockOptions::new().fair().timeout(Duration::from_secs(60)),
        LockOptions::new().fair(),
        LockOptions::new().fair().timeout(Duration::from_secs(60)),
    ];
    let threads: Vec<_> = ways
        .into_iter()
        .enumerate()
        .map(|(i, options)| {
            let (path, granted) = (path.clone(), granted.clone());
            let thread = std::thread::spawn(move || {
                let lock = options.lock(&path).unwrap();
                granted.send(i).unwrap();
                std::thread::sleep(Duration::from_millis(20));
                lock.close().unwrap();
            });
            std::thread::sleep(Duration::from_millis(100));
            thread
        })
        .collect();
    held.close().unwrap();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(order.try_iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
}

#[test]
#[cfg(not(target_os = "linux"))]
fn a_fair_lock_is_unsupported_here_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    let err = LockOptions::new().fair().lock(&path).unwrap_err();
    assert!(
        matches!(err, scoped_lockfile::LockError::Unsupported { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("fair locks"), "{err}");
    assert!(!path.exists() && !dir.path().join("deploy.lock.queue").exists());
    drop(LockFile::new(&path).unwrap());
}

/// A queue file found is kept open for the next look at it, but a process
/// keeps a few at most, however many fair locks it takes.
#[test]
#[cfg(target_os = "linux")]
fn a_process_keeps_at_most_eight_queue_files_open() {
    let dir = tempfile::tempdir().unwrap();
    let fair = LockOptions::new().fair();
    for i in 0..20 {
        // Left behind by a wait once: the newcomer's look opens it.
        std::fs::write(dir.path().join(format!("{i}.lock.queue")), [0; 8]).unwrap();
        let lock = fair.lock(dir.path().join(format!("{i}.lock"))).unwrap();
        lock.close().unwrap();
    }
    let kept = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.unwrap().path()).ok())
        .filter(|target| target.starts_with(dir.path()))
        .count();
    // Other tests of this binary may have pushed some of ours out.
    assert!((1..=8).contains(&kept), "{kept} kept");
}
