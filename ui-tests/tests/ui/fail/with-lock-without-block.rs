fn main() {
    let _ = scoped_lockfile::with_lock!("job", timeout = "5s");
    let _ = scoped_lockfile::with_lock!("job", { 1 }, timeout = "5s");
}
