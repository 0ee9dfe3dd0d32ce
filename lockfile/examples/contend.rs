//! Several processes contend for one lock; each says what it saw.
//!
//! ```text
//! cargo run -p scoped-lockfile --example contend            # 4 workers
//! cargo run -p scoped-lockfile --example contend -- 8       # 8 workers
//! ```
//!
//! The parent starts the workers (copies of this program) on one lock name in a
//! temporary directory. Each worker first tries once, which fails while someone
//! else holds the lock and says who; then it waits with a timeout, holds the lock
//! for a moment, and lets go. No two workers are ever inside at once.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use scoped_lockfile::{LockError, LockOptions, LockedContext};

const HOLD: Duration = Duration::from_millis(300);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, name, id] if flag == "--worker" => worker(Path::new(name), id),
        [] => parent(4),
        [count] => parent(count.parse()?),
        _ => Err("usage: contend [WORKERS]".into()),
    }
}

fn parent(workers: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let name = dir.path().join("demo");
    println!("{workers} processes contend for {}.lock", name.display());
    let children = (1..=workers)
        .map(|id| {
            Command::new(std::env::current_exe()?)
                .args([
                    "--worker",
                    name.to_str().ok_or("non-UTF-8 temp dir")?,
                    &id.to_string(),
                ])
                .spawn()
                .map_err(Into::into)
        })
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
    for mut child in children {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("a worker failed: {status}").into());
        }
    }
    let lock_file = std::fs::read_to_string(dir.path().join("demo.lock"))?;
    println!("done; the lock file is left behind and says {lock_file:?} (the last holder)");
    Ok(())
}

fn worker(name: &Path, id: &str) -> Result<(), Box<dyn std::error::Error>> {
    let me = format!("worker {id} (pid {})", std::process::id());
    let opts = LockOptions::new().content_template("{pid};{hostname}");
    let started = Instant::now();
    let guard = match opts.clone().timeout(Duration::ZERO).locked_context(name) {
        Ok(guard) => {
            println!("{me}: got the lock on the first try");
            guard
        }
        Err(LockError::Contended { holder, .. }) => {
            println!("{me}: first try failed, held by {holder}; waiting");
            let guard: LockedContext =
                opts.timeout(Duration::from_secs(30)).locked_context(name)?;
            println!("{me}: got the lock after {:?}", started.elapsed());
            guard
        }
        Err(other) => return Err(other.into()),
    };
    std::thread::sleep(HOLD);
    println!("{me}: releasing");
    guard.close()?;
    Ok(())
}
