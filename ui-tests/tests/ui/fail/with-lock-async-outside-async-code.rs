fn main() {
    let _ = scoped_lockfile::with_lock!(async "job", { 1 });
}
