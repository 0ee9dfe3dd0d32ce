//! The real `lockfile` binary: exit codes, messages, signals, and interop with
//! the library and util-linux flock(1) on the same files.
//!
//! Unix only: the commands are `sh` scripts, and util-linux flock(1) is
//! the peer; Windows has its own in `windows.rs`.
#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use scoped_lockfile::{LockFile, Probe, probe};
use support::{flock_n, flock_n_as, have, hostname, lockfile, output, text};

/// `lockfile run PATH -- sh -c SCRIPT`, started; its stdout comes back line by line.
fn spawn_run(path: &Path, script: &str) -> (Child, BufReader<ChildStdout>) {
    let mut child = lockfile(&["run", path.to_str().unwrap(), "--", "sh", "-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

fn read_line(reader: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line
}

#[test]
fn run_holds_the_lock_writes_who_and_exits_with_the_command_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.lock");
    // The command prints the lock file and its parent's pid: lockfile's own.
    let out = output(&[
        "run",
        path.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "cat \"$0\"; echo $PPID; exit 3",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let (content, ppid) = stdout.split_once('\n').unwrap();
    assert_eq!(content, format!(" {};{}", ppid.trim(), hostname()));
    // Released afterwards, and left behind.
    assert!(matches!(probe(&path).unwrap(), Probe::Free { .. }));
}

/// Who holds a lock this test process holds with the content `4242;web-1`:
/// the content alone, or on Linux the kernel's holder, this process, with the
/// content as an earlier holder's (semantic 18).
fn held_by_4242() -> String {
    if cfg!(target_os = "linux") {
        format!(
            "held by pid {} ({}); the file names pid 4242 on web-1, an earlier holder",
            std::process::id(),
            own_command()
        )
    } else {
        "held by pid 4242 on web-1".to_owned()
    }
}

/// This test binary's command name as the kernel has it (Linux).
fn own_command() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

#[test]
fn a_held_lock_is_a_conflict_with_the_holder_named_and_the_command_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("build.lock");
    let marker = dir.path().join("ran");
    let touch = format!("touch {}", marker.display());
    let _held = LockFile::with_content_template(&path, "4242;web-1").unwrap();
    let p = path.to_str().unwrap();

    let out = output(&["run", "--no-wait", p, "--", "sh", "-c", &touch]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("lockfile: Couldn't lock '{p}': {}\n", held_by_4242())
    );

    let out = output(&[
        "run",
        "--no-wait",
        "--conflict-exit-code",
        "75",
        p,
        "--",
        "sh",
        "-c",
        &touch,
    ]);
    assert_eq!(out.status.code(), Some(75));

    let started = Instant::now();
    let out = output(&["run", "--timeout", "200ms", p, "--", "sh", "-c", &touch]);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(out.status.code(), Some(1));
    // How long it waited, in whole milliseconds: at least the timeout.
    let stderr = text(&out.stderr);
    let waited = stderr
        .strip_prefix(&format!("lockfile: Couldn't lock '{p}' within "))
        .and_then(|rest| rest.strip_suffix(&format!("ms: {}\n", held_by_4242())))
        .and_then(|ms| ms.parse::<u64>().ok());
    assert!(waited.is_some_and(|ms| ms >= 200), "{stderr}");
    assert!(!marker.exists(), "the command ran without the lock");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), " 4242;web-1\n");
}

#[test]
fn run_waits_for_the_library_holder_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wait.lock");
    let held = LockFile::new(&path).unwrap();
    let mut run = lockfile(&["run", path.to_str().unwrap(), "--", "true"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(run.try_wait().unwrap().is_none(), "did not wait");
    held.close().unwrap();
    assert!(run.wait().unwrap().success());
}

#[test]
fn run_and_flock_exclude_each_other_and_status_sees_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.lock");
    let p = path.to_str().unwrap();

    let (mut run, mut stdout) = spawn_run(&path, "echo ready; cat >/dev/null");
    assert_eq!(read_line(&mut stdout), "ready\n");
    assert_eq!(flock_n(&path), 1, "flock -n got a lock lockfile run holds");
    let status = output(&["status", p]);
    assert_eq!(status.status.code(), Some(1));
    let expected = format!(
        "{p}: held by pid {} on {} (this host; the process is running)\n",
        run.id(),
        hostname()
    );
    assert_eq!(text(&status.stdout), expected);
    drop(run.stdin.take());
    assert!(run.wait().unwrap().success());
    assert_eq!(flock_n(&path), 0);

    // flock(1) holding, with nothing written: status says held, run conflicts.
    let mut flock = Command::new("flock")
        .arg(&path)
        .args(["sh", "-c", "echo locked; cat >/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut flock_out = BufReader::new(flock.stdout.take().unwrap());
    assert_eq!(read_line(&mut flock_out), "locked\n");
    std::fs::write(&path, "").unwrap();
    let status = output(&["status", p]);
    assert_eq!(status.status.code(), Some(1));
    if cfg!(target_os = "linux") {
        // The kernel names flock(1), which took it, and its command.
        let said = text(&status.stdout);
        let taker = format!("{p}: held by pid {} (flock) and pid ", flock.id());
        assert!(said.starts_with(&taker), "{said}");
        // sh, and cat once sh has started it.
        assert!(said.ends_with(", which inherited it\n"), "{said}");
    } else {
        assert_eq!(
            text(&status.stdout),
            format!("{p}: held; the file does not say by whom\n")
        );
    }
    assert_eq!(
        output(&["run", "--no-wait", p, "--", "true"]).status.code(),
        Some(1)
    );
    drop(flock.stdin.take());
    assert!(flock.wait().unwrap().success());
    assert_eq!(output(&["status", p]).status.code(), Some(0));
}

#[test]
fn status_of_a_missing_file_is_free_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.lock");
    let p = path.to_str().unwrap();
    let out = output(&["status", p]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), format!("{p}: free; no such file\n"));
    let out = output(&["status", "--json", p]);
    assert_eq!(
        text(&out.stdout),
        format!(
            "{{\"name\":\"{p}\",\"backend\":\"file\",\"state\":\"missing\",\"content\":null,\"pid\":null,\"hostname\":null,\"this_host\":null,\"pid_alive\":null,\"pid_holds\":null,\"kernel\":\"unknown\",\"holders\":null,\"fencing_token\":null,\"waiting\":null}}\n"
        )
    );
    assert!(!path.exists());
}

#[test]
fn status_json_describes_the_holder_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("json.lock");
    let p = path.to_str().unwrap();
    let lock = LockFile::with_content_template(&path, "{pid};{hostname}").unwrap();
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    let out = output(&["status", "--json", p]);
    assert_eq!(out.status.code(), Some(1));
    let pid = std::process::id();
    let host = hostname();
    let said = text(&out.stdout);
    assert!(
        said.starts_with(&format!(
            "{{\"name\":\"{p}\",\"backend\":\"file\",\"state\":\"held\",\"content\":\"{pid};{host}\",\"pid\":{pid},\"hostname\":\"{host}\",\"this_host\":true,\"pid_alive\":true,"
        )),
        "{said}"
    );
    assert!(
        said.ends_with(",\"fencing_token\":null,\"waiting\":null}\n"),
        "{said}"
    );
    if cfg!(target_os = "linux") {
        // This process; perhaps also a child another test thread is
        // spawning, which holds a copy of every descriptor until its exec.
        let me = format!(
            "{{\"pid\":{pid},\"command\":\"{}\",\"inherited\":false,\"taken_by\":{pid}}}",
            own_command()
        );
        assert!(said.contains(&me), "{said}");
        assert!(
            said.contains("\"pid_holds\":true,\"kernel\":\"held\",\"holders\":[{"),
            "{said}"
        );
    } else {
        assert!(
            said.contains("\"pid_holds\":null,\"kernel\":\"unknown\",\"holders\":null"),
            "{said}"
        );
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        before
    );
    assert!(LockFile::new(&path).is_err(), "status took the lock away");
    lock.close().unwrap();

    // A holder on another host: its pid cannot be checked from here.
    std::fs::write(&path, " 1;elsewhere\n").unwrap();
    let out = output(&["status", "--json", p]);
    assert_eq!(out.status.code(), Some(0));
    let said = text(&out.stdout);
    assert!(
        said.contains("\"hostname\":\"elsewhere\",\"this_host\":false,\"pid_alive\":null,"),
        "{said}"
    );
    // Free: nobody's pid holds it, and the kernel lists no holder.
    assert!(
        said.ends_with("\"holders\":null,\"fencing_token\":null,\"waiting\":null}\n"),
        "{said}"
    );
}

