//! The real `lockfile` binary on Windows: `run` holds the lock (the library's
//! and zc.lockfile's, byte 0) while its command runs and exits with its exit
//! code, all 32 bits of it; Ctrl-Break reaches the command through the
//! console and `lockfile` outlives it; `status` tells whether the holder's
//! process runs; `flock` takes the same lock.
//!
//! Tests Wine cannot model are `#[ignore]`d under `--cfg wine` (set by
//! `.ci/windows`), each saying why.
#![cfg(windows)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use scoped_lockfile::{LockFile, LockOptions, Probe, probe};

const LOCKFILE: &str = env!("CARGO_BIN_EXE_lockfile");
const PATIENCE: Duration = Duration::from_secs(30);

fn lockfile(args: &[&str]) -> Command {
    let mut command = Command::new(LOCKFILE);
    command.args(args).stdin(Stdio::null());
    command
}

fn output(args: &[&str]) -> Output {
    lockfile(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Waits (within [`PATIENCE`]) until `child` exits.
fn wait_for(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{:?} did not end", child.id());
}

/// Waits (within [`PATIENCE`]) until someone holds the lock at `path`.
fn until_held(path: &Path) {
    let deadline = Instant::now() + PATIENCE;
    while !matches!(probe(path), Ok(Probe::Held { .. })) {
        assert!(Instant::now() < deadline, "{} never held", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn run_holds_the_lock_while_its_command_runs_and_says_who_and_that_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.lock");
    let shown = path.to_str().unwrap();
    // The command is `lockfile status` on the same lock: held, by whom.
    let out = output(&["run", shown, "--", LOCKFILE, "status", shown]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = text(&out.stdout);
    let Some((pid, _)) = said
        .strip_prefix(&format!("{shown}: held by pid "))
        .and_then(|rest| rest.split_once(' '))
    else {
        panic!("{said}");
    };
    assert_eq!(
        said.trim_end(),
        format!(
            "{shown}: held by pid {pid} on {} (this host; the process is running)",
            host()
        )
    );
    // Released at the end, the content left behind, " pid;host\n" as ever.
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!(" {pid};{}\n", host())
    );
    drop(LockFile::new(&path).unwrap());
}

#[test]
fn run_exits_with_its_command_s_exit_code_all_32_bits_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.lock");
    let shown = path.to_str().unwrap();
    for (code, expected) in [
        ("0", 0),
        ("7", 7),
        ("300", 300),
        ("-1073741510", -1_073_741_510),
    ] {
        let out = output(&["run", shown, "--", "cmd", "/C", "exit", code]);
        assert_eq!(out.status.code(), Some(expected), "{code}: {out:?}");
    }
    // A line for cmd.exe.
    let out = output(&["run", shown, "-c", "if 1==1 (exit 4) else (exit 5)"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let out = output(&["run", shown, "--", "no-such-program-anywhere"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    drop(LockFile::new(&path).unwrap());
}

#[test]
fn run_is_refused_or_waits_while_the_library_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.lock");
    let shown = path.to_str().unwrap();
    let held = LockFile::with_content_template(&path, "{pid};{hostname}").unwrap();
    let out = output(&["run", "-n", shown, "--", "cmd", "/C", "exit", "9"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = text(&out.stderr);
    assert!(
        said.contains(&format!("held by pid {} on {}", std::process::id(), host())),
        "{said}"
    );
    held.close().unwrap();
    for wait in [&["-w", "60"][..], &[]] {
        let held = LockOptions::new().timeout(PATIENCE).lock(&path).unwrap();
        let mut args = vec!["run"];
        args.extend(wait);
        args.extend([shown, "--", "cmd", "/C", "exit", "9"]);
        let mut waiter = lockfile(&args).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            waiter.try_wait().unwrap().is_none(),
            "{wait:?} did not wait"
        );
        held.close().unwrap();
        assert_eq!(wait_for(&mut waiter), Some(9), "{wait:?}");
    }
}

#[test]
fn status_tells_a_running_holder_from_a_gone_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.lock");
    let shown = path.to_str().unwrap();
    let out = output(&["status", shown]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout), format!("{shown}: free; no such file\n"));
    assert!(!path.exists());

    let held = LockFile::with_content_template(&path, "{pid};{hostname}").unwrap();
    let out = output(&["status", "--json", shown]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json = text(&out.stdout);
    assert!(json.contains("\"state\":\"held\""), "{json}");
    assert!(
        json.contains(&format!("\"pid\":{},", std::process::id())),
        "{json}"
    );
    assert!(json.contains("\"this_host\":true"), "{json}");
    assert!(json.contains("\"pid_alive\":true"), "{json}");
    held.close().unwrap();

    // A process that has ended (its handle kept, so the pid is not reused).
    let mut gone = Command::new("cmd").args(["/C", "exit"]).spawn().unwrap();
    gone.wait().unwrap();
    let template = format!("{};{{hostname}}", gone.id());
    let held = LockFile::with_content_template(&path, &template).unwrap();
    let out = output(&["status", "--json", shown]);
    assert!(text(&out.stdout).contains("\"pid_alive\":false"), "{out:?}");
    held.close().unwrap();
    let out = output(&["status", shown]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        format!(
            "{shown}: free; last held by pid {} on {} (this host; no such process)\n",
            gone.id(),
            host()
        )
    );
}

#[test]
fn flock_takes_the_same_lock_and_waits_for_it_with_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.lock");
    let shown = path.to_str().unwrap();
    let out = output(&["flock", shown, "cmd", "/C", "exit", "5"]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let out = output(&["flock", shown, "-c", "exit 6"]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let held = LockFile::new(&path).unwrap();
    let out = output(&["flock", "-n", shown, "cmd", "/C", "exit", "0"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let started = Instant::now();
    let out = output(&["flock", "-w", "0.3", shown, "cmd", "/C", "exit", "0"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    held.close().unwrap();
    // A timed wait and a wait forever, each handed the lock on release.
    for wait in [&["-w", "60"][..], &[]] {
        let held = LockOptions::new().timeout(PATIENCE).lock(&path).unwrap();
        let mut args = vec!["flock"];
        args.extend(wait);
        args.extend([shown, "cmd", "/C", "exit", "8"]);
        let mut waiter = lockfile(&args).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            waiter.try_wait().unwrap().is_none(),
            "{wait:?} did not wait"
        );
        held.close().unwrap();
        assert_eq!(wait_for(&mut waiter), Some(8), "{wait:?}");
    }
    // No numbered descriptors on Windows.
    let out = output(&["flock", "9"]);
    assert_eq!(out.status.code(), Some(65), "{out:?}");
}

#[test]
#[cfg_attr(
    wine,
    ignore = "Wine 8 run without a console window has no console to send Ctrl-Break through"
)]
#[allow(unsafe_code)] // GenerateConsoleCtrlEvent
fn ctrl_break_reaches_the_command_and_lockfile_outlives_it_holding_the_lock() {
    use std::os::windows::process::CommandExt;
    use windows_sys::Win32::System::Console::{
        AllocConsole, CTRL_BREAK_EVENT, GenerateConsoleCtrlEvent,
    };
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x200;
    const STATUS_CONTROL_C_EXIT: u32 = 0xC000_013A;

    // A console to share with the processes started here, unless this test
    // runs in one already (then this fails, harmlessly).
    // SAFETY: no arguments; at worst it fails.
    unsafe { AllocConsole() };
    let dir = tempfile::tempdir().unwrap();
    let (job, other) = (dir.path().join("job.lock"), dir.path().join("other.lock"));
    let other_held = LockFile::new(&other).unwrap();
    // The command waits for `other` as long as it takes: `lockfile flock`,
    // which has no console handler of its own, so Ctrl-Break ends it.
    let mut run = lockfile(&[
        "run",
        job.to_str().unwrap(),
        "--",
        LOCKFILE,
        "flock",
        other.to_str().unwrap(),
        "cmd",
        "/C",
        "exit",
        "0",
    ])
    .creation_flags(CREATE_NEW_PROCESS_GROUP)
    .spawn()
    .unwrap();
    until_held(&job);
    std::thread::sleep(Duration::from_millis(300));
    // To the group of `lockfile run`, as the console sends Ctrl-Break to
    // every process attached to it.
    // SAFETY: plain values; the group id is the pid of its first process.
    if unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, run.id()) } == 0 {
        let err = std::io::Error::last_os_error();
        run.kill().unwrap();
        panic!("GenerateConsoleCtrlEvent: {err} (is there a console?)");
    }
    // The command died of it; lockfile did not, waited for it, passed its
    // exit status on, and released the lock only then.
    assert_eq!(
        wait_for(&mut run).map(i32::cast_unsigned),
        Some(STATUS_CONTROL_C_EXIT)
    );
    drop(LockFile::new(&job).unwrap());
    other_held.close().unwrap();
}
