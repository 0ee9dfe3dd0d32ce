//! The lock name's temporaries end before the body runs, as in a `let` written
//! by hand: a `MutexGuard` taken to build the name is released by then, so the
//! body can lock the same mutex. (Before, it lived through the body: a
//! deadlock on the user's own mutex.) The async forms are in
//! `async-fns-and-with-lock.rs`.
#![deny(warnings)]

use std::path::PathBuf;
use std::sync::Mutex;

use scoped_lockfile::{LockError, locked, with_lock};

struct Config {
    dir: PathBuf,
    runs: u32,
}

#[locked(config.lock().unwrap().dir.join("job"))]
fn count_run(config: &Mutex<Config>) -> u32 {
    let mut config = config.lock().unwrap();
    config.runs += 1;
    config.runs
}

fn count_run_with_lock(config: &Mutex<Config>) -> Result<u32, LockError> {
    with_lock!(config.lock().unwrap().dir.join("job"), timeout = "5s", {
        let mut config = config.lock().unwrap();
        config.runs += 1;
        config.runs
    })
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let config = Mutex::new(Config {
        dir: dir.path().to_path_buf(),
        runs: 0,
    });
    assert_eq!(count_run(&config), 1);
    assert_eq!(count_run_with_lock(&config).unwrap(), 2);
}
