//! Unix: `O_NOFOLLOW`, `flock(2)`, (device, inode) identity.

use std::ffi::OsString;
use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io;
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::{Access, FileId, FileInfo};

/// The content starts with a space, as zc.lockfile's does, for Windows' sake;
/// here nothing stops a waiter from reading it all.
pub(crate) const HOLDER_OFFSET: u64 = 0;

/// `O_NONBLOCK` keeps the open of a FIFO from hanging and `O_NOCTTY` keeps a
/// terminal from becoming ours; nothing is read or written before the caller's
/// `fstat` refuses them. Descriptors are close-on-exec (std's default).
pub(crate) fn harden(options: &mut OpenOptions) {
    let flags = OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
    options.custom_flags(flags.bits().cast_signed());
}

pub(crate) fn create_mode(options: &mut OpenOptions, mode: u32) {
    options.mode(mode);
}

pub(crate) fn info(file: &File) -> io::Result<FileInfo> {
    file.metadata().map(|meta| from_metadata(&meta))
}

pub(crate) fn path_info(path: &Path) -> io::Result<FileInfo> {
    std::fs::symlink_metadata(path).map(|meta| from_metadata(&meta))
}

fn from_metadata(meta: &Metadata) -> FileInfo {
    FileInfo {
        not_regular: describe(meta.file_type()),
        id: FileId {
            volume: meta.dev(),
            index: u128::from(meta.ino()),
        },
        links: meta.nlink(),
        len: meta.len(),
    }
}

fn describe(kind: FileType) -> Option<&'static str> {
    Some(if kind.is_file() {
        return None;
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    })
}

/// One try; `Ok(false)` if someone else holds it.
pub(crate) fn try_lock(file: &File, access: Access) -> io::Result<bool> {
    let tried = match access {
        Access::Exclusive => file.try_lock(),
        Access::Shared => file.try_lock_shared(),
    };
    match tried {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(err)) => Err(err),
    }
}

/// Blocks until the lock is ours. A signal handler installed without
/// `SA_RESTART` makes `flock(2)` fail with `EINTR`; the wait goes on.
pub(crate) fn lock(file: &File, access: Access) -> io::Result<()> {
    loop {
        let locked = match access {
            Access::Exclusive => file.lock(),
            Access::Shared => file.lock_shared(),
        };
        match locked {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Closing the descriptor releases the lock once no other descriptor of the
/// same open file description is left (a forked child's copy keeps it, and its
/// own close leaves the parent's lock alone). `close(2)` errors are not
/// reported by std; for a lock there is nothing to do about them anyway.
#[allow(clippy::unnecessary_wraps)] // Windows' unlock can fail.
pub(crate) fn release(file: File) -> io::Result<()> {
    drop(file);
    Ok(())
}

/// Lets go of a lock taken a moment ago on a descriptor of our own, which no
/// guard owns (a probe, a lock nobody wants, a first try refusing a file): a
/// child forked meanwhile may have a copy, and only an explicit unlock lets
/// go of the lock for that copy too. Never for a guard, released by [`release`].
pub(crate) fn unlock(file: &File) -> io::Result<()> {
    file.unlock()
}

/// Whether process `pid` of this host is running; `None` if that cannot be
/// told. A process of another user is running all the same (`EPERM`).
pub(crate) fn process_alive(pid: u32) -> Option<bool> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
    match rustix::process::test_kill_process(pid) {
        Ok(()) | Err(rustix::io::Errno::PERM) => Some(true),
        Err(rustix::io::Errno::SRCH) => Some(false),
        Err(_) => None,
    }
}

pub(crate) fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    file.write_all_at(buf, offset)
}

pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    file.read_at(buf, offset)
}

pub(crate) fn sync_data(file: &File) -> io::Result<()> {
    file.sync_data()
}

pub(crate) fn clear_nonblocking(file: &File) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    rustix::fs::fcntl_setfl(file, flags - OFlags::NONBLOCK)?;
    Ok(())
}

