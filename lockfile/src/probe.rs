//! Looking at a lock without taking it: is it held, and what does the file say.

use std::path::Path;

use crate::LockError;
use crate::acquire::read_holder;
use crate::open::open_existing;
use crate::sys::{self, Access};

/// What a lock file is like right now, as [`probe`] saw it.
///
/// A snapshot: the lock can be taken or released the moment after.
///
/// ```
/// use scoped_lockfile::{Probe, probe};
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("deploy.lock");
/// match probe(&path)? {
///     Probe::Held { holder: Some(who) } => println!("deploying: {who}"),
///     Probe::Held { holder: None } => println!("deploying (holder unknown)"),
///     _ => println!("idle"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Probe {
    /// There is no file at the path, so nobody holds it.
    Missing,
    /// The file exists and nobody holds its lock.
    Free {
        /// What the last holder wrote, trimmed, if anything.
        last_holder: Option<String>,
    },
    /// Somebody holds the lock.
    Held {
        /// What the holder wrote, trimmed; `None` if it has not written yet.
        holder: Option<String>,
    },
}

/// Tells whether the lock on `path` is held and what the file says, without
/// creating, changing or locking the file in a way a holder could notice.
///
/// It opens the file read-only (refusing symlinks and non-regular files, like
/// every other entry point) and tries a *shared* lock without waiting: that
/// fails if anyone holds the lock, and if nobody does it is dropped at once.
/// While it is held, for a few microseconds, a one-try attempt by someone else
/// fails as contended, as it would against `flock -n -s`.
///
/// # Errors
///
/// [`LockError::UnsafePath`] for a symlink, directory, FIFO, socket or device;
/// [`LockError::Io`] if the file cannot be opened (e.g. no read permission).
///
/// # Example
///
/// ```
/// use scoped_lockfile::{LockFile, Probe, probe};
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("job.lock");
/// assert_eq!(probe(&path)?, Probe::Missing);
///
/// let lock = LockFile::with_content_template(&path, "42;web-1")?;
/// assert_eq!(probe(&path)?, Probe::Held { holder: Some("42;web-1".into()) });
///
/// lock.close()?;
/// assert_eq!(probe(&path)?, Probe::Free { last_holder: Some("42;web-1".into()) });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn probe(path: impl AsRef<Path>) -> Result<Probe, LockError> {
    let path = path.as_ref();
    let Some(opened) = open_existing(path)? else {
        return Ok(Probe::Missing);
    };
    let free =
        sys::try_lock(&opened.file, Access::Shared).map_err(|err| LockError::io(path, err))?;
    // Read under our shared lock if we got it: no new holder can be half-way
    // through writing.
    let content = read_holder(&opened.file);
    sys::release(opened.file).map_err(|err| LockError::io(path, err))?;
    Ok(if free {
        Probe::Free {
            last_holder: content,
        }
    } else {
        Probe::Held { holder: content }
    })
}
