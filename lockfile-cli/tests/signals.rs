//! `lockfile run` and signals, without a terminal (cron, systemd, CI): the lock
//! lasts while lockfile or its command lives, a signal reaches the command
//! once, and lockfile ends the way its command ended.
//!
//! lockfile is started as the leader of a process group of its own, as a
//! shell starts a job, so `kill -- -PGID` means what it means to a shell user.
//!
//! Unix only: signals and process groups (Windows' console events: `windows.rs`).
#![cfg(unix)]

mod support;

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use scoped_lockfile::{Probe, probe};
use support::{Lines, PATIENCE, exists, flock_n, kill, lockfile, output, text};

/// A `sh` script that says `ready`, then one line per INT, TERM or USR1 it
/// catches, until told (by USR2) to exit 7.
const COUNTING: &str = "for s in INT TERM USR1; do trap \"echo got $s\" $s; done; \
                        trap 'exit 7' USR2; echo ready; \
                        while :; do sleep 0.02; done";

/// `lockfile run PATH -- sh -c SCRIPT` as its own job.
fn job(path: &Path, script: &str) -> Lines {
    let run = Lines::spawn(
        lockfile(&["run", path.to_str().unwrap(), "--", "sh", "-c", script]).process_group(0),
    );
    run.expect("ready");
    run
}

/// No further line comes for a while: nothing was delivered twice.
fn quiet(run: &Lines) {
    assert_eq!(run.next(Duration::from_millis(500)), None);
}

#[test]
fn a_signal_to_the_job_reaches_the_command_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.lock");
    let mut run = job(&path, COUNTING);
    let group = format!("-{}", run.pid());
    for signal in ["INT", "TERM", "USR1"] {
        // What systemd's KillMode=mixed, a shell's `kill %1` or a terminal do:
        // the whole group of lockfile gets it, the command through lockfile.
        kill(signal, &group);
        run.expect(&format!("got {signal}"));
        quiet(&run);
        // And to lockfile alone, passed on.
        kill(signal, &run.pid().to_string());
        run.expect(&format!("got {signal}"));
        quiet(&run);
    }
    assert!(matches!(probe(&path).unwrap(), Probe::Held { .. }));
    kill("USR2", &run.pid().to_string());
    assert_eq!(run.child.wait().unwrap().code(), Some(7));
    assert!(matches!(probe(&path).unwrap(), Probe::Free { .. }));
}

#[test]
fn what_the_command_sends_lockfile_is_not_sent_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("back.lock");
    let script = format!("{COUNTING_TRAPS} echo ready; kill -USR1 $PPID; sleep 0.5; echo done");
    let run = Lines::spawn(
        lockfile(&["run", path.to_str().unwrap(), "--", "sh", "-c", &script]).process_group(0),
    );
    run.expect("ready");
    run.expect("done");
}

const COUNTING_TRAPS: &str = "for s in INT TERM USR1; do trap \"echo got $s\" $s; done;";

#[test]
fn lockfile_dies_by_the_signal_that_killed_its_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dies.lock");
    let p = path.to_str().unwrap();
    for (name, number) in [
        ("KILL", 9),
        ("TERM", 15),
        ("INT", 2),
        ("SEGV", 11),
        ("USR1", 10),
    ] {
        let out = output(&["run", p, "--", "sh", "-c", &format!("kill -{name} $$")]);
        assert_eq!(out.status.signal(), Some(number), "{name}: {out:?}");
        assert!(!out.status.core_dumped(), "{name}: lockfile dumped core");
        assert!(
            matches!(probe(&path).unwrap(), Probe::Free { .. }),
            "{name}"
        );
    }
    // An exit status is passed through as it is.
    let out = output(&["run", p, "--", "sh", "-c", "exit 130"]);
    assert_eq!(out.status.code(), Some(130));
}

#[test]
fn killing_lockfile_leaves_the_lock_with_its_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orphan.lock");
    let p = path.to_str().unwrap();
    for signal in ["KILL", "USR2", "ALRM"] {
        // The command says its pid, then waits for its stdin to close.
        let mut run = Lines::spawn(
            lockfile(&["run", p, "--", "sh", "-c", "echo $$; exec cat >/dev/null"])
                .stdin(Stdio::piped())
                .process_group(0),
        );
        let command: u32 = run.next(PATIENCE).unwrap().parse().unwrap();
        let stdin = run.child.stdin.take().unwrap();
        // Not the command's group: only lockfile dies (USR2 and ALRM are
        // passed on to the command, which dies of them too, unless KILL).
        kill(signal, &run.pid().to_string());
        let status = run.child.wait().unwrap();
        assert!(status.signal().is_some(), "{signal}: {status:?}");
        if signal == "KILL" {
            assert!(exists(command));
            // Two commands under one lock is what this prevents.
            let second = output(&["run", "--no-wait", p, "--", "true"]);
            assert_eq!(second.status.code(), Some(1), "{}", text(&second.stderr));
            assert_eq!(flock_n(&path), 1);
            let status = output(&["status", p]);
            assert_eq!(status.status.code(), Some(1));
            let said = text(&status.stdout);
            if cfg!(target_os = "linux") {
                // The kernel names the command that holds it now.
                let whom = format!(
                    "{p}: held by pid {command} (cat), which inherited it from pid {} (gone); \
                     the file names pid {} on ",
                    run.pid(),
                    run.pid()
                );
                assert!(said.starts_with(&whom), "{said}");
                assert!(said.ends_with(", which took it\n"), "{said}");
            } else {
                assert!(
                    said.contains(&format!("held by pid {}", run.pid()))
                        && said.contains(
                            "that process is gone, and a process that inherited its lock"
                        ),
                    "{said}"
                );
            }
            drop(stdin);
            wait_until_free(&path);
        }
        assert_eq!(flock_n(&path), 0, "{signal}: the lock outlived its holders");
    }
}

/// Waits until the orphaned command has ended and so let the lock go (it may
/// stay a zombie where pid 1 does not reap orphans, as in some containers).
fn wait_until_free(path: &Path) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while flock_n(path) != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn with_close_the_lock_ends_with_lockfile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("close.lock");
    let mut run = Lines::spawn(
        lockfile(&[
            "run",
            "-o",
            path.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo $$; exec cat >/dev/null",
        ])
        .stdin(Stdio::piped())
        .process_group(0),
    );
    let command: u32 = run.next(PATIENCE).unwrap().parse().unwrap();
    let stdin = run.child.stdin.take().unwrap();
    kill("KILL", &run.pid().to_string());
    run.child.wait().unwrap();
    assert!(exists(command));
    assert_eq!(flock_n(&path), 0, "-o: the command kept the lock");
    drop(stdin);
    wait_until_free(&path);
}
