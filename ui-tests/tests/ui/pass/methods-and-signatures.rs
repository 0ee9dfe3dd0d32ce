//! Methods, generics with `where`, borrowed and `impl Trait` returns, `unsafe fn`
//! and other attributes all stay as written; only the body gains the guard.
#![deny(warnings)]
#![allow(unsafe_code)] // an `unsafe fn` must keep its `unsafe` through the expansion

use std::fmt::Display;
use std::path::PathBuf;

use scoped_lockfile::locked;

struct Store {
    dir: PathBuf,
    items: Vec<String>,
}

impl Store {
    #[locked(self.dir.join("store"))]
    fn first(&self) -> &str {
        &self.items[0]
    }

    #[locked(self.dir.join("store"), timeout = "5s")]
    fn push(&mut self, item: impl Into<String>) -> &mut Self {
        self.items.push(item.into());
        self
    }

    #[locked(self.dir.join("store"))]
    fn into_items(self) -> Vec<String> {
        self.items
    }
}

trait Describe {
    fn describe(&self) -> String;
}

impl Describe for Store {
    /// Doc comments stay.
    #[inline]
    #[locked(self.dir.join("describe"))]
    fn describe(&self) -> String {
        format!("{} items", self.items.len())
    }
}

#[must_use]
#[locked(dir.join("generic"))]
fn largest<'a, T>(dir: &std::path::Path, items: &'a [T]) -> Option<&'a T>
where
    T: Ord + Display,
{
    items.iter().max()
}

#[locked(dir.join("iter"))]
fn evens(dir: &std::path::Path, up_to: u32) -> impl Iterator<Item = u32> {
    (0..up_to).filter(|n| n % 2 == 0)
}

/// # Safety
/// None needed; `unsafe` only has to survive the expansion.
#[locked(dir.join("unsafe"))]
unsafe fn unsafe_fn(dir: &std::path::Path) -> u8 {
    3
}

#[cfg(test)]
#[locked("/tmp/lockfile-ui-test-attr")]
#[test]
fn with_test_attribute() {}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store {
        dir: dir.path().to_path_buf(),
        items: vec!["a".into()],
    };
    store.push("b").push("c");
    assert_eq!(store.first(), "a");
    assert_eq!(store.describe(), "3 items");
    assert_eq!(store.into_items(), ["a", "b", "c"]);
    assert_eq!(largest(dir.path(), &[3, 9, 4]), Some(&9));
    assert_eq!(evens(dir.path(), 7).collect::<Vec<_>>(), [0, 2, 4, 6]);
    // SAFETY: `unsafe_fn` has no safety requirements.
    assert_eq!(unsafe { unsafe_fn(dir.path()) }, 3);
}
