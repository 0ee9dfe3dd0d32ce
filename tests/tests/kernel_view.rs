//! The kernel's view of who holds a lock (semantic 18), against real
//! processes: flock(1), a daemon left holding a script's lock, readers, a pid
//! the content names that is someone else's, other pid namespaces. Linux only:
//! elsewhere the view is `Unknown`, which `lockfile/tests/probe.rs` covers.

#![cfg(target_os = "linux")]

mod support;

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use scoped_lockfile::{Holder, KernelView, LockError, LockFile, Probe, probe};
use support::{Holder as Helper, PATIENCE, flock_n, have_flock, skip};

/// Probes until `ready` holds of the holder of a held lock, within PATIENCE.
fn held_until(path: &Path, ready: impl Fn(&Holder) -> bool) -> Holder {
    let started = Instant::now();
    loop {
        if let Probe::Held { holder } = probe(path).unwrap()
            && ready(&holder)
        {
            return holder;
        }
        assert!(started.elapsed() < PATIENCE, "never held as expected");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `(pid, command, inherited)` of every holder the kernel names.
fn holders(holder: &Holder) -> Vec<(u32, Option<String>, bool)> {
    let mut all: Vec<_> = holder
        .kernel
        .holders()
        .map(|(lock, process)| {
            (
                process.pid,
                process.command.clone(),
                lock.inherited(process),
            )
        })
        .collect();
    all.sort();
    all
}

/// A pid no process has now: a child's, once reaped.
fn gone_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// `flock PATH cat`: flock(1) takes the lock and runs `cat`, which inherits
/// it; both hold it until `cat`'s input ends.
fn flock_cat(path: &Path) -> Child {
    Command::new("flock")
        .arg(path)
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn end(mut child: Child) {
    drop(child.stdin.take());
    child.wait().unwrap();
}

/// Whether the kernel's view answers "free" here without a try; a visible
/// skip where it cannot (a container, a network filesystem).
fn view_answers_free(dir: &Path) -> bool {
    let path = dir.join("free.lock");
    fs::write(&path, "").unwrap();
    let free = matches!(
        probe(&path).unwrap().holder().map(|h| &*h.kernel),
        Some(KernelView::Free { .. })
    );
    if !free {
        // Not an interop check `LOCKFILE_REQUIRE_INTEROP` may demand: in a
        // container the view rightly steps aside for a try.
        eprintln!(
            "NOTICE: skipping: the kernel's view cannot tell a free lock here \
             (another pid namespace, or a network filesystem)"
        );
    }
    free
}

#[test]
fn flock_holding_a_file_that_names_a_gone_pid_is_named_as_the_holder() {
    if !have_flock() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.lock");
    let gone = gone_pid();
    fs::write(&path, format!(" {gone}\n")).unwrap();
    let flock = flock_cat(&path);
    let holder = held_until(&path, |h| h.kernel.holders().count() == 2);

    assert_eq!(holder.content, Some(gone.to_string()));
    let all = holders(&holder);
    assert!(
        all.contains(&(flock.id(), Some("flock".into()), false)),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|(_, command, inherited)| command.as_deref() == Some("cat") && *inherited),
        "{all:?}"
    );
    assert_eq!(holder.names_a_holder(), Some(false));
    assert_eq!(holder.is_alive(), Some(false));

    // A failed try says the same, reading only the lock's taker.
    let Err(err @ LockError::Contended { .. }) = LockFile::new(&path) else {
        panic!("held by flock(1)");
    };
    assert_eq!(
        err.to_string(),
        format!(
            "Couldn't lock '{}': held by pid {} (flock); the file names {gone}, an earlier holder",
            path.display(),
            flock.id()
        )
    );
    end(flock);
}

#[test]
fn a_daemon_left_holding_a_scripts_lock_is_named_with_the_gone_taker() {
    if !have_flock() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nightly.lock");
    // Named as a daemon would be: `comm` is the name the program was run by.
    let daemon = dir.path().join("nightly-daemon");
    std::os::unix::fs::symlink("/bin/sleep", &daemon).unwrap();
    let script = dir.path().join("nightly.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n'{}' 120 </dev/null >/dev/null 2>&1 &\necho $!\n",
            daemon.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    // The cron line `flock nightly.lock nightly.sh`: flock(1) and the script
    // exit at once; the daemon the script started keeps the lock.
    let flock = Command::new("flock")
        .arg(&path)
        .arg(&script)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let taker = flock.id();
    let out = flock.wait_with_output().unwrap();
    assert!(out.status.success());
    let daemon_pid: u32 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let holder = held_until(&path, |_| true);
    assert_eq!(
        holders(&holder),
        vec![(daemon_pid, Some("nightly-daemon".into()), true)]
    );
    let lock = holder.kernel.flock_locks().next().unwrap();
    let taken_by = lock.taken_by.as_ref().unwrap();
    assert_eq!((taken_by.pid, taken_by.command.as_deref()), (taker, None));

    let Err(err) = LockFile::new(&path) else {
        panic!("held by the daemon");
    };
    assert_eq!(
        err.to_string(),
        format!(
            "Couldn't lock '{}': held by a process that inherited it from pid {taker} (gone)",
            path.display()
        )
    );

    Command::new("kill")
        .args(["-KILL", &daemon_pid.to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while matches!(probe(&path).unwrap(), Probe::Held { .. }) {
        assert!(
            started.elapsed() < PATIENCE,
            "the daemon's lock outlived it"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_taker_whose_pid_runs_but_no_longer_holds_the_lock_is_not_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handed.lock");
    // We take the lock, hand a copy of its descriptor to `sleep` and close
    // ours: /proc/locks keeps our pid as the taker, a pid that runs but holds
    // nothing, as a gone taker's pid reused by an unrelated process does
    // (which a test cannot arrange without /proc/sys/kernel/ns_last_pid).
    let lock = LockFile::new(&path).unwrap();
    let copy = lock.as_fd().try_clone_to_owned().unwrap();
    let mut sleep = Command::new("sleep")
        .arg("120")
        .stdin(Stdio::from(copy))
        .spawn()
        .unwrap();
    lock.close().unwrap();
    let me = std::process::id();
    // Until no child another test forks meanwhile holds a copy of ours.
    let holder = held_until(&path, |h| {
        holders(h) == vec![(sleep.id(), Some("sleep".into()), true)]
    });
    let lock = holder.kernel.flock_locks().next().unwrap();
    let taken_by = lock.taken_by.as_ref().unwrap();
    assert_eq!((taken_by.pid, taken_by.command.as_deref()), (me, None));
    assert_eq!(
        holder.kernel.describe_holders(),
        Some(format!(
            "pid {} (sleep), which inherited it from pid {me} (gone)",
            sleep.id()
        ))
    );
    // A `LockError` reads only the taker's descriptors: not "the lock taken
    // by pid {me} (kernel_view-...)".
    let Err(err) = LockFile::new(&path) else {
        panic!("held by sleep");
    };
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "held by a process that inherited it from pid {me} (gone)"
        )),
        "{message}"
    );
    sleep.kill().unwrap();
    sleep.wait().unwrap();
}

#[test]
fn content_naming_a_live_unrelated_pid_is_not_taken_for_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reused.lock");
    let path_str = path.to_str().unwrap();
    // A live process that has nothing to do with the lock, as a reused pid.
    let mut unrelated = Command::new("sleep").arg("120").spawn().unwrap();
    let pid = unrelated.id().to_string();
    let here = gethostname::gethostname().into_string().unwrap();
    for content in [pid.clone(), format!("{pid};{here}")] {
        let helper = Helper::locked(&["lock", path_str, "--template", &content]);
        let holder = held_until(&path, |_| true);
        assert_eq!(holder.content.as_deref(), Some(content.as_str()));
        assert_eq!(
            holders(&holder),
            vec![(helper.pid(), Some("holder".into()), false)]
        );
        assert_eq!(holder.names_a_holder(), Some(false));
        // The process runs, but it is not the holder.
        assert_eq!(holder.is_alive(), Some(false), "{content}");

        let Err(err) = LockFile::new(&path) else {
            panic!("held by the helper");
        };
        assert_eq!(
            err.to_string(),
            format!(
                "Couldn't lock '{}': held by pid {} (holder); the file names {content}, an earlier holder",
                path.display(),
                helper.pid()
            )
        );
        helper.release();
    }
    // Its own pid, written by the holder: confirmed by the kernel.
    let helper = Helper::locked(&["lock", path_str]);
    let holder = held_until(&path, |_| true);
    assert_eq!(holder.names_a_holder(), Some(true));
    assert_eq!(holder.is_alive(), Some(true));
    helper.release();
    unrelated.kill().unwrap();
    unrelated.wait().unwrap();
}

#[test]
fn several_readers_are_all_listed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readers.lock");
    let path_str = path.to_str().unwrap();
    let readers: Vec<Helper> = (0..3)
        .map(|_| Helper::locked(&["lock", path_str, "--shared"]))
        .collect();
    let holder = held_until(&path, |h| h.kernel.holders().count() == 3);
    assert!(holder.shared);
    assert_eq!(holder.kernel.flock_locks().count(), 3);
    let mut expected: Vec<_> = readers
        .iter()
        .map(|reader| (reader.pid(), Some("holder".into()), false))
        .collect();
    expected.sort();
    assert_eq!(holders(&holder), expected);
    readers.into_iter().for_each(Helper::release);
}

#[test]
fn a_lock_this_process_holds_through_another_descriptor_is_held_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.lock");
    let lock = LockFile::new(&path).unwrap();
    for _ in 0..100 {
        let Probe::Held { holder } = probe(&path).unwrap() else {
            panic!("our own lock is held");
        };
        // Us, and at times a child another test thread is spawning: between
        // its fork and its exec it has a copy of every descriptor, even
        // close-on-exec ones, so the kernel rightly lists it (as inherited).
        let me = std::process::id();
        let mut found_me = false;
        for (lock, process) in holder.kernel.holders() {
            if process.pid == me {
                found_me = true;
                assert!(!lock.inherited(process));
            } else {
                assert!(lock.inherited(process), "{process:?}");
            }
        }
        assert!(found_me, "{:?}", holder.kernel);
        // A bare pid names no host, but the kernel confirms it.
        assert_eq!(holder.is_alive(), Some(true));
        assert_eq!(holder.names_a_holder(), Some(true));
    }
    // Probing took nothing away: another process still cannot have it.
    if have_flock() {
        assert_eq!(flock_n(&path, "-x"), 1);
    }
    lock.close().unwrap();
}

#[test]
fn probing_never_fails_a_concurrent_flock_n_on_a_free_lock() {
    if !have_flock() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    if !view_answers_free(dir.path()) {
        return;
    }
    let path = dir.path().join("monitored.lock");
    fs::write(&path, "").unwrap();
    let stop = AtomicBool::new(false);
    let probes = AtomicUsize::new(0);
    let failures = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                // Free, or held for a moment by one of the tries.
                probe(&path).unwrap();
                probes.fetch_add(1, Ordering::Relaxed);
            }
        });
        let failures = (0..2000).filter(|_| flock_n(&path, "-x") != 0).count();
        stop.store(true, Ordering::Relaxed);
        failures
    });
    assert_eq!(failures, 0);
    assert!(
        probes.load(Ordering::Relaxed) > 100,
        "the monitor barely ran"
    );
}

