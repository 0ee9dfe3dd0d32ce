fn main() {
    let _ = scoped_lockfile::with_lock!("job", on_error = "panic", { 1 });
}
