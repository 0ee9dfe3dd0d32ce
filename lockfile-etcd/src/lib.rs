#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod acquire;
mod background;
mod errors;
mod guard;
mod lease;
mod locks;
mod options;
mod retry;

pub use errors::{ConnectError, LeaseLost};
pub use guard::{EtcdGuard, LeaseWatch};
pub use locks::{EtcdLocks, EtcdProbe};
pub use options::EtcdOptions;
