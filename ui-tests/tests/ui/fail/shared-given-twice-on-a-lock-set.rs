#[scoped_lockfile::locked(["db", "port"], shared, shared)]
fn readers() {}

fn main() {
    let _ = scoped_lockfile::with_lock!(["db", "port"], shared, timeout = "1s", shared, { 1 });
}
