#[scoped_lockfile::locked("job", timeout = 5)]
fn job() {}

fn main() {}
