#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(not(unix))]
compile_error!(
    "lockfile supports Unix only for now: it needs O_NOFOLLOW and (dev, inode) \
     file identity, which std does not offer on this platform"
);

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
    pub use crate::{LockError, LockOptions, LockedContext};
    pub use std::time::Duration;

    /// Whether a literal template is valid, evaluated in a `const` by `#[locked]`.
    pub const fn template_is_valid(template: &str) -> bool {
        crate::template::find_invalid(template).is_none()
    }

    /// The guard, or a panic with the error's message, for `#[locked]` fns that
    /// do not return `Result`. `track_caller` puts the panic at the attribute.
    #[track_caller]
    pub fn expect_lock(result: Result<LockedContext, LockError>) -> LockedContext {
        match result {
            Ok(guard) => guard,
            Err(err) => panic!("{err}"),
        }
    }
}
