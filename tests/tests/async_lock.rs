//! Async acquisition across processes, on tokio's two runtimes and on a
//! minimal hand-rolled executor: the executor keeps running while a task
//! waits, timeouts hold, and cancelling never leaves the lock held.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use scoped_lockfile::{LockError, LockFile, LockOptions, Probe, probe};
use support::{Holder, PATIENCE};

fn assert_send<T: Send>(_: &T) {}

/// Releases `holder` from another thread after `delay`.
fn release_after(holder: Holder, delay: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        holder.release();
    })
}

#[test]
fn other_tasks_keep_running_while_one_waits_on_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let holder = Holder::locked(&["context", name.to_str().unwrap()]);
    let releaser = release_after(holder, Duration::from_secs(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (ticks, waited) = runtime.block_on(async {
        let acquire = LockOptions::new().locked_context_async(&name);
        assert_send(&acquire);
        let waiter = tokio::spawn(async move {
            let started = Instant::now();
            let guard = acquire.await.unwrap();
            let waited = started.elapsed();
            guard.close().unwrap();
            waited
        });
        let mut ticks = 0;
        while !waiter.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            ticks += 1;
        }
        (ticks, waiter.await.unwrap())
    });
    releaser.join().unwrap();
    println!(
        "COUNT async/current-thread: the other task ticked {ticks} times while one waited {waited:?}"
    );
    assert!(ticks >= 10, "the executor was blocked: {ticks} ticks");
    // Released 1 s after the holder started; the runtime started after that.
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
}

#[test]
fn the_timeout_is_honoured_and_says_who_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.lock");
    let holder = Holder::locked(&[
        "lock",
        path.to_str().unwrap(),
        "--template",
        "{pid};async-test",
    ]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let started = Instant::now();
    let result = runtime.block_on(
        LockOptions::new()
            .timeout(Duration::from_millis(200))
            .lock_async(&path),
    );
    let elapsed = started.elapsed();
    match result {
        Err(LockError::Timeout {
            waited,
            holder: who,
            ..
        }) => {
            assert!(waited >= Duration::from_millis(200), "{waited:?}");
            assert_eq!(who.content, Some(format!("{};async-test", holder.pid())));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < PATIENCE,
        "{elapsed:?}"
    );
    // One try, zero timeout: Contended, no waiting.
    let once = runtime.block_on(LockOptions::new().timeout(Duration::ZERO).lock_async(&path));
    assert!(matches!(once, Err(LockError::Contended { .. })), "{once:?}");
    holder.release();
    let lock = runtime
        .block_on(LockOptions::new().timeout(PATIENCE).lock_async(&path))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!(" {}\n", std::process::id())
    );
    lock.close().unwrap();
}

/// Polls `probe` until the lock is free, within a generous bound.
fn eventually_free(path: &std::path::Path) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if matches!(probe(path).unwrap(), Probe::Free { .. }) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn cancelling_never_leaves_the_lock_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cancel.lock");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for wait in [None, Some(Duration::from_secs(60))] {
        let holder = Holder::locked(&["lock", path.to_str().unwrap()]);
        let mut options = LockOptions::new();
        if let Some(timeout) = wait {
            options = options.timeout(timeout);
        }
        let attempt = options.lock_async(&path);
        let cancelled = runtime
            .block_on(async { tokio::time::timeout(Duration::from_millis(100), attempt).await });
        assert!(cancelled.is_err(), "{wait:?}: the lock was not held?");
        holder.release();
        // The helper that was still blocked gets the lock, finds no one, lets go.
        assert!(
            eventually_free(&path),
            "{wait:?}: the cancelled wait kept the lock"
        );
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            matches!(probe(&path).unwrap(), Probe::Free { .. }),
            "{wait:?}: taken later"
        );
        LockFile::new(&path).unwrap().close().unwrap();
    }
}

