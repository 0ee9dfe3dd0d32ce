//! `#[locked]` on `async fn` awaits the lock; the guard lives across `.await`
//! points and the future stays `Send` when the body's is. `with_lock!(async ..)`
//! awaits it in async code, with the same inline body.
#![deny(warnings)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use scoped_lockfile::{LockError, locked, with_lock};

fn assert_send<F: Send>(_: &F) {}

/// Yields to the executor once: a real `.await` point while the lock is held.
async fn pause() {
    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldOnce(false).await;
}

#[locked(dir.join("async-free"), timeout = "5s")]
async fn free(dir: &Path, n: u32) -> Result<u32, LockError> {
    pause().await;
    Ok(n * 2)
}

#[locked(dir.join("async-plain"))]
async fn plain(dir: &Path) -> u32 {
    pause().await;
    7
}

struct Store {
    dir: PathBuf,
    items: Vec<u32>,
}

impl Store {
    #[locked(self.dir.join("store"), content_template = "{pid};{hostname}")]
    async fn push(&mut self, item: u32) -> &mut Self {
        pause().await;
        self.items.push(item);
        self
    }

    #[locked(self.dir.join("store"))]
    async fn sum(&self) -> std::io::Result<u32> {
        pause().await;
        Ok(self.items.iter().sum())
    }
}

/// An inner attribute stays first in the body.
#[locked(dir.join("async-inner"))]
async fn inner_attribute(dir: &Path) -> u32 {
    #![allow(clippy::let_and_return)]
    let five = 5;
    pause().await;
    five
}

/// A lock name built through an `Rc` (not `Send`): its temporaries end before
/// the first `.await`, so the futures below are still `Send`.
fn name_of(dir: &std::rc::Rc<PathBuf>, lock: &str) -> PathBuf {
    dir.join(lock)
}

#[locked(name_of(&std::rc::Rc::new(dir.to_path_buf()), "rc-name"))]
async fn rc_in_the_name(dir: &Path) -> u32 {
    pause().await;
    6
}

async fn rc_in_with_lock(dir: &Path) -> Result<u32, LockError> {
    with_lock!(async name_of(&std::rc::Rc::new(dir.to_path_buf()), "rc-with-lock"), {
        pause().await;
        8
    })
}

/// A reader's lock, awaited; and the lock on an explicit backend.
#[locked(dir.join("async-shared"), shared, timeout = "5s")]
async fn read_shared(dir: &Path) -> Result<u32, LockError> {
    pause().await;
    Ok(9)
}

async fn on_files(dir: &Path) -> Result<u32, LockError> {
    with_lock!(async dir.join("async-on"), on = scoped_lockfile::Files, shared, {
        pause().await;
        10
    })
}

async fn scan(dir: &Path, items: &[&str]) -> Result<Vec<u32>, Box<dyn std::error::Error>> {
    let mut kept = Vec::new();
    for item in items {
        with_lock!(async dir.join("scan"), timeout = "1s", {
            if item.is_empty() {
                continue;
            }
            pause().await;
            kept.push(item.parse::<u32>()?);
        })?;
    }
    Ok(kept)
}

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

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let future = free(path, 21);
    assert_send(&future);
    assert_eq!(block_on(future).unwrap(), 42);
    assert_eq!(block_on(plain(path)), 7);
    let mut store = Store {
        dir: path.to_path_buf(),
        items: vec![1],
    };
    let pushing = store.push(2);
    assert_send(&pushing);
    block_on(pushing);
    assert_eq!(block_on(store.sum()).unwrap(), 3);
    let scanning = scan(path, &["1", "", "2"]);
    assert_eq!(block_on(scanning).unwrap(), [1, 2]);
    assert!(block_on(scan(path, &["x"])).is_err());
    assert_eq!(block_on(inner_attribute(path)), 5);
    let rc_fn = rc_in_the_name(path);
    assert_send(&rc_fn);
    assert_eq!(block_on(rc_fn), 6);
    let rc_block = rc_in_with_lock(path);
    assert_send(&rc_block);
    assert_eq!(block_on(rc_block).unwrap(), 8);
    let reading = read_shared(path);
    assert_send(&reading);
    assert_eq!(block_on(reading).unwrap(), 9);
    let on = on_files(path);
    assert_send(&on);
    assert_eq!(block_on(on).unwrap(), 10);
    for name in [
        "async-free.lock",
        "async-plain.lock",
        "store.lock",
        "scan.lock",
    ] {
        drop(scoped_lockfile::LockFile::new(path.join(name)).unwrap());
    }
}
