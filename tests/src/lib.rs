//! Cross-process tests of the toolkit live in `tests/`; the `holder` helper
//! they drive is `src/bin/holder.rs`.

/// The repository README's walk-through, compiled and run as doctests, so the
/// front door never shows code that does not work.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct RepositoryReadme;
