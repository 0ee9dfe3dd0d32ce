//! What going distributed costs: the etcd lock on a local 3-member cluster,
//! against the same recipe written by hand (its floor), `etcdctl lock`, and
//! the lock file.
//!
//! ```text
//! cargo bench -p lockfile-benches --bench etcd
//! ```
//!
//! Needs Debian's etcd-server and etcd-client (`.ci/run` installs them) and
//! bash (`$EPOCHREALTIME` stamps in the `etcdctl lock` commands). The cluster
//! keeps its data under target/ and is killed at the end.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use etcd_client::{
    Client, Compare, CompareOp, EventType, GetOptions, PutOptions, SortOrder, SortTarget, Txn,
    TxnOp, TxnOpResponse, WatchFilterType, WatchOptions,
};
use etcd_test_cluster::Cluster;
use lockfile_benches::{Summary, XorShift, micros};
use scoped_lockfile::{Backend, Files, LockOptions};
use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions};

/// Uncontended rounds per contender; a few milliseconds each on etcd.
const UNCONTENDED: usize = 400;
/// Hand-overs per contender.
const HANDOVERS: usize = 300;
/// `etcdctl` runs (a process each, tens of milliseconds).
const PROCESS_RUNS: usize = 40;

fn main() {
    let cluster = Cluster::start(3, Path::new(env!("CARGO_TARGET_TMPDIR"))).expect("etcd cluster");
    println!(
        "3-member etcd cluster on 127.0.0.1, healthy in {:?}",
        cluster.started_in()
    );
    let files = tempfile::tempdir_in("/dev/shm").expect("tmpfs at /dev/shm");
    uncontended(&cluster, files.path());
    hand_over(&cluster, files.path());
    processes(&cluster);
}

// ------------------------------------------------------------- uncontended

fn uncontended(cluster: &Cluster, dir: &Path) {
    println!("\nuncontended take + release (in process; ratio to the recipe by hand)");
    header();
    let name = "bench-uncontended";
    let mut by_hand = recipe::Contender::new(cluster);
    let floor = row(
        "recipe by hand (grant, txn, revoke)",
        &mut time(|| by_hand.take_and_release(name)),
        None,
    );

    let etcd = connect(cluster);
    let options = LockOptions::new();
    let ours = row(
        "EtcdLocks (lock_on + close)",
        &mut time(|| options.lock_on(&etcd, name).unwrap().close().unwrap()),
        Some(floor),
    );
    let file = dir.join("bench-uncontended");
    let file_lock = row(
        "lock file (Files, tmpfs)",
        &mut time(|| options.lock_on(&Files, &file).unwrap().close().unwrap()),
        Some(floor),
    );
    distributed_cost(ours, file_lock);
}

fn distributed_cost(etcd: Summary, file: Summary) {
    println!(
        "the cost of going distributed, EtcdLocks / lock file: {:.0}x at p50, {:.0}x at p99",
        ratio(etcd.p50, file.p50),
        ratio(etcd.p99, file.p99)
    );
}

fn time(mut round: impl FnMut()) -> Vec<u64> {
    for _ in 0..UNCONTENDED / 10 {
        round(); // warm-up: connections, caches
    }
    (0..UNCONTENDED)
        .map(|_| {
            let started = Instant::now();
            round();
            nanos(started.elapsed())
        })
        .collect()
}

// --------------------------------------------------------------- hand-over

