// `LockedContext::new(p)?;` as a statement takes the lock and releases it at
// once; like std's `MutexGuard`, the guards say so.
#![deny(unused_must_use)]

fn main() -> Result<(), scoped_lockfile::LockError> {
    scoped_lockfile::LockedContext::new("job")?;
    scoped_lockfile::LockFile::new("job.lock")?;
    scoped_lockfile::LockedFile::open("data", "r")?;
    Ok(())
}