#[test]
fn status_refuses_a_symlink_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let link = dir.path().join("link.lock");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let out = output(&["status", link.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "lockfile: refusing to lock '{}': it is a symbolic link\n",
            link.display()
        )
    );
    let out = output(&["run", link.to_str().unwrap(), "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
}

#[test]
fn bad_usage_exits_2_with_one_error_line_and_takes_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.lock");
    let p = path.to_str().unwrap();
    for args in [
        vec!["run", "--timeout", "5 parsecs", p, "--", "true"],
        vec!["run", "--timeout", "abc", p, "true"],
        vec!["run", "-w", "-1", p, "true"],
        vec!["run", "-w", "", p, "true"],
        vec!["run", "-E", "256", p, "true"],
        vec!["run", "-E", "x", p, "true"],
        vec!["run", "-E", "-1", p, "true"],
        vec!["run", p, "--"],
        vec!["run", p],
        vec!["run", "-c", "true", p, "echo", "both"],
        vec!["run", "-q", "-v", p, "true"],
        vec!["run", "--bogus", p, "--", "true"],
        vec!["status"],
        vec!["frobnicate"],
    ] {
        let out = output(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{stderr}"
        );
        assert!(
            stderr.contains("\nUsage: lockfile "),
            "{args:?}: no usage line: {stderr}"
        );
        assert!(!path.exists(), "{args:?} touched the lock file");
    }
}

