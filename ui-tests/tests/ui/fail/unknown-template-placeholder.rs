#[scoped_lockfile::locked("job", content_template = "{pid};{user}")]
fn job() {}

fn main() {
    let _ = scoped_lockfile::with_lock!("job", content_template = "{pid:>8}", { 1 });
}
