#[lockfile::locked("job")]
fn job() {
    drop(__lockfile_guard);
}

fn main() {
    let _ = lockfile::with_lock!("job", { __lockfile_guard.close() });
}
