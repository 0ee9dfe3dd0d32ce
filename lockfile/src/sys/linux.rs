//! Linux: the kernel's view of a lock, read from `/proc` (semantic 18).
//!
//! What each call reads, so its cost is bounded by what it names:
//!
//! - Every view: `/proc/locks` once (one line per lock on the system) and, if
//!   no `flock` lock is listed on the file, one `fstatfs` and (once per
//!   process) the link `/proc/self/ns/pid`, to know whether "not listed"
//!   means free (and one more `fstatfs` if a `flock` lock with the file's
//!   inode number is listed on another device).
//! - [`Depth::Taker`] (a `LockError`'s view): also the own descriptors
//!   (`/proc/PID/fd`, one `stat` each, and the fdinfo of those that are the
//!   lock file) of the lock's taker (of each reader's lock, when readers hold
//!   it), and its `/proc/PID/comm` if it holds the lock (or its descriptors
//!   are unreadable); and [`process_holds`] those of the pid the content
//!   names: a writer's taker and one more process, never a scan.
//! - [`Depth::Holders`] (`probe`): every process's descriptors, as `lslocks`
//!   does: `/proc/PID/fd` of each process, one `stat` per descriptor (cheaper
//!   than reading each fdinfo, which is read only for descriptors of the lock
//!   file), and `/proc/PID/comm` of each holder. Only when the lock is held.

use std::collections::{BTreeMap, BTreeSet};
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
    let (scan, all_read) = scan_all(id, inode);
    let mut locks: Vec<KernelLock> = Vec::new();
    for (pid, lines) in &scan.found {
        for line in lines.iter().filter(|line| line.kind == LockKind::Flock) {
            let process = process(*pid);
            match locks.iter_mut().find(|lock| lock.shared == line.shared) {
                Some(lock) => lock.holders.push(process),
                None => locks.push(KernelLock {
                    holders: vec![process],
                    ..bare_lock(*line)
                }),
            }
        }
    }
    name_takers(&mut locks, &scan.unread, comm);
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
    let (scan, all_read) = match depth {
        Depth::Holders => scan_all(id, inode),
        Depth::Taker => {
            let mut scan = Scan::default();
            for pid in listed.iter().filter_map(|line| line.pid) {
                scan.add(pid, locks_of(pid, id, inode));
            }
            (scan, false)
        }
    };
    KernelView::Held {
        locks: assemble(listed, &scan, comm),
        listed: all_read,
    }
}

/// The listed locks, `flock` ones first, each with the processes whose
/// descriptors `scan` found holding it (matched by kind, shared, taker pid).
///
/// A taker is named (`command`) only if it is itself one of its lock's
/// holders, or if its descriptors could not be read (another user's: it may
/// hold it). Otherwise it let go of the lock and is gone, even if its pid runs:
/// `/proc/locks` keeps a gone taker's pid, which the system may since have
/// given to an unrelated process, whose name is not the taker's.
fn assemble(
    listed: &[LockLine],
    scan: &Scan,
    comm: impl Fn(u32) -> Option<String>,
) -> Vec<KernelLock> {
    let mut locks: Vec<KernelLock> = listed.iter().map(|line| bare_lock(*line)).collect();
    // `flock` locks first: they are the lock file's.
    locks.sort_by_key(|lock| lock.kind != LockKind::Flock);
    let mut names: BTreeMap<u32, Option<String>> = BTreeMap::new();
    let mut name = |pid: u32| names.entry(pid).or_insert_with(|| comm(pid)).clone();
    for (pid, lines) in &scan.found {
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
                lock.holders.push(Process {
                    pid: *pid,
                    command: name(*pid),
                });
            }
        }
    }
    name_takers(&mut locks, &scan.unread, name);
    locks
}

/// Names each lock's taker that holds it, or may (see [`assemble`]).
fn name_takers(
    locks: &mut [KernelLock],
    unread: &BTreeSet<u32>,
    mut name: impl FnMut(u32) -> Option<String>,
) {
    for lock in locks {
        let Some(taker) = lock.taken_by.as_mut() else {
            continue;
        };
        taker.command = match lock.holders.iter().find(|holder| holder.pid == taker.pid) {
            Some(holder) => holder.command.clone(),
            None if unread.contains(&taker.pid) => name(taker.pid),
            None => None,
        };
    }
}

