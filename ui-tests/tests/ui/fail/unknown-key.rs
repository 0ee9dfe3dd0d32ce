#[scoped_lockfile::locked("job", tiemout = "5s")]
fn job() {}

fn main() {}
