//! Changes to the process's system view that the library must follow.
//!
//! - `rename-host DIR`: in a UTS namespace of its own (root only), sets the
//!   host name to `lockfile-before`, locks `DIR/host.lock` with
//!   `{pid};{hostname}` and releases it, renames the host `lockfile-after`,
//!   and locks it again; prints `content <what the file says>`, then
//!   `this-host <is_this_host of a holder naming lockfile-after>`.
//! - `file-size-limit PATH LIMIT`: ignores `SIGXFSZ`, limits files to LIMIT
//!   bytes (`RLIMIT_FSIZE`), and locks PATH with a content longer than that;
//!   prints `error <message>` or `locked`.
#![allow(unsafe_code)]

use std::path::Path;

use scoped_lockfile::{Holder, LockFile, LockOptions};

fn set_hostname(name: &str) {
    // SAFETY: a valid buffer and its length.
    let set = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    assert_eq!(set, 0, "sethostname: {}", std::io::Error::last_os_error());
}

pub(crate) fn rename_host(dir: &Path) {
    // SAFETY: unshare(2) with a flag, no pointers.
    let unshared = unsafe { libc::unshare(libc::CLONE_NEWUTS) };
    assert_eq!(unshared, 0, "unshare: {}", std::io::Error::last_os_error());
    let path = dir.join("host.lock");
    set_hostname("lockfile-before");
    LockFile::with_content_template(&path, "{pid};{hostname}")
        .expect("lock")
        .close()
        .expect("close");
    set_hostname("lockfile-after");
    LockFile::with_content_template(&path, "{pid};{hostname}")
        .expect("lock")
        .close()
        .expect("close");
    let content = std::fs::read_to_string(&path).expect("read");
    println!("content {}", content.trim());
    let after = Holder::new(Some(format!("{};lockfile-after", std::process::id())));
    println!("this-host {:?}", after.is_this_host());
}

pub(crate) fn file_size_limit(path: &Path, limit: u64) {
    let limit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: ignoring a signal, and a valid rlimit for setrlimit(2).
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &raw const limit), 0);
    }
    let long = "x".repeat(200);
    match LockOptions::new().content_template(long).lock(path) {
        Ok(lock) => {
            println!("locked");
            drop(lock);
        }
        Err(err) => println!("error {err}"),
    }
}
