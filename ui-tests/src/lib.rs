//! Compile tests of the lockfile macros; see `tests/ui.rs`.
