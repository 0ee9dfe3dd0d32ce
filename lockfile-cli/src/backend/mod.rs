//! The backend stage: which kind of lock the command line chose, and what
//! each kind gives the later stages. A lock file ([`file`](mod@file)) unless `--etcd`
//! is given: the environment alone never chooses etcd. The only module where
//! the `etcd` feature appears.

#[cfg(feature = "etcd")]
mod etcd;
mod file;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use scoped_lockfile::{LockError, LockOptions};

use crate::describe::Medium;
use crate::report::{self, ERROR_EXIT};
use crate::status::Status;
use crate::sys::{Fd, Stop};

/// The variable `--etcd` alone takes its endpoints from.
const ENDPOINTS_VARIABLE: &str = "LOCKFILE_ETCD_ENDPOINTS";

/// What the command line says about the backend.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Choice<'a> {
    /// `--etcd`: `Some("")` when given alone.
    pub(crate) etcd: Option<&'a str>,
    pub(crate) ttl: Option<Duration>,
    pub(crate) kill_after: Option<Duration>,
    /// `-o`: the command does not inherit a lock file's descriptor.
    pub(crate) close: bool,
    /// `-q`: no note about the environment.
    pub(crate) quiet: bool,
}

/// Where locks are taken.
pub(crate) enum Backend {
    Files(file::Files),
    #[cfg(feature = "etcd")]
    Etcd(etcd::Etcd),
}

/// Chooses the backend `choice` asks for, connecting to it if need be; or
/// says why not and gives the exit status.
pub(crate) fn choose(choice: &Choice<'_>) -> Result<Backend, u8> {
    let variable = std::env::var_os(ENDPOINTS_VARIABLE).filter(|value| !value.is_empty());
    let Some(given) = choice.etcd else {
        if variable.is_some() && !choice.quiet {
            report::say(&format!(
                "{ENDPOINTS_VARIABLE} is set, but only --etcd chooses etcd: this is a lock \
                 file on this host"
            ));
        }
        return Ok(Backend::Files(file::Files {
            close: choice.close,
        }));
    };
    if !cfg!(feature = "etcd") {
        return Err(report::fail(
            &"built without etcd: cargo install scoped-lockfile-cli --features etcd",
            ERROR_EXIT,
        ));
    }
    let endpoints = if given.is_empty() {
        match variable.as_ref().and_then(|value| value.to_str()) {
            Some(endpoints) => endpoints.to_owned(),
            None => {
                return Err(report::fail(
                    &format!(
                        "--etcd without ENDPOINTS takes them from {ENDPOINTS_VARIABLE}, which is not set"
                    ),
                    ERROR_EXIT,
                ));
            }
        }
    } else {
        given.to_owned()
    };
    connect_etcd(&endpoints, choice)
}

#[cfg(feature = "etcd")]
fn connect_etcd(endpoints: &str, choice: &Choice<'_>) -> Result<Backend, u8> {
    etcd::Etcd::connect(endpoints, choice.ttl, choice.kill_after).map(Backend::Etcd)
}

#[cfg(not(feature = "etcd"))]
fn connect_etcd(_endpoints: &str, choice: &Choice<'_>) -> Result<Backend, u8> {
    // What only etcd would use.
    let _ = (choice.ttl, choice.kill_after);
    unreachable!("refused in `choose`")
}

impl Backend {
    /// Where holders name themselves, for the words about them.
    pub(crate) fn medium(&self) -> Medium {
        match self {
            Self::Files(_) => Medium::File,
            #[cfg(feature = "etcd")]
            Self::Etcd(_) => Medium::Key,
        }
    }

    /// Takes the lock `name` as `options` say.
    pub(crate) fn lock(
        &self,
        name: &Path,
        options: &LockOptions,
    ) -> Result<Box<dyn Held>, LockError> {
        match self {
            Self::Files(files) => files.lock(name, options),
            #[cfg(feature = "etcd")]
            Self::Etcd(etcd) => etcd.lock(name, options),
        }
    }

    /// Looks at the lock `name` without taking it; or says why it could not
    /// and gives the exit status.
    pub(crate) fn status(&self, name: &Path) -> Result<Status, u8> {
        match self {
            Self::Files(_) => file::status(name),
            #[cfg(feature = "etcd")]
            Self::Etcd(etcd) => etcd.status(name),
        }
    }
}

/// A lock held for a command: what the supervisor needs to know of it.
pub(crate) trait Held {
    /// Prepares what the command inherits from the lock (environment
    /// variables), and gives the descriptor it inherits, if the lock is one
    /// the command can hold too.
    fn hand_down(&self, command: &mut Command) -> Option<Fd<'_>>;

    /// Whether the lock ends with `lockfile` (a lease, not a descriptor the
    /// command holds): then the command's whole process group must end with
    /// it too, and what the command leaves behind is killed when it ends.
    fn tied(&self) -> bool;

    /// For a lock that can be lost while held: how the supervisor learns of
    /// it, and by when the command must be dead.
    fn stop(&self) -> Option<Stop>;

    /// What to say with `-v` once taken, if the lock is not what it seems
    /// (a lock file that cannot name its holder).
    fn caveat(&self) -> Option<String>;

    /// The error to report, and exit with, when [`stop`](Self::stop) ended
    /// the command; `late`: only after the deadline had passed.
    fn lost(&self, late: bool) -> String;

    /// Releases the lock.
    fn release(self: Box<Self>) -> Result<(), LockError>;
}
