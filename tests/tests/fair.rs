//! Fair mode (`LockOptions::fair`) across processes: first come, first served
//! among fair participants; waiters that time out, are cancelled or die leave
//! the queue at once; readers queued after a writer do not overtake it; and
//! exclusion never depends on the queue (ARCHITECTURE.md, "Fair mode", F1-F6).
//!
//! "Started waiting" is staged by starting the waiters 100 ms apart: far
//! longer than a process takes from its spawn to its ticket.

#![cfg(target_os = "linux")]

mod support;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use scoped_lockfile::{LockError, LockFile, LockOptions};
use support::{Holder, PATIENCE, XorShift};

const APART: Duration = Duration::from_millis(100);

/// Waits until one of `holders` says `locked`, and says which; every other
/// line is a failure.
fn next_locked(holders: &mut [Option<Holder>]) -> usize {
    let deadline = Instant::now() + PATIENCE;
    loop {
        for (i, holder) in holders.iter_mut().enumerate() {
            let Some(holder) = holder else { continue };
            if let Some(line) = holder.next_line(Duration::ZERO) {
                assert_eq!(line, "locked", "waiter {i}");
                return i;
            }
        }
        assert!(Instant::now() < deadline, "no waiter got the lock");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Asserts that none of `holders` takes the lock for a while.
fn none_locks_for(holders: &mut [Option<Holder>], wait: Duration) {
    std::thread::sleep(wait);
    for (i, holder) in holders.iter_mut().enumerate() {
        if let Some(holder) = holder {
            assert_eq!(holder.next_line(Duration::ZERO), None, "waiter {i}");
        }
    }
}

/// `holder lock PATH --fair` with `extra` flags, started without waiting.
fn fair_waiter(path: &Path, extra: &[&str]) -> Holder {
    let mut args = vec!["lock", path.to_str().unwrap(), "--fair"];
    args.extend_from_slice(extra);
    Holder::spawn(&args)
}

/// The three ways to wait: forever (blocking), with a timeout (a helper
/// thread), async (a helper thread and a waker).
const WAYS: [&[&str]; 3] = [
    &["--wait", "forever"],
    &["--wait", "60000"],
    &["--wait", "60000", "--async"],
];

/// Starts `n` fair waiters `APART`, each waiting one of the three ways, while
/// a default-mode holder has the lock, then releases it and checks that they
/// are granted in start order.
fn granted_in_start_order(path: &Path, n: usize) {
    let first = Holder::locked(&["lock", path.to_str().unwrap()]);
    let mut waiters: Vec<Option<Holder>> = (0..n)
        .map(|i| {
            let waiter = fair_waiter(path, WAYS[i % WAYS.len()]);
            std::thread::sleep(APART);
            Some(waiter)
        })
        .collect();
    first.release();
    for expected in 0..n {
        let granted = next_locked(&mut waiters);
        assert_eq!(granted, expected, "granted out of start order");
        waiters[granted].take().unwrap().release();
    }
}

#[test]
fn fair_waiters_are_granted_in_the_order_they_started_waiting() {
    let dir = tempfile::tempdir().unwrap();
    granted_in_start_order(&dir.path().join("deploy.lock"), 6);
}

/// The queue file is left behind and reused; whatever its counter says,
/// even about to wrap around the ring of slots, or garbage, the order holds.
#[test]
fn a_queue_file_left_behind_is_reused_whatever_its_counter_says() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    let queue = dir.path().join("deploy.lock.queue");
    granted_in_start_order(&path, 2);
    let left_behind = std::fs::read(&queue).unwrap();
    assert_eq!(
        left_behind.len(),
        8,
        "the queue file holds only its counter"
    );
    assert_eq!(u64::from_le_bytes(left_behind.try_into().unwrap()), 2);

    // Two tickets before the ring's end (2^30 slots): the waiters' tickets
    // wrap around it.
    std::fs::write(&queue, ((1_u64 << 30) - 2).to_le_bytes()).unwrap();
    granted_in_start_order(&path, 4);
    // The counter's last value, then the largest: wrapping to 0.
    std::fs::write(&queue, (u64::MAX - 1).to_le_bytes()).unwrap();
    granted_in_start_order(&path, 3);
    // Garbage, shorter than a counter.
    std::fs::write(&queue, b"junk").unwrap();
    granted_in_start_order(&path, 3);
}

/// A fair holder releasing and retaking the lock in a tight loop lets a
/// fair newcomer in after at most the hand-over in progress (and, if the
/// newcomer is descheduled between logging and queueing, one more).
#[test]
fn a_hot_fair_relocker_lets_a_newcomer_in_within_two_hand_overs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hot.lock");
    let log = dir.path().join("log");
    let (p, l) = (path.to_str().unwrap(), log.to_str().unwrap());
    for way in WAYS {
        std::fs::write(&log, "").unwrap();
        let mut relocker = Holder::spawn(&["relock", p, l, "1500", "--fair"]);
        relocker.expect_line("started");
        std::thread::sleep(Duration::from_millis(300));
        let mut newcomer = fair_waiter(&path, &[way, &["--log", l]].concat());
        newcomer.expect_line("locked");
        let newcomer_pid = newcomer.pid();
        newcomer.release();
        assert!(relocker.wait().success());

        let log = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        let at = |what: &str| {
            let line = format!("{what} {newcomer_pid}");
            lines.iter().position(|l| *l == line).unwrap()
        };
        let (waiting, locked) = (at("waiting"), at("locked"));
        let hand_overs = lines[waiting..locked]
            .iter()
            .filter(|l| l.starts_with("relock"))
            .count();
        assert!(
            hand_overs <= 2,
            "the newcomer ({way:?}) waited for {hand_overs} hand-overs:\n{log}"
        );
        assert!(
            lines[locked..].iter().any(|l| l.starts_with("relock")),
            "the relocker never got the lock back after the newcomer"
        );
    }
}

