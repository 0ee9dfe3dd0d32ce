//! What the lock file says (semantics 4 and 5), and that errors report it.
//!
//! The exact bytes are read once the lock is released (they stay): on
//! Windows, byte 0 of a held lock file is locked, and unreadable to anyone
//! but its holder's handle.

use std::fs;

use scoped_lockfile::{LockError, LockFile, LockOptions};

fn pid() -> u32 {
    std::process::id()
}

/// Held while a test of this binary spawns a process, and by the tests that
/// look at a lock right after releasing it or at the kernel's list of its
/// holders: a process being spawned holds a copy of every descriptor until
/// its `exec` (documented on `LockFile`), which would show as a holder.
static SPAWNING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn no_spawns() -> std::sync::MutexGuard<'static, ()> {
    SPAWNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The host name as `uname -n` (Windows: `hostname`) reports it, independent
/// of the crate's lookup.
fn hostname() -> String {
    let command = if cfg!(windows) { "hostname" } else { "uname" };
    let mut command = std::process::Command::new(command);
    if cfg!(unix) {
        command.arg("-n");
    }
    let out = {
        let _spawning = no_spawns();
        command.output().unwrap()
    };
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn default_content_is_space_pid_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let _no_spawns = no_spawns();
    let lock = LockFile::new(&path).unwrap();
    let probed = scoped_lockfile::probe(&path).unwrap();
    assert!(matches!(probed, scoped_lockfile::Probe::Held { .. }));
    assert_eq!(probed.holder().unwrap().content, Some(pid().to_string()));
    lock.close().unwrap();
    // Left behind, content and all, and free again at once (semantic 6).
    assert_eq!(fs::read(&path).unwrap(), format!(" {}\n", pid()).as_bytes());
    LockFile::new(&path).unwrap().close().unwrap();
}

#[test]
fn hostname_template_matches_zc_lockfile_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    LockFile::with_content_template(&path, "{pid};{hostname}")
        .unwrap()
        .close()
        .unwrap();
    let expected = format!(" {};{}\n", pid(), hostname());
    let content = fs::read_to_string(&path).unwrap();
    if cfg!(windows) {
        // Windows host names are case-insensitive, and Wine's `hostname`
        // prints the `NetBIOS` name, upper-cased.
        assert_eq!(content.to_lowercase(), expected.to_lowercase());
    } else {
        assert_eq!(content, expected);
    }
}

#[test]
fn literal_text_escapes_and_utf8_are_written_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    LockFile::with_content_template(&path, "job «{{x}}» pid={pid}")
        .unwrap()
        .close()
        .unwrap();
    let expected = format!(" job «{{x}}» pid={}\n", pid());
    assert_eq!(fs::read_to_string(&path).unwrap(), expected);
}

#[test]
fn longer_previous_content_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    fs::write(&path, "x".repeat(10_000)).unwrap();
    LockFile::new(&path).unwrap().close().unwrap();
    assert_eq!(fs::read(&path).unwrap(), format!(" {}\n", pid()).as_bytes());
}

#[test]
fn failed_attempt_leaves_holder_content_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("build.lock");
    let _no_spawns = no_spawns();
    let held = LockFile::with_content_template(&path, "4242;web-1").unwrap();

    let err = LockFile::with_content_template(&path, "{pid};a-much-longer-hostname").unwrap_err();
    match &err {
        LockError::Contended { path: p, holder } => {
            assert_eq!(p, &path);
            assert_eq!(holder.content.as_deref(), Some("4242;web-1"));
        }
        other => panic!("expected Contended, got {other:?}"),
    }
    let shown = path.display();
    if cfg!(target_os = "linux") {
        // The kernel knows better than the content: this process holds it.
        let me = format!("pid {} (", std::process::id());
        let said = err.to_string();
        let rest = said
            .strip_prefix(&format!("Couldn't lock '{shown}': held by {me}"))
            .unwrap_or_else(|| panic!("{said}"));
        assert!(
            rest.ends_with("); the file names 4242;web-1, an earlier holder"),
            "{said}"
        );
    } else {
        assert_eq!(
            err.to_string(),
            format!("Couldn't lock '{shown}': held by 4242;web-1")
        );
    }
    held.close().unwrap();
    assert_eq!(fs::read(&path).unwrap(), b" 4242;web-1\n");
}

