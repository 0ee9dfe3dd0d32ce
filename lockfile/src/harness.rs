//! What `#[locked]` and `with_lock!` do for test suites (semantic 21): one
//! directory for relative names, set by the workspace, and the test's name in
//! the lock file.

use std::borrow::Cow;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::{LockError, LockOptions};

/// The environment variable naming the directory where `#[locked]` and
/// `with_lock!` put the lock files of relative names: `SCOPED_LOCKFILE_DIR`.
///
/// Set it once for a whole Cargo workspace, in `.cargo/config.toml` at its
/// root, and every test of every package and binary, under `cargo test` and
/// `cargo nextest run` alike, shares one lock per name, in the workspace's
/// `target/` (not in the source tree, and not machine-wide: another checkout
/// has its own):
///
/// ```toml
/// [env]
/// SCOPED_LOCKFILE_DIR = { value = "target/locks", relative = true }
/// ```
///
/// (`relative = true` makes the value absolute, relative to the directory
/// holding `.cargo/`; a value set in the shell wins over it.) The directory
/// is created when first used. Without the variable, or when it is empty, a
/// relative name is relative to the current directory, as everywhere else
/// (under `cargo test`, each package's own directory). Absolute names, and
/// names given to `on = BACKEND`, are never changed; nor is anything
/// [`LockOptions`] does: use [`in_lock_dir`] for the same there.
///
/// ```
/// assert_eq!(scoped_lockfile::LOCK_DIR_ENV, "SCOPED_LOCKFILE_DIR");
/// ```
pub const LOCK_DIR_ENV: &str = "SCOPED_LOCKFILE_DIR";

/// Where `#[locked]` puts the lock of `name`: under the directory
/// [`LOCK_DIR_ENV`] names if `name` is relative and the variable is set (the
/// directory is created if missing), else `name` as it is.
///
/// ```
/// use std::path::Path;
/// let absolute = std::env::temp_dir().join("job");
/// assert_eq!(scoped_lockfile::in_lock_dir(&absolute), absolute);
/// # if std::env::var_os(scoped_lockfile::LOCK_DIR_ENV).is_none() {
/// assert_eq!(scoped_lockfile::in_lock_dir("job"), Path::new("job")); // variable unset
/// # }
/// ```
pub fn in_lock_dir(name: impl AsRef<Path>) -> PathBuf {
    resolve(name.as_ref()).into_owned()
}

/// [`in_lock_dir`] without a copy when nothing changes.
pub(crate) fn resolve(name: &Path) -> Cow<'_, Path> {
    if name.is_absolute() {
        return Cow::Borrowed(name);
    }
    let Some(dir) = std::env::var_os(LOCK_DIR_ENV).filter(|dir| !dir.is_empty()) else {
        return Cow::Borrowed(name);
    };
    let path = PathBuf::from(dir).join(name);
    if let Some(parent) = path.parent() {
        // Best effort: if it cannot be made, taking the lock fails naming it.
        let _ = std::fs::create_dir_all(parent);
    }
    Cow::Owned(path)
}

/// The running test's name, where the harness makes it known: a process
/// started to run one test (`--exact NAME`, as nextest starts each test, and
/// as a test re-runs its own binary for one test) is running that one, on
/// whatever thread; else libtest (`cargo test`) names the thread that runs a
/// test after it (a thread named `main`, or not named, is no test's); else
/// nextest's `NEXTEST_TEST_NAME`, which a test's own subprocesses inherit, so
/// it comes last.
pub(crate) fn test_name() -> Option<String> {
    static EXACT: OnceLock<Option<String>> = OnceLock::new();
    if let Some(name) = EXACT.get_or_init(|| exact_test(std::env::args_os().skip(1))) {
        return Some(name.clone());
    }
    if let Some(name) = std::thread::current().name().filter(|name| *name != "main") {
        return Some(name.to_owned());
    }
    std::env::var_os("NEXTEST_TEST_NAME")
        .filter(|name| !name.is_empty())
        .map(lossy)
}

/// The one test a libtest command line runs, if it says `--exact` and
/// gives a single filter.
fn exact_test(args: impl IntoIterator<Item = OsString>) -> Option<String> {
    let mut exact = false;
    let mut filters = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg.into_string().ok()?;
        match arg.as_str() {
            "--exact" => exact = true,
            // libtest's options whose value is the next argument.
            "--test-threads" | "--logfile" | "--format" | "--color" | "--skip" | "-Z"
            | "--shuffle-seed" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            _ => filters.push(arg),
        }
    }
    if exact && filters.len() == 1 {
        filters.pop()
    } else {
        None
    }
}