#[test]
fn a_waiter_killed_in_the_middle_of_the_queue_leaves_it_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    let first = Holder::locked(&["lock", path.to_str().unwrap()]);
    let mut waiters: Vec<Option<Holder>> = (0..4)
        .map(|i| {
            let waiter = fair_waiter(&path, WAYS[i % WAYS.len()]);
            std::thread::sleep(APART);
            Some(waiter)
        })
        .collect();
    // Killed while waiting, in the middle of the queue.
    waiters[1].take().unwrap().kill();
    first.release();
    assert_eq!(next_locked(&mut waiters), 0);
    // Killed while holding: the next one in line gets it.
    waiters[0].take().unwrap().kill();
    assert_eq!(next_locked(&mut waiters), 2);
    waiters[2].take().unwrap().release();
    assert_eq!(next_locked(&mut waiters), 3);
    waiters[3].take().unwrap().release();
}

/// A waiter that times out, and one whose future is dropped, leave the queue
/// when they give up, not when their process exits: both stay alive.
#[test]
fn timed_out_and_cancelled_waiters_leave_the_queue_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    for shared in [false, true] {
        let shared: &[&str] = if shared { &["--shared"] } else { &[] };
        let first = Holder::locked(&["lock", path.to_str().unwrap()]);
        let mut timed_out = fair_waiter(&path, &[&["--wait", "400", "--linger"], shared].concat());
        std::thread::sleep(APART);
        let mut async_timed_out = fair_waiter(
            &path,
            &[&["--wait", "400", "--async", "--linger"], shared].concat(),
        );
        std::thread::sleep(APART);
        let mut cancelled = fair_waiter(
            &path,
            &[
                &[
                    "--wait",
                    "60000",
                    "--async",
                    "--cancel-after",
                    "400",
                    "--linger",
                ],
                shared,
            ]
            .concat(),
        );
        std::thread::sleep(APART);
        let mut last = vec![Some(fair_waiter(
            &path,
            &[&["--wait", "forever"], shared].concat(),
        ))];

        let line = timed_out.next_line(PATIENCE).unwrap();
        assert!(
            line.starts_with("error: ") && line.contains("within 400ms"),
            "{line}"
        );
        timed_out.expect_line("lingering");
        let line = async_timed_out.next_line(PATIENCE).unwrap();
        assert!(
            line.starts_with("error: ") && line.contains("within 400ms"),
            "{line}"
        );
        async_timed_out.expect_line("lingering");
        cancelled.expect_line("cancelled");
        cancelled.expect_line("lingering");

        first.release();
        assert_eq!(next_locked(&mut last), 0);
        last[0].take().unwrap().release();
        for gave_up in [timed_out, async_timed_out, cancelled] {
            assert!(!gave_up.wait().success());
        }
    }
}

