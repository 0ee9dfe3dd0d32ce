//! Nothing but a home for `tests/`: the suites of the `serialized_suite`
//! benchmark (`benches/benches/serialized_suite.rs`), which runs them under
//! cargo-nextest. Its tests are all `#[ignore]`d, so `cargo test` skips them.
