#[scoped_lockfile::locked("job")]
const JOB: u8 = 1;

fn main() {}
