//! `[NAME, ..]` takes a set of locks in canonical order: in sync and async
//! fns, in `with_lock!`, with every key, names of different types together.
#![deny(warnings)]

use std::path::{Path, PathBuf};

use scoped_lockfile::{LockError, locked, with_lock};

const PORT: &str = "port";

#[locked([dir.join("db"), dir.join(PORT)], timeout = "5s")]
fn both(dir: &Path) -> Result<u32, LockError> {
    Ok(1)
}

#[locked([dir.join("db"), dir.join(PORT)], shared, content_template = "{pid};{hostname}")]
fn readers(dir: &Path) -> u32 {
    2
}

#[locked([db, &port], timeout = "1s")]
async fn mixed_types(db: &Path, port: PathBuf) -> std::io::Result<u32> {
    let _ = &port;
    Ok(3)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    assert_eq!(both(dir)?, 1);
    assert_eq!(readers(dir), 2);
    let runtime = tokio_free_block_on(mixed_types(&dir.join("db"), dir.join(PORT)))?;
    assert_eq!(runtime, 3);
    let n = with_lock!([dir.join(PORT), dir.join("db")], timeout = "5s", { 4 })?;
    assert_eq!(n, 4);
    Ok(())
}

/// The futures of this crate need no runtime: poll until ready.
fn tokio_free_block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}