#[test]
fn a_command_that_cannot_start_is_127_and_the_lock_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.lock");
    let out = output(&["run", path.to_str().unwrap(), "--", "/no/such/command"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(text(&out.stderr).starts_with("lockfile: cannot run /no/such/command: "));
    LockFile::new(&path).unwrap();
}

#[test]
fn the_command_inherits_the_lock_descriptor_unless_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fd.lock");
    let p = path.to_str().unwrap();
    let descriptors = "for fd in /proc/$$/fd/*; do readlink \"$fd\"; done; true";
    let out = output(&["run", p, "--", "sh", "-c", descriptors]);
    assert!(out.status.success());
    let lines = text(&out.stdout);
    assert_eq!(lines.lines().filter(|l| *l == p).count(), 1, "{lines}");
    for close in ["-o", "--close"] {
        let out = output(&["run", close, p, "--", "sh", "-c", descriptors]);
        assert!(out.status.success());
        assert!(!text(&out.stdout).contains(p), "{}", text(&out.stdout));
    }
}

#[test]
fn the_command_may_come_without_dashes_or_as_a_shell_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("forms.lock");
    let p = path.to_str().unwrap();
    // Everything after the first word of COMMAND is the command's, -n included.
    let out = output(&["run", p, "echo", "-n", "x", "--", "-v"]);
    assert_eq!(text(&out.stdout), "x -- -v");
    let out = lockfile(&["run", p, "-c", "echo \"$0\" $((6 * 7)); exit 4"])
        .env("SHELL", "/bin/sh")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(text(&out.stdout), "/bin/sh 42\n");
    let out = lockfile(&["run", "--command", "echo $0", p])
        .env_remove("SHELL")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "/bin/sh\n");
}

