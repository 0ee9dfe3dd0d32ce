#[scoped_lockfile::locked("job", timeout = "5s", timeout = "1s")]
fn job() {}

fn main() {}
