#[scoped_lockfile::locked("job")]
extern "C" fn callback() -> u8 {
    1
}

fn main() {}
