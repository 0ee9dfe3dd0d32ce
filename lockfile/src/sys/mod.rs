//! The one platform seam: opening safely, telling which file a descriptor is,
//! taking and releasing the lock, positioned reads and writes. Everything above
//! this module is the same on every platform; everything below it is one file
//! per platform, the only place with `cfg`.
//!
//! Each platform module provides the same items:
//!
//! - `harden(&mut OpenOptions)`: never follow a link in the last component,
//!   never hang on or adopt a FIFO, terminal or device while opening.
//! - `create_mode(&mut OpenOptions, u32)`: permissions of a file we create.
//! - `info(&File)`, `path_info(&Path)`: [`FileInfo`] of an open file, or of
//!   what the path names now (without following a final link).
//! - `try_lock`, `lock`: the lock, [`Access::Exclusive`] or [`Access::Shared`];
//!   `lock` blocks and is never cut short by a signal.
//! - `release(File)`: lets the lock go. On Unix never an explicit unlock, only
//!   the close: a forked child's copy of the descriptor shares the lock, and
//!   its unlock would release the parent's too. On Windows an explicit unlock,
//!   then the close: a lock there belongs to one process, and Microsoft
//!   documents the release of locks left to the system as taking a while.
//! - `unlock(&File)`: lets go of a lock taken a moment ago on a descriptor no
//!   guard owns (a probe, a lock nobody wants, a refused first try), before
//!   it is closed: a child forked meanwhile has a copy (semantic 17).
//! - `Anchor::new(&Path, &File)`, `Anchor::open_registered(mode)`: a new open
//!   file description of the very file a first try opened, whatever its path
//!   names by then, registered as a `WaitingDescriptor` before any fork can
//!   copy it.
//! - `PerProcess<T>`: process-global state that a forked child gets fresh
//!   (never its parent's mutexes, which an absent thread may hold).
//! - `process_alive(u32)`: whether a process of this host runs, if that can
//!   be told.
//! - `write_all_at`, `read_at`: positioned I/O (`write_all_at` may move the
//!   file position where the platform cannot help it; nothing relies on it).
//! - `sync_data(&File)`: flushes a file's data to disk; nothing to do (and no
//!   error) for a handle opened to read, which Windows' flush refuses.
//! - `HOLDER_OFFSET`: where a waiter can read the holder's content from (1 on
//!   Windows, whose locks are mandatory: byte 0 is the locked one).
//! - `WaitingDescriptor::open(|| open a File)`: opens a descriptor with
//!   forks held back and registers it; while the registration lives, a child
//!   forked by this process does not keep a copy of this descriptor (that a
//!   thread of ours blocks on, or a fair ticket's), which would hold the lock
//!   or the queue slot once the wait gets it or the parent is gone (nothing
//!   to do on Windows, which has no fork).
//! - `clear_nonblocking(&File)`: undo the non-blocking open once the file is
//!   known to be regular, so the caller gets an ordinary descriptor.
//! - `kernel_view(&File, FileId, Depth)`: who holds the file's lock as the
//!   kernel tells it, without taking it ([`Seen`]); `unseen_view(FileId,
//!   Depth)`: the view once a try proved held a lock the kernel lists no
//!   holder of; `process_holds(pid, FileId)`: whether one process holds it.
//!   Linux reads `/proc` (`linux.rs`, parsing in `procfs.rs`);
//!   other platforms have no view.
//! - `range_lock`, `range_unlock`, `range_conflicts`: byte-range locks owned
//!   by an open file description, for the fair queue (`fair.rs`); where the
//!   platform has none, `FAIR_SUPPORTED` is false (today everywhere but
//!   Linux), `fair.rs` refuses fair locks up front, and these fail.
//! - The lock's descriptor or handle for users: `AsFd` or `AsHandle` for
//!   `LockFile`.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
mod no_ranges;
#[cfg(target_os = "linux")]
mod procfs;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

#[cfg(not(any(unix, windows)))]
compile_error!("scoped-lockfile supports Unix (Linux, macOS, the BSDs) and Windows");

#[cfg(target_os = "linux")]
pub(crate) use linux::{kernel_view, process_holds, unseen_view};

/// No kernel view here: every look at a lock is a try.
#[cfg(not(target_os = "linux"))]
pub(crate) fn kernel_view(_file: &std::fs::File, _id: FileId, _depth: Depth) -> Seen {
    Seen::NoView
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn process_holds(_pid: u32, _id: FileId) -> Option<bool> {
    None
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn unseen_view(_id: FileId, _depth: Depth) -> crate::KernelView {
    crate::KernelView::Unknown
}

/// How much of the kernel's view to read (see `linux.rs` for the costs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// The lock table and the taker's own descriptors: bounded by one
    /// process, for every `LockError`.
    Taker,
    /// Every process's descriptors, to list every holder: for `probe`.
    Holders,
}

/// What the kernel's view says before any try.
#[derive(Debug)]
// Only Linux has a view to answer with.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) enum Seen {
    /// Held or free, as the kernel says: no try needed.
    Answer(crate::KernelView),
    /// Not listed as held, but a holder could be hidden from this process
    /// (another pid namespace, a network filesystem): a try decides, and
    /// `unseen_view` says who holds it if held.
    Try,
    /// No view here (not Linux, no `/proc`, or a `flock` lock on our inode
    /// number on another device where `stat`'s device may not be the one
    /// the kernel lists: Btrfs, overlayfs, bcachefs): a try decides, and the
    /// view is unknown.
    NoView,
}

/// A bit of a lock file's `mode` above every permission bit: open it
/// read-only, create nothing (`open::READ_ONLY`, `LockOptions::read_only`).
pub(crate) const READ_ONLY: u32 = 1 << 31;

/// Which lock: one holder alone, or any number of readers together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Access {
    Exclusive,
    Shared,
}

/// Which file this is, whatever path reached it: two opens of one file share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    /// The device (Unix) or volume serial number (Windows).
    pub(crate) volume: u64,
    /// The inode (Unix) or file index (Windows).
    pub(crate) index: u128,
}

/// What one `fstat` (or its Windows equivalent) says about a file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileInfo {
    /// `None` for a regular file, else what it is, e.g. `"a directory"`.
    pub(crate) not_regular: Option<&'static str>,
    pub(crate) id: FileId,
    /// Hard links: 0 once the file was removed or replaced under its name.
    pub(crate) links: u64,
    pub(crate) len: u64,
}
