const DB: &str = "db";

#[scoped_lockfile::locked(["db", "port", "db"])]
fn twice_by_literal() {}

#[scoped_lockfile::locked([DB, "port", DB])]
fn twice_by_const() {}

fn main() {}