/// A listed lock without its holders: its taker named, if the kernel says.
fn bare_lock(line: LockLine) -> KernelLock {
    KernelLock {
        kind: line.kind,
        shared: line.shared,
        // Named once known to hold it (`name_takers`).
        taken_by: line.pid.map(|pid| Process { pid, command: None }),
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

fn comm(pid: u32) -> Option<String> {
    read_proc(&format!("/proc/{pid}/comm"), 64)
        .ok()
        .and_then(|comm| parse_comm(&comm))
}

fn process(pid: u32) -> Process {
    Process {
        pid,
        command: comm(pid),
    }
}

/// The locks on the file that processes' descriptors hold, by pid, and the
/// processes whose descriptors could not be read.
#[derive(Debug, Default)]
struct Scan {
    found: BTreeMap<u32, Vec<LockLine>>,
    unread: BTreeSet<u32>,
}

impl Scan {
    fn add(&mut self, pid: u32, locks: Result<Vec<LockLine>, ()>) {
        match locks {
            Ok(lines) if !lines.is_empty() => {
                self.found.insert(pid, lines);
            }
            Ok(_) => {}
            Err(()) => {
                self.unread.insert(pid);
            }
        }
    }
}

/// Every process's locks on the file; and whether every process's
/// descriptors could be read.
fn scan_all(id: FileId, inode: u64) -> (Scan, bool) {
    let mut scan = Scan::default();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return (scan, false);
    };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        scan.add(pid, locks_of(pid, id, inode));
    }
    let all_read = scan.unread.is_empty();
    (scan, all_read)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> LockLine {
        parse_lock_line(text).unwrap()
    }

    /// What `/proc/PID/comm` says now: pid 3100 was reused by `impostor`.
    fn comm_now(pid: u32) -> Option<String> {
        match pid {
            3100 => Some("impostor".into()),
            3121 => Some("sleep".into()),
            20520 => Some("flock".into()),
            _ => None,
        }
    }

    fn scan(found: &[(u32, &str)], unread: &[u32]) -> Scan {
        let mut scan = Scan::default();
        for (pid, text) in found {
            scan.found.entry(*pid).or_default().push(line(text));
        }
        scan.unread.extend(unread);
        scan
    }

    fn view(locks: Vec<KernelLock>, listed: bool) -> KernelView {
        KernelView::Held { locks, listed }
    }

    #[test]
    fn a_taker_whose_pid_runs_but_holds_nothing_is_gone() {
        // flock(1) (3100) took the lock and was killed; its child sleep
        // (3121) holds it; pid 3100 now names an unrelated process.
        let listed = [line("1: FLOCK  ADVISORY  WRITE 3100 00:2d:2 0 EOF")];
        let found = [(3121, "1: FLOCK  ADVISORY  WRITE 3100 00:2d:2 0 EOF")];
        let locks = assemble(&listed, &scan(&found, &[]), comm_now);
        let taker = locks[0].taken_by.clone().unwrap();
        assert_eq!((taker.pid, taker.command), (3100, None));
        assert_eq!(
            view(locks.clone(), true).describe_holders().as_deref(),
            Some("pid 3121 (sleep), which inherited it from pid 3100 (gone)")
        );
        // A `LockError`'s view (`Depth::Taker`): only the taker's descriptors
        // were read, and hold nothing.
        let taker_only = assemble(&listed, &scan(&[], &[]), comm_now);
        assert_eq!(
            view(taker_only, false).describe_holders().as_deref(),
            Some("a process that inherited it from pid 3100 (gone)")
        );
        // The unseen view's locks are named the same way.
        let mut unseen = vec![KernelLock {
            holders: vec![process_named(3121, "sleep")],
            ..bare_lock(listed[0])
        }];
        name_takers(&mut unseen, &BTreeSet::new(), comm_now);
        assert_eq!(unseen[0].taken_by.as_ref().unwrap().command, None);
    }

    fn process_named(pid: u32, command: &str) -> Process {
        Process {
            pid,
            command: Some(command.into()),
        }
    }

    #[test]
    fn a_taker_that_holds_its_lock_or_cannot_be_read_is_named() {
        let listed = [line("1: FLOCK  ADVISORY  WRITE 20520 fe:00:99 0 EOF")];
        let found = [
            (20520, "1: FLOCK  ADVISORY  WRITE 20520 fe:00:99 0 EOF"),
            (3121, "1: FLOCK  ADVISORY  WRITE 20520 fe:00:99 0 EOF"),
        ];
        let locks = assemble(&listed, &scan(&found, &[]), comm_now);
        assert_eq!(
            locks[0].taken_by,
            Some(process_named(20520, "flock")),
            "{locks:?}"
        );
        assert_eq!(
            view(locks, true).describe_holders().as_deref(),
            Some("pid 20520 (flock) and pid 3121 (sleep), which inherited it")
        );
        // Another user's taker, whose descriptors we may not read: it may
        // hold the lock, so it keeps its name.
        let unreadable = assemble(&listed, &scan(&[], &[20520]), comm_now);
        assert_eq!(
            view(unreadable, false).describe_holders().as_deref(),
            Some("the lock taken by pid 20520 (flock)")
        );
    }
}
