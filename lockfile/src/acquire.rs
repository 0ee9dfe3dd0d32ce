//! Taking a lock: one try, then waiting as the options say, then writing the
//! holder's content (semantics 1, 3, 4, 10, 11).

use std::fs::{File, TryLockError};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::open::{Opened, open_lock_file};
use crate::template::Template;
use crate::{LockError, held, wait};

/// How long to wait for a lock that is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Block in the kernel until the lock is free.
    Forever,
    /// Give up after this long; zero means a single try.
    For(Duration),
}

/// Locks `path` and writes the rendered `template` into it.
///
/// The template is rendered before the file is opened, so a template error (found
/// by the caller) and a missing hostname never leave a lock held.
pub(crate) fn acquire(
    path: &Path,
    template: &Template,
    wait: Wait,
    mode: u32,
) -> Result<Opened, LockError> {
    let started = Instant::now();
    let content = template.render();
    let opened = open_lock_file(path, mode)?;
    let opened = match opened.file.try_lock() {
        Ok(()) => opened,
        Err(TryLockError::WouldBlock) => wait_for(path, opened, wait, mode, started)?,
        Err(TryLockError::Error(err)) => return Err(LockError::io(path, err)),
    };
    // From here on the lock is ours: register it first, so that an error below
    // releases it through the same path as a normal unlock.
    held::register(opened.id);
    if let Err(err) = write_content(&opened.file, content.as_bytes()) {
        held::unregister(opened.id);
        // Dropping the file closes its descriptor, which releases the lock.
        return Err(LockError::io(path, err));
    }
    Ok(opened)
}

/// Blocks on the file's own descriptor until its lock is free.
pub(crate) fn lock_blocking(path: &Path, opened: Opened) -> Result<Opened, LockError> {
    opened.file.lock().map_err(|err| LockError::io(path, err))?;
    Ok(opened)
}

fn wait_for(
    path: &Path,
    opened: Opened,
    wait: Wait,
    mode: u32,
    started: Instant,
) -> Result<Opened, LockError> {
    let deadline = match wait {
        Wait::For(Duration::ZERO) => {
            return Err(LockError::Contended {
                path: path.to_path_buf(),
                holder: read_holder(&opened.file),
            });
        }
        // A deadline too far to represent is no deadline.
        Wait::For(timeout) => started.checked_add(timeout),
        Wait::Forever => None,
    };
    if held::by_current_thread(opened.id) {
        return Err(LockError::WouldDeadlock {
            path: path.to_path_buf(),
        });
    }
    let Some(deadline) = deadline else {
        return lock_blocking(path, opened);
    };
    match wait::lock_until(path, opened.id, mode, deadline)? {
        Some(locked) => Ok(locked),
        None => Err(LockError::Timeout {
            path: path.to_path_buf(),
            waited: started.elapsed(),
            holder: read_holder(&opened.file),
        }),
    }
}

/// Writes at offset 0 and cuts the file to the content's length, so a longer
/// previous content never survives and nothing is ever appended.
fn write_content(file: &File, content: &[u8]) -> std::io::Result<()> {
    file.write_all_at(content, 0)?;
    file.set_len(content.len() as u64)
}

/// What the holder wrote, trimmed; `None` if the file is empty or unreadable.
///
/// Read through our own descriptor with `pread`, which needs no lock and moves no
/// file position; a holder caught between locking and writing reads as empty.
pub(crate) fn read_holder(file: &File) -> Option<String> {
    const MAX_HOLDER_LEN: usize = 4096;
    let mut buf = vec![0; MAX_HOLDER_LEN];
    let len = file.read_at(&mut buf, 0).ok()?;
    let holder = String::from_utf8_lossy(&buf[..len]).trim().to_owned();
    (!holder.is_empty()).then_some(holder)
}
