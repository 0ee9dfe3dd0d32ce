//! A serialized test suite under cargo-nextest: 200 short tests (2 ms of
//! work each) that all want one lock, a process per test, run three ways:
//! with `#[locked("suite")]`, with `serial_test`'s `#[file_serial(suite)]`,
//! and without a lock (the lower bound: nextest's own cost, the work spread
//! over every core). Wall time of each whole `cargo nextest run`, the median
//! of `SUITE_RUNS` runs (default 5), the three interleaved; ratios printed
//! against each other.
//!
//! The suites are `benches/serialized-suite`, built once, in a target
//! directory of their own (`target/serialized-suite`: a cargo run inside
//! `cargo bench` must not wait for the outer one's lock on `target/`).
//! Skipped, with a notice, where cargo-nextest is not installed
//! (`.ci/nextest` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const VARIANTS: [(&str, &str); 3] = [
    ("no lock", "suite_unlocked"),
    ("#[file_serial]", "suite_file_serial"),
    ("#[locked]", "suite_locked"),
];

fn main() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let have_nextest = Command::new(&cargo)
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !have_nextest {
        eprintln!(
            "NOTICE: serialized_suite skipped: cargo-nextest is not installed (.ci/nextest installs it)"
        );
        return;
    }
    let runs: usize = std::env::var("SUITE_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(5);
    let target = workspace.join("target").join("serialized-suite");

    eprintln!(
        "serialized_suite: building the suites in {}",
        target.display()
    );
    let built = nextest(&cargo, &workspace, &target, &["--no-run"])
        .status()
        .expect("run cargo nextest");
    assert!(built.success(), "building the suites failed");

    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); VARIANTS.len()];
    for round in 0..runs {
        // Interleaved, the first variant rotating, so a slow moment of the
        // machine does not fall on one variant only.
        for k in 0..VARIANTS.len() {
            let at = (round + k) % VARIANTS.len();
            times[at].push(run_suite(&cargo, &workspace, &target, VARIANTS[at].1));
        }
    }

    let medians: Vec<Duration> = times.iter_mut().map(|t| median(t)).collect();
    println!(
        "serialized_suite: 200 tests x 2 ms under one lock, cargo nextest run, median of {runs}"
    );
    for ((name, _), median) in VARIANTS.iter().zip(&medians) {
        println!("  {name:<16} {:>8.3} s", median.as_secs_f64());
    }
    let ratio = |a: usize, b: usize| medians[a].as_secs_f64() / medians[b].as_secs_f64();
    println!("  ratio #[locked] / #[file_serial]  {:.2}x", ratio(2, 1));
    println!("  ratio #[locked] / no lock         {:.2}x", ratio(2, 0));
    println!("  ratio #[file_serial] / no lock    {:.2}x", ratio(1, 0));
}

fn nextest(cargo: &std::ffi::OsStr, workspace: &Path, target: &PathBuf, extra: &[&str]) -> Command {
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", target)
        .args([
            "nextest",
            "run",
            "--cargo-quiet",
            "-p",
            "lockfile-serialized-suite",
        ])
        .args(extra);
    command
}

/// One whole run of one suite, from start to exit.
fn run_suite(cargo: &std::ffi::OsStr, workspace: &Path, target: &PathBuf, test: &str) -> Duration {
    let started = Instant::now();
    let output = nextest(
        cargo,
        workspace,
        target,
        &[
            "--test",
            test,
            "--run-ignored",
            "only",
            "--no-fail-fast",
            "--status-level",
            "fail",
            "--final-status-level",
            "fail",
            "--hide-progress-bar",
        ],
    )
    .stdout(Stdio::null())
    .output()
    .expect("run cargo nextest");
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "{test} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}
