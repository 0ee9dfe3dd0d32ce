//! Lock files: the library's `LockFile`, which the command inherits.

use std::io;
use std::path::Path;
use std::process::Command;

use scoped_lockfile::{LockError, LockFile, LockOptions, Probe, probe};

use super::Held;
use crate::describe::Medium;
use crate::report::{self, ERROR_EXIT};
use crate::status::{State, Status};
use crate::sys::{self, Fd, Stop};

/// The lock files backend.
pub(crate) struct Files {
    /// `-o`: the command does not inherit the lock.
    pub(crate) close: bool,
}

struct HeldFile {
    lock: LockFile,
    inherit: bool,
    /// Opened read-only: the file does not name us.
    read_only: Option<io::Error>,
}

impl Files {
    /// Locks `path`, or, where this user may not write it (another user's
    /// lock file, a read-only file system), locks it read-only as flock(1)
    /// would, writing nothing.
    pub(crate) fn lock(
        &self,
        path: &Path,
        options: &LockOptions,
    ) -> Result<Box<dyn Held>, LockError> {
        let (lock, read_only) = match options.lock(path) {
            Ok(lock) => (lock, None),
            Err(LockError::Io { source, .. }) if may_lock_read_only(&source) => {
                match options.clone().read_only().lock(path) {
                    Ok(lock) => (lock, Some(source)),
                    // Nothing to lock read-only (it could not be created):
                    // the first error says why.
                    Err(LockError::Io {
                        source: missing, ..
                    }) if missing.kind() == io::ErrorKind::NotFound => {
                        return Err(LockError::Io {
                            path: path.to_path_buf(),
                            source,
                        });
                    }
                    Err(err) => return Err(err),
                }
            }
            Err(err) => return Err(err),
        };
        Ok(Box::new(HeldFile {
            lock,
            inherit: !self.close,
            read_only,
        }))
    }
}

/// Not allowed to open the file for writing: flock(1) would lock it through
/// a read-only descriptor, and so do we.
fn may_lock_read_only(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
    )
}

impl Held for HeldFile {
    fn hand_down(&self, _command: &mut Command) -> Option<Fd<'_>> {
        self.inherit.then(|| sys::fd_of(&self.lock))
    }

    fn tied(&self) -> bool {
        false
    }

    fn stop(&self) -> Option<Stop> {
        None
    }

    fn caveat(&self) -> Option<String> {
        self.read_only.as_ref().map(|err| {
            format!(
                "cannot open '{}' for writing ({err}); locked it read-only: the file does \
                 not say who holds the lock",
                self.lock.path().display()
            )
        })
    }

    fn lost(&self, _late: bool) -> String {
        unreachable!("a lock file is not lost while held")
    }

    fn release(self: Box<Self>) -> Result<(), LockError> {
        self.lock.close()
    }
}

/// The status of the lock file `path`, as the library's probe sees it.
pub(crate) fn status(path: &Path) -> Result<Status, u8> {
    // A path whose directory does not exist is an error here, not a free lock.
    let probed = probe(path).map_err(|err| report::fail(&err, ERROR_EXIT))?;
    let (state, holder) = match probed {
        Probe::Held { holder } if holder.shared => (State::HeldShared, Some(holder)),
        Probe::Held { holder } => (State::Held, Some(holder)),
        Probe::Free { last_holder } => (State::Free, Some(last_holder)),
        _ => (State::Missing, None),
    };
    Ok(Status {
        name: path.display().to_string(),
        medium: Medium::File,
        state,
        holder,
        fencing_token: None,
        waiting: None,
    })
}
