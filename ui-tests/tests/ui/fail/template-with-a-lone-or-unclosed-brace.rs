#[scoped_lockfile::locked("job", content_template = "pid}")]
fn lone() {}

#[scoped_lockfile::locked("job", content_template = "{pid;{hostname}")]
fn unclosed() {}

fn main() {}
