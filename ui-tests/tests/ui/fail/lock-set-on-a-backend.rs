#[scoped_lockfile::locked(["db", "port"], on = scoped_lockfile::Files)]
fn on_a_backend() {}

fn main() {
    let _ = scoped_lockfile::with_lock!(["db", "port"], on = scoped_lockfile::Files, { 1 });
}
