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
mod held;
mod holder;
mod lock_file;
mod lock_future;
mod locked_file;
mod mode;
mod open;
mod options;
mod probe;
mod sys;
mod template;
mod timer;
mod wait;

pub use backend::{Backend, Files};
pub use context::LockedContext;
pub use error::LockError;
pub use holder::Holder;
pub use lock_file::LockFile;
pub use locked_file::LockedFile;
pub use options::LockOptions;
pub use probe::{Probe, probe};

#[cfg(feature = "macros")]
pub use scoped_lockfile_macros::{locked, with_lock};

/// Not public API: what the `scoped-lockfile-macros` expansions call. May change in any
/// release without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::held::LockedScope;
    pub use crate::{LockError, LockOptions, LockedContext};
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

    /// The guard, or a panic with the error's message, for `#[locked]` fns that
    /// do not return `Result`. `track_caller` puts the panic at the attribute.
    #[track_caller]
    pub fn expect_lock<G>(result: Result<G, LockError>) -> G {
        match result {
            Ok(guard) => guard,
            Err(err) => panic!("{err}"),
        }
    }
}
