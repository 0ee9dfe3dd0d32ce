#[scoped_lockfile::locked("job", fair, shared, fair)]
fn job() {}

fn main() {
    let _ = scoped_lockfile::with_lock!("job", fair = true, { 1 });
}
