//! Linux: the kernel's view of a lock, read from `/proc` (semantic 18).
//!
//! What each call reads, so its cost is bounded by what it names:
//!
//! - Every view: `/proc/locks` once (one line per lock on the system) and, if
//!   no `flock` lock is listed on the file, one `fstatfs` and (once per
//!   process) the link `/proc/self/ns/pid`, to know whether "not listed"
//!   means free.
//! - [`Depth::Taker`] (a `LockError`'s view): also `/proc/PID/comm` and the
//!   own descriptors (`/proc/PID/fd`, one `stat` each, and the fdinfo of
//!   those that are the lock file) of the lock's taker (of each reader's
//!   lock, when readers hold it); and [`process_holds`] those of the pid the
//!   content names: a writer's taker and one more process, never a scan.
//! - [`Depth::Holders`] (`probe`): every process's descriptors, as `lslocks`
//!   does: `/proc/PID/fd` of each process, one `stat` per descriptor (cheaper
//!   than reading each fdinfo, which is read only for descriptors of the lock
//!   file), and `/proc/PID/comm` of each holder. Only when the lock is held.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicU8, Ordering};

use super::procfs::{LockLine, fdinfo_locks, parse_comm, parse_lock_line, split_dev};
use super::{Depth, FileId, Seen};
use crate::kernel::{KernelLock, KernelView, LockKind, Process};

pub(crate) fn kernel_view(file: &File, id: FileId, depth: Depth) -> Seen {
    let Ok(table) = read_proc("/proc/locks", 16 * 1024) else {
        return Seen::NoView;
    };
    let Ok(inode) = u64::try_from(id.index) else {
        return Seen::NoView;
    };
    let dev = split_dev(id.volume);
    let mut listed = Vec::new();
    // Asked (one `fstatfs`) only of a `flock` line with our inode elsewhere.
    let mut stat_names_the_device = None;
    for line in table.lines().filter_map(parse_lock_line) {
        if line.inode != inode {
            continue;
        }
        if (line.major, line.minor) == dev {
            listed.push(line);
        } else if line.kind == LockKind::Flock
            && !*stat_names_the_device.get_or_insert_with(|| stat_dev_is_the_superblocks(file))
        {
            // Our inode number on another device: another file where `stat`
            // reports the device the lock table prints, else perhaps ours
            // under the filesystem's own device number (a Btrfs subvolume's
            // `stat` differs from it). Only a try can tell.
            return Seen::NoView;
        }
    }
    if listed.iter().any(|line| line.kind == LockKind::Flock) {
        return Seen::Answer(held(id, &listed, depth));
    }
    let others = listed.iter().map(|line| bare_lock(*line)).collect();
    if nothing_hidden(file) {
        Seen::Answer(KernelView::Free { others })
    } else {
        Seen::Try
    }
}

/// The view of a lock that a try found held although `/proc/locks` lists no
/// `flock` lock on it: held by processes of this namespace whose taker is
/// not visible (a daemon that inherited it from a script now gone, inside a
/// container), which only their fdinfo shows, or else by nobody visible.
pub(crate) fn unseen_view(id: FileId, depth: Depth) -> KernelView {
    if depth == Depth::Taker {
        return KernelView::Unseen;
    }
    let Ok(inode) = u64::try_from(id.index) else {
        return KernelView::Unseen;
    };
    let (found, all_read) = scan_all(id, inode);
    let mut locks: Vec<KernelLock> = Vec::new();
    for (pid, lines) in found {
        for line in lines
            .into_iter()
            .filter(|line| line.kind == LockKind::Flock)
        {
            let process = process(pid);
            match locks.iter_mut().find(|lock| lock.shared == line.shared) {
                Some(lock) => lock.holders.push(process),
                None => locks.push(KernelLock {
                    holders: vec![process],
                    ..bare_lock(line)
                }),
            }
        }
    }
    if locks.is_empty() {
        KernelView::Unseen
    } else {
        KernelView::Held {
            locks,
            listed: all_read,
        }
    }
}

