fn main() {
    let _ = lockfile::with_lock!(async "job", { 1 });
}
