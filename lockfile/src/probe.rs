//! Looking at a lock without taking it: is it held, by whom, and how.

use std::path::Path;

use crate::open::open_existing;
use crate::sys::{self, Access, Depth, Seen};
use crate::{Holder, KernelView, LockError, holder};

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
        /// Who: what the file says, whether readers hold it, and which
        /// processes hold it as the kernel tells.
        holder: Holder,
    },
}

impl Probe {
    /// The holder of a held lock, or the last holder of a free one; `None`
    /// for a missing file.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("job.lock");
    /// assert!(scoped_lockfile::probe(&path)?.holder().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn holder(&self) -> Option<&Holder> {
        match self {
            Self::Held { holder }
            | Self::Free {
                last_holder: holder,
            } => Some(holder),
            Self::Missing => None,
        }
    }
}

/// Tells whether the lock on `path` is held, by whom, and whether by readers,
/// without creating, changing or waiting for the file.
///
/// It opens the file read-only (refusing symlinks and non-regular files, like
/// every other entry point) and asks the kernel (semantic 18; see
/// [`KernelView`] for what each platform can tell).
///
/// Where the kernel's view answers, the probe never takes the lock, so it can
/// never make someone else's one-try attempt fail: on Linux, whenever the
/// kernel lists the lock as held, and, for a free lock, where no holder can be
/// hidden from this process (it and its `/proc` in the initial pid namespace,
/// a local filesystem), unless, on Btrfs, overlayfs or bcachefs (whose `stat`
/// may report another device than the lock table's), some file with the
/// lock file's inode number on another device is `flock`ed. The holders are then every process with a descriptor
/// of the lock's open file, found as `lslocks` finds them: one `stat` per
/// descriptor of every process, and only when the lock is held.
///
/// Where the view cannot answer (macOS, the BSDs, Windows, a Linux container
/// or network filesystem whose lock is not listed as held), the probe tries
/// the lock without waiting: an exclusive try, given back at once if it
/// succeeds (the lock is free), else a shared one (it succeeds if readers
/// hold it). While a try holds the lock, for a few microseconds, a one-try
/// attempt by someone else fails as contended, as it would against
/// `flock -n`. A lock such a try finds held, by no process this namespace can
/// see, is [`KernelView::Unseen`].
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
/// let Probe::Held { holder } = probe(&path)? else { panic!("held") };
/// assert_eq!(holder.content.as_deref(), Some("42;web-1"));
/// // Where the kernel can tell (Linux), it names the real holder: us.
/// assert_ne!(holder.kernel.holds(std::process::id()), Some(false));
///
/// lock.close()?;
/// let Probe::Free { last_holder } = probe(&path)? else { panic!("free") };
/// assert_eq!(last_holder.content.as_deref(), Some("42;web-1"));
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
    let hidden = match sys::kernel_view(file, opened.id, Depth::Holders) {
        Seen::Answer(kernel) => return Ok(from_kernel(file, kernel)),
        Seen::Try => true,
        Seen::NoView => false,
    };
    let free = sys::try_lock(file, Access::Exclusive).map_err(|err| LockError::io(path, err))?;
    // Read under our lock if we got it: no new holder can be half-way through
    // writing.
    let content = holder::read_content(file);
    let probe = if free {
        Probe::Free {
            // The try answered, not the kernel's view.
            last_holder: Holder::new(content),
        }
    } else {
        let kernel = if hidden {
            sys::unseen_view(opened.id, Depth::Holders)
        } else {
            KernelView::Unknown
        };
        Probe::Held {
            holder: Holder {
                shared: holder::held_shared(file),
                kernel: Box::new(kernel),
                ..Holder::new(content)
            },
        }
    };
    if free {
        // Given back explicitly, not by the close alone: a child forked
        // while we held it has a copy of this descriptor (semantic 17).
        sys::unlock(file).map_err(|err| LockError::io(path, err))?;
    }
    drop(opened);
    Ok(probe)
}

/// The probe the kernel's view answers, without a try. The content is read
/// without the lock: a new holder may be writing it, and only its first line,
/// whole or not yet written, is read.
fn from_kernel(file: &std::fs::File, kernel: KernelView) -> Probe {
    let content = holder::read_content(file);
    match kernel {
        KernelView::Free { .. } => Probe::Free {
            last_holder: Holder {
                kernel: Box::new(kernel),
                ..Holder::new(content)
            },
        },
        kernel => Probe::Held {
            holder: Holder {
                shared: holder::kernel_shared(&kernel).unwrap_or(false),
                kernel: Box::new(kernel),
                ..Holder::new(content)
            },
        },
    }
}