#[test]
fn stop_signals_are_forwarded_and_the_lock_outlives_the_command() {
    for signal in ["TERM", "INT", "HUP"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signal.lock");
        // The trap takes a moment to finish: the lock must stay held meanwhile.
        let script = format!(
            "trap 'echo got {signal}; sleep 0.3; exit 7' {signal}; echo ready; while :; do sleep 0.02; done"
        );
        let (mut run, mut stdout) = spawn_run(&path, &script);
        assert_eq!(read_line(&mut stdout), "ready\n");
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(run.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        assert_eq!(read_line(&mut stdout), format!("got {signal}\n"));
        assert!(
            matches!(probe(&path).unwrap(), Probe::Held { .. }),
            "released before the command ended"
        );
        let status = run.wait().unwrap();
        assert_eq!(status.code(), Some(7), "{signal}");
        assert!(matches!(probe(&path).unwrap(), Probe::Free { .. }));
    }
}

#[test]
fn flock_spellings_mean_what_they_mean_to_flock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spell.lock");
    let p = path.to_str().unwrap();
    let _held = LockFile::with_content_template(&path, "4242;web-1").unwrap();
    for no_wait in ["-n", "--nonblock", "--no-wait", "--nonblocking", "--nb"] {
        assert_eq!(
            output(&["run", no_wait, p, "true"]).status.code(),
            Some(1),
            "{no_wait}"
        );
    }
    assert_eq!(
        output(&["run", "-n", "-E", "75", p, "true"]).status.code(),
        Some(75)
    );
    assert_eq!(output(&["run", "-nE75", p, "true"]).status.code(), Some(75));
    // -n with -w, as flock(1) takes them: -n wins, at once.
    for args in [["-n", "-w", "5"], ["-w", "5", "-n"]] {
        let started = Instant::now();
        let mut command_line = vec!["run"];
        command_line.extend(args);
        command_line.extend([p, "true"]);
        assert_eq!(output(&command_line).status.code(), Some(1), "{args:?}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{args:?} waited"
        );
    }
    // Bare seconds with a fraction, as flock(1) and timeout(1) take them.
    for timeout in [["-w", "0.3"], ["--timeout", "0.3"], ["--wait", "300ms"]] {
        let started = Instant::now();
        let out = output(&["run", timeout[0], timeout[1], p, "true"]);
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(1), "{timeout:?}");
        assert!(took >= Duration::from_millis(300), "{timeout:?}: {took:?}");
        assert!(took < Duration::from_secs(10), "{timeout:?}: {took:?}");
    }
}

#[test]
fn quiet_conflicts_print_nothing_and_verbose_says_for_whom_it_waits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cron.lock");
    let p = path.to_str().unwrap();
    let held = LockFile::with_content_template(&path, "4242;web-1").unwrap();
    for args in [
        vec!["run", "-n", "-q", "-E", "0", p, "true"],
        vec!["run", "--quiet", "-w", "0.1", p, "true"],
    ] {
        let out = output(&args);
        assert_eq!(text(&out.stderr), "", "{args:?}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
    }
    assert_eq!(
        output(&["run", "-nq", "-E0", p, "true"]).status.code(),
        Some(0)
    );

    let run = lockfile(&["run", "-v", p, "--", "echo", "ran"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    held.close().unwrap();
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "ran\n");
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "lockfile: waiting for '{p}', {}\n",
            held_by_4242()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("lockfile: locked '{p}' after ")),
        "{stderr}"
    );
}