/// Holder (one thread) releases → the waiter's (another thread's) lock call
/// has returned. Both stamps from one `Instant` clock. The holder holds for
/// 5-10 ms, random, so that the waiter is queued and watching when it lets go.
fn hand_over(cluster: &Cluster, dir: &Path) {
    println!(
        "\nhand-over: holder releases -> waiter's lock call returned (ratio to the recipe by hand)"
    );
    header();
    let by_hand = handover_by_hand(cluster);
    let floor = row(
        "recipe by hand (watch the predecessor)",
        &mut by_hand.clone(),
        None,
    );

    let (holder, waiter) = (connect(cluster), connect(cluster));
    let ours = row(
        "EtcdLocks, blocking waiter",
        &mut handover_on(&holder, &waiter, "bench-handover", Waiter::Blocking),
        Some(floor),
    );
    row(
        "EtcdLocks, async waiter (tokio)",
        &mut handover_on(&holder, &waiter, "bench-handover-async", Waiter::Async),
        Some(floor),
    );
    let file = dir.join("bench-handover");
    let file_lock = row(
        "lock file (Files, tmpfs)",
        &mut handover_on(&Files, &Files, file.as_path(), Waiter::Blocking),
        Some(floor),
    );
    distributed_cost(ours, file_lock);
}

#[derive(Clone, Copy)]
enum Waiter {
    Blocking,
    Async,
}

fn handover_on<B>(holder: &B, waiter: &B, name: &B::Name, mode: Waiter) -> Vec<u64>
where
    B: Backend + Sync,
    B::Name: Sync,
{
    let options = LockOptions::new();
    let (go, ready) = mpsc::channel::<()>();
    let (owned, owned_at) = mpsc::channel::<Instant>();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            for () in ready {
                let guard = match mode {
                    Waiter::Blocking => waiter.lock(name, &options).unwrap(),
                    Waiter::Async => runtime.block_on(waiter.lock_async(name, &options)).unwrap(),
                };
                owned.send(Instant::now()).unwrap();
                drop(guard);
            }
        });
        let mut rng = XorShift::new(0xe7cd);
        let samples = (0..HANDOVERS)
            .map(|_| {
                let guard = holder.lock(name, &options).unwrap();
                go.send(()).unwrap();
                std::thread::sleep(Duration::from_micros(rng.between(5000, 10_000)));
                let released = Instant::now();
                drop(guard);
                nanos(owned_at.recv().unwrap() - released)
            })
            .collect();
        drop(go);
        samples
    })
}

fn handover_by_hand(cluster: &Cluster) -> Vec<u64> {
    let name = "bench-handover-by-hand";
    let (go, ready) = mpsc::channel::<()>();
    let (owned, owned_at) = mpsc::channel::<Instant>();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut waiter = recipe::Contender::new(cluster);
            for () in ready {
                let held = waiter.take(name);
                owned.send(Instant::now()).unwrap();
                waiter.release(held);
            }
        });
        let mut holder = recipe::Contender::new(cluster);
        let mut rng = XorShift::new(0xe7cd);
        let samples = (0..HANDOVERS)
            .map(|_| {
                let held = holder.take(name);
                go.send(()).unwrap();
                std::thread::sleep(Duration::from_micros(rng.between(5000, 10_000)));
                let released = Instant::now();
                holder.release(held);
                nanos(owned_at.recv().unwrap() - released)
            })
            .collect();
        drop(go);
        samples
    })
}

// --------------------------------------------------------------- processes