#[test]
fn contended_without_content_says_only_the_path_or_the_kernels_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let _held = LockFile::with_content_template(&path, "").unwrap();
    let err = LockFile::new(&path).unwrap_err();
    let said = err.to_string();
    let bare = format!("Couldn't lock '{}'", path.display());
    if cfg!(target_os = "linux") {
        // The kernel names the holder the file does not: this process.
        let me = format!("{bare}: held by pid {} (", std::process::id());
        assert!(said.starts_with(&me), "{said}");
    } else {
        assert_eq!(said, bare);
    }
}

#[test]
fn bad_templates_are_rejected_before_the_file_exists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never.lock");
    for (template, piece) in [
        ("{foo}", "{foo}"),
        ("a{}b", "{}"),
        ("{pid", "{pid"),
        ("{pid:>8}", "{pid:>8}"),
        ("{hostname!r}", "{hostname!r}"),
        ("}", "}"),
    ] {
        let err = LockFile::with_content_template(&path, template).unwrap_err();
        match &err {
            LockError::InvalidTemplate {
                path: p,
                template: t,
                placeholder,
            } => {
                assert_eq!(
                    (p, t.as_str(), placeholder.as_str()),
                    (&path, template, piece)
                );
            }
            other => panic!("{template}: expected InvalidTemplate, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains(piece) && message.contains("never.lock"),
            "{message}"
        );
        assert!(!path.exists(), "{template} created the file");
    }
    // The waiting entry points check first as well.
    let opts = LockOptions::new().content_template("{user}");
    assert!(matches!(
        opts.locked_context(dir.path().join("ctx")),
        Err(LockError::InvalidTemplate { .. })
    ));
    assert!(matches!(
        opts.locked_file(dir.path().join("data"), "w"),
        Err(LockError::InvalidTemplate { .. })
    ));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn bad_template_on_a_held_lock_does_not_disturb_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let held = LockFile::new(&path).unwrap();
    let err = LockFile::with_content_template(&path, "{oops}").unwrap_err();
    assert!(matches!(err, LockError::InvalidTemplate { .. }), "{err:?}");
    held.close().unwrap();
    assert_eq!(fs::read(&path).unwrap(), format!(" {}\n", pid()).as_bytes());
}

#[test]
fn error_converts_into_io_error_with_a_fitting_kind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let _held = LockFile::new(&path).unwrap();
    let io: std::io::Error = LockFile::new(&path).unwrap_err().into();
    assert_eq!(io.kind(), std::io::ErrorKind::WouldBlock);
    assert!(io.to_string().starts_with("Couldn't lock"));
}

#[test]
fn an_io_error_is_printed_once_in_an_error_chain() {
    use std::error::Error;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("x.lock");
    let err = LockFile::new(&path).unwrap_err();
    let LockError::Io { source, .. } = &err else {
        panic!("expected Io, got {err:?}");
    };
    let os_message = source.to_string();
    assert_eq!(
        err.to_string(),
        format!("'{}': {os_message}", path.display())
    );
    // What anyhow's `{:#}` and `Report` print: every message down the chain.
    let mut chain = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        chain = format!("{chain}: {cause}");
        next = cause.source();
    }
    assert_eq!(chain.matches(&os_message).count(), 1, "{chain}");
}

#[test]
fn the_holder_tells_a_gone_process_from_a_running_one_on_this_host() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    // A process that has exited and been reaped: its pid is free.
    let spawning = no_spawns();
    let mut child = if cfg!(windows) {
        std::process::Command::new("cmd")
            .args(["/C", "exit"])
            .spawn()
    } else {
        std::process::Command::new("true").spawn()
    }
    .unwrap();
    let gone = child.id();
    drop(spawning);
    child.wait().unwrap();
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let _held = LockFile::with_content_template(&path, &format!("{gone};{host}")).unwrap();
    let Err(LockError::Contended { holder, .. }) = LockFile::new(&path) else {
        panic!("held");
    };
    assert_eq!(holder.pid(), Some(gone));
    assert_eq!(holder.is_this_host(), Some(true));
    assert_eq!(holder.is_alive(), Some(false));
    // Elsewhere, or without a host: nobody can tell.
    let elsewhere = scoped_lockfile::Holder::new(Some(format!("{gone};elsewhere.invalid")));
    assert_eq!(
        (elsewhere.is_this_host(), elsewhere.is_alive()),
        (Some(false), None)
    );
    let bare = scoped_lockfile::Holder::new(Some(gone.to_string()));
    assert_eq!((bare.is_this_host(), bare.is_alive()), (None, None));
}
