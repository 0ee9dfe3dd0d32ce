//! Bad input at every entry point: checked against Python itself where Python
//! defines the behaviour (`open()` modes, `str.format` templates), and resource
//! exhaustion that must end in an error, not a panic.
//!
//! The Python oracles and the shell's `ulimit` run on Unix only (the parsing
//! they check is the same code on every platform).

mod support;

#[cfg(unix)]
use std::io::Write;
#[cfg(unix)]
use std::process::{Command, Stdio};

#[cfg(unix)]
use scoped_lockfile::LockedFile;
use scoped_lockfile::{LockError, LockFile};
#[cfg(unix)]
use support::{XorShift, holder_command, skip, trials};

/// Runs a Python program over `inputs`, one per line, returning one line each.
#[cfg(unix)]
fn python_oracle(program: &str, inputs: &[String]) -> Option<Vec<String>> {
    let child = Command::new("python3")
        .args(["-c", program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        skip("python3 is not installed");
        return None;
    };
    // Written from another thread: with many inputs both pipes fill up, and
    // writing them all before reading would deadlock with Python.
    let mut stdin = child.stdin.take().unwrap();
    let input = inputs.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{out:?}");
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

/// Every string of up to three characters from Python's mode letters.
#[cfg(unix)]
fn all_modes() -> Vec<String> {
    let letters = ["r", "w", "a", "x", "b", "t", "+"];
    let mut modes = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..3 {
        last = last
            .iter()
            .flat_map(|m| letters.iter().map(move |l| format!("{m}{l}")))
            .collect();
        modes.extend(last.iter().cloned());
    }
    modes
}

#[test]
#[cfg(unix)]
fn modes_are_valid_exactly_when_python_open_accepts_them() {
    const PYTHON: &str = r#"
import sys
for line in sys.stdin:
    mode = line.rstrip("\n")
    try:
        open("/nonexistent-dir/x", mode)
    except ValueError:
        print("invalid")
    except OSError:
        print("valid")
"#;
    let modes = all_modes();
    let Some(verdicts) = python_oracle(PYTHON, &modes) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A valid mode gets as far as locking, which fails on the missing directory.
    let data = dir.path().join("missing-dir").join("data");
    let mut valid = 0;
    for (mode, verdict) in modes.iter().zip(&verdicts) {
        let ours = LockedFile::open(&data, mode).unwrap_err();
        let ours_valid = !matches!(ours, LockError::InvalidMode { .. });
        assert_eq!(
            ours_valid,
            verdict == "valid",
            "mode {mode:?}: python says {verdict}, we say {ours}"
        );
        valid += usize::from(ours_valid);
    }
    assert_eq!(verdicts.len(), modes.len());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a mode touched the directory"
    );
    for mode in ["rU", "U", "r ", " r", "rb\0"] {
        assert!(
            matches!(
                LockedFile::open(&data, mode),
                Err(LockError::InvalidMode { .. })
            ),
            "{mode:?}"
        );
    }
    println!(
        "COUNT bad-input/modes: {} mode strings, {valid} valid, all as Python decides",
        modes.len()
    );
}

/// Pieces that make valid and invalid templates; no `:`, `!`, `.` or `[`, so
/// Python's `str.format` accepts exactly what our grammar accepts.
#[cfg(unix)]
const PIECES: [&str; 16] = [
    "{",
    "}",
    "{{",
    "}}",
    "{pid}",
    "{hostname}",
    "pid",
    "{pi",
    "d}",
    "x",
    "é",
    " ",
    ";",
    "{}",
    "{ pid }",
    "{pid{hostname}}",
];

#[test]
#[cfg(unix)]
fn templates_render_exactly_as_python_str_format_or_are_rejected_untouched() {
    const PYTHON: &str = r#"
import os, socket, sys
pid, host = int(sys.argv[1]), socket.gethostname()
for line in sys.stdin:
    template = line.rstrip("\n")
    try:
        print("OK " + template.format(pid=pid, hostname=host))
    except (ValueError, KeyError, IndexError):
        print("ERR")
"#;
    let mut rng = XorShift::new(42);
    let templates: Vec<String> = (0..trials(2000, 20000))
        .map(|_| {
            let pieces = rng.below(7);
            (0..pieces)
                .map(|_| PIECES[rng.below(PIECES.len())])
                .collect()
        })
        .collect();
    let pid = std::process::id().to_string();
    let program = PYTHON.replace("int(sys.argv[1])", &pid);
    let Some(verdicts) = python_oracle(&program, &templates) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut rendered, mut rejected) = (0, 0);
    for (i, (template, verdict)) in templates.iter().zip(&verdicts).enumerate() {
        let path = dir.path().join(format!("{i}.lock"));
        match (
            LockFile::with_content_template(&path, template),
            verdict.strip_prefix("OK "),
        ) {
            (Ok(lock), Some(python)) => {
                assert_eq!(
                    std::fs::read_to_string(&path).unwrap(),
                    format!(" {python}\n"),
                    "{template:?}"
                );
                lock.close().unwrap();
                rendered += 1;
            }
            (Err(LockError::InvalidTemplate { placeholder, .. }), None) => {
                assert!(
                    !placeholder.is_empty() && template.contains(&placeholder),
                    "{template:?}"
                );
                assert!(!path.exists(), "{template:?} created the file");
                rejected += 1;
            }
            (ours, python) => panic!("{template:?}: python {python:?}, ours {ours:?}"),
        }
    }
    println!(
        "COUNT bad-input/templates: {} random templates, {rendered} rendered as Python does, {rejected} rejected as Python does, 0 files touched",
        templates.len()
    );
}

