//! `lockfile run --fair`: commands waiting for one lock run in the order they
//! started waiting, and exclusion stays the lock file's (the library's fair
//! mode; its own tests are in tests/tests/fair.rs).
#![cfg(target_os = "linux")]

mod support;

use std::time::Duration;

use scoped_lockfile::LockFile;
use support::{lockfile, output, text};

#[test]
fn run_fair_commands_run_in_the_order_they_started_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    let order = dir.path().join("order");
    let held = LockFile::new(&path).unwrap();
    let runs: Vec<_> = (0..4)
        .map(|i| {
            // Readers and writers: the reader queued after a writer waits too.
            let mut args = vec!["run", path.to_str().unwrap(), "--fair"];
            if i == 1 || i == 3 {
                args.push("--shared");
            }
            let script = format!("echo {i} >> \"$0\"; sleep 0.05");
            args.extend(["--", "sh", "-c", &script, order.to_str().unwrap()]);
            let run = lockfile(&args).spawn().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            run
        })
        .collect();
    held.close().unwrap();
    for mut run in runs {
        assert!(run.wait().unwrap().success());
    }
    assert_eq!(std::fs::read_to_string(&order).unwrap(), "0\n1\n2\n3\n");
}

#[test]
fn run_fair_excludes_and_is_excluded_by_the_default_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    let p = path.to_str().unwrap();
    let held = LockFile::new(&path).unwrap();
    let out = output(&["run", p, "--fair", "-n", "--", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    held.close().unwrap();
    let mut run = lockfile(&["run", p, "--fair", "--", "sleep", "0.5"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let out = output(&["run", p, "-n", "--", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(run.wait().unwrap().success());
    let out = output(&["run", p, "--fair", "-n", "--", "true"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
