#[lockfile::locked("job")]
async fn job() -> u8 {
    1
}

fn main() {}
