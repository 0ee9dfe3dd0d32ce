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

/// The state letter of process `pid` (`R`, `S`, `T` for stopped...).
fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = stat.rsplit(')').next().unwrap();
    after_name.trim_start().chars().next().unwrap()
}

#[test]
fn outside_a_terminal_a_stopped_command_does_not_stop_lockfile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stopped.lock");
    // A session of its own: no terminal, no shell to continue anyone.
    let mut setsid = std::process::Command::new("setsid");
    setsid
        .arg(support::LOCKFILE)
        .args(["run", path.to_str().unwrap(), "--", "sh", "-c"])
        .arg("echo $$; sleep 1; echo done")
        .stdin(Stdio::null());
    let mut run = Lines::spawn(&mut setsid);
    let command = run.next(PATIENCE).unwrap();
    kill("STOP", &command);
    std::thread::sleep(Duration::from_millis(300));
    // lockfile waits, holding the lock: it does not stop itself as a job would.
    assert_ne!(state(run.pid()), 'T', "lockfile stopped with its command");
    assert!(matches!(probe(&path).unwrap(), Probe::Held { .. }));
    kill("CONT", &command);
    run.expect("done");
    assert_eq!(run.child.wait().unwrap().code(), Some(0));
    assert!(matches!(probe(&path).unwrap(), Probe::Free { .. }));
}

/// Which of signals 1 to 31 a command started by `program args` ignores
/// (from its `/proc/self/status`), with `ignored` signals ignored by
/// whoever started it. Real-time signals are left out: glibc takes 32 and
/// 33 for itself in a threaded process, as `lockfile` is.
fn ignored_by_the_command(ignored: &[&str], program: &str, args: &[&str]) -> u64 {
    let mut env = std::process::Command::new("env");
    for signal in ignored {
        env.arg(format!("--ignore-signal={signal}"));
    }
    let out = env
        .arg(program)
        .args(args)
        .args(["grep", "SigIgn", "/proc/self/status"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    let mask = line.trim().strip_prefix("SigIgn:").unwrap().trim();
    u64::from_str_radix(mask, 16).unwrap() & 0x7fff_ffff
}

#[test]
fn signals_ignored_at_start_stay_ignored_for_the_command_as_with_flock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ignored.lock");
    let p = path.to_str().unwrap();
    // SIGCHLD ignored by the parent is reset, as flock(1) resets it.
    let ignored = ["HUP", "INT", "PIPE", "QUIT", "CHLD"];
    let flock = ignored_by_the_command(&ignored, "flock", &[p]);
    assert_eq!(flock & (1 << 16), 0, "SIGCHLD (17) is reset");
    assert_eq!(
        ignored_by_the_command(&ignored, support::LOCKFILE, &["run", p, "--"]),
        flock
    );
    assert_eq!(
        ignored_by_the_command(&ignored, support::LOCKFILE, &["flock", p]),
        flock
    );
}

#[test]
fn under_nohup_a_hangup_leaves_the_command_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nohup.lock");
    let mut nohup = std::process::Command::new("env");
    nohup
        .args(["--ignore-signal=HUP", support::LOCKFILE, "run"])
        .arg(&path)
        .args(["--", "sh", "-c", "echo ready; sleep 0.5; echo alive"])
        .stdin(Stdio::null())
        .process_group(0);
    let mut run = Lines::spawn(&mut nohup);
    run.expect("ready");
    // The terminal hanging up: the whole group gets SIGHUP.
    kill("HUP", &format!("-{}", run.pid()));
    run.expect("alive");
    assert_eq!(run.child.wait().unwrap().code(), Some(0));
}

#[test]
fn a_parent_that_ignores_sigchld_gets_the_command_s_status() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chld.lock");
    let p = path.to_str().unwrap();
    for args in [vec!["run", p, "--"], vec!["flock", p]] {
        let out = std::process::Command::new("env")
            .args(["--ignore-signal=CHLD", support::LOCKFILE])
            .args(&args)
            .args(["sh", "-c", "echo once; exit 3"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "once\n");
    }
}

#[test]
fn a_script_without_a_shebang_runs_through_sh() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.lock");
    let script = dir.path().join("script");
    std::fs::write(&script, "echo script \"$1\"\nexit 4\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (p, s) = (path.to_str().unwrap(), script.to_str().unwrap());
    for args in [vec!["run", p, s, "arg"], vec!["flock", p, s, "arg"]] {
        let out = output(&args);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "script arg\n");
    }
}

#[test]
fn unwritable_stdout_or_stderr_is_an_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.lock");
    let p = path.to_str().unwrap();
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    // -v has nothing to say it on: the command runs all the same.
    let out = lockfile(&["run", "-v", p, "--", "echo", "ran"])
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "ran\n");
    let out = lockfile(&["status", p]).stdout(full()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "lockfile: write error: No space left on device\n"
    );
    // A usage error with nowhere to say it: clap's status, no panic.
    let out = lockfile(&["run", "--bogus"])
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
