#[scoped_lockfile::locked("job")]
static JOB: u8 = 1;

fn main() {}