/// Whether a file's lock not listed in `/proc/locks` is a lock nobody holds:
/// `/proc` shows every process (this process is in the initial pid
/// namespace, so `/proc/self` is too) and the filesystem keeps its locks in
/// this kernel (not NFS, SMB, FUSE, ..., whose other clients hold locks this
/// kernel never sees).
fn nothing_hidden(file: &File) -> bool {
    in_initial_pid_namespace() && local_filesystem(file)
}

fn in_initial_pid_namespace() -> bool {
    // A process never changes its own pid namespace. An atomic, not a
    // `OnceLock`: a fork during the first look must not leave the child a
    // lock to wait on (semantic 17).
    static CACHED: AtomicU8 = AtomicU8::new(0);
    match CACHED.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            // PROC_PID_INIT_INO, fixed by the kernel (include/linux/proc_ns.h).
            let initial = std::fs::read_link("/proc/self/ns/pid")
                .is_ok_and(|ns| ns.as_os_str() == "pid:[4026531836]");
            CACHED.store(if initial { 1 } else { 2 }, Ordering::Relaxed);
            initial
        }
    }
}

/// Whether the file's `st_dev` is its superblock's device, the one
/// `/proc/locks` prints (`lock_get_status`: `MAJOR(s_dev)`, `MINOR(s_dev)`):
/// true of every filesystem whose `getattr` keeps the generic device, false
/// where `stat` reports another (Btrfs: the subvolume's anonymous device;
/// overlayfs: a layer's device, or a pseudo device per layer; bcachefs:
/// subvolumes, as Btrfs), and where `fstatfs` fails. Where it is false, a
/// `flock` line with our inode on another device may be our lock.
fn stat_dev_is_the_superblocks(file: &File) -> bool {
    const OTHER_DEVICE: [u64; 3] = [
        0x9123_683E, // Btrfs
        0x794C_7630, // overlayfs
        0xCA45_1A4E, // bcachefs
    ];
    fs_magic(file).is_some_and(|magic| !OTHER_DEVICE.contains(&magic))
}

/// `statfs(2)`'s `f_type` (include/uapi/linux/magic.h).
fn fs_magic(file: &File) -> Option<u64> {
    let stat = rustix::fs::fstatfs(file).ok()?;
    // `f_type` is signed on some targets: only its low 32 bits are the magic.
    #[allow(clippy::cast_sign_loss, clippy::unnecessary_cast)]
    let magic = (stat.f_type as u64) & 0xFFFF_FFFF;
    Some(magic)
}

fn local_filesystem(file: &File) -> bool {
    // statfs(2)'s magic numbers (include/uapi/linux/magic.h, and ZFS's).
    const LOCAL: [u64; 10] = [
        0xEF53,      // ext2, ext3, ext4
        0x5846_5342, // XFS
        0x9123_683E, // Btrfs
        0x0102_1994, // tmpfs
        0x8584_58F6, // ramfs
        0x794C_7630, // overlayfs
        0xF2F5_2010, // F2FS
        0xCA45_1A4E, // bcachefs
        0x2FC1_2FC1, // ZFS
        0x3153_464A, // JFS
    ];
    fs_magic(file).is_some_and(|magic| LOCAL.contains(&magic))
}

/// The view of a lock `/proc/locks` lists: each listed lock with its taker,
/// and its holders as deep as asked.
fn held(id: FileId, listed: &[LockLine], depth: Depth) -> KernelView {
    let inode = u64::try_from(id.index).unwrap_or(u64::MAX);
    let (found, all_read) = match depth {
        Depth::Holders => scan_all(id, inode),
        Depth::Taker => {
            let mut found = BTreeMap::new();
            for pid in listed.iter().filter_map(|line| line.pid) {
                if let Ok(lines) = locks_of(pid, id, inode)
                    && !lines.is_empty()
                {
                    found.insert(pid, lines);
                }
            }
            (found, false)
        }
    };
    let mut locks: Vec<KernelLock> = listed.iter().map(|line| bare_lock(*line)).collect();
    // `flock` locks first: they are the lock file's.
    locks.sort_by_key(|lock| lock.kind != LockKind::Flock);
    for (pid, lines) in &found {
        for line in lines {
            let key = (line.kind, line.shared, line.pid);
            let Some(lock) = locks.iter_mut().find(|lock| {
                (
                    lock.kind,
                    lock.shared,
                    lock.taken_by.as_ref().map(|p| p.pid),
                ) == key
            }) else {
                continue;
            };
            if !lock.holders.iter().any(|holder| holder.pid == *pid) {
                let known = lock.taken_by.as_ref().filter(|taker| taker.pid == *pid);
                let holder = known.cloned().unwrap_or_else(|| process(*pid));
                lock.holders.push(holder);
            }
        }
    }
    KernelView::Held {
        locks,
        listed: all_read,
    }
}