/// A tmpfs mounted on a directory for a test's life (lazily unmounted at the
/// end, even if the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a new tmpfs on `dir` (created); `None` after a visible skip
    /// where that cannot be done (not root, no `CAP_SYS_ADMIN`).
    fn mount(dir: PathBuf) -> Option<Self> {
        fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "lockfile-test"])
            .arg(&dir)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Self(dir)),
            Ok(out) => {
                skip(&format!(
                    "mount -t tmpfs failed (needs root): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                None
            }
            Err(err) => {
                skip(&format!("mount(8) cannot run: {err}"));
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_flock_lock_on_another_device_with_our_inode_number_is_not_ours() {
    if !have_flock() {
        return;
    }
    // Two filesystems, each with a lock file of the same inode number: a
    // fresh tmpfs numbers its inodes from the same start.
    let dir = tempfile::tempdir().unwrap();
    let Some(one) = Tmpfs::mount(dir.path().join("one")) else {
        return;
    };
    let Some(two) = Tmpfs::mount(dir.path().join("two")) else {
        return;
    };
    let taken = one.0.join("taken.lock");
    fs::write(&taken, "").unwrap();
    let inode = fs::metadata(&taken).unwrap().ino();
    let Some(path) = (0..64)
        .map(|i| two.0.join(format!("free{i}.lock")))
        .find(|path| {
            fs::write(path, "").unwrap();
            fs::metadata(path).unwrap().ino() == inode
        })
    else {
        skip("tmpfs does not number each mount's inodes alike (a kernel before 5.9)");
        return;
    };
    assert_ne!(
        fs::metadata(&taken).unwrap().dev(),
        fs::metadata(&path).unwrap().dev()
    );
    if !view_answers_free(&two.0) {
        return;
    }
    let flock = flock_cat(&taken);
    held_until(&taken, |holder| holder.kernel.holders().count() == 2);
    // Free as the kernel tells it: no try, which would take the lock.
    let answered_free = |path: &Path| {
        matches!(
            probe(path).unwrap(),
            Probe::Free { last_holder } if matches!(*last_holder.kernel, KernelView::Free { .. })
        )
    };
    assert!(answered_free(&path), "{:?}", probe(&path));
    let stop = AtomicBool::new(false);
    let probes = AtomicUsize::new(0);
    let tried = AtomicUsize::new(0);
    let failures = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                // Free, or held for a moment by a `flock -n`: the view's
                // answer either way, never a try's (whose view is unknown).
                let answer = probe(&path).unwrap();
                let kernel = &*answer.holder().unwrap().kernel;
                if !matches!(kernel, KernelView::Free { .. } | KernelView::Held { .. }) {
                    tried.fetch_add(1, Ordering::Relaxed);
                }
                probes.fetch_add(1, Ordering::Relaxed);
            }
        });
        let failures = (0..500).filter(|_| flock_n(&path, "-x") != 0).count();
        stop.store(true, Ordering::Relaxed);
        failures
    });
    end(flock);
    assert_eq!(failures, 0, "flock -n failed beside the probes");
    assert_eq!(
        tried.load(Ordering::Relaxed),
        0,
        "probes that were not the view's"
    );
    assert!(
        probes.load(Ordering::Relaxed) > 50,
        "the monitor barely ran"
    );
}

