//! `fork(2)` without `exec`, as daemons do: the child gets copies of the
//! parent's descriptors, sharing their open file descriptions, locks included.
#![allow(unsafe_code)]

/// Which side of the fork this is.
pub(crate) enum Side {
    Child,
    Parent(libc::pid_t),
}

/// Forks; call only while this process has a single thread.
pub(crate) fn fork() -> Side {
    // SAFETY: the holder calls this before starting any thread, so the child
    // is a full copy of a single-threaded process and may run ordinary code.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => Side::Child,
        pid => Side::Parent(pid),
    }
}

/// Ends the child without running the parent's exit handlers or flushing its
/// copy of stdout's buffer a second time.
pub(crate) fn exit_child(code: i32) -> ! {
    // SAFETY: _exit(2) has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Waits for the child and gives its exit code (`-1` if a signal ended it).
pub(crate) fn wait(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waitpid(2) on our own child, with a valid pointer to an int.
    let waited = unsafe { libc::waitpid(pid, &raw mut status, 0) };
    assert_eq!(waited, pid, "waitpid: {}", std::io::Error::last_os_error());
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    }
}
