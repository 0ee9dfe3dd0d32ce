//! Parsing what Linux's `/proc` says about locks: the lines of `/proc/locks`
//! and the `lock:` lines of `/proc/PID/fdinfo/FD`, which share one format
//! (`fs/locks.c`, `lock_get_status`):
//!
//! ```text
//! 1: FLOCK  ADVISORY  WRITE 22946 fe:00:10011121 0 EOF
//! 2: -> FLOCK  ADVISORY  WRITE 22950 fe:00:10011121 0 EOF     (a blocked waiter)
//! 3: OFDLCK ADVISORY  READ  -1 08:01:1234 0 99
//! lock:   1: POSIX  ADVISORY  WRITE 22982 fe:00:10011137 0 EOF
//! ```
//!
//! The pid is the taker's, in the namespace of the `/proc` mount: `-1` for an
//! OFD lock, `0` in an fdinfo line whose taker is gone and was never visible
//! there (`/proc/locks` leaves such lines out). The device is `major:minor` in
//! hex, the inode in decimal. Pure functions, no I/O: the reading is in
//! `linux.rs`.

use crate::kernel::LockKind;

/// One granted lock, as a line describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockLine {
    pub(crate) kind: LockKind,
    pub(crate) shared: bool,
    /// The taker's pid; `None` for `-1` (OFD) and `0` (not visible).
    pub(crate) pid: Option<u32>,
    pub(crate) major: u32,
    pub(crate) minor: u32,
    pub(crate) inode: u64,
}

/// Parses one line of `/proc/locks` (or what follows `lock:` in fdinfo).
/// `None` for a blocked waiter (`->`), a lease or delegation, an unlock in
/// progress, and anything not in the format above.
pub(crate) fn parse_lock_line(line: &str) -> Option<LockLine> {
    let mut fields = line.split_ascii_whitespace();
    let _ordinal = fields.next()?.strip_suffix(':')?;
    let kind = match fields.next()? {
        "FLOCK" => LockKind::Flock,
        "POSIX" => LockKind::Posix,
        "OFDLCK" => LockKind::Ofd,
        // "->" (waiting, not holding), LEASE, DELEG, ...
        _ => return None,
    };
    let _advisory = fields.next()?;
    let shared = match fields.next()? {
        "READ" => true,
        "WRITE" => false,
        _ => return None,
    };
    let pid = match fields.next()?.parse::<i64>().ok()? {
        pid if pid > 0 => Some(u32::try_from(pid).ok()?),
        _ => None,
    };
    let mut id = fields.next()?.split(':');
    let major = u32::from_str_radix(id.next()?, 16).ok()?;
    let minor = u32::from_str_radix(id.next()?, 16).ok()?;
    let inode = id.next()?.parse().ok()?;
    if id.next().is_some() {
        return None;
    }
    Some(LockLine {
        kind,
        shared,
        pid,
        major,
        minor,
        inode,
    })
}

/// The lock lines of an fdinfo file (`pos:`, `flags:`, ..., `lock:\t<line>`).
pub(crate) fn fdinfo_locks(fdinfo: &str) -> impl Iterator<Item = LockLine> + '_ {
    fdinfo
        .lines()
        .filter_map(|line| line.strip_prefix("lock:"))
        .filter_map(parse_lock_line)
}

/// The first line of `/proc/PID/comm`, without its newline.
pub(crate) fn parse_comm(comm: &str) -> Option<String> {
    let name = comm.strip_suffix('\n').unwrap_or(comm);
    (!name.is_empty()).then(|| name.to_owned())
}

