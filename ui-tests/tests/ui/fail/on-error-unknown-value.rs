#[scoped_lockfile::locked("job", on_error = "ignore")]
fn job() {}

#[scoped_lockfile::locked("job", on_error = panic)]
fn unquoted() {}

fn main() {}
