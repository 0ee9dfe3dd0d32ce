//! The take stage of `lockfile run`: the options for the library, one try
//! first when `-v` is to say whom it waits for, the wait, and a lock not
//! taken turned into its message and exit status. The same for every backend.

use std::path::Path;
use std::time::{Duration, Instant};

use scoped_lockfile::{Holder, LockError, LockOptions};

use crate::backend::{Backend, Held};
use crate::cli::RunArgs;
use crate::describe::{self, Medium};
use crate::report::{self, ERROR_EXIT};

/// Takes the lock `args` name on `backend`, waiting as they say; or says why
/// not and gives the exit status.
pub(crate) fn take(backend: &Backend, args: &RunArgs) -> Result<Box<dyn Held>, u8> {
    let started = Instant::now();
    let name = args.path.as_path();
    let wait = wait_limit(args);
    let mut options = LockOptions::new().content_template(&args.content_template);
    if args.shared {
        options = options.shared();
    }
    if args.fair {
        options = options.fair();
    }
    let waiting = |options: LockOptions| match wait {
        Some(timeout) => options.timeout(timeout.saturating_sub(started.elapsed())),
        None => options,
    };
    let say_whom = args.verbose && wait != Some(Duration::ZERO);
    let mut result = if say_whom {
        backend.lock(name, &options.clone().timeout(Duration::ZERO))
    } else {
        backend.lock(name, &waiting(options.clone()))
    };
    if let (true, Err(LockError::Contended { holder, .. })) = (say_whom, &result) {
        say_waiting(name, holder, backend.medium(), wait);
        result = backend.lock(name, &waiting(options));
    }
    match result {
        Ok(held) => {
            if args.verbose {
                if let Some(caveat) = held.caveat() {
                    report::say(&caveat);
                }
                say_locked(name, started);
            }
            Ok(held)
        }
        Err(LockError::Contended { holder, .. }) => Err(conflict(
            args,
            &format!(
                "Couldn't lock '{}': {}",
                name.display(),
                describe::held(&holder, backend.medium())
            ),
        )),
        Err(LockError::Timeout { holder, .. }) => Err(conflict(
            args,
            &format!(
                "Couldn't lock '{}' within {}: {}",
                name.display(),
                humantime::format_duration(wait.unwrap_or_default()),
                describe::held(&holder, backend.medium())
            ),
        )),
        Err(err) => Err(report::fail(&err, ERROR_EXIT)),
    }
}

/// How long `-n`/`-w` say to wait; `None` is forever. `-n` wins over `-w`,
/// as with flock(1).
fn wait_limit(args: &RunArgs) -> Option<Duration> {
    if args.no_wait {
        Some(Duration::ZERO)
    } else {
        args.timeout
    }
}

/// The conflict exit code, after saying `message` unless `-q`.
fn conflict(args: &RunArgs, message: &str) -> u8 {
    if args.quiet {
        args.conflict_exit_code
    } else {
        report::fail(&message, args.conflict_exit_code)
    }
}

fn say_waiting(name: &Path, holder: &Holder, medium: Medium, wait: Option<Duration>) {
    let how_long = match wait {
        Some(timeout) => format!(" for up to {}", humantime::format_duration(timeout)),
        None => String::new(),
    };
    report::say(&format!(
        "waiting{how_long} for '{}', {}",
        name.display(),
        describe::held(holder, medium)
    ));
}

fn say_locked(name: &Path, started: Instant) {
    let waited =
        Duration::from_millis(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    report::say(&format!(
        "locked '{}' after {}",
        name.display(),
        humantime::format_duration(waited)
    ));
}
