//! `lockfile flock` side by side with util-linux flock(1): the same
//! invocations give the same exit codes and the same stdout, run as
//! `flock` (util-linux), `lockfile flock`, and `lockfile` invoked through a
//! `flock` symlink. util-linux's own cases (tests/ts/flock: non-block,
//! no-fork, shared, exclusive, fd, timeout, unlock, close) come first, then
//! conflict codes, command forms, failures and usage errors.
//!
//! Unix only: util-linux flock(1) is the reference.
#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{LOCKFILE, flock_symlink, have, text};

/// Who holds a lock while a case runs, through util-linux flock(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Nobody,
    /// `flock -s` on the file.
    Shared,
    /// `flock -x` on the file.
    Exclusive,
    /// `flock -x` on the directory.
    Directory,
}

/// A bash script run with `$FLOCK` (the implementation, to split into
/// words), `$F` (a lock file), `$D` (a directory), in a temporary directory;
/// and the exit code util-linux flock(1) gives it.
struct Case {
    holder: Holder,
    script: &'static str,
    code: i32,
}

const fn case(holder: Holder, script: &'static str, code: i32) -> Case {
    Case {
        holder,
        script,
        code,
    }
}

use Holder::{Directory, Exclusive, Nobody, Shared};

const CASES: &[Case] = &[
    // util-linux tests/ts/flock/flock, against a shared lock held meanwhile.
    case(
        Shared,
        r#"$FLOCK --nonblocking --conflict-exit-code 123 $F echo "You will never see this!""#,
        123,
    ),
    case(
        Shared,
        r#"$FLOCK --no-fork --nonblocking --conflict-exit-code 123 $F echo "You will never see this!""#,
        123,
    ),
    case(Shared, r#"$FLOCK --shared $F echo "Have shared lock""#, 0),
    case(
        Shared,
        r#"$FLOCK --nb --exclusive --conflict-exit-code 123 $F echo "You will never see this!""#,
        123,
    ),
    case(
        Shared,
        r#"exec 4<>$F; $FLOCK --nonblocking --exclusive --conflict-exit-code 123 4; rc=$?; [ -f 4 ] && echo "fd file should not exist"; exit $rc"#,
        123,
    ),
    case(
        Shared,
        "$FLOCK --timeout 0.3 --conflict-exit-code 5 $F true",
        5,
    ),
    // tests/ts/flock/unlock: a timeout of 0 is --nonblock.
    case(Shared, "$FLOCK --exclusive --wait 0 --verbose $F true", 1),
    case(
        Nobody,
        "exec 10<>$F; $FLOCK --exclusive --nonblock --verbose 10; $FLOCK --unlock 10; $FLOCK --exclusive --wait 0 --verbose $F true",
        0,
    ),
    // tests/ts/flock/close, in the FILE form: -o keeps the lock from the command.
    case(
        Nobody,
        r#"$FLOCK --close $F sh -c 'for fd in /proc/$$/fd/*; do readlink "$fd"; done | grep -c "^$F$"'"#,
        1,
    ),
    case(
        Nobody,
        r#"$FLOCK $F sh -c 'for fd in /proc/$$/fd/*; do readlink "$fd"; done | grep -c "^$F$"'"#,
        0,
    ),
    // The command holds the lock after flock itself is killed.
    case(
        Nobody,
        r"$FLOCK $F sh -c 'echo $$ > pid; exec sleep 10' & f=$!
        while [ ! -s pid ]; do sleep 0.02; done
        kill -9 $f; wait $f 2>/dev/null
        flock -n $F true; echo held=$?; kill $(cat pid)",
        0,
    ),
    // Shared, exclusive, descriptors, directories, conflict codes.
    case(Shared, "$FLOCK -s -n $F echo shared too", 0),
    case(Exclusive, "$FLOCK -s -n $F true", 1),
    case(Exclusive, "$FLOCK -n -E 0 $F echo never", 0),
    case(Exclusive, "$FLOCK -nE 7 $F true", 7),
    case(Exclusive, "$FLOCK --verbose -n $F true", 1),
    case(Exclusive, "$FLOCK --verbose -w 0.2 $F true", 1),
    case(Exclusive, "exec 4<$F; $FLOCK -n 4", 1),
    case(Shared, "exec 4<$F; $FLOCK -s -n 4 && $FLOCK -u 4", 0),
    case(Directory, "$FLOCK -n $D true", 1),
    case(Nobody, "$FLOCK $D echo directory", 0),
    case(Nobody, "$FLOCK . true", 0),
    case(Nobody, "$FLOCK -u $F echo unlocked", 0),
    case(Nobody, "$FLOCK -s -u $F true", 0),
    case(Nobody, "$FLOCK -e $F true", 0),
    // Commands: arguments, -c, -F, exit statuses, signals, --verbose output.
    case(Nobody, "$FLOCK $F sh -c 'exit 7'", 7),
    case(Nobody, "$FLOCK $F sh -c 'kill -TERM $$'", 143),
    case(Nobody, "SHELL=/bin/sh $FLOCK $F -c 'echo $0 $((6 * 7))'", 0),
    case(Nobody, "SHELL= $FLOCK $F --command 'echo $0; exit 3'", 3),
    case(Nobody, "$FLOCK -F $F sh -c 'echo no fork; exit 9'", 9),
    case(Nobody, "$FLOCK --verbose $F echo hi", 0),
    case(Nobody, "$FLOCK --verbose -F $F echo hi", 0),
    case(Nobody, "$FLOCK $F echo -n -- -c x", 0),
    // Failures: sysexits codes.
    case(Nobody, "$FLOCK $F /no/such/command", 69),
    case(Nobody, "$FLOCK $F -- true", 69),
    case(Nobody, "$FLOCK $F -n true", 69),
    case(Nobody, "$FLOCK /no/such/dir/x true", 66),
    case(Nobody, "$FLOCK 9", 65),
    case(Nobody, "$FLOCK -- -1", 65),
    case(Nobody, "$FLOCK -w -1 $F true", 71),
    case(Nobody, "$FLOCK -w inf $F true", 71),
    case(Nobody, "$FLOCK -w nan $F true", 71),
    case(Nobody, "$FLOCK -w -0.5 $F true", 71),
    // Usage errors.
    case(Nobody, "$FLOCK", 64),
    case(Nobody, "$FLOCK -n", 64),
    case(Nobody, "$FLOCK --", 64),
    case(Nobody, "$FLOCK x", 64),
    case(Nobody, "$FLOCK 99999999999", 64),
    case(Nobody, "$FLOCK -z $F true", 64),
    case(Nobody, "$FLOCK --zz $F true", 64),
    case(Nobody, "$FLOCK --n $F true", 64),
    case(Nobody, "$FLOCK --verbose=1 $F true", 64),
    case(Nobody, "$FLOCK -'?'", 64),
    case(Nobody, "$FLOCK -w", 64),
    case(Nobody, "$FLOCK -w abc $F true", 64),
    case(Nobody, "$FLOCK -w '5 ' $F true", 64),
    case(Nobody, "$FLOCK -w1n $F true", 64),
    case(Nobody, "$FLOCK -w 0x $F true", 64),
    case(Nobody, "$FLOCK -E 256 $F true", 64),
    case(Nobody, "$FLOCK -E -1 $F true", 64),
    case(Nobody, "$FLOCK -E 0x7 $F true", 64),
    case(Nobody, "$FLOCK -c true", 64),
    case(Nobody, "$FLOCK $F -c", 64),
    case(Nobody, "$FLOCK $F -c a b", 64),
    case(Nobody, "$FLOCK -F -o $F true", 64),
    // Accepted spellings.
    case(Nobody, "$FLOCK -w 1e1 $F true", 0),
    case(Nobody, "$FLOCK -w 0x10 $F true", 0),
    case(Nobody, "$FLOCK -w ' 5' $F true", 0),
    case(Nobody, "$FLOCK -w 0.0000001 $F true", 0),
    case(Nobody, "$FLOCK --time=1 $F true", 0),
    case(Nobody, "$FLOCK --timeout 1 -- $F true", 0),
    case(Nobody, "$FLOCK -E ' 7' -E +7 $F true", 0),
    case(Nobody, "$FLOCK -nxw1 $F true", 0),
    case(Nobody, "$FLOCK --non --ex --sh --verb $F true", 0),
    case(Nobody, "$FLOCK -h -z >/dev/null", 0),
    case(Nobody, "$FLOCK --version >/dev/null", 0),
    // Option values at the edges (issue 20, item 11): the timer is set up,
    // and refused, before -n is looked at; strtold's range is long double's.
    case(Nobody, "$FLOCK -n -w -1 $F true", 71),
    case(Nobody, "$FLOCK -w -1 -n $F true", 71),
    case(Nobody, "$FLOCK -w 1e-400 $F true", 0),
    case(Exclusive, "$FLOCK -w 1e-400 $F true", 1),
    case(Nobody, "$FLOCK -w 1e5000 $F true", 64),
    case(Nobody, "$FLOCK -w 1e400 $F true", 71),
    case(Nobody, "$FLOCK -E 99999999999 $F true", 64),
    case(Nobody, "$FLOCK 99999999999", 64),
    case(Nobody, "$FLOCK --zz=5 $F true", 64),
    case(Nobody, "$FLOCK --=5 $F true", 64),
    // A SIGALRM after a timed wait does not end flock(1).
    case(
        Nobody,
        "$FLOCK -w 5 $F bash -c 'kill -ALRM $PPID; sleep 0.3; echo survived'",
        0,
    ),
    // Write errors (item 8): stdout unwritable is "write error", 1; so is a
    // message stderr cannot take; a closed pipe is SIGPIPE unless ignored.
    case(Nobody, "$FLOCK --verbose $F true >/dev/full", 1),
    case(Nobody, "$FLOCK --verbose $F sh -c 'exit 3' >/dev/full", 1),
    case(Nobody, "$FLOCK --zz 2>/dev/full", 1),
    case(
        Nobody,
        "$FLOCK --verbose $F true | true; exit ${PIPESTATUS[0]}",
        141,
    ),
    case(
        Nobody,
        "trap '' PIPE; $FLOCK --verbose $F true | true; exit ${PIPESTATUS[0]}",
        0,
    ),
    // A parent that ignores SIGCHLD (item 7): the command runs once, and
    // its status is flock's.
    case(
        Nobody,
        "env --ignore-signal=CHLD $FLOCK $F sh -c 'echo once; exit 3'",
        3,
    ),
    // A script without #! (item 10), run by /bin/sh as execvp(3) does.
    case(
        Nobody,
        "printf 'echo script $1\\nexit 4\\n' > s; chmod +x s; $FLOCK $F ./s arg",
        4,
    ),
    case(
        Nobody,
        "printf 'echo script\\nexit 4\\n' > s; chmod +x s; $FLOCK -F $F ./s",
        4,
    ),
    // Ignored signals stay ignored for the command (item 6).
    case(
        Nobody,
        "env --ignore-signal=PIPE --ignore-signal=INT --ignore-signal=HUP --ignore-signal=CHLD \
         $FLOCK $F grep SigIgn /proc/self/status",
        0,
    ),
];

/// Cases whose stderr must be flock(1)'s too, word for word (run through
/// the `flock` symlink, so the program's name is the same).
const MESSAGES: &[&str] = &[
    "$FLOCK -n -w -1 $F true",
    "$FLOCK -w 1e5000 $F true",
    "$FLOCK -E 99999999999 $F true",
    "$FLOCK 99999999999",
    "$FLOCK --zz=5 $F true",
    "$FLOCK --=5 $F true",
    "$FLOCK --n $F true",
    "$FLOCK --verbose $F true >/dev/full",
    "env --ignore-signal=CHLD $FLOCK $F sh -c 'exit 3'",
];

/// The implementations compared, as `$FLOCK` words.
fn implementations(symlink: &Path) -> [String; 3] {
    [
        "flock".to_owned(),
        format!("{LOCKFILE} flock"),
        symlink.display().to_string(),
    ]
}

/// Holds a lock through util-linux flock(1) until dropped.
struct Held(Option<Child>);

impl Held {
    fn take(holder: Holder, file: &Path, dir: &Path) -> Self {
        let (mode, target) = match holder {
            Nobody => return Self(None),
            Shared => ("-s", file),
            Exclusive => ("-x", file),
            Directory => ("-x", dir),
        };
        let mut child = Command::new("flock")
            .arg(mode)
            .arg(target)
            .args(["sh", "-c", "echo locked; exec cat >/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "locked\n");
        Self(Some(child))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

/// The exit code and stdout of `script` with `$FLOCK` set to `flock`, with
/// `--verbose` timings made comparable.
fn run(flock: &str, script: &str, dir: &Path) -> (Option<i32>, String) {
    // bash, as util-linux's tests use: sh may not open descriptor 10.
    let out = Command::new("bash")
        .args(["-c", script])
        .current_dir(dir)
        .env("FLOCK", flock)
        .env("F", dir.join("lock"))
        .env("D", dir.join("dir"))
        .env("SHELL", "/bin/bash")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let normal: Vec<String> = stdout
        .lines()
        .map(|line| match line.split_once(" took ") {
            Some((head, _)) if head.ends_with("getting lock") => format!("{head} took <n> seconds"),
            _ => line.to_owned(),
        })
        .collect();
    (out.status.code(), normal.join("\n"))
}

#[test]
fn the_same_invocations_give_the_same_exit_codes_and_stdout() {
    if !have("flock", "--version") {
        return;
    }
    let (_links, symlink) = flock_symlink();
    let mut failures = Vec::new();
    for case in CASES {
        let mut results = Vec::new();
        for flock in implementations(&symlink) {
            // A fresh directory each time, so no run sees another's files.
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("dir")).unwrap();
            let held = Held::take(
                case.holder,
                &dir.path().join("lock"),
                &dir.path().join("dir"),
            );
            results.push((flock.clone(), run(&flock, case.script, dir.path())));
            drop(held);
        }
        let (_, util_linux) = &results[0];
        let differs = results.iter().any(|(_, result)| result != util_linux);
        if differs || util_linux.0 != Some(case.code) {
            failures.push(format!(
                "{}\n  expected {}, got {results:#?}",
                case.script, case.code
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_same_mistakes_give_the_same_messages() {
    if !have("flock", "--version") {
        return;
    }
    let (_links, symlink) = flock_symlink();
    let mut failures = Vec::new();
    for script in MESSAGES {
        let stderr = |flock: &str| {
            let dir = tempfile::tempdir().unwrap();
            let out = Command::new("bash")
                .args(["-c", script])
                .current_dir(dir.path())
                .env("FLOCK", flock)
                .env("F", dir.path().join("lock"))
                .stdin(Stdio::null())
                .output()
                .unwrap();
            (out.status.code(), text(&out.stderr))
        };
        let (util_linux, ours) = (stderr("flock"), stderr(symlink.to_str().unwrap()));
        if util_linux != ours {
            failures.push(format!(
                "{script}\n  flock(1): {util_linux:?}\n  ours:     {ours:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_timed_wait_takes_the_lock_when_it_is_released() {
    if !have("flock", "--version") {
        return;
    }
    let (_links, symlink) = flock_symlink();
    for flock in implementations(&symlink) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lock");
        let held = Held::take(Shared, &file, dir.path());
        // tests/ts/flock/flock's "timeout" case, with a shorter hold.
        let started = Instant::now();
        let waiter = Command::new("sh")
            .args([
                "-c",
                r#"$FLOCK --timeout 10 --conflict-exit-code 5 $F echo "After timeout.""#,
            ])
            .env("FLOCK", &flock)
            .env("F", &file)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        drop(held);
        let out = waiter.wait_with_output().unwrap();
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(0), "{flock}");
        assert_eq!(text(&out.stdout), "After timeout.\n", "{flock}");
        assert!(took >= Duration::from_millis(500), "{flock}: {took:?}");
        assert!(took < Duration::from_secs(10), "{flock}: {took:?}");
    }
}

#[test]
fn a_timeout_leaves_no_lock_behind_and_takes_about_its_time() {
    if !have("flock", "--version") {
        return;
    }
    let (_links, symlink) = flock_symlink();
    for flock in implementations(&symlink).iter().skip(1) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lock");
        // The descriptor form shares the description with the shell: a lock
        // granted after the deadline would stay with it.
        let script = "exec 4<>$F; $FLOCK -w 0.3 4; echo rc=$?; flock -n $F true; echo free=$?";
        let held = Held::take(Exclusive, &file, dir.path());
        let started = Instant::now();
        let (code, stdout) = run(flock, script, dir.path());
        let took = started.elapsed();
        drop(held);
        assert_eq!(code, Some(0));
        assert_eq!(stdout, "rc=1\nfree=1", "{flock}");
        assert!(took >= Duration::from_millis(300), "{flock}: {took:?}");
        assert!(took < Duration::from_secs(10), "{flock}: {took:?}");
        // Released now: the shell's descriptor did not get it behind our back.
        assert_eq!(run(flock, "$FLOCK -n $F true", dir.path()).0, Some(0));
    }
}

#[test]
fn a_fifo_is_refused_where_flock_would_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (_links, symlink) = flock_symlink();
    for flock in implementations(&symlink).iter().skip(1) {
        let started = Instant::now();
        let out = Command::new("sh")
            .args(["-c", "$FLOCK $F true"])
            .env("FLOCK", flock)
            .env("F", &fifo)
            .output()
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(66), "{flock}");
        assert!(
            text(&out.stderr).contains("it is a FIFO"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn verbose_conflicts_name_a_zc_lockfile_style_holder_on_stderr() {
    if !have("flock", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lock");
    std::fs::write(&file, " 4242;web-1\n").unwrap();
    let held = Held::take(Exclusive, &file, dir.path());
    let out = Command::new(LOCKFILE)
        .args(["flock", "--verbose", "-n"])
        .arg(&file)
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    let said = text(&out.stderr);
    if cfg!(target_os = "linux") {
        // The kernel names the real holder; the file, an earlier one.
        assert!(
            said.starts_with("lockfile flock: failed to get lock: held by pid "),
            "{said}"
        );
        assert!(
            said.ends_with("; the file names pid 4242 on web-1, an earlier holder\n"),
            "{said}"
        );
    } else {
        assert_eq!(
            said,
            "lockfile flock: failed to get lock: held by pid 4242 on web-1\n"
        );
    }
    drop(held);
    // flock never writes into the file: the bytes are the user's.
    let out = Command::new(LOCKFILE)
        .arg("flock")
        .arg(&file)
        .arg("true")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), " 4242;web-1\n");
}

#[test]
fn a_lock_granted_at_the_deadline_is_either_reported_or_let_go() {
    if !have("flock", "--version") {
        return;
    }
    // The holder lets go at about the deadline. Whatever the timing, a
    // reported timeout (rc 1) must leave the shell's descriptor without the
    // lock (free 0), and a success (rc 0) with it (free 1).
    let script = "exec 4<>$F; flock -x $F sleep 0.2 & sleep 0.05; \
                  $FLOCK -w 0.15 4; rc=$?; wait; flock -n $F true; echo $rc$?";
    for round in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        let (code, stdout) = run(&format!("{LOCKFILE} flock"), script, dir.path());
        assert_eq!(code, Some(0));
        assert!(stdout == "10" || stdout == "01", "round {round}: {stdout}");
    }
}
