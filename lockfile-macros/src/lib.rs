//! Procedural macros of the [`lockfile`](https://docs.rs/lockfile) crate.
//!
//! Use them through `lockfile` (`lockfile::locked`, `lockfile::with_lock!`),
//! which re-exports them; their documentation lives there.

mod args;
mod expand;

use proc_macro::TokenStream;
use syn::parse_macro_input;

/// Runs a function while holding the lock file `NAME + ".lock"`.
///
/// See `lockfile::locked` for the full documentation.
#[proc_macro_attribute]
pub fn locked(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match syn::parse::<args::LockArgs>(args) {
        Ok(args) => expand::locked(&args, &item).into(),
        // The function stays, so the only error is about the arguments.
        Err(err) => expand::with_error(&item, &err).into(),
    }
}

/// Runs a block while holding the lock file `NAME + ".lock"`.
///
/// See `lockfile::with_lock!` for the full documentation.
#[proc_macro]
pub fn with_lock(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as args::WithLockInput);
    expand::with_lock(&input).into()
}
