#[scoped_lockfile::locked("job", timeout = "5 parsecs")]
fn job() {}

fn main() {}