/// Fair readers queued together hold the lock together; a fair reader that
/// came after a queued fair writer waits for it.
#[test]
fn fair_readers_go_together_and_do_not_overtake_a_queued_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.lock");
    let first = Holder::locked(&["lock", path.to_str().unwrap()]);
    let order: [&[&str]; 4] = [
        &["--shared", "--wait", "forever"],
        &["--shared", "--wait", "60000", "--async"],
        &["--wait", "forever"],
        &["--shared", "--wait", "60000"],
    ];
    let mut waiters: Vec<Option<Holder>> = order
        .iter()
        .map(|flags| {
            let waiter = fair_waiter(&path, flags);
            std::thread::sleep(APART);
            Some(waiter)
        })
        .collect();
    first.release();
    let mut readers = [next_locked(&mut waiters), next_locked(&mut waiters)];
    readers.sort_unstable();
    assert_eq!(readers, [0, 1], "the two first readers hold it together");
    // The reader queued after the writer may not join the readers holding it.
    none_locks_for(&mut waiters, Duration::from_millis(300));
    waiters[0].take().unwrap().release();
    none_locks_for(&mut waiters, Duration::from_millis(100));
    waiters[1].take().unwrap().release();
    assert_eq!(next_locked(&mut waiters), 2, "the writer is next");
    none_locks_for(&mut waiters, Duration::from_millis(100));
    waiters[2].take().unwrap().release();
    assert_eq!(next_locked(&mut waiters), 3);
    waiters[3].take().unwrap().release();
}

/// A stream of fair readers, each holding the lock longer than the gap to the
/// next (so the lock is never free), does not keep a fair writer out until it
/// stops: the writer gets in while readers are still arriving, after at most
/// the readers that queued before it.
#[test]
fn a_stream_of_fair_readers_does_not_starve_a_fair_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.lock");
    let log = dir.path().join("log");
    let (p, l) = (path.to_str().unwrap(), log.to_str().unwrap());
    // 60 readers, one every 25 ms, each holding 60 ms: 1.5 s of readers.
    let mut readers = Holder::spawn(&["readers", p, l, "60", "--fair"]);
    readers.expect_line("started");
    std::thread::sleep(Duration::from_millis(300));
    let mut writer = fair_waiter(&path, &["--wait", "forever", "--log", l]);
    writer.expect_line("locked");
    let writer_pid = writer.pid();
    writer.release();
    assert!(readers.wait().success());

    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let at = |what: &str| {
        let line = format!("{what} {writer_pid}");
        lines.iter().position(|l| *l == line).unwrap()
    };
    let (waiting, locked) = (at("waiting"), at("locked"));
    let readers_meanwhile = lines[waiting..locked]
        .iter()
        .filter(|l| l.starts_with("reader"))
        .count();
    let readers_after = lines[locked..]
        .iter()
        .filter(|l| l.starts_with("reader"))
        .count();
    // At most 3 readers overlap (60 ms / 25 ms); 2 more for a slow start.
    assert!(
        readers_meanwhile <= 5,
        "{readers_meanwhile} readers overtook the writer:\n{log}"
    );
    assert!(
        readers_after >= 20,
        "the writer got in only as the readers stopped:\n{log}"
    );
}

