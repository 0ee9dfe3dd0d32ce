#[scoped_lockfile::locked("job")]
const fn job() -> u8 {
    1
}

fn main() {}
