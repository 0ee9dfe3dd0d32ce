//! Load: many processes and threads incrementing one counter, each increment
//! under the lock; the count must come out exact every time. Also mixes our
//! processes with util-linux flock(1) and Python's zc.lockfile on the same lock.

mod support;

use std::io::{Read, Seek, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use scoped_lockfile::LockedFile;
use support::{have_flock, holder_command, trials, zc_python};

fn counter_in(dir: &Path) -> std::path::PathBuf {
    let counter = dir.join("counter");
    std::fs::write(&counter, "0").unwrap();
    counter
}

fn read_counter(counter: &Path) -> u64 {
    std::fs::read_to_string(counter)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Starts `holder count COUNTER ROUNDS`: ROUNDS increments through `LockedFile`.
fn our_process(counter: &Path, rounds: usize) -> std::process::Child {
    holder_command(&["count", counter.to_str().unwrap(), &rounds.to_string()])
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn processes_increment_a_locked_file_counter_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let counter = counter_in(dir.path());
    let (processes, rounds) = (8, trials(500, 5000));
    let workers: Vec<_> = (0..processes)
        .map(|_| our_process(&counter, rounds))
        .collect();
    for mut worker in workers {
        assert!(worker.wait().unwrap().success());
    }
    let expected = (processes * rounds) as u64;
    println!(
        "COUNT load/processes: {processes} x {rounds} = {expected}, counter {}",
        read_counter(&counter)
    );
    assert_eq!(read_counter(&counter), expected);
}

fn increment_in_process(counter: &Path) {
    let mut file = LockedFile::open(counter, "r+").unwrap();
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    let next: u64 = text.trim().parse::<u64>().unwrap() + 1;
    file.rewind().unwrap();
    file.get_mut().set_len(0).unwrap();
    write!(file, "{next}").unwrap();
    file.close().unwrap();
}

#[test]
fn threads_increment_a_locked_file_counter_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let counter = counter_in(dir.path());
    let (threads, rounds) = (8, trials(500, 5000));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| (0..rounds).for_each(|_| increment_in_process(&counter)));
        }
    });
    let expected = (threads * rounds) as u64;
    println!(
        "COUNT load/threads: {threads} x {rounds} = {expected}, counter {}",
        read_counter(&counter)
    );
    assert_eq!(read_counter(&counter), expected);
}

/// zc.lockfile only tries once, so its worker retries every half millisecond.
const ZC_WORKER: &str = r#"
import sys, time, zc.lockfile
path, rounds = sys.argv[1], int(sys.argv[2])
for _ in range(rounds):
    while True:
        try:
            lock = zc.lockfile.LockFile(path + ".lock", content_template="{pid};{hostname}")
            break
        except zc.lockfile.LockError:
            time.sleep(0.0005)
    with open(path, "r+") as f:
        value = int(f.read())
        f.seek(0)
        f.truncate()
        f.write(str(value + 1))
    lock.close()
"#;

/// flock(1) runs one shell per increment, holding `COUNTER.lock` meanwhile.
fn flock_worker(counter: &Path, rounds: usize) -> std::process::Child {
    let lock = format!("{}.lock", counter.display());
    let script = format!(
        "i=0; while [ $i -lt {rounds} ]; do flock '{lock}' sh -c 'n=$(cat \"$0\"); printf %s $((n+1)) > \"$0\"' '{}'; i=$((i+1)); done",
        counter.display()
    );
    Command::new("sh").args(["-c", &script]).spawn().unwrap()
}

#[test]
fn our_processes_flock_and_zc_lockfile_exclude_each_other() {
    if !have_flock() {
        return;
    }
    let Some(python) = zc_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let counter = counter_in(dir.path());
    let (ours, theirs) = (trials(300, 2000), trials(150, 1000));
    let mut workers = vec![our_process(&counter, ours), our_process(&counter, ours)];
    for _ in 0..2 {
        workers.push(flock_worker(&counter, theirs));
        workers.push(
            Command::new(&python)
                .args([
                    "-c",
                    ZC_WORKER,
                    counter.to_str().unwrap(),
                    &theirs.to_string(),
                ])
                .spawn()
                .unwrap(),
        );
    }
    for mut worker in workers {
        assert!(worker.wait().unwrap().success());
    }
    let expected = (2 * ours + 4 * theirs) as u64;
    println!(
        "COUNT load/mixed: 2 x {ours} lockfile + 2 x {theirs} flock(1) + 2 x {theirs} zc.lockfile = {expected}, counter {}",
        read_counter(&counter)
    );
    assert_eq!(read_counter(&counter), expected);
}

#[test]
fn zc_lockfile_writes_the_same_bytes_and_excludes_us() {
    let Some(python) = zc_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock");
    let mut child = support::zc_holding(&python, &path, ", content_template='{pid};{hostname}'");
    let theirs = std::fs::read_to_string(&path).unwrap();
    match scoped_lockfile::LockFile::new(&path) {
        Err(scoped_lockfile::LockError::Contended { holder, .. }) => {
            assert_eq!(holder.content.as_deref(), Some(theirs.trim()));
        }
        other => panic!("zc.lockfile's lock did not exclude ours: {other:?}"),
    }
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    // Ours, with the same template, in the same format: " <pid>;<hostname>\n".
    let ours = scoped_lockfile::LockFile::with_content_template(&path, "{pid};{hostname}").unwrap();
    let content = std::fs::read_to_string(&path).unwrap();
    let strip_pid = |s: &str| s.split_once(';').map(|(_, host)| host.to_owned());
    assert_eq!(strip_pid(&content), strip_pid(&theirs));
    assert_eq!(
        content,
        format!(" {};{}", std::process::id(), strip_pid(&theirs).unwrap())
    );
    // And zc.lockfile cannot take ours.
    let out = Command::new(&python)
        .args(["-c", "import sys, zc.lockfile\ntry:\n    zc.lockfile.LockFile(sys.argv[1])\nexcept zc.lockfile.LockError:\n    sys.exit(3)", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    ours.close().unwrap();
}
