//! Byte-range locks owned by an open file description, where the platform
//! has none that the fair queue can use (everything but Linux, for now):
//! `FAIR_SUPPORTED` is false, so `fair.rs` refuses a fair lock before any of
//! these is reached. (Windows' `LockFileEx` has byte ranges; the queue is not
//! built on them yet.)

use std::fs::File;
use std::io;

use super::Access;

pub(crate) const FAIR_SUPPORTED: bool = false;

pub(crate) fn range_lock(_: &File, _: Access, _: u64, _: u64, _: bool) -> io::Result<bool> {
    Err(unsupported())
}

pub(crate) fn range_unlock(_: &File, _: u64, _: u64) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn range_conflicts(_: &File, _: Access, _: u64, _: u64) -> io::Result<bool> {
    Err(unsupported())
}

/// Never reached: `fair.rs` refuses a fair lock first.
fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "no byte-range locks owned by an open file description here",
    )
}
