//! Locks on an etcd cluster (`scoped-lockfile-etcd`): held while `lockfile`
//! renews its lease, so the command cannot hold them itself. Instead the
//! command's group is tied to `lockfile` (it dies with it), and it is ended
//! before the lease can expire when renewing fails.

use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use scoped_lockfile::{LockError, LockOptions};
use scoped_lockfile_etcd::{EtcdGuard, EtcdLocks, EtcdOptions, EtcdProbe};

use super::Held;
use crate::describe::Medium;
use crate::report::{self, ERROR_EXIT};
use crate::status::{State, Status};
use crate::sys::{Ending, Fd, Stop};

/// The lease's TTL unless `--ttl` says otherwise.
const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// The command's grace between SIGTERM and SIGKILL, as a part of the TTL,
/// unless `--kill-after` says otherwise.
const DEFAULT_GRACE_PART: u32 = 6;

/// The longest grace, as a part of the TTL. The command gets SIGTERM a grace
/// before the lease is called lost (itself a sixth of the TTL before the
/// server may expire it): with at most a third, that is never sooner than
/// half the TTL after the last renewal, which leaves a renewal (due every
/// third of the TTL) a sixth of the TTL to get through.
const MAX_GRACE_PART: u32 = 3;

/// A connected cluster.
pub(crate) struct Etcd {
    locks: EtcdLocks,
    kill_after: Option<Duration>,
}

struct HeldLease {
    guard: EtcdGuard,
    grace: Duration,
}

impl Etcd {
    /// Connects to `endpoints` (comma-separated), after checking that
    /// `kill_after` fits in the lease; or says why not.
    pub(crate) fn connect(
        endpoints: &str,
        ttl: Option<Duration>,
        kill_after: Option<Duration>,
    ) -> Result<Self, u8> {
        // What etcd is asked for: whole seconds, rounded up.
        let ttl = ttl.unwrap_or(DEFAULT_TTL);
        let asked = Duration::from_secs((ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)).max(1));
        if let Some(kill_after) = kill_after
            && kill_after > asked / MAX_GRACE_PART
        {
            return Err(report::fail(
                &format!(
                    "--kill-after {} does not fit in a lease of {}: the command must be dead \
                     before the lease can expire, so it may be at most a third of --ttl ({}); \
                     give a longer --ttl",
                    humantime::format_duration(kill_after),
                    humantime::format_duration(asked),
                    humantime::format_duration(whole_millis(asked / MAX_GRACE_PART)),
                ),
                ERROR_EXIT,
            ));
        }
        let endpoints: Vec<&str> = endpoints
            .split(',')
            .map(str::trim)
            .filter(|endpoint| !endpoint.is_empty())
            .collect();
        match EtcdLocks::connect_blocking(endpoints, EtcdOptions::new().ttl(ttl)) {
            Ok(locks) => Ok(Self { locks, kill_after }),
            Err(err) => Err(report::fail(&err, ERROR_EXIT)),
        }
    }

    pub(crate) fn lock(
        &self,
        name: &Path,
        options: &LockOptions,
    ) -> Result<Box<dyn Held>, LockError> {
        let guard = options.lock_on(&self.locks, utf8(name)?)?;
        // Against the TTL granted, which the server may have made longer.
        let ttl = guard.ttl();
        let grace = self
            .kill_after
            .unwrap_or(ttl / DEFAULT_GRACE_PART)
            .min(ttl / MAX_GRACE_PART);
        Ok(Box::new(HeldLease { guard, grace }))
    }

    pub(crate) fn status(&self, name: &Path) -> Result<Status, u8> {
        let utf8 = utf8(name).map_err(|err| report::fail(&err, ERROR_EXIT))?;
        let (state, holder, fencing_token, waiting) = match self.locks.probe(utf8) {
            Ok(EtcdProbe::Free) => (State::Free, None, None, None),
            Ok(EtcdProbe::Held {
                holder,
                fencing_token,
                waiting,
            }) => (
                State::Held,
                Some(holder),
                Some(fencing_token),
                Some(waiting),
            ),
            Ok(other) => return Err(report::fail(&format!("'{utf8}': {other:?}"), ERROR_EXIT)),
            Err(err) => return Err(report::fail(&err, ERROR_EXIT)),
        };
        Ok(Status {
            name: utf8.to_owned(),
            medium: Medium::Key,
            state,
            holder,
            fencing_token,
            waiting,
        })
    }
}

/// `d` rounded down to whole milliseconds, to be shown.
fn whole_millis(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A lock's name on etcd, which must be UTF-8.
fn utf8(name: &Path) -> Result<&str, LockError> {
    name.to_str().ok_or_else(|| LockError::Io {
        path: name.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a lock's name on etcd must be UTF-8",
        ),
    })
}

impl Held for HeldLease {
    fn hand_down(&self, command: &mut Command) -> Option<Fd<'_>> {
        command.env(
            "LOCKFILE_FENCING_TOKEN",
            self.guard.fencing_token().to_string(),
        );
        None
    }

    fn tied(&self) -> bool {
        true
    }

    fn stop(&self) -> Option<Stop> {
        let watch = self.guard.watch();
        let deadline = watch.clone();
        let (stop, fire) = Stop::new(self.grace, move || {
            let until = deadline.valid_until();
            // Lost before its deadline: the server said so, or the key was
            // deleted. Another holder may have it already: at once.
            let early = deadline.is_lost() && std::time::Instant::now() < until;
            (!early).then_some(until)
        });
        // Wakes the supervisor when a loss is known before its deadline.
        // Also completes once the guard is released, after the command:
        // nobody listens then, and the message goes nowhere.
        let _ = std::thread::Builder::new()
            .name("lockfile-lease".to_owned())
            .spawn(move || {
                block_on(watch.lost());
                let _ = fire.send(Ending::Lost);
            });
        Some(stop)
    }

    fn caveat(&self) -> Option<String> {
        None
    }

    fn lost(&self, late: bool) -> String {
        let name = self.guard.name();
        if late {
            format!(
                "lost the etcd lease of '{name}' before lockfile could end the command \
                 (lockfile was stopped past it, or the lock's key was deleted), so the command \
                 may have run alongside the next holder; it was killed at once"
            )
        } else {
            format!(
                "lost the etcd lease of '{name}': it could not be renewed in time (lockfile cut \
                 off from the cluster); the command was ended before the lease could expire"
            )
        }
    }

    fn release(self: Box<Self>) -> Result<(), LockError> {
        self.guard.close()
    }
}

/// Runs `future` to completion on this thread: the lease-lost future needs
/// no runtime of ours (the handle's own thread drives it), only a waker.
fn block_on(future: impl Future<Output = ()>) {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    while future.as_mut().poll(&mut context) == Poll::Pending {
        std::thread::park();
    }
}