/// A listed lock without its holders: its taker named, if the kernel says.
fn bare_lock(line: LockLine) -> KernelLock {
    KernelLock {
        kind: line.kind,
        shared: line.shared,
        taken_by: line.pid.map(process),
        holders: Vec::new(),
    }
}

/// A `/proc` file read whole, in reads of at least `size` bytes: not
/// `fs::read_to_string`, whose `stat` finds size 0 and whose first reads are
/// 32 bytes, then doubling (seven reads of a small `/proc/locks`).
fn read_proc(path: &str, size: usize) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut buf = vec![0; size];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(read) => len += read,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
}

fn process(pid: u32) -> Process {
    let command = read_proc(&format!("/proc/{pid}/comm"), 64)
        .ok()
        .and_then(|comm| parse_comm(&comm));
    Process { pid, command }
}

/// Every process's locks on the file, by pid; and whether every process's
/// descriptors could be read.
fn scan_all(id: FileId, inode: u64) -> (BTreeMap<u32, Vec<LockLine>>, bool) {
    let mut found = BTreeMap::new();
    let mut all_read = true;
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return (found, false);
    };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        match locks_of(pid, id, inode) {
            Ok(lines) if !lines.is_empty() => {
                found.insert(pid, lines);
            }
            Ok(_) => {}
            Err(()) => all_read = false,
        }
    }
    (found, all_read)
}

/// Whether process `pid` holds the file's `flock` lock through a descriptor
/// of its own; `None` if its descriptors cannot be read.
pub(crate) fn process_holds(pid: u32, id: FileId) -> Option<bool> {
    let inode = u64::try_from(id.index).ok()?;
    let lines = locks_of(pid, id, inode).ok()?;
    Some(lines.iter().any(|line| line.kind == LockKind::Flock))
}

/// The locks on the file held through process `pid`'s descriptors.
/// `Err` when the descriptors of a live process cannot be read (another
/// user's); a process gone meanwhile has none.
fn locks_of(pid: u32, id: FileId, inode: u64) -> Result<Vec<LockLine>, ()> {
    use rustix::fs::{AtFlags, CWD, Dir, Mode, OFlags, openat, statat};
    let mut lines = Vec::new();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fds = match openat(CWD, format!("/proc/{pid}/fd"), flags, Mode::empty()) {
        Ok(fds) => fds,
        Err(rustix::io::Errno::NOENT) => return Ok(lines),
        Err(_) => return Err(()),
    };
    let Ok(entries) = Dir::read_from(&fds) else {
        return Err(());
    };
    let dev = split_dev(id.volume);
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_bytes().starts_with(b".") {
            continue;
        }
        // `stat` follows the descriptor's link to the open file itself;
        // relative to the directory, so only the last name is looked up.
        let Ok(stat) = statat(&fds, name, AtFlags::empty()) else {
            continue;
        };
        #[allow(clippy::useless_conversion)] // their widths differ by target
        if u64::from(stat.st_dev) != id.volume || u64::from(stat.st_ino) != inode {
            continue;
        }
        let fdinfo = format!("/proc/{pid}/fdinfo/{}", name.to_string_lossy());
        let Ok(fdinfo) = read_proc(&fdinfo, 1024) else {
            continue;
        };
        lines.extend(
            fdinfo_locks(&fdinfo)
                .filter(|line| line.inode == inode && (line.major, line.minor) == dev),
        );
    }
    Ok(lines)
}
