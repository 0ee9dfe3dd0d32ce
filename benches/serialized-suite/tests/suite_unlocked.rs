//! The serialized suite without a lock: the lower bound, the runner's own cost.

mod suite;

suite!();
