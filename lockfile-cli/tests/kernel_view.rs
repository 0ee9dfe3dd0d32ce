//! `lockfile status`, `run` and `flock --verbose` name the holders the
//! kernel names (semantic 18), the cases of issue 21, with real processes:
//! flock(1) holding a file that names a gone `lockfile run`, a daemon left
//! holding a script's lock, and the JSON listing every holder. Linux only.

#![cfg(target_os = "linux")]

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scoped_lockfile::{Probe, probe};
use support::{have, lockfile, output, text};

/// Waits until the lock at `path` is held by `holders` processes.
fn wait_for_holders(path: &Path, holders: usize) {
    let started = Instant::now();
    loop {
        if let Probe::Held { holder } = probe(path).unwrap()
            && holder.kernel.holders().count() == holders
        {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never held");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn end(mut child: Child) {
    drop(child.stdin.take());
    child.wait().unwrap();
}

#[test]
fn status_names_flock_over_the_pid_of_a_gone_lockfile_run() {
    if !have("flock", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.lock");
    let p = path.to_str().unwrap();
    // A `lockfile run` that wrote its pid and is gone.
    let ran = lockfile(&["run", p, "true"]).spawn().unwrap();
    let gone = ran.id();
    assert!(ran.wait_with_output().unwrap().status.success());
    let flock = Command::new("flock")
        .arg(&path)
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_holders(&path, 2);

    let status = output(&["status", p]);
    assert_eq!(status.status.code(), Some(1));
    let said = text(&status.stdout);
    let holders = format!("{p}: held by pid {} (flock) and pid ", flock.id());
    assert!(said.starts_with(&holders), "{said}");
    let earlier = format!(" (cat), which inherited it; the file names pid {gone}");
    assert!(said.contains(&earlier), "{said}");
    assert!(said.ends_with(", an earlier holder\n"), "{said}");

    // The same in a conflict, and in what `run -v` says it waits for.
    let conflict = output(&["run", "-n", p, "true"]);
    assert_eq!(conflict.status.code(), Some(1));
    let said = text(&conflict.stderr);
    let whom = format!(
        "lockfile: Couldn't lock '{p}': held by pid {} (flock)",
        flock.id()
    );
    assert!(said.starts_with(&whom), "{said}");
    assert!(
        said.contains(&format!("; the file names pid {gone}")),
        "{said}"
    );

    let verbose = output(&["run", "-v", "-w", "0.05", p, "true"]);
    let said = text(&verbose.stderr);
    let waiting = format!(
        "lockfile: waiting for up to 50ms for '{p}', held by pid {}",
        flock.id()
    );
    assert!(said.starts_with(&waiting), "{said}");
    end(flock);
}

#[test]
fn status_names_the_daemon_that_inherited_a_scripts_lock() {
    if !have("flock", "--version") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nightly.lock");
    let p = path.to_str().unwrap();
    let daemon = dir.path().join("nightly-daemon");
    std::os::unix::fs::symlink("/bin/sleep", &daemon).unwrap();
    // The script runs under `lockfile run` (whose command inherits the lock),
    // starts the daemon and ends; the daemon keeps the lock.
    let script = format!(
        "'{}' 120 </dev/null >/dev/null 2>&1 & echo $!",
        daemon.display()
    );
    let ran = lockfile(&["run", p, "--", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let taker = ran.id();
    let out = ran.wait_with_output().unwrap();
    assert!(out.status.success());
    let daemon_pid: u32 = text(&out.stdout).trim().parse().unwrap();
    wait_for_holders(&path, 1);

    let status = output(&["status", p]);
    assert_eq!(status.status.code(), Some(1));
    assert_eq!(
        text(&status.stdout),
        format!(
            "{p}: held by pid {daemon_pid} (nightly-daemon), which inherited it from pid \
             {taker} (gone); the file names pid {taker} on {}, which took it\n",
            support::hostname()
        )
    );

    let json = text(&output(&["status", "--json", p]).stdout);
    let holders = format!(
        "\"pid_holds\":false,\"kernel\":\"held\",\"holders\":[{{\"pid\":{daemon_pid},\
         \"command\":\"nightly-daemon\",\"inherited\":true,\"taken_by\":{taker}}}]"
    );
    assert!(json.contains(&holders), "{json}");
    assert!(json.contains("\"pid_alive\":false"), "{json}");

    Command::new("kill")
        .args(["-KILL", &daemon_pid.to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while output(&["status", p]).status.code() != Some(0) {
        assert!(started.elapsed() < Duration::from_secs(30), "still held");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn status_json_lists_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readers.lock");
    let p = path.to_str().unwrap();
    let readers: Vec<Child> = (0..3)
        .map(|_| {
            lockfile(&["run", "-s", p, "cat"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // Each reader: lockfile, which took it, and cat, which inherited it.
    wait_for_holders(&path, 6);
    let json = text(&output(&["status", "--json", p]).stdout);
    assert!(json.contains("\"state\":\"held shared\""), "{json}");
    for reader in &readers {
        let taker = format!(
            "{{\"pid\":{0},\"command\":\"lockfile\",\"inherited\":false,\"taken_by\":{0}}}",
            reader.id()
        );
        assert!(json.contains(&taker), "{json}");
    }
    assert_eq!(
        json.matches("\"command\":\"cat\",\"inherited\":true")
            .count(),
        3,
        "{json}"
    );
    readers.into_iter().for_each(end);
}

/// Whether `unshare --pid --fork --mount-proc` works here (root); a visible
/// skip otherwise (not one CI's `LOCKFILE_REQUIRE_INTEROP` demands: CI
/// runners are rarely root).
fn can_unshare() -> bool {
    let works = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !works {
        eprintln!("NOTICE: skipping: unshare --pid --fork --mount-proc needs root");
    }
    works
}

#[test]
fn status_in_a_container_says_a_holder_outside_is_unseen() {
    if !can_unshare() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared-volume.lock");
    let p = path.to_str().unwrap();
    // Held here, and the file names pid 1, as a containerised writer would.
    let lock = scoped_lockfile::LockFile::with_content_template(&path, "1").unwrap();
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(support::LOCKFILE)
        .args(["status", p])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        format!(
            "{p}: held by a process not visible from here (another pid namespace or host); \
             the file names pid 1, which is running but does not hold it (a reused pid, or \
             another pid namespace's)\n"
        )
    );
    lock.close().unwrap();
}
