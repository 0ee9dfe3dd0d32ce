#[scoped_lockfile::locked("job", timeout = "-1s")]
fn job() {}

fn main() {}
