#[scoped_lockfile::locked]
fn no_arguments() {}

#[scoped_lockfile::locked(timeout = "5s")]
fn keys_only() {}

fn main() {
    let _ = scoped_lockfile::with_lock!({ 1 });
}
