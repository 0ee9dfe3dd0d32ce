//! Looking at a lock without taking it: is it held, by whom, and how.

use std::path::Path;

use crate::open::open_existing;
use crate::sys::{self, Access};
use crate::{Holder, LockError, holder};

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
///     Probe::Held { holder } if holder.shared => println!("being read"),
///     Probe::Held { holder } => println!("deploying: {holder}"),
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
        /// What the last exclusive holder wrote (`content` is `None` if nothing).
        last_holder: Holder,
    },
    /// Somebody holds the lock.
    Held {
        /// Who: what the file says, and whether readers hold it.
        holder: Holder,
    },
}

/// Tells whether the lock on `path` is held, by whom, and whether by readers,
/// without creating, changing or waiting for the file.
///
/// It opens the file read-only (refusing symlinks and non-regular files, like
/// every other entry point) and tries the lock without waiting: an exclusive
/// try, given back at once if it succeeds (the lock is free), else a shared
/// one (it succeeds if readers hold it). While a try holds the lock, for a few
/// microseconds, a one-try attempt by someone else fails as contended, as it
/// would against `flock -n`.
///
/// # Errors
///
/// [`LockError::UnsafePath`] for a symlink, directory, FIFO, socket or device;
/// [`LockError::Io`] if the file cannot be opened (e.g. no read permission) or
/// its directory does not exist.
///
/// # Example
///
/// ```
/// use scoped_lockfile::{Holder, LockFile, Probe, probe};
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("job.lock");
/// assert_eq!(probe(&path)?, Probe::Missing);
///
/// let lock = LockFile::with_content_template(&path, "42;web-1")?;
/// let who = Holder::new(Some("42;web-1".into()));
/// assert_eq!(probe(&path)?, Probe::Held { holder: who.clone() });
///
/// lock.close()?;
/// assert_eq!(probe(&path)?, Probe::Free { last_holder: who });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn probe(path: impl AsRef<Path>) -> Result<Probe, LockError> {
    let path = path.as_ref();
    let Some(opened) = open_existing(path)? else {
        // A typo in the directory is an error, not a lock nobody holds.
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::metadata(parent).map_err(|err| LockError::io(path, err))?;
        }
        return Ok(Probe::Missing);
    };
    let file = &opened.file;
    let free = sys::try_lock(file, Access::Exclusive).map_err(|err| LockError::io(path, err))?;
    // Read under our lock if we got it: no new holder can be half-way through
    // writing.
    let content = holder::read_content(file);
    let probe = if free {
        Probe::Free {
            last_holder: Holder::new(content),
        }
    } else {
        Probe::Held {
            holder: Holder {
                shared: holder::held_shared(file),
                ..Holder::new(content)
            },
        }
    };
    sys::release(opened.file).map_err(|err| LockError::io(path, err))?;
    Ok(probe)
}
