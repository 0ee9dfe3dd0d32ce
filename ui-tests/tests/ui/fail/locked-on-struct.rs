#[lockfile::locked("job")]
struct Job;

fn main() {}