/// `etcdctl lock NAME -- COMMAND` and `lockfile run --etcd ... NAME --
/// COMMAND`, a process per lock, timed from outside (uncontended) and by the
/// commands' own `$EPOCHREALTIME` stamps (hand-over: the first command's last
/// stamp to the second command's first).
fn processes(cluster: &Cluster) {
    println!(
        "\nwhole processes (ratio to `etcdctl lock`; `etcdctl endpoint health` = start, connect, one request)"
    );
    header();
    let endpoints = cluster.endpoints_arg();
    let etcdctl = |args: &[&str]| {
        let mut command = Command::new("etcdctl");
        command
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &endpoints])
            .args(args);
        command
    };
    // Built by `cargo build --release -p scoped-lockfile-cli`, if it was.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/");
    let lockfile_bin = target.join("release/lockfile");
    let lockfile = |args: &[&str]| {
        let mut command = Command::new(&lockfile_bin);
        command.args(["run", "--etcd", &endpoints]).args(args);
        command
    };
    let walls = |mut command: Box<dyn FnMut() -> Command>| -> Vec<u64> {
        (0..PROCESS_RUNS).map(|_| wall(&mut command())).collect()
    };
    let mut start_up = walls(Box::new(|| etcdctl(&["endpoint", "health"])));
    let mut etcdctl_locks = walls(Box::new(|| {
        etcdctl(&["lock", "bench-etcdctl", "--", "true"])
    }));
    let base = Summary::of(&mut etcdctl_locks.clone());
    row("`etcdctl endpoint health`", &mut start_up, Some(base));
    row("`etcdctl lock NAME -- true`", &mut etcdctl_locks, None);
    let ours = lockfile_bin.exists();
    if ours {
        let mut runs = walls(Box::new(|| lockfile(&["bench-lockfile", "--", "true"])));
        row(
            "`lockfile run --etcd ... NAME -- true`",
            &mut runs,
            Some(base),
        );
    }

    let stamped = "echo start $EPOCHREALTIME; sleep 0.2; echo end $EPOCHREALTIME";
    let mut etcdctl_handovers = handovers_of(&|| {
        etcdctl(&[
            "lock",
            "bench-etcdctl-handover",
            "--",
            "bash",
            "-c",
            stamped,
        ])
    });
    let base = row(
        "`etcdctl lock` hand-over, command to command",
        &mut etcdctl_handovers,
        None,
    );
    if ours {
        let mut handovers =
            handovers_of(&|| lockfile(&["bench-lockfile-handover", "--", "bash", "-c", stamped]));
        row(
            "`lockfile run --etcd` hand-over, command to command",
            &mut handovers,
            Some(base),
        );
    } else {
        println!(
            "(`lockfile run --etcd` skipped: build {} with `cargo build --release -p scoped-lockfile-cli`)",
            lockfile_bin.display()
        );
    }
}

/// Hand-overs between two processes `command()` makes, each running the
/// stamped script: the first holds, the second queues behind it.
fn handovers_of(command: &dyn Fn() -> Command) -> Vec<u64> {
    (0..PROCESS_RUNS / 2)
        .map(|_| {
            let spawn = || command().stdout(Stdio::piped()).spawn().unwrap();
            let mut first = spawn();
            let first_out = first.stdout.take().unwrap();
            let mut first_lines = std::io::BufRead::lines(std::io::BufReader::new(first_out));
            let _started = first_lines.next(); // it holds the lock now
            let second = spawn();
            let first_end =
                stamp(first_lines.find(|line| line.as_ref().is_ok_and(|l| l.starts_with("end"))));
            first.wait().unwrap();
            let output = second.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&output.stdout);
            let second_start = stamp(Some(Ok(text.lines().next().unwrap_or_default().to_owned())));
            second_start.saturating_sub(first_end)
        })
        .collect()
}

fn wall(command: &mut Command) -> u64 {
    let started = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{command:?}");
    nanos(started.elapsed())
}

/// Nanoseconds since the epoch from a `start|end SECONDS.MICROS` line.
fn stamp(line: Option<std::io::Result<String>>) -> u64 {
    let line = line.expect("a stamp line").expect("readable");
    let (seconds, micros) = line
        .split_whitespace()
        .nth(1)
        .and_then(|stamp| stamp.split_once('.'))
        .expect("SECONDS.MICROS");
    seconds.parse::<u64>().unwrap() * 1_000_000_000 + micros.parse::<u64>().unwrap() * 1000
}

// ------------------------------------------------------------------ tables

fn header() {
    println!(
        "{:<48} {:>5} {:>11} {:>11} {:>11} {:>7} {:>7}",
        "", "n", "p50", "p99", "max", "p50 x", "p99 x"
    );
}

