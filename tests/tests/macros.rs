//! `#[locked]` and `with_lock!` doing their job at run time, across processes.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use scoped_lockfile::{LockError, LockFile, LockedContext, locked, with_lock};
use support::{Holder, holder_command};

#[test]
fn two_processes_in_a_locked_fn_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let rounds = 50;
    let workers: Vec<_> = (0..2)
        .map(|_| {
            holder_command(&["marks", dir.path().to_str().unwrap(), &rounds.to_string()])
                .stdin(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut worker in workers {
        assert!(worker.wait().unwrap().success());
    }
    let marks = std::fs::read_to_string(dir.path().join("marks")).unwrap();
    let lines: Vec<&str> = marks.lines().collect();
    assert_eq!(lines.len(), 2 * 2 * rounds);
    for pair in lines.chunks(2) {
        let (enter, leave) = (pair[0], pair[1]);
        assert!(enter.starts_with("enter "), "{marks}");
        assert_eq!(
            leave,
            enter.replace("enter", "leave"),
            "interleaved:\n{marks}"
        );
    }
}

#[locked(name, timeout = "200ms")]
fn with_timeout(name: &Path) -> Result<&'static str, LockError> {
    Ok("ran")
}

#[test]
fn a_timeout_fn_returns_the_timeout_error_while_another_process_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("job");
    let holder = Holder::locked(&["context", name.to_str().unwrap()]);
    match with_timeout(&name) {
        Err(LockError::Timeout {
            waited,
            holder: who,
            ..
        }) => {
            assert!(waited >= Duration::from_millis(200), "{waited:?}");
            assert_eq!(who.content, Some(holder.pid().to_string()));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    holder.release();
    assert_eq!(with_timeout(&name).unwrap(), "ran");
}

fn lock_is_free(name: &Path) -> bool {
    let mut path = name.as_os_str().to_owned();
    path.push(".lock");
    LockFile::new(path).is_ok()
}

#[locked(name)]
fn exits(name: &Path, how: &str) -> Result<u32, Box<dyn std::error::Error>> {
    assert!(!lock_is_free(name), "body ran without the lock");
    match how {
        "return" => return Ok(1),
        "question-mark" => {
            let n: u32 = "not a number".parse()?;
            return Ok(n);
        }
        "panic" => panic!("inside the locked fn"),
        _ => {}
    }
    Ok(0)
}

#[test]
fn the_guard_is_released_on_every_exit_path() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("exits");
    assert_eq!(exits(&name, "end").unwrap(), 0);
    assert!(lock_is_free(&name));
    assert_eq!(exits(&name, "return").unwrap(), 1);
    assert!(lock_is_free(&name));
    assert!(exits(&name, "question-mark").is_err());
    assert!(lock_is_free(&name));
    let panicked = std::panic::catch_unwind(|| exits(&name, "panic"));
    assert!(panicked.is_err());
    assert!(lock_is_free(&name));
}

#[locked(name, timeout = "0s")]
fn no_result(name: &Path) -> u32 {
    7
}

#[test]
fn a_fn_without_result_panics_with_the_lock_error_message() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("plain");
    assert_eq!(no_result(&name), 7);
    let _held = LockedContext::new(&name).unwrap();
    std::panic::set_hook(Box::new(|_| {})); // the panic is expected
    let panic = std::panic::catch_unwind(|| no_result(&name)).unwrap_err();
    drop(std::panic::take_hook());
    let message = panic.downcast_ref::<String>().unwrap();
    let expected = format!(
        "Couldn't lock '{}.lock': held by {}",
        name.display(),
        std::process::id()
    );
    assert_eq!(message, &expected);
}

#[test]
fn with_lock_in_a_loop_with_break_continue_and_question_mark() {
    fn scan(dir: &Path, items: &[&str]) -> Result<Vec<u32>, Box<dyn std::error::Error>> {
        let mut kept = Vec::new();
        for item in items {
            with_lock!(dir.join("scan"), timeout = "5s", {
                assert!(!lock_is_free(&dir.join("scan")));
                if *item == "stop" {
                    break;
                }
                if item.is_empty() {
                    continue;
                }
                kept.push(item.parse::<u32>()?);
            })?;
        }
        Ok(kept)
    }
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        scan(dir.path(), &["1", "", "2", "stop", "3"]).unwrap(),
        [1, 2]
    );
    assert!(lock_is_free(&dir.path().join("scan")));
    assert!(scan(dir.path(), &["1", "x"]).is_err());
    assert!(lock_is_free(&dir.path().join("scan")));
}

#[test]
fn with_lock_is_err_and_skips_the_body_when_the_lock_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("held");
    let holder = Holder::locked(&["context", name.to_str().unwrap()]);
    let mut ran = false;
    let result = with_lock!(&name, timeout = "0s", {
        ran = true;
    });
    assert!(
        matches!(result, Err(LockError::Contended { .. })),
        "{result:?}"
    );
    assert!(!ran);
    holder.release();
}
