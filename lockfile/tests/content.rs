//! What the lock file says (semantics 4 and 5), and that errors report it.

use std::fs;

use scoped_lockfile::{LockError, LockFile, LockOptions};

fn pid() -> u32 {
    std::process::id()
}

/// The host name as `uname -n` reports it, independent of the crate's lookup.
fn hostname() -> String {
    let out = std::process::Command::new("uname")
        .arg("-n")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn default_content_is_space_pid_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let lock = LockFile::new(&path).unwrap();
    assert_eq!(fs::read(&path).unwrap(), format!(" {}\n", pid()).as_bytes());
    lock.close().unwrap();
    // Left behind, content and all, and free again at once (semantic 6).
    assert_eq!(fs::read(&path).unwrap(), format!(" {}\n", pid()).as_bytes());
    LockFile::new(&path).unwrap().close().unwrap();
}

#[test]
fn hostname_template_matches_zc_lockfile_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let _lock = LockFile::with_content_template(&path, "{pid};{hostname}").unwrap();
    let expected = format!(" {};{}\n", pid(), hostname());
    assert_eq!(fs::read_to_string(&path).unwrap(), expected);
}

#[test]
fn literal_text_escapes_and_utf8_are_written_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let _lock = LockFile::with_content_template(&path, "job «{{x}}» pid={pid}").unwrap();
    let expected = format!(" job «{{x}}» pid={}\n", pid());
    assert_eq!(fs::read_to_string(&path).unwrap(), expected);
}

#[test]
fn longer_previous_content_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    fs::write(&path, "x".repeat(10_000)).unwrap();
    let _lock = LockFile::new(&path).unwrap();
    assert_eq!(fs::read(&path).unwrap(), format!(" {}\n", pid()).as_bytes());
}

#[test]
fn failed_attempt_leaves_holder_content_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("build.lock");
    let _held = LockFile::with_content_template(&path, "4242;web-1").unwrap();
    let before = fs::read(&path).unwrap();

    let err = LockFile::with_content_template(&path, "{pid};a-much-longer-hostname").unwrap_err();
    assert_eq!(fs::read(&path).unwrap(), before);
    match &err {
        LockError::Contended { path: p, holder } => {
            assert_eq!(p, &path);
            assert_eq!(holder.content.as_deref(), Some("4242;web-1"));
        }
        other => panic!("expected Contended, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("Couldn't lock '{}': held by 4242;web-1", path.display())
    );
}

#[test]
fn contended_without_content_says_only_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let _held = LockFile::with_content_template(&path, "").unwrap();
    let err = LockFile::new(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Couldn't lock '{}'", path.display())
    );
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
    let _held = LockFile::new(&path).unwrap();
    let err = LockFile::with_content_template(&path, "{oops}").unwrap_err();
    assert!(matches!(err, LockError::InvalidTemplate { .. }), "{err:?}");
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
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let gone = child.id();
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
