#[derive(Debug)]
struct MyError;

#[lockfile::locked("job")]
fn job() -> Result<(), MyError> {
    Ok(())
}

fn main() {}
