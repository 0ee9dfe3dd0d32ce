//! `run --etcd` and `status --etcd`: the same commands on a lock held on an
//! etcd cluster (`scoped-lockfile-etcd`) instead of a lock file.
//!
//! What differs from a lock file: the lock lasts while `lockfile` renews its
//! lease, not while a descriptor is open, so the command cannot inherit it.
//! Instead the command dies with `lockfile` (parent-death signal), and is
//! ended if the lease is lost while it runs.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use scoped_lockfile::Holder;
use scoped_lockfile_etcd::{EtcdGuard, EtcdLocks, EtcdOptions, EtcdProbe};

use crate::cli::{RunArgs, StatusArgs};
use crate::escape::for_terminal;
use crate::run::{command, exit_status, refused, take_with};
use crate::status::{FREE, HELD, json_string};
use crate::sys::{self, Ending, Stop};
use crate::{ERROR_EXIT, fail, holder};

/// Our exit status when the lease was lost while the command ran (and we
/// ended it): sysexits' `EX_TEMPFAIL`, "try again later", which is what the
/// caller can do.
pub(crate) const LEASE_LOST: u8 = 75;

/// The lease's TTL unless `--ttl` says otherwise.
const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// How long a command has between SIGTERM and SIGKILL unless `--kill-after` says.
const DEFAULT_KILL_AFTER: Duration = Duration::from_secs(5);

pub(crate) fn run(args: &RunArgs, endpoints: &str) -> u8 {
    let (etcd, name) = match connect(endpoints, args.ttl, &args.path) {
        Ok(connected) => connected,
        Err(code) => return code,
    };
    let guard = match take(args, &etcd, name) {
        Ok(guard) => guard,
        Err(code) => return code,
    };
    let mut command = command(args);
    command.env("LOCKFILE_FENCING_TOKEN", guard.fencing_token().to_string());
    sys::die_with_parent(&mut command);
    let (stop, fire) = Stop::new(args.kill_after.unwrap_or(DEFAULT_KILL_AFTER));
    let ended_by_us = stop.fired();
    let lost = guard.lost();
    let watcher = std::thread::Builder::new()
        .name("lockfile-lease".to_owned())
        .spawn(move || {
            // Also completes once the guard is released, after the command:
            // nobody listens then, and the message goes nowhere.
            block_on(lost);
            let _ = fire.send(Ending::Now);
        });
    if let Err(err) = watcher {
        return fail(&format!("watching the lease: {err}"), ERROR_EXIT);
    }
    let outcome = sys::supervise(command, None, Some(stop));
    let released = guard.close();
    if ended_by_us.load(Ordering::SeqCst) {
        return fail(
            &format!(
                "lost the etcd lease of '{name}' while the command ran (cut off from the \
                 cluster or stopped for about its TTL); the command was ended"
            ),
            LEASE_LOST,
        );
    }
    if let (Err(err), true) = (released, args.verbose) {
        // The lease then expires by itself after its TTL.
        crate::say(&format!("releasing: {err}"));
    }
    exit_status(args, outcome)
}

/// Takes the lock as the options say, as the file lock's `take` does.
fn take(args: &RunArgs, etcd: &EtcdLocks, name: &str) -> Result<EtcdGuard, u8> {
    let started = Instant::now();
    take_with(args, Path::new(name), started, |options| {
        options.lock_on(etcd, name)
    })
    .map_err(|err| refused(args, &err))
}

pub(crate) fn status(args: &StatusArgs, endpoints: &str) -> u8 {
    let (etcd, name) = match connect(endpoints, None, &args.path) {
        Ok(connected) => connected,
        Err(code) => return code,
    };
    let (state, holder, token, waiting) = match etcd.probe(name) {
        Ok(EtcdProbe::Free) => ("free", None, None, 0),
        Ok(EtcdProbe::Held {
            holder,
            fencing_token,
            waiting,
        }) => ("held", Some(holder), Some(fencing_token), waiting),
        Ok(other) => return fail(&format!("'{name}': {other:?}"), ERROR_EXIT),
        Err(err) => return fail(&err, ERROR_EXIT),
    };
    if args.json {
        println!("{}", json(name, state, holder.as_ref(), token, waiting));
    } else {
        println!("{}", sentence(name, holder.as_ref(), token, waiting));
    }
    if holder.is_some() { HELD } else { FREE }
}

/// `NAME: held by pid 42 on web-1; fencing token 17, 1 waiting`, escaped.
fn sentence(name: &str, holder: Option<&Holder>, token: Option<u64>, waiting: u64) -> String {
    let Some(holder) = holder else {
        return for_terminal(&format!("{name}: free")).into_owned();
    };
    let who = match (holder::describe(holder), &holder.content) {
        (Some(named), _) => {
            let here = match (holder.is_this_host(), holder.is_alive()) {
                (Some(true), Some(true)) => " (this host; the process is running)",
                // The lease outlives its holder by up to its TTL.
                (Some(true), _) => " (this host; no such process: the lock ends with its lease)",
                _ => "",
            };
            format!("held by {named}{here}")
        }
        (None, Some(content)) => format!("held by {content}"),
        (None, None) => "held; its key does not say by whom (etcdctl lock?)".to_owned(),
    };
    let token = token.map_or_else(String::new, |token| format!("; fencing token {token}"));
    for_terminal(&format!("{name}: {who}{token}, {waiting} waiting")).into_owned()
}

fn json(
    name: &str,
    state: &str,
    holder: Option<&Holder>,
    token: Option<u64>,
    waiting: u64,
) -> String {
    let text = |value: Option<&str>| value.map_or_else(|| "null".to_owned(), json_string);
    let flag = |value: Option<bool>| value.map_or_else(|| "null".to_owned(), |b| b.to_string());
    let number = |value: Option<u64>| value.map_or_else(|| "null".to_owned(), |n| n.to_string());
    format!(
        "{{\"name\":{},\"state\":\"{state}\",\"content\":{},\"pid\":{},\"hostname\":{},\
         \"this_host\":{},\"pid_alive\":{},\"fencing_token\":{},\"waiting\":{waiting}}}",
        json_string(name),
        text(holder.and_then(|h| h.content.as_deref())),
        number(holder.and_then(Holder::pid).map(u64::from)),
        text(holder.and_then(Holder::hostname)),
        flag(holder.and_then(Holder::is_this_host)),
        flag(holder.and_then(Holder::is_alive)),
        number(token),
    )
}

/// A handle on the cluster at `endpoints` (comma-separated), and the lock's
/// name; or the exit status after saying what is wrong.
fn connect<'a>(
    endpoints: &str,
    ttl: Option<Duration>,
    path: &'a Path,
) -> Result<(EtcdLocks, &'a str), u8> {
    let Some(name) = path.to_str() else {
        return Err(fail(
            &format!("'{}': a lock's name on etcd must be UTF-8", path.display()),
            ERROR_EXIT,
        ));
    };
    let endpoints: Vec<&str> = endpoints
        .split(',')
        .map(str::trim)
        .filter(|endpoint| !endpoint.is_empty())
        .collect();
    let options = EtcdOptions::new().ttl(ttl.unwrap_or(DEFAULT_TTL));
    match EtcdLocks::connect_blocking(endpoints, options) {
        Ok(etcd) => Ok((etcd, name)),
        Err(err) => Err(fail(&err, ERROR_EXIT)),
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
