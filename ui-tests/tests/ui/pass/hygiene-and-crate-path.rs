//! Injected names are invisible to the body and never clash with its own; paths
//! go through `crate = "..."` when the crate is re-exported under another name.
#![deny(warnings)]

mod deps {
    pub(crate) use scoped_lockfile as renamed_lockfile;
}

use deps::renamed_lockfile::{locked, with_lock};

#[locked(dir.join("hygiene"))]
fn same_names(dir: &std::path::Path) -> u32 {
    let __lockfile_guard = 1;
    let __lockfile_error = 2;
    __lockfile_guard + __lockfile_error
}

#[locked(dir.join("renamed"), crate = "deps::renamed_lockfile")]
fn through_reexport(dir: &std::path::Path) -> bool {
    true
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(same_names(dir.path()), 3);
    assert!(through_reexport(dir.path()));
    let r = with_lock!(
        dir.path().join("block"),
        crate = "deps::renamed_lockfile",
        {
            let __lockfile_guard = "mine";
            __lockfile_guard.len()
        }
    );
    assert_eq!(r.unwrap(), 4);
}
