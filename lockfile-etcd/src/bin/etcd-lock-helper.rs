//! Test support, not part of the package: takes an etcd lock in a process of
//! its own, for the tests (and the CLI's) to crash, freeze and race.
//!
//! ```text
//! etcd-lock-helper hold  ENDPOINTS NAME [wait=MS|forever] [ttl=S] [template=T] [async]
//!     HELD token=T key=K, then holds until a line or EOF on stdin (RELEASED,
//!     exit 0) or the lease is lost (LOST, exit 3). Failing: CONTENDED holder=H,
//!     TIMEOUT holder=H waited_ms=W, UNAVAILABLE error=E (exit 1).
//! etcd-lock-helper count ENDPOINTS NAME FILE TIMES [ttl=S]
//!     TIMES times: wait for the lock, read "COUNT TOKEN" from FILE, check our
//!     token is larger (else FENCE-VIOLATION), write "COUNT+1 OURS"; then DONE.
//! ```
//!
//! ENDPOINTS are comma-separated. Output lines are flushed as written.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use scoped_lockfile::{LockError, LockOptions};
use scoped_lockfile_etcd::{EtcdGuard, EtcdLocks, EtcdOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [action, endpoints, name, rest @ ..] = args.as_slice() else {
        eprintln!("usage: etcd-lock-helper hold|count ENDPOINTS NAME ...");
        return ExitCode::from(2);
    };
    let flags = Flags::parse(rest);
    let options = EtcdOptions::new().ttl(flags.ttl);
    let etcd = match EtcdLocks::connect_blocking(endpoints.split(','), options) {
        Ok(etcd) => etcd,
        Err(err) => {
            println!("UNAVAILABLE error={err}");
            return ExitCode::from(1);
        }
    };
    match action.as_str() {
        "hold" => hold(&etcd, name, &flags),
        "count" => count(&etcd, name, &flags),
        _ => ExitCode::from(2),
    }
}

struct Flags {
    positional: Vec<String>,
    wait: Option<Duration>,
    ttl: Duration,
    template: Option<String>,
    use_async: bool,
}

impl Flags {
    fn parse(args: &[String]) -> Self {
        let mut flags = Self {
            positional: Vec::new(),
            wait: None,
            ttl: Duration::from_secs(10),
            template: None,
            use_async: false,
        };
        for arg in args {
            match arg.split_once('=') {
                Some(("wait", "forever")) => flags.wait = None,
                Some(("wait", ms)) => flags.wait = Some(Duration::from_millis(number(ms))),
                Some(("ttl", seconds)) => flags.ttl = Duration::from_secs(number(seconds)),
                Some(("template", template)) => flags.template = Some(template.to_owned()),
                _ if arg == "async" => flags.use_async = true,
                _ => flags.positional.push(arg.clone()),
            }
        }
        flags
    }

    fn lock_options(&self) -> LockOptions {
        let mut options = LockOptions::new();
        if let Some(wait) = self.wait {
            options = options.timeout(wait);
        }
        if let Some(template) = &self.template {
            options = options.content_template(template.clone());
        }
        options
    }
}

fn number(text: &str) -> u64 {
    text.parse()
        .unwrap_or_else(|_| panic!("not a number: {text}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn hold(etcd: &EtcdLocks, name: &str, flags: &Flags) -> ExitCode {
    let started = Instant::now();
    let options = flags.lock_options();
    let locked = if flags.use_async {
        runtime().block_on(options.lock_on_async(etcd, name))
    } else {
        options.lock_on(etcd, name)
    };
    let guard = match locked {
        Ok(guard) => guard,
        Err(err) => return report_failure(&err, started),
    };
    println!("HELD token={} key={}", guard.fencing_token(), guard.key());
    // A thread reads stdin; the runtime waits for it or for the lease to go.
    let (line, released) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut buffer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut buffer);
        let _ = line.send(());
    });
    let lost = runtime().block_on(async {
        tokio::select! {
            _ = released => false,
            () = guard.lost() => true,
        }
    });
    if lost {
        println!("LOST token={}", guard.fencing_token());
        return ExitCode::from(3);
    }
    match close(guard, flags.use_async) {
        Ok(()) => {
            println!("RELEASED");
            ExitCode::SUCCESS
        }
        Err(err) => {
            println!("RELEASE-FAILED error={err}");
            ExitCode::from(1)
        }
    }
}

fn close(guard: EtcdGuard, use_async: bool) -> Result<(), LockError> {
    if use_async {
        runtime().block_on(guard.close_async())
    } else {
        guard.close()
    }
}

fn report_failure(err: &LockError, started: Instant) -> ExitCode {
    let waited = started.elapsed().as_millis();
    match err {
        LockError::Contended { holder, .. } => {
            println!(
                "CONTENDED holder={} waited_ms={waited}",
                holder.content.as_deref().unwrap_or("-")
            );
        }
        LockError::Timeout { holder, .. } => {
            println!(
                "TIMEOUT holder={} waited_ms={waited}",
                holder.content.as_deref().unwrap_or("-")
            );
        }
        other => println!("UNAVAILABLE waited_ms={waited} error={other}"),
    }
    ExitCode::from(1)
}

fn count(etcd: &EtcdLocks, name: &str, flags: &Flags) -> ExitCode {
    let [file, times] = flags.positional.as_slice() else {
        eprintln!("usage: etcd-lock-helper count ENDPOINTS NAME FILE TIMES");
        return ExitCode::from(2);
    };
    let options = flags.lock_options();
    for _ in 0..number(times) {
        let guard = match options.lock_on(etcd, name) {
            Ok(guard) => guard,
            Err(err) => return report_failure(&err, Instant::now()),
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let mut fields = text.split_whitespace().map(number);
        let (count, last_token) = (fields.next().unwrap_or(0), fields.next().unwrap_or(0));
        if guard.fencing_token() <= last_token {
            println!(
                "FENCE-VIOLATION ours={} seen={last_token}",
                guard.fencing_token()
            );
        }
        // Not atomic on purpose: only the lock keeps the counts exact.
        std::fs::write(file, format!("{} {}\n", count + 1, guard.fencing_token()))
            .expect("write the count");
        if let Err(err) = guard.close() {
            println!("RELEASE-FAILED error={err}");
            return ExitCode::from(1);
        }
    }
    println!("DONE");
    ExitCode::SUCCESS
}