/// Whether `unshare --pid --fork --mount-proc` works here (root, and a
/// kernel that allows it); a visible skip otherwise.
fn can_unshare() -> bool {
    let works = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !works {
        // Visible, but not an interop check that CI may demand: CI runners
        // are rarely root.
        eprintln!("NOTICE: skipping: unshare --pid --fork --mount-proc needs root");
    }
    works
}

fn in_new_pid_namespace(script: &str) -> Command {
    let mut command = Command::new("unshare");
    command.args(["--pid", "--fork", "--mount-proc", "sh", "-c", script]);
    command
}

#[test]
fn holders_in_a_child_pid_namespace_are_named_by_our_pids_not_the_contents() {
    if !have_flock() || !can_unshare() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("container.lock");
    // What a containerised holder writes: its pid there, 1.
    fs::write(&path, " 1\n").unwrap();
    let contained = in_new_pid_namespace("exec flock \"$0\" cat")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let holder = held_until(&path, |h| h.kernel.holders().count() == 2);
    let all = holders(&holder);
    let commands: Vec<_> = all.iter().map(|h| h.1.as_deref()).collect();
    assert!(commands.contains(&Some("flock")), "{all:?}");
    assert!(commands.contains(&Some("cat")), "{all:?}");
    assert!(all.iter().all(|(pid, ..)| *pid != 1), "{all:?}");
    // Pid 1 runs here too (our init), but it is not the holder.
    assert_eq!(holder.names_a_holder(), Some(false));
    assert_eq!(holder.is_alive(), Some(false));
    end(contained);
}

