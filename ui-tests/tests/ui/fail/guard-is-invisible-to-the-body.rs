#[scoped_lockfile::locked("job")]
fn job() {
    drop(__lockfile_guard);
}

fn main() {
    let _ = scoped_lockfile::with_lock!("job", { __lockfile_guard.close() });
}
