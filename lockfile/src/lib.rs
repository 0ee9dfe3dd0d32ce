#![doc = include_str!("../README.md")]
// Unsafe code lives in the Windows module of `sys` alone (its FFI); every
// other module, and all of it on Unix, is safe Rust.
#![cfg_attr(not(windows), forbid(unsafe_code))]
#![cfg_attr(windows, deny(unsafe_code))]

mod acquire;
mod context;
mod error;
mod held;
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

pub use context::LockedContext;
pub use error::LockError;
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

    /// Whether a literal template is valid, evaluated in a `const` by `#[locked]`.
    pub const fn template_is_valid(template: &str) -> bool {
        crate::template::find_invalid(template).is_none()
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
