//! `fair` queues the lock's waiters first come, first served; it combines
//! with every other key, in sync and async fns and in `with_lock!`. Fair
//! locks are Linux's for now: elsewhere taking one is an `Unsupported` error.
#![deny(warnings)]

use std::path::Path;

use scoped_lockfile::{LockError, locked, with_lock};

#[locked(dir.join("deploy"), fair)]
fn deploy(dir: &Path) -> Result<u32, LockError> {
    Ok(1)
}

#[locked(dir.join("cache"), shared, fair, timeout = "5s")]
fn read_cache(dir: &Path) -> Result<u32, LockError> {
    Ok(2)
}

#[locked(dir.join("deploy"), fair, timeout = "5s")]
async fn deploy_async(dir: &Path) -> Result<u32, LockError> {
    Ok(3)
}

async fn both(dir: &Path) -> Result<u32, LockError> {
    let four = with_lock!(async dir.join("deploy"), fair, timeout = "1s", { 4 })?;
    Ok(deploy_async(dir).await? + four)
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let taken = (|| -> Result<u32, LockError> {
        let five = with_lock!(dir.join("deploy"), fair, { 5 })?;
        let async_ones = block_on(both(dir))?;
        Ok(deploy(dir)? + read_cache(dir)? + async_ones + five)
    })();
    if cfg!(target_os = "linux") {
        assert_eq!(taken.unwrap(), 15);
    } else {
        assert!(
            matches!(taken, Err(LockError::Unsupported { .. })),
            "{taken:?}"
        );
    }
}

/// The lock is free, so every future here is ready at its first poll.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("a free lock kept the future pending"),
    }
}
