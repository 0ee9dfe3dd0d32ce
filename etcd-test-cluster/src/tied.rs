//! Processes that cannot outlive the test process that started them.
//!
//! A test that panics, or a test binary that is killed, must not leave etcd
//! members or lock holders running (they hold ports, data dirs and locks). The
//! kernel's parent-death signal does that: `setpriv --pdeathsig KILL` sets it
//! and execs the program, so the child is the program itself (its pid is the
//! one to signal). The signal fires when the *thread* that spawned the child
//! exits, not the process, and test threads end with their test; so every
//! tied child is spawned by one thread that lives as long as the process.

use std::ffi::OsStr;
use std::io;
use std::process::{Child, Command};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Mutex, OnceLock};

/// A command running `program`, to be started with [`spawn_tied`]: arguments,
/// environment and stdio are set on it as usual. Needs util-linux `setpriv`.
pub fn tied_command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new("setpriv");
    command.args(["--pdeathsig", "KILL", "--"]).arg(program);
    command
}

/// Starts a command made by [`tied_command`]: the child is killed (`SIGKILL`)
/// when this process exits, however it exits.
///
/// # Errors
///
/// The error of spawning it.
///
/// # Panics
///
/// If the spawning thread cannot be started.
pub fn spawn_tied(command: Command) -> io::Result<Child> {
    type Spawn = (Command, Sender<io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<Sender<Spawn>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = channel::<Spawn>();
        std::thread::Builder::new()
            .name("etcd-test-cluster-spawner".to_owned())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("start the spawner thread");
        Mutex::new(requests)
    });
    let gone = || io::Error::other("the spawner thread is gone");
    let (reply, answer) = channel();
    spawner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send((command, reply))
        .map_err(|_| gone())?;
    answer.recv().map_err(|_| gone())?
}
