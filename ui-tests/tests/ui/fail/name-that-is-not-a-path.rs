#[scoped_lockfile::locked(42)]
fn job() {}

fn main() {}
