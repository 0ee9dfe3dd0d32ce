//! `shared` takes a reader's lock; `on = BACKEND` takes the lock on another
//! backend, here one of the user's own, with `str` names.
#![deny(warnings)]

use std::future::Future;
use std::path::{Path, PathBuf};

use scoped_lockfile::{Backend, Files, LockError, LockOptions, LockedContext, locked, with_lock};

/// Lock files under one directory, named by `str`: a backend of the user's.
struct Under(PathBuf);

impl Backend for Under {
    type Name = str;
    type Guard = LockedContext;

    fn lock(&self, name: &str, options: &LockOptions) -> Result<LockedContext, LockError> {
        options.lock_on(&Files, self.0.join(name))
    }

    fn lock_async(
        &self,
        name: &str,
        options: &LockOptions,
    ) -> impl Future<Output = Result<LockedContext, LockError>> + Send + 'static + use<> {
        options.locked_context_async(self.0.join(name))
    }
}

#[locked(dir.join("cache"), shared)]
fn read_cache(dir: &Path) -> u32 {
    // Another reader is welcome meanwhile.
    let other = LockOptions::new()
        .shared()
        .try_locked_context(dir.join("cache"));
    assert!(other.unwrap().is_some());
    1
}

#[locked("report", on = Under(dir.to_path_buf()), timeout = "5s")]
fn report(dir: &Path) -> Result<u32, LockError> {
    assert!(dir.join("report.lock").exists());
    Ok(2)
}

#[locked(format!("shared-{n}"), on = backend, shared)]
fn both(backend: &Under, n: u32) -> u32 {
    n
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    assert_eq!(read_cache(path), 1);
    assert_eq!(report(path).unwrap(), 2);
    let under = Under(path.to_path_buf());
    assert_eq!(both(&under, 3), 3);
    let n = with_lock!(path.join("cache"), shared, { 4 }).unwrap();
    let m = with_lock!(
        String::from("report"),
        on = under,
        shared,
        timeout = "1s",
        { n + 1 }
    )
    .unwrap();
    assert_eq!(m, 5);
}
