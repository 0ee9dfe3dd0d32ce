//! A fn returning `Result` gets the lock error through `From`; `?` and `return`
//! in the body mean what they meant without the attribute.
#![deny(warnings)]

use std::path::Path;

use scoped_lockfile::{LockError, locked};

#[derive(Debug)]
enum AppError {
    Lock(LockError),
    Parse(std::num::ParseIntError),
}

impl From<LockError> for AppError {
    fn from(err: LockError) -> Self {
        Self::Lock(err)
    }
}

impl From<std::num::ParseIntError> for AppError {
    fn from(err: std::num::ParseIntError) -> Self {
        Self::Parse(err)
    }
}

#[locked(dir.join("parse"))]
fn parse(dir: &Path, text: &str) -> Result<i64, AppError> {
    if text.is_empty() {
        return Ok(0);
    }
    let value: i64 = text.parse()?;
    Ok(value * 2)
}

/// Re-enters `parse` on its own thread while holding its lock: a wait that
/// could never end, refused with `WouldDeadlock`.
#[locked(dir.join("parse"))]
fn parse_reentered(dir: &Path) -> Result<i64, AppError> {
    parse(dir, "1")
}

#[locked(dir.join("io"), timeout = "0s")]
fn io_result(dir: &Path) -> std::io::Result<u8> {
    Ok(1)
}

#[locked(dir.join("boxed"))]
fn boxed(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    Ok(())
}

#[locked(dir.join("lock-error"), timeout = "0s")]
fn lock_error(dir: &Path) -> Result<(), LockError> {
    Ok(())
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(parse(dir.path(), "21").unwrap(), 42);
    assert_eq!(parse(dir.path(), "").unwrap(), 0);
    assert!(
        matches!(parse(dir.path(), "x"), Err(AppError::Parse(e)) if e.to_string().contains("digit"))
    );
    assert_eq!(io_result(dir.path()).unwrap(), 1);
    boxed(dir.path()).unwrap();

    // Held elsewhere: the error comes back through From, the body never runs.
    let held = scoped_lockfile::LockFile::new(dir.path().join("io.lock")).unwrap();
    assert_eq!(
        io_result(dir.path()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    drop(held);
    let held = scoped_lockfile::LockFile::new(dir.path().join("lock-error.lock")).unwrap();
    assert!(matches!(
        lock_error(dir.path()),
        Err(LockError::Contended { .. })
    ));
    drop(held);
    let err = parse_reentered(dir.path()).unwrap_err();
    assert!(
        matches!(err, AppError::Lock(LockError::WouldDeadlock { .. })),
        "{err:?}"
    );
}
