//! `LockedFile`: a file opened only while its own lock file is held.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::open::open_data_file;
use crate::{LockError, LockFile, LockOptions};

/// A file guarded by the lock on `path + ".lock"`, taken before the file is opened.
///
/// The lock file `path + ".lock"` is created (if missing) and locked first;
/// if the data file then cannot be opened, the lock is released at once and
/// the lock file stays, as every lock file does.
///
/// The equivalent of zc.lockfile's `LockedFile(filename, mode)`: every Python
/// `open()` mode works (`r`, `r+`, `w`, `w+`, `a`, `a+`, `x`, `x+`, each with an
/// optional `b` or `t`), and a mode that truncates (`w`) does so only once the
/// lock is held. [`close`](LockedFile::close) syncs the data to disk while still
/// holding the lock, then releases it; dropping closes the file before the lock
/// is released, without the sync.
///
/// With a mode string, the data file gets the lock file's protections: a
/// symlink as its last component, a FIFO, socket, device or directory is
/// [`LockError::UnsafePath`], so a link planted in a shared directory cannot turn
/// mode `w` into truncating someone else's file. To follow a link on purpose,
/// resolve it first ([`std::fs::canonicalize`]); or pass your own
/// [`OpenOptions`] to [`open_with_options`](LockedFile::open_with_options),
/// which are used exactly as given.
///
/// # Example
///
/// ```
/// use std::io::{Read, Seek, Write};
/// use scoped_lockfile::LockedFile;
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("counter");
/// # std::fs::write(&path, "41")?;
/// let mut counter = LockedFile::open(&path, "r+")?;
/// let mut text = String::new();
/// counter.read_to_string(&mut text)?;
/// let next = text.trim().parse::<u64>()? + 1;
/// counter.rewind()?;
/// counter.get_mut().set_len(0)?;
/// write!(counter, "{next}")?;
/// counter.close()?;
/// assert_eq!(std::fs::read_to_string(&path)?, "42");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "the lock is released as soon as the LockedFile is dropped"]
pub struct LockedFile {
    // Declared before `lock`: fields drop in order, so the file is closed while
    // the lock is still held.
    file: File,
    path: PathBuf,
    lock: LockFile,
}

impl LockedFile {
    /// Locks `path + ".lock"`, waiting as long as it takes, then opens `path` in a
    /// Python `open()` mode.
    ///
    /// # Errors
    ///
    /// [`LockError::InvalidMode`] before anything is touched, then as
    /// [`LockOptions::lock`], then [`LockError::UnsafePath`] or [`LockError::Io`]
    /// naming `path` if it cannot be opened, with the lock released at once.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("filename.ext");
    /// # std::fs::write(&path, "")?;
    /// let f = scoped_lockfile::LockedFile::open(&path, "r")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>, mode: &str) -> Result<Self, LockError> {
        LockOptions::new().locked_file(path, mode)
    }

    /// Locks `path + ".lock"`, waiting as long as it takes, then opens `path` with
    /// `options`, exactly as given (symlinks are followed if `options` follow them).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), without the mode check.
    ///
    /// ```
    /// use std::fs::OpenOptions;
    /// # let dir = tempfile::tempdir()?;
    /// let mut read_write = OpenOptions::new();
    /// read_write.read(true).write(true).create(true);
    /// let f = scoped_lockfile::LockedFile::open_with_options(dir.path().join("db"), &read_write)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_with_options(
        path: impl AsRef<Path>,
        options: &OpenOptions,
    ) -> Result<Self, LockError> {
        LockOptions::new().locked_file_with_options(path, options)
    }

    /// Opens the data file under an already-held lock; on failure, dropping the
    /// lock releases it before the error reaches the caller.
    pub(crate) fn open_locked(
        path: &Path,
        how: DataOpen<'_>,
        lock: LockFile,
    ) -> Result<Self, LockError> {
        let file = match how {
            DataOpen::Checked(options) => open_data_file(path, options)?,
            DataOpen::AsGiven(options) => {
                options.open(path).map_err(|err| LockError::io(path, err))?
            }
        };
        Ok(Self {
            file,
            path: path.to_path_buf(),
            lock,
        })
    }

    /// The data file's path, as given.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// let f = scoped_lockfile::LockedFile::open(&path, "w")?;
    /// assert_eq!(f.path(), path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file's path: the data file's, plus `.lock`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let f = scoped_lockfile::LockedFile::open(dir.path().join("data"), "w")?;
    /// assert_eq!(f.lock_path(), dir.path().join("data.lock"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock_path(&self) -> &Path {
        self.lock.path()
    }

    /// The open data file.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let f = scoped_lockfile::LockedFile::open(dir.path().join("data"), "w")?;
    /// assert_eq!(f.get_ref().metadata()?.len(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_ref(&self) -> &File {
        &self.file
    }

    /// The open data file, mutably (e.g. for [`File::set_len`]).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let mut f = scoped_lockfile::LockedFile::open(dir.path().join("data"), "w")?;
    /// f.get_mut().set_len(8)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// Syncs the data to disk and closes the file while the lock is held, then
    /// releases the lock.
    ///
    /// # Errors
    ///
    /// [`LockError::Io`] naming the data file if the sync fails (the lock is
    /// released all the same), or the lock file if the unlock fails.
    ///
    /// ```
    /// use std::io::Write;
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// let mut f = scoped_lockfile::LockedFile::open(&path, "w")?;
    /// f.write_all(b"saved")?;
    /// f.close()?;
    /// assert_eq!(std::fs::read(&path)?, b"saved");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(self) -> Result<(), LockError> {
        let Self { file, path, lock } = self;
        let synced = crate::sys::sync_data(&file);
        drop(file);
        let released = lock.close();
        synced.map_err(|err| LockError::io(&path, err))?;
        released
    }
}

/// How a `LockedFile` opens its data file.
pub(crate) enum DataOpen<'a> {
    /// From a mode string: refusing symlinks and non-regular files, like the lock file.
    Checked(OpenOptions),
    /// The caller's own `OpenOptions`, used exactly as given.
    AsGiven(&'a OpenOptions),
}

impl Read for LockedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.file.read_vectored(bufs)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.file.read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        self.file.read_to_string(buf)
    }
}

impl Write for LockedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.file.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for LockedFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}