#[cfg(unix)]
fn shell_with_limits(limits: &str, args: &[&str]) -> std::process::Output {
    let holder = holder_command(&[]).get_program().to_owned();
    Command::new("sh")
        .arg("-c")
        .arg(format!("{limits}; exec \"$0\" \"$@\""))
        .arg(holder)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
#[cfg(unix)]
fn running_out_of_descriptors_is_an_error_that_frees_nothing_it_did_not_take() {
    let dir = tempfile::tempdir().unwrap();
    let out = shell_with_limits(
        "ulimit -n 64",
        &["many", dir.path().to_str().unwrap(), "5000"],
    );
    assert!(out.status.success(), "{out:?}");
    let report = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    let took: usize = lines[0].strip_prefix("took ").unwrap().parse().unwrap();
    assert!(took > 10 && took < 64, "{report}");
    let error = lines[1];
    assert!(
        error.starts_with(&format!(
            "error {}/{took}.lock Some(24) ",
            dir.path().display()
        )),
        "{report}"
    );
    assert_eq!(
        lines[2],
        format!("still held {0} of {0}", took - 1),
        "{report}"
    );
    let fds: Vec<&str> = lines[3].split(' ').collect();
    assert_eq!(fds[1], fds[2], "descriptors leaked: {report}");
    println!(
        "COUNT bad-input/emfile: {took} locks taken under `ulimit -n 64`, then EMFILE as an error naming {took}.lock; the {} checked still held; descriptors {} before = {} after",
        took - 1,
        fds[1],
        fds[2]
    );
}

#[test]
#[cfg(unix)]
fn a_full_disk_while_writing_the_content_is_an_error_and_the_lock_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.lock");
    // No file may grow past 0 bytes; SIGXFSZ ignored, so the write fails with EFBIG.
    let out = shell_with_limits(
        "trap '' XFSZ; ulimit -f 0",
        &["lock", path.to_str().unwrap(), "--report-fds"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = String::from_utf8(out.stdout).unwrap();
    let mut lines = report.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("error: '{}': File too large (os error 27)", path.display())
    );
    let fds: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert_eq!(fds[1], fds[2], "descriptors leaked: {report}");
    // Released: the next try succeeds at once.
    drop(LockFile::new(&path).unwrap());
    println!(
        "COUNT faults/efbig: content write failed with EFBIG, clear error naming the path, lock released, descriptors {} = {}",
        fds[1], fds[2]
    );
}

#[test]
fn durations_at_the_extremes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    // Zero: one try, refused at once.
    let held = LockFile::new(&path).unwrap();
    let err = scoped_lockfile::LockOptions::new()
        .timeout(std::time::Duration::ZERO)
        .lock(&path)
        .unwrap_err();
    assert!(matches!(err, LockError::Contended { .. }), "{err:?}");
    drop(held);
    // Too large for the clock: forever, so the wait ends only when the holder,
    // on another thread here, lets go.
    for timeout in [
        std::time::Duration::MAX,
        std::time::Duration::from_secs(u64::MAX),
        std::time::Duration::new(u64::MAX, 999_999_999),
    ] {
        // Not one try: a process another test spawns at this moment holds a
        // copy of our descriptors until its exec (see `LockFile`'s docs).
        let held = scoped_lockfile::LockOptions::new()
            .timeout(support::PATIENCE)
            .lock(&path)
            .unwrap();
        let (released, was_released) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            released.send(()).unwrap();
            drop(held);
        });
        let lock = scoped_lockfile::LockOptions::new()
            .timeout(timeout)
            .lock(&path)
            .unwrap_or_else(|err| panic!("{timeout:?}: {err:?}"));
        assert!(
            was_released.try_recv().is_ok(),
            "{timeout:?}: took a held lock"
        );
        lock.close().unwrap();
        holder.join().unwrap();
    }
}