/// Prints a row; its ratios are to `base` (none: it is the base).
fn row(what: &str, samples: &mut [u64], base: Option<Summary>) -> Summary {
    let summary = Summary::of(samples);
    let base = base.unwrap_or(summary);
    println!(
        "{what:<48} {:>5} {:>11} {:>11} {:>11} {:>7.2} {:>7.2}",
        samples.len(),
        micros(summary.p50),
        micros(summary.p99),
        micros(summary.max),
        ratio(summary.p50, base.p50),
        ratio(summary.p99, base.p99),
    );
    summary
}

#[allow(clippy::cast_precision_loss)] // nanoseconds well under 2^52
fn ratio(value: u64, base: u64) -> f64 {
    value as f64 / base.max(1) as f64
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn connect(cluster: &Cluster) -> EtcdLocks {
    EtcdLocks::connect_blocking(cluster.endpoints(), EtcdOptions::new()).expect("connect")
}

/// etcd's lock recipe (`concurrency.Mutex`) at its barest: a lease, the
/// enqueue transaction, a watch on the predecessor, a revoke. No keep-alives,
/// no loss detection, no check after the wait, no thread hop: the floor of
/// what any client of the recipe pays.
mod recipe {
    use super::{
        Client, Cluster, Compare, CompareOp, EventType, GetOptions, PutOptions, SortOrder,
        SortTarget, Txn, TxnOp, TxnOpResponse, WatchFilterType, WatchOptions,
    };

    pub(super) struct Contender {
        runtime: tokio::runtime::Runtime,
        client: Client,
    }

    impl Contender {
        pub(super) fn new(cluster: &Cluster) -> Self {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let client = runtime
                .block_on(Client::connect(cluster.endpoints(), None))
                .unwrap();
            Self { runtime, client }
        }

        pub(super) fn take_and_release(&mut self, name: &str) {
            let lease = self.take(name);
            self.release(lease);
        }

        /// Takes the lock, waiting if need be; the lease.
        pub(super) fn take(&mut self, name: &str) -> i64 {
            let client = &mut self.client;
            self.runtime.block_on(async {
                let lease = client.lease_grant(10, None).await.unwrap().id();
                let (queue, key) = (format!("{name}/"), format!("{name}/{lease:x}"));
                let oldest = GetOptions::new()
                    .with_prefix()
                    .with_sort(SortTarget::Create, SortOrder::Ascend)
                    .with_limit(1);
                let txn = Txn::new()
                    .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
                    .and_then([
                        TxnOp::put(key.as_str(), "", Some(PutOptions::new().with_lease(lease))),
                        TxnOp::get(queue.as_str(), Some(oldest)),
                    ]);
                let response = client.txn(txn).await.unwrap();
                let ours = response.header().unwrap().revision();
                let Some(TxnOpResponse::Get(first)) = response.op_responses().into_iter().nth(1)
                else {
                    unreachable!("the transaction's second op is a get")
                };
                if first.kvs()[0].create_revision() != ours {
                    loop {
                        let newest_older = GetOptions::new()
                            .with_prefix()
                            .with_sort(SortTarget::Create, SortOrder::Descend)
                            .with_max_create_revision(ours - 1)
                            .with_limit(1);
                        let read = client
                            .get(queue.as_str(), Some(newest_older))
                            .await
                            .unwrap();
                        let Some(predecessor) = read.kvs().first() else {
                            break;
                        };
                        let options = WatchOptions::new()
                            .with_start_revision(read.header().unwrap().revision() + 1)
                            .with_filters([WatchFilterType::NoPut]);
                        let mut watch = client
                            .watch(predecessor.key(), Some(options))
                            .await
                            .unwrap();
                        while let Some(response) = watch.message().await.unwrap() {
                            if response
                                .events()
                                .iter()
                                .any(|e| e.event_type() == EventType::Delete)
                            {
                                break;
                            }
                        }
                    }
                }
                lease
            })
        }

        pub(super) fn release(&mut self, lease: i64) {
            let client = &mut self.client;
            self.runtime.block_on(async {
                client.lease_revoke(lease).await.unwrap();
            });
        }
    }
}