/// Fair and default participants on one lock file, some killed at random
/// points (taking a ticket, waiting, holding) and replaced: never two
/// holders at once. Each holder appends `enter PID`, then `leave PID`; the
/// test stops a victim (SIGSTOP: it writes nothing more, and keeps whatever
/// it holds), appends `kill PID`, then sends SIGKILL, so an `enter` not
/// followed by its `leave` may only be followed by its process's `kill`.
#[test]
fn sigkill_at_any_point_never_lets_two_fair_or_default_holders_in() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let marks = dir.path().join("marks");
    let mut random = XorShift::new(23);
    let spawn = |random: &mut XorShift| {
        let kind = if random.below(3) == 0 {
            "marks"
        } else {
            "fair-marks"
        };
        Holder::spawn(&[kind, d, "100000"])
    };
    // Stopped first, so that its last line is written before `kill`.
    let kill = |victim: Holder| {
        stop(victim.pid());
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&marks)
            .unwrap();
        log.write_all(format!("kill {}\n", victim.pid()).as_bytes())
            .unwrap();
        victim.kill();
    };
    let mut running: Vec<Holder> = (0..5).map(|_| spawn(&mut random)).collect();
    let until = Instant::now() + Duration::from_secs(support::trials(3, 20) as u64);
    let mut kills = 0;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5 + random.below(40) as u64));
        kill(running.swap_remove(random.below(running.len())));
        kills += 1;
        running.push(spawn(&mut random));
    }
    // Logged as the others: one killed while holding lets the next one in
    // before the next kill.
    running.into_iter().for_each(kill);

    let log = std::fs::read_to_string(&marks).unwrap();
    let mut holding: Option<&str> = None;
    let mut entered = 0;
    for (n, line) in log.lines().enumerate() {
        let (what, pid) = line.split_once(' ').unwrap();
        match what {
            "enter" => {
                assert_eq!(holding, None, "line {n}: two holders at once:\n{log}");
                holding = Some(pid);
                entered += 1;
            }
            "leave" => {
                assert_eq!(holding, Some(pid), "line {n}:\n{log}");
                holding = None;
            }
            "kill" if holding == Some(pid) => holding = None,
            _ => {}
        }
    }
    assert!(
        entered > kills,
        "{entered} sections for {kills} kills: too few to tell"
    );
}

