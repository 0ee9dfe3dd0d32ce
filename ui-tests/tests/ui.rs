//! Every `pass/` case compiles without warnings and runs; every `fail/` case fails
//! to compile with exactly the checked-in `.stderr`
//! (regenerate with `TRYBUILD=overwrite cargo test -p lockfile-ui-tests`).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
