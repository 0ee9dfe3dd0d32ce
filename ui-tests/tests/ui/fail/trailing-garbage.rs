#[scoped_lockfile::locked("job", timeout = "5s" garbage)]
fn job() {}

fn main() {}