/// Sends SIGSTOP to `pid` and waits until it is stopped.
fn stop(pid: u32) {
    let sent = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // The state follows the command name's closing parenthesis.
        let state = stat.rsplit_once(") ").unwrap().1.chars().next();
        if state == Some('T') {
            return;
        }
        assert!(Instant::now() < deadline, "{pid} did not stop");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Exclusion comes from the lock file alone: a default-mode holder excludes
/// a fair one and the other way round, and a fair participant's one try
/// refuses a lock that is free but has fair waiters queued.
#[test]
fn fair_and_default_participants_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    let p = path.to_str().unwrap();
    let fair = Holder::locked(&["lock", p, "--fair"]);
    assert_eq!(support::try_lock_elsewhere(&path).status.code(), Some(3));
    fair.release();
    let default = Holder::locked(&["lock", p]);
    let one_try = support::holder_command(&["lock", p, "--fair"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(one_try.status.code(), Some(3));
    // A fair waiter queues behind the default holder...
    let mut waiter = vec![Some(fair_waiter(&path, &["--wait", "forever"]))];
    std::thread::sleep(APART);
    default.release();
    assert_eq!(next_locked(&mut waiter), 0);
    waiter[0].take().unwrap().release();
}

/// Python holding a POSIX record lock on `len` bytes at `start` of `queue`
/// (they conflict with the queue's OFD locks), exclusive or shared, until its
/// stdin closes: a stand-in for a fair participant frozen at that point.
fn python_range_lock(queue: &Path, start: u64, len: u64, how: &str) -> Option<std::process::Child> {
    let found = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        support::skip("python3 is not installed");
        return None;
    }
    let script = format!(
        "import fcntl, sys\nf = open(sys.argv[1], 'r+b')\n\
         fcntl.lockf(f, fcntl.LOCK_{how}, {len}, {start})\n\
         print('locked', flush=True)\nsys.stdin.read()\n"
    );
    Some(support::spawn_locked(
        std::process::Command::new("python3").args(["-c", &script, queue.to_str().unwrap()]),
    ))
}

/// A fair one try finds the lock free but a fair waiter queued: it does not
/// overtake it (a writer queued stops readers too, a reader only writers).
#[test]
fn a_fair_one_try_does_not_overtake_a_queued_waiter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    let queue = dir.path().join("deploy.lock.queue");
    let p = path.to_str().unwrap();
    std::fs::write(&queue, 0_u64.to_le_bytes()).unwrap();
    let one_try = |flags: &[&str]| {
        let mut args = vec!["lock", p];
        args.extend_from_slice(flags);
        let out = support::holder_command(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        out.status.code()
    };
    // The slot of ticket 92 (byte 100), held by a writer.
    let Some(mut writer) = python_range_lock(&queue, 100, 1, "EX") else {
        return;
    };
    assert_eq!(one_try(&["--fair"]), Some(3));
    assert_eq!(one_try(&["--fair", "--shared"]), Some(3));
    assert_eq!(one_try(&[]), Some(0), "the default mode is not queued");
    // Refused because of the queue, not a holder: the error says so, and not
    // "held by" the pid the last holder (just above) left in the file.
    let err = LockOptions::new()
        .fair()
        .timeout(Duration::ZERO)
        .lock(&path)
        .unwrap_err();
    let LockError::Contended { holder, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(holder.fair_waiters_first, "{holder:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "Couldn't lock '{p}': fair waiters are queued for it, and a fair lock does not \
             overtake them"
        )
    );
    let held = LockFile::new(&path).unwrap();
    let err = LockOptions::new()
        .fair()
        .timeout(Duration::ZERO)
        .lock(&path)
        .unwrap_err();
    assert!(
        matches!(&err, LockError::Contended { holder, .. } if !holder.fair_waiters_first),
        "held, whatever the queue says: {err:?}"
    );
    drop(held);
    drop(writer.stdin.take());
    writer.wait().unwrap();
    assert_eq!(one_try(&["--fair"]), Some(0));

    // Held by a reader: fair readers may join, a fair writer may not.
    let mut reader = python_range_lock(&queue, 100, 1, "SH").unwrap();
    assert_eq!(one_try(&["--fair", "--shared"]), Some(0));
    assert_eq!(one_try(&["--fair"]), Some(3));
    drop(reader.stdin.take());
    reader.wait().unwrap();
}

/// A participant killed while it takes a ticket (holding the counter's
/// lock) holds up the others only until the kernel releases its locks.
#[test]
fn a_participant_killed_while_taking_a_ticket_holds_up_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    let queue = dir.path().join("deploy.lock.queue");
    std::fs::write(&queue, 0_u64.to_le_bytes()).unwrap();
    let Some(mut taking) = python_range_lock(&queue, 0, 8, "EX") else {
        return;
    };
    let first = Holder::locked(&["lock", path.to_str().unwrap()]);
    let mut waiters = vec![Some(fair_waiter(&path, &["--wait", "forever"]))];
    std::thread::sleep(APART);
    first.release();
    // Stuck behind the frozen ticket-taker...
    none_locks_for(&mut waiters, Duration::from_millis(300));
    taking.kill().unwrap();
    taking.wait().unwrap();
    // ...until it dies.
    assert_eq!(next_locked(&mut waiters), 0);
    waiters[0].take().unwrap().release();
}

