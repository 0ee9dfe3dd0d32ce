//! `with_lock!` is a `Result<T, LockError>`; its block is inline, so `?` and
//! `return` act on the enclosing fn and `break`/`continue` on the enclosing loop.
#![deny(warnings)]

use std::path::Path;

use scoped_lockfile::{LockError, with_lock};

fn value(dir: &Path) -> Result<u32, LockError> {
    with_lock!(dir.join("value"), { 40 + 2 })
}

fn question_mark(dir: &Path, text: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let doubled = with_lock!(
        dir.join("q"),
        timeout = "5s",
        content_template = "{pid};{hostname}",
        {
            let n: u32 = text.parse()?;
            n * 2
        }
    )?;
    Ok(doubled)
}

fn early_return(dir: &Path, early: bool) -> &'static str {
    let inside = with_lock!(dir.join("ret"), {
        if early {
            return "returned from inside";
        }
        "finished inside"
    });
    inside.unwrap()
}

fn loops(dir: &Path) -> Vec<u32> {
    let mut seen = Vec::new();
    for i in 0..10 {
        with_lock!(dir.join("loop"), timeout = "1s", {
            if i % 2 == 1 {
                continue;
            }
            if i > 6 {
                break;
            }
            seen.push(i);
        },)
        .unwrap();
    }
    seen
}

/// Bodies that always leave: no lint may fire on our wrapping of their value.
fn always_returns(dir: &Path) -> Result<u8, scoped_lockfile::LockError> {
    with_lock!(dir.join("always"), { return Ok(7) })?;
    Ok(0)
}

#[allow(clippy::never_loop)] // on purpose: the body's `break` is the point
fn always_breaks(dir: &Path) -> u32 {
    let mut rounds = 0;
    loop {
        rounds += 1;
        with_lock!(dir.join("always"), { break }).unwrap();
    }
    rounds
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(value(dir.path()).unwrap(), 42);
    assert_eq!(question_mark(dir.path(), "21").unwrap(), 42);
    assert!(question_mark(dir.path(), "x").is_err());
    assert_eq!(early_return(dir.path(), true), "returned from inside");
    assert_eq!(early_return(dir.path(), false), "finished inside");
    assert_eq!(loops(dir.path()), [0, 2, 4, 6]);
    assert_eq!(always_returns(dir.path()).unwrap(), 7);
    assert_eq!(always_breaks(dir.path()), 1);
    // Released after each use: one try succeeds.
    for name in ["value.lock", "q.lock", "ret.lock", "loop.lock"] {
        drop(scoped_lockfile::LockFile::new(dir.path().join(name)).unwrap());
    }
}
