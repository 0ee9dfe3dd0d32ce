#[lockfile::locked]
fn no_arguments() {}

#[lockfile::locked(timeout = "5s")]
fn keys_only() {}

fn main() {
    let _ = lockfile::with_lock!({ 1 });
}
