//! `on_error` decides what a lock error does where the return type's spelling
//! would mislead: a `Result` alias that is not one, a `Result` by another name.
#![deny(warnings)]

use std::path::{Path, PathBuf};

use scoped_lockfile::{LockError, locked};

mod plain {
    /// Not a `std::result::Result`, although it is spelled `Result`.
    pub(crate) type Result = u32;
}

#[locked(dir.join("alias"), timeout = "0s", on_error = "panic")]
fn alias(dir: &Path) -> plain::Result {
    7
}

trait Job {
    type Output;
    fn run(&self) -> Self::Output;
}

struct Deploy {
    dir: PathBuf,
}

impl Job for Deploy {
    type Output = Result<u32, LockError>;

    /// A `Result` under another name: `on_error = "return"` gives it the error.
    #[locked(self.dir.join("deploy"), timeout = "0s", on_error = "return")]
    fn run(&self) -> Self::Output {
        Ok(1)
    }
}

/// The default made explicit.
#[locked(dir.join("explicit"), timeout = "0s", on_error = "return")]
fn explicit(dir: &Path) -> std::io::Result<u8> {
    Ok(2)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    assert_eq!(alias(path), 7);
    let deploy = Deploy {
        dir: path.to_path_buf(),
    };
    assert_eq!(deploy.run().unwrap(), 1);
    assert_eq!(explicit(path).unwrap(), 2);

    let held = scoped_lockfile::LockedContext::new(path.join("deploy")).unwrap();
    assert!(matches!(deploy.run(), Err(LockError::Contended { .. })));
    drop(held);

    let _held = scoped_lockfile::LockedContext::new(path.join("alias")).unwrap();
    // The panic is expected: keep its message off the test output.
    std::panic::set_hook(Box::new(|_| {}));
    let panicked = std::panic::catch_unwind(|| alias(path)).unwrap_err();
    drop(std::panic::take_hook());
    let message = panicked.downcast_ref::<String>().unwrap();
    assert!(message.starts_with("Couldn't lock '"), "{message}");
}
