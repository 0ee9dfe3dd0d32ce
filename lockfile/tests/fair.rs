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
