//! `serial_test`'s own test cases for `file_serial` and `file_parallel`
//! (its `serial_test_test` crate), re-expressed with `#[locked]`, so that
//! they run under `cargo test` (a thread per test, binaries one after
//! another) and under `cargo nextest run` (a process per test, binaries at
//! once): `.ci/nextest`.
//!
//! `serial_test`'s cases check exclusion through state shared by the threads of
//! one process (a static, a `Barrier`), which a process per test does not
//! share. These check it through files every process sees: [`fs_test_fn`]
//! as `serial_test`'s own, and a [`Journal`] of who was inside when.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Where the tests' shared files live: the workspace's `target/tmp`, seen
/// by every test process of every binary (cargo sets it for tests).
///
/// # Panics
///
/// If it cannot be created.
pub fn shared_dir(target_tmpdir: &str) -> PathBuf {
    let dir = Path::new(target_tmpdir).join("serializing-tests");
    fs::create_dir_all(&dir).expect("create the shared directory");
    dir
}

/// `serial_test`'s `fs_test_fn`: writes `count` into a file every test shares,
/// sleeps `count` tenths of a second, and reads it back. A test that wrote
/// in between (it ran at the same time) makes it fail.
///
/// # Panics
///
/// If the file no longer holds `count`.
pub fn fs_test_fn(dir: &Path, count: usize, suffix: &str) {
    let path = dir.join(format!("serial-test-test_{suffix}"));
    fs::write(&path, count.to_ne_bytes()).expect("write");
    std::thread::sleep(Duration::from_millis(100 * count as u64));
    let bytes = fs::read(&path).expect("read");
    let loaded = usize::from_ne_bytes(bytes.as_slice().try_into().expect("a usize"));
    assert_eq!(
        loaded,
        count,
        "another test wrote {} meanwhile",
        path.display()
    );
}

/// Who was inside the locked section when: `enter` and `leave` lines with a
/// kind (`exclusive` or `shared`) and an id unique to the test's thread and
/// process, appended to one file by every test (an append of one short line
/// is atomic).
pub struct Journal {
    path: PathBuf,
}

/// A stay inside, from [`Journal::enter`] to [`Visit::leave`].
pub struct Visit<'a> {
    journal: &'a Journal,
    kind: &'static str,
    id: String,
}

impl Journal {
    /// The journal `name` in `dir`.
    pub fn new(dir: &Path, name: &str) -> Self {
        Self {
            path: dir.join(format!("journal-{name}")),
        }
    }

    /// Notes that this test entered, holding the lock as `kind`.
    pub fn enter(&self, kind: &'static str) -> Visit<'_> {
        // Unique across runs too (the journal is kept, and pids come back).
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let id = format!(
            "{}:{:?}:{since_epoch}:{}",
            std::process::id(),
            std::thread::current().id(),
            std::thread::current().name().unwrap_or("?")
        );
        self.append(&format!("enter {kind} {id}"));
        Visit {
            journal: self,
            kind,
            id,
        }
    }

    fn append(&self, line: &str) {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .expect("open the journal");
        file.write_all(format!("{line}\n").as_bytes())
            .expect("append to the journal");
    }
}

impl Visit<'_> {
    /// Stays a while, then notes that this test left, and returns what
    /// others wrote while it was inside.
    ///
    /// # Panics
    ///
    /// If the journal cannot be read, or lacks this visit's `enter` line.
    pub fn leave(self, stay: Duration) -> Vec<String> {
        std::thread::sleep(stay);
        let enter = format!("enter {} {}", self.kind, self.id);
        self.journal
            .append(&format!("leave {} {}", self.kind, self.id));
        let text = fs::read_to_string(&self.journal.path).expect("read the journal");
        let lines: Vec<&str> = text.lines().collect();
        let entered = lines
            .iter()
            .rposition(|line| *line == enter)
            .expect("our own enter line");
        lines[entered + 1..]
            .iter()
            .take_while(|line| !line.ends_with(&self.id))
            .map(|line| (*line).to_owned())
            .collect()
    }
}

/// An exclusive holder's stay: nobody else may come or go meanwhile.
///
/// # Panics
///
/// If someone did.
pub fn exclusive_stay(journal: &Journal) {
    let others = journal.enter("exclusive").leave(Duration::from_millis(150));
    assert!(
        others.is_empty(),
        "inside with an exclusive lock, yet: {others:#?}"
    );
}

/// A shared holder's stay: other shared holders may come and go, an
/// exclusive one may not.
///
/// # Panics
///
/// If one did.
pub fn shared_stay(journal: &Journal) {
    let others = journal.enter("shared").leave(Duration::from_millis(150));
    let exclusive: Vec<_> = others
        .iter()
        .filter(|line| line.contains(" exclusive "))
        .collect();
    assert!(
        exclusive.is_empty(),
        "inside with a shared lock, yet: {exclusive:#?}"
    );
}

/// Runs one `#[ignore]`d test of this very test binary in a process of its
/// own (`--ignored --exact NAME`): how these tests make a second test
/// process whatever the runner.
///
/// # Panics
///
/// If the binary cannot be run.
pub fn run_ignored(test: &str) -> Output {
    ignored_command(test).output().expect("run the test binary")
}

/// The command of [`run_ignored`], to spawn it.
///
/// # Panics
///
/// If the test binary's path is unknown.
pub fn ignored_command(test: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command.args([
        "--ignored",
        "--exact",
        test,
        "--nocapture",
        "--test-threads=1",
    ]);
    command
}
