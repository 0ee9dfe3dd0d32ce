#[scoped_lockfile::locked([])]
fn nothing() {}

fn main() {
    let _ = scoped_lockfile::with_lock!([], timeout = "1s", { 1 });
}