/// Byte-range locks of an open file description, for the fair queue
/// (`fair.rs`). They are Linux's OFD locks (`F_OFD_SETLK`, since Linux 3.15):
/// owned by the open file description like `flock(2)`'s, so two opens in one
/// process are two owners, and released when its last descriptor closes or
/// its process dies. Classic POSIX record locks would not do: they belong to
/// the process, and any `close` of the file by it drops all of them.
/// Elsewhere (macOS, the BSDs) `FAIR_SUPPORTED` is false and they fail.
pub(crate) use ranges::{FAIR_SUPPORTED, range_conflicts, range_lock, range_unlock};

#[cfg(target_os = "linux")]
mod ranges {
    #![allow(unsafe_code)]

    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    use super::Access;

    pub(crate) const FAIR_SUPPORTED: bool = true;

    /// Locks `len` bytes from `start` (blocking if `wait`); `Ok(false)` if
    /// another open file description holds a conflicting lock and `wait` is
    /// not set. A signal handler without `SA_RESTART` cuts a blocking request
    /// short with `EINTR`; the request is made again.
    pub(crate) fn range_lock(
        file: &File,
        access: Access,
        start: u64,
        len: u64,
        wait: bool,
    ) -> io::Result<bool> {
        let mut lock = request(kind(access), start, len)?;
        let command = if wait {
            libc::F_OFD_SETLKW
        } else {
            libc::F_OFD_SETLK
        };
        loop {
            match fcntl(file, command, &mut lock) {
                Ok(()) => return Ok(true),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err)
                    if !wait && matches!(err.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) =>
                {
                    return Ok(false);
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Lets go of whatever this open file description holds in the range:
    /// explicitly, so that a forked child's copy of the descriptor does not
    /// keep it.
    pub(crate) fn range_unlock(file: &File, start: u64, len: u64) -> io::Result<()> {
        let unlock = libc::c_short::try_from(libc::F_UNLCK).expect("a small constant");
        fcntl(file, libc::F_OFD_SETLK, &mut request(unlock, start, len)?)
    }

    /// Whether another open file description holds a lock in the range that
    /// `access` would conflict with (`F_OFD_GETLK`: nothing is taken). A
    /// length of 0 means up to the largest offset.
    pub(crate) fn range_conflicts(
        file: &File,
        access: Access,
        start: u64,
        len: u64,
    ) -> io::Result<bool> {
        let mut lock = request(kind(access), start, len)?;
        fcntl(file, libc::F_OFD_GETLK, &mut lock)?;
        Ok(i32::from(lock.l_type) != libc::F_UNLCK)
    }

    fn kind(access: Access) -> libc::c_short {
        let kind = match access {
            Access::Exclusive => libc::F_WRLCK,
            Access::Shared => libc::F_RDLCK,
        };
        libc::c_short::try_from(kind).expect("a small constant")
    }

    fn request(kind: libc::c_short, start: u64, len: u64) -> io::Result<libc::flock> {
        let offset = |n: u64| {
            libc::off_t::try_from(n)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "byte range beyond off_t"))
        };
        // SAFETY: `flock` is plain old data, for which all zeroes is valid
        // (and `l_pid` must be 0 for OFD locks).
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = kind;
        lock.l_whence = libc::c_short::try_from(libc::SEEK_SET).expect("a small constant");
        lock.l_start = offset(start)?;
        lock.l_len = offset(len)?;
        Ok(lock)
    }

    fn fcntl(file: &File, command: libc::c_int, lock: &mut libc::flock) -> io::Result<()> {
        // SAFETY: the descriptor is open for the borrow of `file`, and `lock`
        // points to a valid `flock` that the call may write (F_OFD_GETLK).
        let done = unsafe { libc::fcntl(file.as_raw_fd(), command, std::ptr::from_mut(lock)) };
        if done == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

#[cfg(not(target_os = "linux"))]
use super::no_ranges as ranges;

/// A descriptor a wait blocks on, pointed at `/dev/null` in any child forked
/// meanwhile (see [`at_fork`]); dropping it stops that.
pub(crate) use at_fork::{PerProcess, WaitingDescriptor};

/// How a waiter opens again the very file its caller opened, whatever the
/// caller's path says by then (semantic 10): on Linux an `O_PATH` descriptor
/// of that file, reopened through `/proc/self/fd`; elsewhere (or without
/// `/proc`) a descriptor of its directory and its name there, for `openat`.
/// Neither depends on the current directory or the path's length, and the
/// first cannot be switched to another file at all; after each wait the
/// caller checks its own path anyway.
#[derive(Debug)]
pub(crate) enum Anchor {
    /// An `O_PATH` descriptor of the file itself: it cannot hold a lock, so a
    /// forked child's copy of it is harmless.
    #[cfg(target_os = "linux")]
    File(OwnedFd),
    /// The file's directory (`O_PATH` on Linux, read-only elsewhere) and
    /// its name in it.
    Dir { dir: OwnedFd, name: OsString },
}

impl Anchor {
    /// Anchors the file `file` opened by `path`.
    pub(crate) fn new(path: &Path, file: &File) -> io::Result<Self> {
        #[cfg(target_os = "linux")]
        if let Ok(fd) = rustix::fs::open(
            format!("/proc/self/fd/{}", file.as_raw_fd()),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            return Ok(Self::File(fd));
        }
        let _ = file;
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        #[cfg(target_os = "linux")]
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        #[cfg(not(target_os = "linux"))]
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(Self::Dir {
            dir: rustix::fs::open(dir, flags, Mode::empty())?,
            name: name.to_owned(),
        })
    }

    /// A new open file description of the anchored file (read-write, or
    /// read-only with `READ_ONLY` in `mode`), registered for forks before any
    /// child can copy it.
    pub(crate) fn open_registered(&self, mode: u32) -> io::Result<(File, WaitingDescriptor)> {
        WaitingDescriptor::open(|| self.open(mode))
    }

    fn open(&self, mode: u32) -> io::Result<File> {
        let access = if mode & super::READ_ONLY == 0 {
            OFlags::RDWR
        } else {
            OFlags::RDONLY
        };
        let flags = access | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        match self {
            #[cfg(target_os = "linux")]
            Self::File(fd) => {
                let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
                Ok(rustix::fs::open(proc, flags, Mode::empty())?.into())
            }
            Self::Dir { dir, name } => {
                let flags = flags | OFlags::NOFOLLOW;
                // `mode_t` is 16 bits on macOS and the BSDs; permission bits fit.
                #[allow(clippy::useless_conversion)]
                let mode = rustix::fs::RawMode::try_from(mode & 0o7777).unwrap_or(0o644);
                let open =
                    |extra| rustix::fs::openat(dir, name, flags | extra, Mode::from_raw_mode(mode));
                if access == OFlags::RDONLY {
                    return Ok(open(OFlags::empty())?.into());
                }
                Ok(open_or_create(open)?.into())
            }
        }
    }
}

/// Opens an existing file without `O_CREAT` (which `fs.protected_regular`
/// refuses for another user's file in a sticky directory, even to root), and
/// creates it with `O_EXCL` only when missing; a file created by someone else
/// in between is opened again (semantic 3).
fn open_or_create(
    open: impl Fn(OFlags) -> rustix::io::Result<OwnedFd>,
) -> rustix::io::Result<OwnedFd> {
    loop {
        match open(OFlags::empty()) {
            Err(rustix::io::Errno::NOENT) => {}
            other => return other,
        }
        match open(OFlags::CREATE | OFlags::EXCL) {
            Err(rustix::io::Errno::EXIST) => {}
            other => return other,
        }
    }
}

/// Waits and forks: a process forked without exec gets a copy of every
/// descriptor, including one that a thread of the parent is blocked on in
/// `flock(2)` (a helper of a timed or async wait, or a wait forever), or has
/// just locked and not yet handed to a guard. Once that thread gets the lock,
/// the lock belongs to the open file description, so the child's copy would
/// hold it for as long as the child lives, without the child knowing. A
/// `pthread_atfork` child handler closes those copies in the child, before
/// any of its code runs: the child gets copies of the guards held at the
/// fork, not of the waits in progress.
///
/// The prepare handler holds forks back while a thread is between opening
/// such a descriptor and registering it, so no copy escapes registration; and
/// the child handler counts forks, so that [`PerProcess`] state (the wait
/// queues, the timer) starts afresh in a child instead of inheriting a mutex
/// that a thread of the parent, absent from the child, may hold.
mod at_fork {
    #![allow(unsafe_code)]

    use std::fs::File;
    use std::os::fd::AsRawFd;
    use std::ptr;
    use std::sync::Once;
    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

    /// Descriptors being waited on, in chunks linked as needed and never
    /// freed: no bound on how many threads wait at once, and the child
    /// handler walks them with atomics alone. -1 is a free slot.
    struct Chunk {
        fds: [AtomicI32; 64],
        next: AtomicPtr<Chunk>,
    }

    impl Chunk {
        const fn new() -> Self {
            Self {
                fds: [const { AtomicI32::new(-1) }; 64],
                next: AtomicPtr::new(ptr::null_mut()),
            }
        }

        fn next(&self) -> Option<&'static Chunk> {
            // SAFETY: a non-null `next` points to a leaked `Box<Chunk>`,
            // never freed.
            unsafe { self.next.load(Ordering::Acquire).as_ref() }
        }
    }

    static WAITING: Chunk = Chunk::new();

    /// Forks seen by this process and its ancestors: a child's count differs
    /// from every count its parent ever had when the child starts.
    static FORKS: AtomicU64 = AtomicU64::new(0);

    /// Threads between opening a descriptor to wait on and registering it,
    /// and whether a fork waits for them to be done.
    static OPENING: AtomicUsize = AtomicUsize::new(0);
    static FORKING: AtomicBool = AtomicBool::new(false);

    fn install() {
        static HANDLERS: Once = Once::new();
        // SAFETY: registers plain `extern "C"` functions with no arguments.
        HANDLERS.call_once(|| unsafe {
            libc::pthread_atfork(Some(prepare), Some(parent), Some(child));
        });
    }

    /// Runs `open_and_register` with forks held back until it is done.
    pub(super) fn while_no_fork<T>(open_and_register: impl FnOnce() -> T) -> T {
        struct Done;
        impl Drop for Done {
            fn drop(&mut self) {
                OPENING.fetch_sub(1, Ordering::SeqCst);
            }
        }
        install();
        loop {
            OPENING.fetch_add(1, Ordering::SeqCst);
            if !FORKING.load(Ordering::SeqCst) {
                break;
            }
            OPENING.fetch_sub(1, Ordering::SeqCst);
            while FORKING.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
        }
        let _done = Done;
        open_and_register()
    }

    /// A registered descriptor; dropping it unregisters it.
    #[derive(Debug)]
    pub(crate) struct WaitingDescriptor(&'static AtomicI32);

    impl WaitingDescriptor {
        /// Opens a descriptor with `open` and registers it, forks held back
        /// meanwhile: no child ever gets an unregistered copy.
        pub(crate) fn open<E>(open: impl FnOnce() -> Result<File, E>) -> Result<(File, Self), E> {
            while_no_fork(|| {
                let file = open()?;
                let registered = Self::register(&file);
                Ok((file, registered))
            })
        }

        pub(crate) fn register(file: &File) -> Self {
            install();
            let fd = file.as_raw_fd();
            let mut chunk: &'static Chunk = &WAITING;
            loop {
                let claimed = chunk.fds.iter().find(|slot| {
                    slot.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                });
                if let Some(slot) = claimed {
                    return Self(slot);
                }
                chunk = chunk.next().unwrap_or_else(|| {
                    let fresh = Box::into_raw(Box::new(Chunk::new()));
                    let linked = chunk.next.compare_exchange(
                        ptr::null_mut(),
                        fresh,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                    if linked.is_ok() {
                        // SAFETY: just leaked, and now linked for good.
                        unsafe { &*fresh }
                    } else {
                        // SAFETY: ours, never shared: another thread linked first.
                        drop(unsafe { Box::from_raw(fresh) });
                        chunk.next().expect("linked by another thread")
                    }
                });
            }
        }
    }

    impl Drop for WaitingDescriptor {
        fn drop(&mut self) {
            self.0.store(-1, Ordering::Release);
        }
    }

    /// Before `fork`: waits until no thread is between an open and its
    /// registration (microseconds, no blocking call in between).
    extern "C" fn prepare() {
        FORKING.store(true, Ordering::SeqCst);
        while OPENING.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
    }

    extern "C" fn parent() {
        FORKING.store(false, Ordering::SeqCst);
    }

    /// Runs in the child right after `fork`, before any other code of the
    /// child: only atomics, `open(2)`, `dup2(2)`, `fcntl(2)` and `close(2)`,
    /// all async-signal-safe.
    ///
    /// Each registered descriptor is let go of (its open file description,
    /// and with it the lock, is no longer the child's) but its number is not
    /// freed: it is pointed at `/dev/null`. Some of those numbers are owned
    /// by values in the child's copy of memory (an async lock handed to a
    /// slot its task has not polled yet) that will close them later; a freed
    /// number could by then be one of the child's own locks, which that
    /// close would release. A number whose owner was a parent's thread
    /// stays open on `/dev/null` in the child: a few stray descriptors, never
    /// a lock.
    extern "C" fn child() {
        FORKS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: a constant NUL-terminated path; open is async-signal-safe.
        let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        let mut chunk = Some(&WAITING);
        while let Some(current) = chunk {
            for slot in &current.fds {
                let fd = slot.swap(-1, Ordering::AcqRel);
                if fd >= 0 {
                    // SAFETY: `fd` was registered by a thread of the parent
                    // while it waited on it; no code of the child has run yet.
                    // dup2 atomically replaces it (letting go of the lock's
                    // open file description) and keeps the number taken; where
                    // /dev/null cannot be opened, close is the fallback.
                    unsafe {
                        if null >= 0 && libc::dup2(null, fd) == fd {
                            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                        } else {
                            libc::close(fd);
                        }
                    }
                }
            }
            chunk = current.next();
        }
        if null >= 0 {
            // SAFETY: our own descriptor from the open above.
            unsafe { libc::close(null) };
        }
        OPENING.store(0, Ordering::SeqCst);
        FORKING.store(false, Ordering::SeqCst);
    }

    /// State of this process alone: a child forked without exec gets a fresh
    /// value on first use, not the parent's (whose mutexes a thread absent
    /// from the child may hold). The parent's value is left to the child's
    /// memory, unused, never freed.
    pub(crate) struct PerProcess<T> {
        current: AtomicPtr<Tagged<T>>,
    }

    struct Tagged<T> {
        forks: u64,
        value: T,
    }

    impl<T: Default + Sync> PerProcess<T> {
        pub(crate) const fn new() -> Self {
            Self {
                current: AtomicPtr::new(ptr::null_mut()),
            }
        }

        pub(crate) fn get(&self) -> &T {
            install();
            let forks = FORKS.load(Ordering::SeqCst);
            loop {
                let current = self.current.load(Ordering::Acquire);
                // SAFETY: a non-null pointer is a leaked `Box`, never freed.
                if let Some(tagged) = unsafe { current.as_ref() }
                    && tagged.forks == forks
                {
                    return &tagged.value;
                }
                let fresh = Box::into_raw(Box::new(Tagged {
                    forks,
                    value: T::default(),
                }));
                match self.current.compare_exchange(
                    current,
                    fresh,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    // SAFETY: just leaked, and now published for good.
                    Ok(_) => return unsafe { &(*fresh).value },
                    // SAFETY: ours, never published.
                    Err(_) => drop(unsafe { Box::from_raw(fresh) }),
                }
            }
        }
    }
}

/// The lock's descriptor, e.g. to let a child process inherit the lock, as
/// `flock(1)` does: the lock belongs to the open file description, so it lasts
/// while any process has a descriptor of it. The descriptor is close-on-exec;
/// clearing that flag (`fcntl(F_SETFD)`) before spawning hands a copy to the child.
///
/// ```
/// use std::os::fd::AsFd;
/// # let dir = tempfile::tempdir()?;
/// let lock = scoped_lockfile::LockFile::new(dir.path().join("lock"))?;
/// let fd = lock.as_fd();
/// # let _ = fd;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl std::os::fd::AsFd for crate::LockFile {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file().as_fd()
    }
}
