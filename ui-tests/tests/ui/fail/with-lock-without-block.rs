fn main() {
    let _ = lockfile::with_lock!("job", timeout = "5s");
    let _ = lockfile::with_lock!("job", { 1 }, timeout = "5s");
}
