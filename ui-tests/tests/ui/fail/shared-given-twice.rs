#[scoped_lockfile::locked("job", shared, timeout = "1s", shared)]
fn job() {}

fn main() {
    let _ = scoped_lockfile::with_lock!("job", shared = true, { 1 });
}
