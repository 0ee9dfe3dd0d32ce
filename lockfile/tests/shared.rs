//! Shared (reader) locks in one process: readers together, a writer alone
//! (semantic 14), and the one-try forms that answer `None` (semantic 1).

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use scoped_lockfile::{LockError, LockOptions, LockedFile, Probe, probe};

fn readers() -> LockOptions {
    LockOptions::new().shared()
}

#[test]
fn readers_coexist_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.lock");
    let writer = LockOptions::new()
        .content_template("writer")
        .lock(&path)
        .unwrap();
    writer.close().unwrap();
    let first = readers().lock(&path).unwrap();
    let second = readers().timeout(Duration::ZERO).lock(&path).unwrap();
    // The file still says who last wrote it.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), " writer\n");
    match probe(&path).unwrap() {
        Probe::Held { holder } => {
            assert!(holder.shared);
            assert_eq!(holder.content.as_deref(), Some("writer"));
        }
        other => panic!("expected Held, got {other:?}"),
    }
    drop((first, second));
    assert!(matches!(probe(&path).unwrap(), Probe::Free { .. }));
}

#[test]
fn a_writer_is_refused_by_readers_and_told_they_are_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.lock");
    let _reader = readers().lock(&path).unwrap();
    match LockOptions::new().timeout(Duration::ZERO).lock(&path) {
        Err(err @ LockError::Contended { .. }) => {
            let LockError::Contended { holder, .. } = &err else {
                unreachable!()
            };
            assert!(holder.shared, "{err:?}");
            assert!(err.to_string().ends_with(": held shared"), "{err}");
        }
        other => panic!("expected Contended, got {other:?}"),
    }
    let err = LockOptions::new()
        .timeout(Duration::from_millis(50))
        .lock(&path)
        .unwrap_err();
    assert!(
        matches!(&err, LockError::Timeout { holder, .. } if holder.shared),
        "{err:?}"
    );
}

#[test]
fn a_reader_is_refused_by_a_writer_named_by_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.lock");
    let _writer = LockOptions::new()
        .content_template("42;db")
        .lock(&path)
        .unwrap();
    let err = readers().timeout(Duration::ZERO).lock(&path).unwrap_err();
    match &err {
        LockError::Contended { holder, .. } => {
            assert!(!holder.shared);
            assert_eq!(holder.pid(), Some(42));
            assert_eq!(holder.hostname(), Some("db"));
        }
        other => panic!("expected Contended, got {other:?}"),
    }
}

#[test]
fn a_waiting_writer_gets_the_lock_once_every_reader_has_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.lock");
    let first = readers().lock(&path).unwrap();
    let second = readers().lock(&path).unwrap();
    let (took, took_it) = mpsc::channel();
    let writer = {
        let path = path.clone();
        thread::spawn(move || {
            for opts in [
                LockOptions::new(),
                LockOptions::new().timeout(Duration::from_secs(30)),
            ] {
                let lock = opts.lock(&path).unwrap();
                took.send(()).unwrap();
                lock.close().unwrap();
            }
        })
    };
    drop(first);
    // One reader left: the writer (waiting forever) still waits.
    assert!(took_it.recv_timeout(Duration::from_millis(200)).is_err());
    drop(second);
    took_it.recv_timeout(Duration::from_secs(30)).unwrap();
    took_it.recv_timeout(Duration::from_secs(30)).unwrap();
    writer.join().unwrap();
}

#[test]
fn an_async_reader_waits_for_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.lock");
    let writer = LockOptions::new().lock(&path).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let reading = runtime.spawn(readers().timeout(Duration::from_secs(30)).lock_async(&path));
    runtime.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await });
    assert!(!reading.is_finished());
    writer.close().unwrap();
    let reader = runtime.block_on(reading).unwrap().unwrap();
    // A second reader joins at once.
    drop(readers().timeout(Duration::ZERO).lock(&path).unwrap());
    drop(reader);
}

#[test]
fn a_shared_locked_file_reads_and_refuses_writing_modes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    std::fs::write(&path, "v1").unwrap();
    let mut one = readers().locked_file(&path, "r").unwrap();
    let two = readers().locked_file(&path, "rb").unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut one, &mut text).unwrap();
    assert_eq!(text, "v1");
    drop((one, two));
    for mode in ["r+", "w", "a", "x", "wb"] {
        match readers().locked_file(&path, mode) {
            Err(err @ LockError::InvalidMode { .. }) => {
                assert!(err.to_string().contains("under a shared lock"), "{err}");
            }
            other => panic!("{mode}: expected InvalidMode, got {other:?}"),
        }
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"v1");
    // Refused before anything was locked.
    assert!(matches!(
        probe(dir.path().join("data.lock")).unwrap(),
        Probe::Free { .. }
    ));
}

#[test]
fn one_try_forms_answer_none_when_held_and_err_only_for_errors() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LockOptions::new().timeout(Duration::from_secs(60));
    let lock = opts.try_lock(dir.path().join("a.lock")).unwrap().unwrap();
    // Held: `None` at once, whatever the timeout says.
    assert!(opts.try_lock(dir.path().join("a.lock")).unwrap().is_none());
    let context = opts
        .try_locked_context(dir.path().join("b"))
        .unwrap()
        .unwrap();
    assert!(
        opts.try_locked_context(dir.path().join("b"))
            .unwrap()
            .is_none()
    );
    let file: LockedFile = opts
        .try_locked_file(dir.path().join("c"), "w")
        .unwrap()
        .unwrap();
    assert!(
        opts.try_locked_file(dir.path().join("c"), "w")
            .unwrap()
            .is_none()
    );
    // Readers: `Some` beside a reader, `None` beside a writer.
    let reader = readers().try_lock(dir.path().join("d.lock")).unwrap();
    assert!(
        readers()
            .try_lock(dir.path().join("d.lock"))
            .unwrap()
            .is_some()
    );
    assert!(
        readers()
            .try_lock(dir.path().join("a.lock"))
            .unwrap()
            .is_none()
    );
    // Real errors stay errors.
    let err = LockOptions::new()
        .content_template("{nope}")
        .try_lock(dir.path().join("e.lock"))
        .unwrap_err();
    assert!(matches!(err, LockError::InvalidTemplate { .. }), "{err:?}");
    let err = opts.try_locked_file(dir.path().join("f"), "q").unwrap_err();
    assert!(matches!(err, LockError::InvalidMode { .. }), "{err:?}");
    drop((lock, context, file, reader));
}
