#[scoped_lockfile::locked("job")]
trait Job {
    fn run(&self);
}

fn main() {}
