//! The serialized suite with `#[locked("suite")]`.

mod suite;

suite!(#[scoped_lockfile::locked("suite")]);
