#[scoped_lockfile::locked("job")]
struct Job;

fn main() {}
