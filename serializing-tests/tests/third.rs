//! `serial_test`'s `tests/third.rs`: `#[file_serial(path => "./relative")]`
//! in one of three test binaries. One name is one lock across binaries:
//! under nextest, which runs them at once, these three still take turns.

use lockfile_serializing_tests::{fs_test_fn, shared_dir};
use scoped_lockfile::locked;

#[test]
#[locked("relative")]
fn test_file_relative_3() {
    fs_test_fn(&shared_dir(env!("CARGO_TARGET_TMPDIR")), 3, "relative-fs");
}
