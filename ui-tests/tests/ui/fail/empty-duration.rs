#[scoped_lockfile::locked("job", timeout = "")]
fn job() {}

fn main() {}
