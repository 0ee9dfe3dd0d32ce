// The README's links go to docs.rs for readers of the repository and the
// registry page; here, where rustdoc can resolve them, the first definition
// of each (these) wins and links within these docs.
//! [`LockFile::new`]: crate::LockFile::new
//! [`LockFile::with_content_template`]: crate::LockFile::with_content_template
//! [`LockedContext::new`]: crate::LockedContext::new
//! [`LockedContext::with_timeout`]: crate::LockedContext::with_timeout
//! [`LockedFile::open`]: crate::LockedFile::open
//! [`LockOptions`]: crate::LockOptions
//! [`LockOptions::lock_async`]: crate::LockOptions::lock_async
//! [`locked`]: macro@crate::locked
//! [`with_lock!`]: macro@crate::with_lock
//! [`probe`]: crate::probe()
//! [`LockError`]: crate::LockError
//! [`LockOptions::shared`]: crate::LockOptions::shared
//! [`LockOptions::try_lock`]: crate::LockOptions::try_lock
//! [`LockOptions::lock_on`]: crate::LockOptions::lock_on
//! [`Holder`]: crate::Holder
//! [`Backend`]: crate::Backend
#![doc = include_str!("../README.md")]
// Unsafe code lives in `sys` alone: the Windows FFI, and on Unix the fork
// handler that closes a forked child's copies of descriptors being waited on.
// Every other module is safe Rust.
#![deny(unsafe_code)]

mod acquire;
mod backend;
mod context;
mod error;
mod fair;
mod handover;
mod harness;
mod held;
mod holder;
mod kernel;
mod lock_file;
mod lock_future;
mod lock_set;
mod locked_file;
mod mode;
mod open;
mod options;
mod own_process;
mod probe;
mod sync;
mod sys;
mod template;
mod timer;
mod wait;

pub use backend::{Backend, Files};
pub use context::LockedContext;
pub use error::LockError;
pub use harness::{LOCK_DIR_ENV, in_lock_dir};
pub use holder::Holder;
pub use kernel::{KernelLock, KernelView, LockKind, Process};
pub use lock_file::LockFile;
pub use lock_set::LockedSet;
pub use locked_file::LockedFile;
pub use options::LockOptions;
pub use probe::{Probe, probe};

#[cfg(feature = "macros")]
pub use scoped_lockfile_macros::{locked, with_lock};

/// A page, not a module of items: `#[locked]` as the cross-process
/// `serial_test`, under `cargo test` and `cargo nextest run`.
#[cfg(feature = "macros")]
#[doc = include_str!("../docs/serializing-tests.md")]
pub mod serializing_tests {}