#[test]
fn a_holder_outside_the_probes_pid_namespace_is_unseen_and_found_by_a_try() {
    if !can_unshare() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outside.lock");
    let lock = LockFile::new(&path).unwrap();
    let out = in_new_pid_namespace("exec \"$0\" probe \"$1\"")
        .arg(env!("CARGO_BIN_EXE_holder"))
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "held unseen\n");
    lock.close().unwrap();
    let out = in_new_pid_namespace("exec \"$0\" probe \"$1\"")
        .arg(env!("CARGO_BIN_EXE_holder"))
        .arg(&path)
        .output()
        .unwrap();
    // Free, found by a try: the view cannot rule out an unseen holder there.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "free unknown\n");
}

#[test]
fn a_daemon_in_the_probes_namespace_whose_taker_is_gone_is_still_named() {
    if !have_flock() || !can_unshare() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inside.lock");
    // Inside, the kernel hides the lock from /proc/locks (its taker, flock(1),
    // is gone and was never visible from outside this namespace's view); the
    // daemon's fdinfo still shows it. The namespace ends with its first process.
    let script =
        "flock \"$1\" sh -c 'sleep 120 </dev/null >/dev/null 2>&1 &' && exec \"$0\" probe \"$1\"";
    let out = in_new_pid_namespace(script)
        .arg(env!("CARGO_BIN_EXE_holder"))
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    let holder = said
        .strip_prefix("held holders ")
        .unwrap_or_else(|| panic!("{said}"));
    assert!(holder.ends_with(":sleep:inherited\n"), "{said}");
}