/// A symlink planted at the queue file's path is refused as what it is,
/// naming that path, whether the lock is free or a wait must queue; the
/// lock is not left held and the link's target is untouched.
#[test]
fn a_symlink_at_the_queue_path_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    let queue = dir.path().join("deploy.lock.queue");
    let target = dir.path().join("precious");
    std::fs::write(&target, "data").unwrap();
    std::os::unix::fs::symlink(&target, &queue).unwrap();
    let p = path.to_str().unwrap();
    let fair_try = |flags: &[&str]| {
        let mut args = vec!["lock", p, "--fair"];
        args.extend_from_slice(flags);
        let out = support::holder_command(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let expected = format!(
        "refusing to use '{}': it is a symbolic link",
        queue.display()
    );
    // Free: the newcomer's look at the queue refuses it, and lets the lock go.
    let (code, said) = fair_try(&[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains(&expected), "{said}");
    assert_eq!(support::try_lock_elsewhere(&path).status.code(), Some(0));
    // Held: taking a ticket refuses it.
    let first = Holder::locked(&["lock", p]);
    let (code, said) = fair_try(&["--wait", "forever"]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains(&expected), "{said}");
    first.release();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "data");
}

/// Signals without `SA_RESTART` cut the queue's blocking waits short with
/// `EINTR` (the turn, the counter's lock); the waits go on.
#[test]
fn fair_waits_go_on_through_a_storm_of_interrupting_signals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    let first = Holder::locked(&["lock", path.to_str().unwrap(), "--fair"]);
    let mut waiters: Vec<Option<Holder>> = (0..2)
        .map(|_| {
            let waiter = fair_waiter(&path, &["--wait", "forever", "--signal-storm"]);
            std::thread::sleep(APART);
            Some(waiter)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    first.release();
    for expected in 0..2 {
        assert_eq!(next_locked(&mut waiters), expected);
        let mut waiter = waiters[expected].take().unwrap();
        let signals = waiter.next_line(PATIENCE).unwrap();
        assert!(signals.starts_with("signals "), "{signals}");
        waiter.release();
    }
}

/// A child forked without exec while its parent waits fairly does not keep
/// the parent's place in the queue: killed, the parent leaves it at once,
/// although the child lives on with copies of the parent's descriptors.
#[test]
fn a_waiter_killed_while_its_forked_child_lives_on_leaves_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.lock");
    let first = Holder::locked(&["lock", path.to_str().unwrap()]);
    let mut forking = Holder::spawn(&["fair-fork-wait", path.to_str().unwrap()]);
    let said = forking.next_line(PATIENCE).unwrap();
    let child = said
        .strip_prefix("child ")
        .unwrap_or_else(|| panic!("{said}"));
    let _child = KilledOnDrop(child.to_owned());
    let mut waiters = vec![Some(fair_waiter(&path, &["--wait", "forever"]))];
    std::thread::sleep(APART);
    forking.kill();
    first.release();
    let granted = Instant::now();
    assert_eq!(next_locked(&mut waiters), 0);
    let waited = granted.elapsed();
    waiters[0].take().unwrap().release();
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
}

/// A process of ours that is not our child: killed (`SIGKILL`) when this drops.
struct KilledOnDrop(String);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &self.0])
            .status();
    }
}

/// A fair waiter held up taking its ticket (the counter's lock held, as by a
/// participant stopped while taking one) holds up that lock's fair waiters
/// only: this process's waits on another lock, timed and async, still end at
/// their deadlines.
#[test]
fn a_stalled_ticket_take_holds_up_no_wait_on_another_lock() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (dir.path().join("x.lock"), dir.path().join("y.lock"));
    let queue = dir.path().join("x.lock.queue");
    std::fs::write(&queue, 0_u64.to_le_bytes()).unwrap();
    let x_holder = Holder::locked(&["lock", x.to_str().unwrap()]);
    let y_holder = Holder::locked(&["lock", y.to_str().unwrap()]);
    let Some(mut taking) = python_range_lock(&queue, 0, 8, "EX") else {
        return;
    };
    let fair = {
        let x = x.clone();
        std::thread::spawn(move || {
            LockOptions::new()
                .fair()
                .timeout(Duration::from_secs(60))
                .lock(&x)
                .map(drop)
        })
    };
    // Time for the fair waiter to block on the counter.
    std::thread::sleep(Duration::from_millis(300));
    let (done, waited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let short = LockOptions::new().timeout(Duration::from_millis(200));
        let timed = short.lock(&y);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let awaited = runtime.block_on(short.lock_async(&y));
        let timed_out =
            |result: Result<LockFile, LockError>| matches!(result, Err(LockError::Timeout { .. }));
        let _ = done.send((timed_out(timed), timed_out(awaited)));
    });
    let waited = waited.recv_timeout(PATIENCE);
    // Let the ticket be taken before anything can fail, so all unwinds.
    drop(taking.stdin.take());
    taking.wait().unwrap();
    assert_eq!(
        waited.ok(),
        Some((true, true)),
        "waits on y ended at their deadlines while x's ticket take was held up"
    );
    x_holder.release();
    fair.join()
        .unwrap()
        .expect("the fair waiter gets x once it is free");
    y_holder.release();
}