fn lossy(name: OsString) -> String {
    name.into_string()
        .unwrap_or_else(|name| name.to_string_lossy().into_owned())
}

/// The options of a `#[locked]` fn or `with_lock!` in a crate built as a test
/// harness (`cfg(test)`): the lock file gets a second line naming the test,
/// `test NAME (pid PID)`, after the line zc.lockfile's format has (which is
/// unchanged; nothing is added outside tests or when no name is known).
pub(crate) fn naming_the_test(options: LockOptions, in_test: bool) -> LockOptions {
    if !in_test {
        return options;
    }
    match test_name() {
        Some(name) => options.with_test_line(&name),
        None => options,
    }
}

/// In a test, the first try of a lock that another holds: a note on
/// standard error naming the lock and its holder (the test, when one wrote
/// its name), before the wait. The harness keeps a test's output and shows
/// it if the test fails or is killed (nextest's timeout), so a test stuck
/// behind another says which.
pub(crate) fn note_wait(err: &LockError) {
    if let LockError::Contended { path, holder } = err {
        let test = test_name().map_or_else(String::new, |test| format!("test {test}: "));
        eprintln!(
            "{test}waiting for the lock '{}', held by {holder}",
            path.display()
        );
    }
}

/// `name` as a template's literal text: braces escaped, control characters
/// (a newline would end the line) as spaces.
pub(crate) fn test_line_template(name: &str) -> String {
    let mut line = String::from("test ");
    for c in name.chars() {
        match c {
            '{' => line.push_str("{{"),
            '}' => line.push_str("}}"),
            c if c.is_control() => line.push(' '),
            c => line.push(c),
        }
    }
    line.push_str(" (pid {pid})");
    line
}

/// The test named by a lock file's second line, if it is `test NAME (pid
/// PID)` written by the process the first line names (`first_pid`, when it
/// names one): a shorter new content written over an older, longer one shows
/// the old tail until it is cut, and that tail's test is not the holder's.
pub(crate) fn parse_test_line(line: &str, first_pid: Option<u32>) -> Option<String> {
    let rest = line.trim().strip_prefix("test ")?.strip_suffix(')')?;
    let (name, pid) = rest.rsplit_once(" (pid ")?;
    let pid: u32 = pid.parse().ok()?;
    if first_pid.is_some_and(|first| first != pid) || name.is_empty() {
        return None;
    }
    Some(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_line_round_trips_and_checks_its_pid() {
        let template = test_line_template("a::{weird}\nname");
        assert_eq!(template, "test a::{{weird}} name (pid {pid})");
        assert_eq!(
            parse_test_line("test a::b (pid 42)", Some(42)).as_deref(),
            Some("a::b")
        );
        assert_eq!(
            parse_test_line("test a::b (pid 42)", None).as_deref(),
            Some("a::b")
        );
        assert_eq!(parse_test_line("test a::b (pid 42)", Some(7)), None);
        for odd in [
            "",
            "test ",
            "test  (pid 1)",
            "a::b (pid 1)",
            "test a (pid x)",
        ] {
            assert_eq!(parse_test_line(odd, None), None, "{odd:?}");
        }
    }

    #[test]
    fn a_command_line_for_one_exact_test_names_it() {
        let exact = |args: &[&str]| exact_test(args.iter().map(OsString::from));
        assert_eq!(
            exact(&["a::b", "--exact", "--nocapture"]).as_deref(),
            Some("a::b")
        );
        assert_eq!(
            exact(&[
                "--ignored",
                "--exact",
                "c",
                "--test-threads",
                "1",
                "--skip",
                "x"
            ])
            .as_deref(),
            Some("c")
        );
        assert_eq!(exact(&["a::b", "--nocapture"]), None); // a filter, not one test
        assert_eq!(exact(&["--exact", "a", "b"]), None);
        assert_eq!(exact(&["--exact"]), None);
    }

    #[test]
    fn libtest_names_this_thread_after_the_test() {
        // Under nextest the variable says the same.
        let name = test_name().expect("a test thread is named");
        assert!(
            name.ends_with("libtest_names_this_thread_after_the_test"),
            "{name}"
        );
    }
}