/// Not public API: what the `scoped-lockfile-macros` expansions call. May change in any
/// release without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::held::LockedScope;
    pub use crate::{LockError, LockOptions, LockedContext, LockedSet};
    pub use std::path::Path;

    use std::borrow::Cow;
    use std::future::Future;
    use std::path::PathBuf;
    pub use std::time::Duration;

    pub use crate::template::TemplateError;

    /// What is wrong with a literal template, evaluated in a `const` by
    /// `#[locked]`, whose panic prints the message at compile time.
    pub const fn template_error(template: &str) -> Option<TemplateError> {
        TemplateError::of(template)
    }

    /// The guard of a sync `#[locked]` fn: registered as held by this thread
    /// until the fn returns, so that a wait forever for it on this thread is
    /// refused with `WouldDeadlock` instead of hanging.
    pub fn enter_scope(result: Result<LockedContext, LockError>) -> Result<LockedScope, LockError> {
        result.map(LockedScope::enter)
    }

    /// The guard of a sync `#[locked(NAME, on = BACKEND)]` fn: the same for a
    /// lock file's guard (`on = Files`, the default backend), so that its
    /// re-entry is `WouldDeadlock` too; any other backend's guard as it is.
    pub fn enter_scope_on<G: 'static>(
        result: Result<G, LockError>,
    ) -> Result<LockedScope, LockError> {
        result.map(LockedScope::enter_on)
    }

    /// As [`enter_scope`], for `#[locked([NAME, ..])]`: every lock of the set.
    pub fn enter_set_scope(result: Result<LockedSet, LockError>) -> Result<LockedScope, LockError> {
        result.map(LockedScope::enter_set)
    }

    /// A lock name as `#[locked]` and `with_lock!` take it: a relative one
    /// under `SCOPED_LOCKFILE_DIR` when that is set.
    pub fn in_lock_dir<P: AsRef<Path> + ?Sized>(name: &P) -> std::borrow::Cow<'_, Path> {
        crate::harness::resolve(name.as_ref())
    }

    /// The options, naming the running test in the lock file when
    /// `in_test` (`cfg!(test)` where the macro expands) and the harness
    /// tells the test's name.
    pub fn naming_the_test(options: LockOptions, in_test: bool) -> LockOptions {
        crate::harness::naming_the_test(options, in_test)
    }

    /// `options.locked_context(name)`; in a test (`in_test`), naming the
    /// test in the lock file, and trying once first, so that a lock another
    /// holds is noted (with its holder) before the wait.
    pub fn take(
        options: LockOptions,
        name: impl AsRef<Path>,
        in_test: bool,
    ) -> Result<LockedContext, LockError> {
        if !in_test {
            return options.locked_context(name);
        }
        let options = crate::harness::naming_the_test(options, true);
        first_try(&options, |once| once.locked_context(&name))
            .unwrap_or_else(|| options.locked_context(&name))
    }

    /// `options.locked_context_async(name)`, as [`take`] does; the first try
    /// is made on the first poll, and never blocks.
    pub fn take_async<P: AsRef<Path>>(
        options: LockOptions,
        name: P,
        in_test: bool,
    ) -> impl Future<Output = Result<LockedContext, LockError>> + Send + 'static + use<P> {
        let name = name.as_ref().to_path_buf();
        async move {
            if !in_test {
                return options.locked_context_async(name).await;
            }
            let options = crate::harness::naming_the_test(options, true);
            match first_try(&options, |once| once.locked_context(&name)) {
                Some(taken) => taken,
                None => options.locked_context_async(name).await,
            }
        }
    }

    /// `options.locked_set(names)`, as [`take`] does.
    pub fn take_set<const N: usize>(
        options: LockOptions,
        names: [Cow<'_, Path>; N],
        in_test: bool,
    ) -> Result<LockedSet, LockError> {
        if !in_test {
            return options.locked_set(names);
        }
        let options = crate::harness::naming_the_test(options, true);
        first_try(&options, |once| once.locked_set(&names))
            .unwrap_or_else(|| options.locked_set(&names))
    }

    /// `options.locked_set_async(names)`, as [`take_async`] does.
    pub fn take_set_async<const N: usize>(
        options: LockOptions,
        names: [Cow<'_, Path>; N],
        in_test: bool,
    ) -> impl Future<Output = Result<LockedSet, LockError>> + Send + 'static + use<N> {
        let names: Vec<PathBuf> = names.into_iter().map(Cow::into_owned).collect();
        async move {
            if !in_test {
                return options.locked_set_async(names).await;
            }
            let options = crate::harness::naming_the_test(options, true);
            match first_try(&options, |once| once.locked_set(&names)) {
                Some(taken) => taken,
                None => options.locked_set_async(names).await,
            }
        }
    }

    /// One try with `options`, unless they are one try already: its outcome,
    /// or `None` (after noting who holds the lock) when the lock is held and
    /// the caller is to wait for it as `options` say.
    fn first_try<T>(
        options: &LockOptions,
        take: impl FnOnce(LockOptions) -> Result<T, LockError>,
    ) -> Option<Result<T, LockError>> {
        if options.wait_limit() == Some(Duration::ZERO) {
            return Some(take(options.clone()));
        }
        match take(options.clone().timeout(Duration::ZERO)) {
            Err(err @ LockError::Contended { .. }) => {
                crate::harness::note_wait(&err);
                None
            }
            outcome => Some(outcome),
        }
    }

    /// The guard, or a panic with the error's message (and, after a timeout,
    /// how long it waited), for `#[locked]` fns that do not return `Result`. `track_caller` puts the panic at the attribute.
    #[track_caller]
    pub fn expect_lock<G>(result: Result<G, LockError>) -> G {
        match result {
            Ok(guard) => guard,
            // A test that times out says how long it waited, with the lock
            // and its holder (the test, when one holds it).
            Err(err @ LockError::Timeout { waited, .. }) => panic!("{err}; waited {waited:.1?}"),
            Err(err) => panic!("{err}"),
        }
    }
}
