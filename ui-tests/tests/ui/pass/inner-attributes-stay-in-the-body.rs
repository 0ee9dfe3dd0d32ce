//! An inner attribute stays at the top of the body, where it was written: it
//! still applies to the whole fn and the expansion compiles. (The async form
//! is in `async-fns-and-with-lock.rs`.)
#![deny(warnings)]

use scoped_lockfile::locked;

#[locked(dir.join("inner"))]
fn inner_allow(dir: &std::path::Path) -> u32 {
    #![allow(unused_variables)]
    let unused = 1;
    2
}

/// Documented, with an inner attribute and a `Result`.
#[locked(dir.join("inner-result"), timeout = "5s")]
fn inner_allow_result(dir: &std::path::Path) -> std::io::Result<u32> {
    #![allow(clippy::let_and_return)]
    let three = 3;
    Ok(three)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(inner_allow(dir.path()), 2);
    assert_eq!(inner_allow_result(dir.path()).unwrap(), 3);
}