#[test]
fn tasks_of_a_multi_thread_runtime_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("counter");
    std::fs::write(&counter, "0").unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let (tasks, rounds) = (8, 50);
    runtime.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let counter = counter.clone();
                tokio::spawn(async move {
                    for _ in 0..rounds {
                        let mut file = LockOptions::new()
                            .locked_file_async(&counter, "r+")
                            .await
                            .unwrap();
                        let mut text = String::new();
                        std::io::Read::read_to_string(&mut file, &mut text).unwrap();
                        let next = text.parse::<u64>().unwrap() + 1;
                        // Yield while holding: another task runs and must wait.
                        tokio::task::yield_now().await;
                        file.get_ref().set_len(0).unwrap();
                        std::os::unix::fs::FileExt::write_all_at(
                            file.get_ref(),
                            next.to_string().as_bytes(),
                            0,
                        )
                        .unwrap();
                        file.close().unwrap();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let total = std::fs::read_to_string(&counter).unwrap();
    println!(
        "COUNT async/multi-thread: {tasks} tasks x {rounds} increments = {}, counter {total}",
        tasks * rounds
    );
    assert_eq!(total, (tasks * rounds).to_string());
}

/// The smallest executor: poll, park until woken, repeat. No runtime at all.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[test]
fn works_without_a_runtime_on_a_hand_rolled_executor() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("plain");
    let holder = Holder::locked(&["context", name.to_str().unwrap()]);
    let releaser = release_after(holder, Duration::from_millis(300));
    let started = Instant::now();
    let guard = block_on(LockOptions::new().locked_context_async(&name)).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(250));
    releaser.join().unwrap();
    guard.close().unwrap();
    // And a timeout, kept by the crate's own timer: nothing else would wake us.
    let holder = Holder::locked(&["context", name.to_str().unwrap()]);
    let err = block_on(
        LockOptions::new()
            .timeout(Duration::from_millis(150))
            .locked_context_async(&name),
    );
    assert!(matches!(err, Err(LockError::Timeout { .. })), "{err:?}");
    holder.release();
}

#[test]
fn bad_input_is_reported_on_first_poll_with_nothing_touched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let err = block_on(LockOptions::new().locked_file_async(&data, "rw"));
    assert!(matches!(err, Err(LockError::InvalidMode { .. })), "{err:?}");
    let err = block_on(
        LockOptions::new()
            .content_template("{nope}")
            .locked_file_async(&data, "w"),
    );
    assert!(
        matches!(err, Err(LockError::InvalidTemplate { .. })),
        "{err:?}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[scoped_lockfile::locked(name, timeout = "10s")]
async fn locked_async_fn(name: &std::path::Path) -> Result<Instant, LockError> {
    Ok(Instant::now())
}

#[test]
fn a_locked_async_fn_and_with_lock_yield_while_they_wait() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("attr");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for use_macro_block in [false, true] {
        let holder = Holder::locked(&["context", name.to_str().unwrap()]);
        let releaser = release_after(holder, Duration::from_secs(1));
        let name = name.clone();
        let ticks = runtime.block_on(async move {
            let waiter = tokio::spawn(async move {
                if use_macro_block {
                    scoped_lockfile::with_lock!(async &name, timeout = "10s", { Instant::now() })
                } else {
                    locked_async_fn(&name).await
                }
            });
            let mut ticks = 0;
            while !waiter.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                ticks += 1;
            }
            waiter.await.unwrap().unwrap();
            ticks
        });
        releaser.join().unwrap();
        assert!(
            ticks >= 10,
            "with_lock: {use_macro_block}: the executor was blocked ({ticks} ticks)"
        );
    }
}

#[test]
fn async_locked_files_protect_the_data_path_unless_given_options() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, "keep").unwrap();
    let data = dir.path().join("data");
    std::os::unix::fs::symlink(&target, &data).unwrap();
    let refused = block_on(LockOptions::new().locked_file_async(&data, "w"));
    assert!(
        matches!(refused, Err(LockError::UnsafePath { .. })),
        "{refused:?}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    let mut read = std::fs::OpenOptions::new();
    read.read(true);
    let mut file =
        block_on(LockOptions::new().locked_file_with_options_async(&data, &read)).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).unwrap();
    assert_eq!(text, "keep");
    // Held until closed, then free.
    assert!(matches!(
        probe(dir.path().join("data.lock")).unwrap(),
        Probe::Held { .. }
    ));
    file.close().unwrap();
    assert!(matches!(
        probe(dir.path().join("data.lock")).unwrap(),
        Probe::Free { .. }
    ));
}
