//! The name is any expression; every key is optional and may come in any order.
#![deny(warnings)]

use std::path::{Path, PathBuf};

use scoped_lockfile::locked;

const NAME: &str = "constant";

#[locked("literal")]
fn literal() -> u8 {
    1
}

#[locked(NAME, timeout = "5s")]
fn constant() -> u8 {
    2
}

#[locked(format!("{}/job-{id}", dir.display()), content_template = "{pid};{hostname}", timeout = "1m 30s")]
fn from_arguments(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("job-{id}.lock"))
}

#[locked(dir.join("keys"), content_template = "{pid}", timeout = "250ms", crate = "scoped_lockfile")]
fn all_keys_reordered(dir: &Path) -> bool {
    dir.join("keys.lock").exists()
}

#[locked(dir.join("trailing"),)]
fn trailing_comma(dir: &Path) {}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    assert_eq!(literal() + constant(), 3);
    // Relative names: in the current directory, or under SCOPED_LOCKFILE_DIR
    // when that is set (this workspace's .cargo/config.toml sets it).
    let in_lock_dir = scoped_lockfile::in_lock_dir;
    assert!(in_lock_dir("literal.lock").exists() && in_lock_dir("constant.lock").exists());
    let lock = from_arguments(dir.path(), 7);
    let content = std::fs::read_to_string(&lock).unwrap();
    assert!(
        content.starts_with(&format!(" {};", std::process::id())),
        "{content}"
    );
    assert!(all_keys_reordered(dir.path()));
    trailing_comma(dir.path());
    // Released on return: a single try succeeds.
    drop(scoped_lockfile::LockFile::new(lock).unwrap());
}