#[test]
fn status_escapes_what_would_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planted\u{1b}[2J.lock");
    let p = path.to_str().unwrap();
    std::fs::write(&path, " \u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}x\n").unwrap();
    let out = output(&["status", p]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
        "{stdout:?}"
    );
    assert_eq!(
        stdout,
        format!(
            "{}/planted\\x1b[2J.lock: free; the file says \"\\x1b]0;pwned\\x07\\x1b[2J\\u{{202e}}x\"\n",
            dir.path().display()
        )
    );
    // JSON escapes them its own way, as JSON.
    let json = text(&output(&["status", "--json", p]).stdout);
    assert!(
        json.contains(r#""content":"\u001b]0;pwned\u0007\u001b[2J\u202ex""#),
        "{json}"
    );
}

#[test]
fn status_of_a_path_in_a_missing_directory_is_an_error_naming_it() {
    let out = output(&["status", "/no/such/dir/x.lock"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("lockfile: '/no/such/dir/x.lock': No such file or directory"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let under_a_file = file.join("x.lock");
    let out = output(&["status", under_a_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    // A relative name in the current directory is fine.
    let out = lockfile(&["status", "none.lock"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "none.lock: free; no such file\n");
}

#[test]
fn run_shared_lets_readers_run_together_and_keeps_writers_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.lock");
    let p = path.to_str().unwrap();
    std::fs::write(&path, " 7;last-writer\n").unwrap();
    let reader = |p: &str| {
        lockfile(&["run", "-s", p, "sh", "-c", "echo locked; cat >/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = reader(p);
    let mut first_out = BufReader::new(first.stdout.take().unwrap());
    assert_eq!(read_line(&mut first_out), "locked\n");
    let mut second = reader(p);
    let mut second_out = BufReader::new(second.stdout.take().unwrap());
    assert_eq!(
        read_line(&mut second_out),
        "locked\n",
        "readers must coexist"
    );
    // Readers write nothing; a writer is told readers hold it.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), " 7;last-writer\n");
    let out = output(&["run", "-n", p, "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("lockfile: Couldn't lock '{p}': held shared\n")
    );
    let out = output(&["status", p]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout);
    if cfg!(target_os = "linux") {
        // Each reader named by the process that took its lock.
        let readers = format!(
            "{p}: held shared by pid {} (lockfile), pid {} (lockfile); ",
            first.id().min(second.id()),
            first.id().max(second.id())
        );
        let other_order = format!(
            "{p}: held shared by pid {} (lockfile), pid {} (lockfile); ",
            first.id().max(second.id()),
            first.id().min(second.id())
        );
        assert!(
            said.starts_with(&readers) || said.starts_with(&other_order),
            "{said}"
        );
        assert!(
            said.ends_with("; last written by pid 7 on last-writer\n"),
            "{said}"
        );
    } else {
        assert_eq!(
            said,
            format!("{p}: held shared; last written by pid 7 on last-writer\n")
        );
    }
    if have("flock", "--version") {
        assert_eq!(
            flock_n_as(&path, "-s"),
            0,
            "flock -s refused beside our readers"
        );
        assert_eq!(
            flock_n_as(&path, "-x"),
            1,
            "flock -x got the lock beside our readers"
        );
    }
    for mut reader in [first, second] {
        drop(reader.stdin.take());
        assert!(reader.wait().unwrap().success());
    }
    assert_eq!(output(&["run", "-n", p, "true"]).status.code(), Some(0));
}

#[test]
fn only_the_command_line_chooses_etcd() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.lock");
    let p = path.to_str().unwrap();
    let mut flock = std::process::Command::new("flock")
        .args([p, "sleep", "30"])
        .spawn()
        .unwrap();
    while support::flock_n(&path) == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Endpoints in the environment (nobody listens there) change nothing:
    // this is the lock file flock(1) holds.
    let endpoints = "http://127.0.0.1:9";
    let out = lockfile(&["run", "-n", p, "--", "echo", "RAN"])
        .env("LOCKFILE_ETCD_ENDPOINTS", endpoints)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    let said = text(&out.stderr);
    assert!(
        said.contains("LOCKFILE_ETCD_ENDPOINTS is set, but only --etcd chooses etcd")
            && said.contains(&format!("Couldn't lock '{p}'")),
        "{said}"
    );
    let out = lockfile(&["status", p])
        .env("LOCKFILE_ETCD_ENDPOINTS", endpoints)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with(&format!("{p}: held")));
    let _ = flock.kill();
    let _ = flock.wait();

    let help = text(&output(&["run", "--help"]).stdout);
    let refused = lockfile(&["run", "--etcd", "nightly", "--", "true"])
        .env_remove("LOCKFILE_ETCD_ENDPOINTS")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let said = text(&refused.stderr);
    if cfg!(feature = "etcd") {
        assert!(help.contains("--etcd"), "{help}");
        assert!(
            said.contains("LOCKFILE_ETCD_ENDPOINTS, which is not set"),
            "{said}"
        );
    } else {
        // A build without etcd does not advertise it, and says how to get it.
        assert!(!help.contains("etcd"), "{help}");
        assert_eq!(
            said,
            "lockfile: built without etcd: cargo install scoped-lockfile-cli --features etcd\n"
        );
        let from_env = lockfile(&["run", "--etcd", "nightly", "--", "true"])
            .env("LOCKFILE_ETCD_ENDPOINTS", endpoints)
            .output()
            .unwrap();
        assert!(text(&from_env.stderr).contains("built without etcd"));
    }
    assert!(!dir.path().join("nightly").exists());
}

#[test]
fn status_takes_only_holder_shapes_for_a_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwd");
    let p = path.to_str().unwrap();
    std::fs::write(&path, "root:x:0:0:root:/root:/bin/bash\nbin:x:1:1::/:\n").unwrap();
    let out = output(&["status", p]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        format!("{p}: free; the file says \"root:x:0:0:root:/root:/bin/bash\"\n")
    );
    let json = text(&output(&["status", "--json", p]).stdout);
    assert!(json.contains("\"pid\":null,\"hostname\":null"), "{json}");
}
