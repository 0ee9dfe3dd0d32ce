//! Taking a lock: one try, then waiting as the options say, then writing the
//! holder's content (semantics 1, 3, 4, 10, 11).

use std::fs::{File, TryLockError};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::open::{Identified, identify, open_lock_file};
use crate::template::Template;
use crate::wait::Waiting;
use crate::{LockError, held};

/// How long to wait for a lock that is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Until the lock is free.
    Forever,
    /// Give up after this long; zero means a single try.
    For(Duration),
}

impl Wait {
    /// When to give up, if a wait starting at `started` ever should; a deadline
    /// too far to represent is no deadline.
    pub(crate) fn deadline(self, started: Instant) -> Option<Instant> {
        match self {
            Self::Forever => None,
            Self::For(timeout) => started.checked_add(timeout),
        }
    }
}

/// What the first, non-blocking try found.
pub(crate) enum FirstTry {
    /// The lock is ours and its content written.
    Locked(Identified),
    /// Someone holds it; this descriptor does not hold it, but can read it.
    Held(Identified),
}

/// Opens `path` and tries its lock once; on success, writes `content`.
pub(crate) fn try_once(path: &Path, content: &str, mode: u32) -> Result<FirstTry, LockError> {
    let file = open_lock_file(path, mode)?;
    match file.try_lock() {
        Ok(()) => finish(path, file, content).map(FirstTry::Locked),
        // A FIFO or device held by someone else is still refused as what it is.
        Err(TryLockError::WouldBlock) => identify(path, file).map(FirstTry::Held),
        Err(TryLockError::Error(err)) => Err(LockError::io(path, err)),
    }
}

/// Locks `path` and writes the rendered `template` into it, waiting as `wait`
/// says; the calling thread blocks while it waits.
///
/// The template is rendered before the file is opened, so nothing about it can
/// fail once the lock is held.
pub(crate) fn acquire(
    path: &Path,
    template: &Template,
    wait: Wait,
    mode: u32,
) -> Result<Identified, LockError> {
    let content = template.render();
    let held_elsewhere = match try_once(path, &content, mode)? {
        FirstTry::Locked(locked) => return Ok(locked),
        FirstTry::Held(held_elsewhere) => held_elsewhere,
    };
    // The clock starts at the first failed try: the open before it is
    // microseconds, and the uncontended path need not read the clock.
    let started = Instant::now();
    if wait == Wait::For(Duration::ZERO) {
        return Err(contended(path, &held_elsewhere));
    }
    if held::by_current_thread(held_elsewhere.id) {
        return Err(LockError::WouldDeadlock {
            path: path.to_path_buf(),
        });
    }
    let file = match wait.deadline(started) {
        None => lock_blocking(path, held_elsewhere.file)?,
        Some(deadline) => {
            let waiting = Waiting::start(path, held_elsewhere.id, mode)?;
            match waiting.wait_until(deadline) {
                Some(outcome) => outcome?,
                None => return Err(timed_out(path, started, &held_elsewhere)),
            }
        }
    };
    finish(path, file, &content)
}

/// Blocks on the file's own descriptor until its lock is free.
pub(crate) fn lock_blocking(path: &Path, file: File) -> Result<File, LockError> {
    file.lock().map_err(|err| LockError::io(path, err))?;
    Ok(file)
}

/// Completes a lock just taken on `file`: identified only now that the lock is
/// held, one fstat refuses what is not a regular file (dropping the file releases
/// the lock) and gives a length no cooperating process can change under us.
pub(crate) fn finish(path: &Path, file: File, content: &str) -> Result<Identified, LockError> {
    let locked = identify(path, file)?;
    held::register(locked.id);
    if let Err(err) = write_content(&locked, content.as_bytes()) {
        held::unregister(locked.id);
        // Dropping the file closes its descriptor, which releases the lock.
        return Err(LockError::io(path, err));
    }
    Ok(locked)
}

pub(crate) fn contended(path: &Path, held_elsewhere: &Identified) -> LockError {
    LockError::Contended {
        path: path.to_path_buf(),
        holder: read_holder(&held_elsewhere.file),
    }
}

pub(crate) fn timed_out(path: &Path, started: Instant, held_elsewhere: &Identified) -> LockError {
    LockError::Timeout {
        path: path.to_path_buf(),
        waited: started.elapsed(),
        holder: read_holder(&held_elsewhere.file),
    }
}

/// Writes at offset 0 and cuts the file to the content's length if it was
/// longer, so an old content never survives and nothing is ever appended. The
/// length is the one `identify` read under the lock, so the cut is skipped,
/// saving a syscall, only when no byte past the content can remain.
fn write_content(locked: &Identified, content: &[u8]) -> std::io::Result<()> {
    locked.file.write_all_at(content, 0)?;
    let len = content.len() as u64;
    if locked.len > len {
        locked.file.set_len(len)?;
    }
    Ok(())
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
