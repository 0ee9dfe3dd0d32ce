//! A process that takes a lock on command, for the cross-process tests.
//!
//! ```text
//! holder lock|context|file PATH [--wait MS|forever] [--template T] [--mode M]
//! holder marks DIR ROUNDS
//! ```
//!
//! `marks` calls a `#[locked]` function ROUNDS times, which appends an `enter`
//! and, a moment later, a `leave` line with its pid to `DIR/marks`.
//!
//! Prints `locked` once it holds the lock, holds it until its standard input
//! reaches end of file, releases it and prints `released`. On failure it prints
//! `error: <message>` and exits with 3 (contended), 4 (timed out) or 1 (other).

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use lockfile::{LockError, LockFile, LockOptions, LockedContext, LockedFile};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, path, flags @ ..] = args.as_slice() else {
        eprintln!(
            "usage: holder lock|context|file PATH [--wait MS|forever] [--template T] [--mode M]\n       holder marks DIR ROUNDS"
        );
        return ExitCode::from(2);
    };
    if kind == "marks" {
        let rounds = flags[0].parse().expect("ROUNDS");
        for _ in 0..rounds {
            append_marks(Path::new(path));
        }
        return ExitCode::SUCCESS;
    }
    let mut options = LockOptions::new().timeout(Duration::ZERO);
    let mut mode = "r+".to_owned();
    for pair in flags.chunks(2) {
        match pair {
            [flag, value] if flag == "--wait" => {
                options = match value.as_str() {
                    "forever" => options.wait_forever(),
                    ms => options.timeout(Duration::from_millis(ms.parse().expect("--wait MS"))),
                };
            }
            [flag, value] if flag == "--template" => options = options.content_template(value),
            [flag, value] if flag == "--mode" => mode.clone_from(value),
            _ => panic!("bad flags: {flags:?}"),
        }
    }
    let held = match kind.as_str() {
        "lock" => options.lock(path).map(Held::Lock),
        "context" => options.locked_context(path).map(Held::Context),
        "file" => options.locked_file(path, &mode).map(Held::File),
        other => panic!("unknown kind {other}"),
    };
    let held = match held {
        Ok(held) => held,
        Err(err) => {
            println!("error: {err}");
            return ExitCode::from(match err {
                LockError::Contended { .. } => 3,
                LockError::Timeout { .. } => 4,
                _ => 1,
            });
        }
    };
    say("locked");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    held.close().expect("release");
    say("released");
    ExitCode::SUCCESS
}

#[lockfile::locked(dir.join("marks"))]
fn append_marks(dir: &Path) {
    let mut marks = OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("marks"))
        .expect("open marks");
    let pid = std::process::id();
    writeln!(marks, "enter {pid}").expect("write");
    std::thread::sleep(Duration::from_millis(2));
    writeln!(marks, "leave {pid}").expect("write");
}

enum Held {
    Lock(LockFile),
    Context(LockedContext),
    File(LockedFile),
}

impl Held {
    fn close(self) -> Result<(), LockError> {
        match self {
            Self::Lock(lock) => lock.close(),
            Self::Context(context) => context.close(),
            Self::File(file) => file.close(),
        }
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .expect("stdout");
}
