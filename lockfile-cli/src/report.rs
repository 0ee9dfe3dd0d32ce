//! The report stage's plumbing: one line on stderr for each thing worth
//! saying, stdout for answers, and the exit statuses that go with them.
//!
//! Nothing here panics on a write error (`println!` and `eprintln!` do): a
//! message that cannot be written to stderr is dropped, since there is
//! nowhere left to say so, and a command still runs; an answer that cannot be
//! written to stdout is an error the caller reports.

use std::fmt::Display;
use std::io::{self, Write};

use crate::escape::for_terminal;

/// Exit status for bad usage (as clap uses it) and for errors before the
/// command ran.
pub(crate) const ERROR_EXIT: u8 = 2;

/// Says `message` on stderr and gives back the exit status to use.
pub(crate) fn fail(message: &dyn Display, code: u8) -> u8 {
    say(message);
    code
}

/// One line on stderr, `lockfile: ` first; what came from files and paths
/// cannot drive the terminal. A write error is ignored (see the module).
pub(crate) fn say(message: &dyn Display) {
    let line = format!("lockfile: {}\n", for_terminal(&message.to_string()));
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

/// Writes `line` and a newline to stdout, and flushes it.
///
/// # Errors
///
/// The write's or the flush's error (a full disk, a closed pipe).
pub(crate) fn answer(line: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(line.as_bytes())?;
    stdout.write_all(b"\n")?;
    stdout.flush()
}

/// The C library's text for an error, as C tools print it: no "(os error N)".
pub(crate) fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}