/// `(major, minor)` of a `st_dev`, as `/proc/locks` prints a superblock's
/// device: the kernel's `new_encode_dev` gives `stat` the bit layout of
/// glibc's `makedev` (minor's low 8 bits, then 12 of major, then the rest of
/// minor, then the rest of major), which `major(3)` and `minor(3)` undo.
pub(crate) fn split_dev(dev: u64) -> (u32, u32) {
    // `dev_t` is 64 bits on every Linux target std supports.
    #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
    let dev = dev as libc::dev_t;
    (libc::major(dev), libc::minor(dev))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_lock_kinds_and_skips_waiters_and_leases() {
        let line = parse_lock_line("1: FLOCK  ADVISORY  WRITE 22946 fe:00:10011121 0 EOF");
        assert_eq!(
            line,
            Some(LockLine {
                kind: LockKind::Flock,
                shared: false,
                pid: Some(22946),
                major: 0xfe,
                minor: 0,
                inode: 10_011_121,
            })
        );
        let reader = parse_lock_line("12: FLOCK  ADVISORY  READ 7 08:11:99 0 EOF").unwrap();
        assert!(reader.shared);
        assert_eq!((reader.major, reader.minor), (8, 0x11));
        let posix = parse_lock_line("2: POSIX  ADVISORY  WRITE 22982 fe:00:10011137 0 EOF");
        assert_eq!(posix.unwrap().kind, LockKind::Posix);
        let ofd = parse_lock_line("3: OFDLCK ADVISORY  READ  -1 00:2d:1234 100 199").unwrap();
        assert_eq!((ofd.kind, ofd.pid), (LockKind::Ofd, None));
        for skipped in [
            "2: -> FLOCK  ADVISORY  WRITE 22950 fe:00:10011121 0 EOF",
            "4: LEASE  ACTIVE    READ 1 08:01:5 0 EOF",
            "5: DELEG  ACTIVE    READ 1 08:01:5 0 EOF",
            "6: FLOCK  ADVISORY  UNLCK 1 08:01:5 0 EOF",
            "",
            "garbage",
            "1: FLOCK ADVISORY WRITE 1 fe:00",
            "1: FLOCK ADVISORY WRITE 1 fe:00:12:13 0 EOF",
            "1: FLOCK ADVISORY WRITE x fe:00:12 0 EOF",
            "1: FLOCK ADVISORY WRITE 1 zz:00:12 0 EOF",
        ] {
            assert_eq!(parse_lock_line(skipped), None, "{skipped:?}");
        }
    }

    #[test]
    fn pid_zero_is_a_taker_not_visible_here() {
        // An fdinfo line, in a child pid namespace, of a lock whose taker is gone.
        let line = parse_lock_line("1: FLOCK  ADVISORY  WRITE 0 fe:00:10010706 0 EOF").unwrap();
        assert_eq!(line.pid, None);
    }

    #[test]
    fn reads_every_lock_line_of_an_fdinfo() {
        let fdinfo = "pos:\t0\nflags:\t02100002\nmnt_id:\t27\nino:\t10011137\n\
                      lock:\t1: FLOCK  ADVISORY  WRITE 25192 fe:00:10010979 0 EOF\n\
                      lock:\t2: POSIX  ADVISORY  READ 25195 fe:00:10010979 0 EOF\n";
        let locks: Vec<_> = fdinfo_locks(fdinfo).collect();
        assert_eq!(locks.len(), 2);
        assert_eq!(locks[0].pid, Some(25192));
        assert_eq!(locks[1].kind, LockKind::Posix);
        assert_eq!(fdinfo_locks("pos:\t0\nflags:\t0\n").count(), 0);
    }

    #[test]
    fn comm_loses_its_newline_only() {
        assert_eq!(parse_comm("flock\n").as_deref(), Some("flock"));
        assert_eq!(parse_comm("a b\n").as_deref(), Some("a b"));
        assert_eq!(parse_comm("\n"), None);
    }

    #[test]
    fn splits_devices_as_glibc_does() {
        assert_eq!(split_dev(0xfe00), (0xfe, 0));
        assert_eq!(split_dev(0x0801), (8, 1));
        // Major 259 (NVMe), minor 0x12345: both past the old 8-bit fields.
        assert_eq!(split_dev(0x1231_0345), (259, 0x12345));
        // What `makedev` builds is split back, past 8 and 12 bits too.
        for (major, minor) in [(0, 0x2d), (0, 0x1ff), (0xfff, 0xff), (0x1234, 0x9_8765)] {
            assert_eq!(split_dev(libc::makedev(major, minor)), (major, minor));
        }
    }
}
