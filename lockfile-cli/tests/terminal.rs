//! `lockfile run` at an interactive shell, in a real pseudo-terminal (driven
//! by python3's `pty` module): Ctrl-C, Ctrl-Z, `fg` and reading the terminal
//! work as they do for the command alone, and Ctrl-C in a script stops the
//! script, as with flock(1).

mod support;

use std::process::Command;

use support::{LOCKFILE, have, text};

/// Runs `bash -i` in a new pseudo-terminal and plays `steps` on it: `send`
/// text (`^C`, `^Z` as control characters), `expect` text to appear (within
/// 20 s), `absent` text not to appear within a second. Fails with the
/// transcript.
const DRIVER: &str = r#"
import json, os, pty, select, sys, time
steps = json.loads(sys.argv[1])
env = dict(os.environ, PS1="$ ", TERM="dumb")
pid, fd = pty.fork()
if pid == 0:
    os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)
seen = b""
unread = b""
def pump(until, seconds):
    global seen, unread
    end = time.time() + seconds
    while time.time() < end and (until is None or until not in unread):
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            seen += chunk
            unread += chunk
for kind, arg in steps:
    data = arg.replace("^C", "\x03").replace("^Z", "\x1a").encode()
    if kind == "send":
        os.write(fd, data)
    elif kind == "expect":
        pump(data, 20)
        if data not in unread:
            sys.exit("FAIL: never saw %r in %r" % (data, seen))
        unread = unread.split(data, 1)[1]
    elif kind == "absent":
        pump(None, 1)
        if data in unread:
            sys.exit("FAIL: saw %r in %r" % (data, seen))
os.write(fd, b"exit\n")
pump(None, 1)
os.waitpid(pid, 0)
print("OK")
"#;

fn play(steps: &[(&str, &str)]) {
    if !have("python3", "--version") || !have("bash", "--version") {
        return;
    }
    // Typed lines are not echoed, so that what is expected is output only.
    let quiet = [("expect", "$ "), ("send", "stty -echo\n"), ("expect", "$ ")];
    let steps: Vec<String> = quiet
        .iter()
        .chain(steps)
        .map(|(kind, arg)| format!("[{kind:?}, {arg:?}]"))
        .collect();
    let out = Command::new("python3")
        .args(["-c", DRIVER, &format!("[{}]", steps.join(","))])
        .output()
        .unwrap();
    assert_eq!(
        text(&out.stdout),
        "OK\n",
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn run_line(lock: &str, script: &str) -> String {
    format!("{LOCKFILE} run {lock} -- sh -c '{script}'\n")
}

#[test]
fn job_control_works_on_the_command_through_lockfile() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("tty.lock");
    let lock = lock.to_str().unwrap();
    let reader = "trap \"echo got-INT; exit 3\" INT; echo ready; \
                  while read line; do echo read:$line; done";
    play(&[
        ("send", &run_line(lock, reader)),
        ("expect", "ready"),
        // The command reads the terminal: it has its foreground.
        ("send", "one\n"),
        ("expect", "read:one"),
        // Ctrl-Z stops the command, and lockfile with it: the shell sees the job stopped.
        ("send", "^Z"),
        ("expect", "Stopped"),
        ("expect", "$ "),
        ("send", "fg\n"),
        ("send", "two\n"),
        ("expect", "read:two"),
        // Ctrl-C reaches the command once; lockfile passes its exit status on.
        ("send", "^C"),
        ("expect", "got-INT"),
        ("expect", "$ "),
        ("send", "echo rc=$?\n"),
        ("expect", "rc=3"),
    ]);
}

/// A command that says `ready<ARG>` and runs until Ctrl-C, which it dies of
/// whenever it comes, even before its loop starts (a shell would otherwise
/// act on an early interrupt only after its next child, here never).
fn interruptible(dir: &std::path::Path) -> String {
    let script = dir.join("interruptible.sh");
    std::fs::write(
        &script,
        "trap 'trap - INT; kill -INT $$' INT\necho \"ready$1\"\nwhile :; do sleep 0.05; done\n",
    )
    .unwrap();
    script.to_str().unwrap().to_owned()
}

#[test]
fn ctrl_c_stops_a_shell_loop_around_lockfile() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("loop.lock");
    let lock = lock.to_str().unwrap();
    let command = interruptible(dir.path());
    let line = format!(
        "for i in 1 2; do {LOCKFILE} run {lock} -- sh {command} $i; done; echo loop-over\n"
    );
    play(&[
        ("send", &line),
        ("expect", "ready1"),
        ("send", "^C"),
        ("absent", "ready2"),
        ("send", "echo next\n"),
        ("expect", "next"),
    ]);
}

#[test]
fn ctrl_c_stops_a_script_that_runs_lockfile() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("script.lock");
    let lock = lock.to_str().unwrap();
    let command = interruptible(dir.path());
    // Inside a script's process group, the command stays in it, as with
    // flock(1): the terminal's Ctrl-C reaches the script too.
    let line = format!("bash -c '{LOCKFILE} run {lock} -- sh {command}; echo after-lockfile'\n");
    play(&[
        ("send", &line),
        ("expect", "ready"),
        ("send", "^C"),
        ("absent", "after-lockfile"),
        ("send", "echo next\n"),
        ("expect", "next"),
    ]);
}
