#[derive(Debug)]
struct MyError;

#[scoped_lockfile::locked("job")]
fn job() -> Result<(), MyError> {
    Ok(())
}

fn main() {}
