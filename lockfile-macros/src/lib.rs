//! Procedural macros of the [`scoped-lockfile`](https://docs.rs/scoped-lockfile) crate.
//!
//! Use them through `scoped-lockfile` (`scoped_lockfile::locked`, `scoped_lockfile::with_lock!`),
//! which re-exports them; their documentation lives there.

mod args;
mod expand;

use proc_macro::TokenStream;
use syn::parse_macro_input;

/// Runs a function while holding the lock file `NAME + ".lock"`.
///
/// ```text
/// #[locked(NAME)]
/// #[locked([NAME, NAME, ..])]
/// #[locked(NAME, shared, fair, timeout = "DURATION", content_template = TEMPLATE,
///          on = BACKEND, on_error = "panic" | "return", crate = "PATH")]
/// ```
///
/// - `NAME`: any expression whose reference is `AsRef<Path>`: a string literal, a
///   `const`, `format!` of the function's own arguments, `self.dir.join("x")`.
///   It is evaluated on every call, before the body; `.lock` is appended, as
///   [`LockedContext`](../scoped_lockfile/struct.LockedContext.html) does.
///   A relative name goes under the directory `SCOPED_LOCKFILE_DIR` names, when
///   that variable is set (one line of a workspace's `.cargo/config.toml`: see
///   [`LOCK_DIR_ENV`](../scoped_lockfile/constant.LOCK_DIR_ENV.html)).
/// - `[NAME, ..]`: a set of locks, held together, taken in one canonical order
///   (`LockOptions::locked_set`), so functions naming the same locks in other
///   orders never deadlock; the keys apply to the whole set (one timeout,
///   `shared` for every lock). At least one name, none written twice; not with `on`.
/// - `shared`: a reader's lock, held by any number of readers together
///   (`LockOptions::shared`); a flag, written alone.
/// - `fair`: first come, first served among fair waiters (`LockOptions::fair`,
///   Linux only; elsewhere taking the lock fails with `LockError::Unsupported`);
///   a flag, written alone.
/// - `timeout`: a [humantime](https://docs.rs/humantime) duration (`"500ms"`,
///   `"5s"`, `"1m 30s"`), parsed at compile time; `"0s"` is a single try. Without
///   it the call waits as long as it takes.
/// - `content_template`: what the lock file says, e.g. `"{pid};{hostname}"`. A
///   string literal is checked at compile time; any other expression is checked
///   when the lock is taken.
/// - `on`: an expression whose value (or reference) is a
///   [`Backend`](../scoped_lockfile/trait.Backend.html),
///   e.g. a connected lock service; the lock is `LockOptions::lock_on(&BACKEND, &NAME)`
///   (`lock_on_async` in an `async fn`). Without it, the lock file `NAME + ".lock"`.
/// - `on_error`: what the function does when the lock cannot be taken (see below).
/// - `crate`: the path to the `scoped_lockfile` crate, if it is re-exported under another
///   name (default `::scoped_lockfile`).
///
/// Keys are optional and may come in any order; a repeated or unknown key, a bad
/// duration or a bad literal template is a compile error on that token.
///
/// # What it expands to
///
/// The function keeps its signature, attributes, generics and `where` clause;
/// its body gains one statement in front (after any inner attribute such as
/// `#![allow(..)]`, which stays first), and the guard drops when the body is
/// left, however it is left: `return`, `?`, a panic, or the end. The name's
/// temporaries end with that statement, before the body runs, as they would
/// in a `let` written by hand.
///
/// ```
/// # use std::path::Path;
/// # use scoped_lockfile::{LockError, LockOptions};
/// # use std::time::Duration;
/// #[scoped_lockfile::locked(dir.join("deploy"), timeout = "5s")]
/// fn deploy(dir: &Path) -> Result<u32, LockError> {
///     Ok(42)
/// }
///
/// // is the same as
/// fn deploy_by_hand(dir: &Path) -> Result<u32, LockError> {
///     let _guard = LockOptions::new()
///         .timeout(Duration::from_secs(5))
///         .locked_context(&(dir.join("deploy")))?;
///     Ok(42)
/// }
/// # let tmp = tempfile::tempdir()?;
/// # assert_eq!(deploy(tmp.path())?, deploy_by_hand(tmp.path())?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// (But for hidden steps: the guard of a sync fn is registered as held by
/// its thread while the fn runs; see *Deadlock on the same thread*. An `async
/// fn` takes it with `locked_context_async(..)` in one statement and awaits it
/// in the next. A relative name is put under `SCOPED_LOCKFILE_DIR` when that is
/// set, and in a test harness the lock file names the test; see *In tests*.)
///
/// # When the lock cannot be taken
///
/// By default, a function whose return type's last path segment is `Result`
/// (`Result<T, E>`, `io::Result<T>`, `anyhow::Result<T>`) returns
/// `Err(E::from(lock_error))`, as `?` would; `E` needs `From<LockError>`
/// (`io::Error` has it, and so does anything `Box<dyn Error>` or
/// `anyhow::Error` can hold). Any other function panics with the
/// [`LockError`](../scoped_lockfile/enum.LockError.html)'s
/// message. The decision is made from the spelling of the return type alone:
/// a type alias named `Result` that is not one (`type Result = u32;`), or a
/// `Result` under another name (`Self::Output`), is told apart with
/// `on_error`:
///
/// - `on_error = "panic"`: panic with the error's message, whatever the type.
/// - `on_error = "return"`: `return Err(From::from(lock_error))`, whatever the
///   spelling; the return type must then be a `Result` whose error type has
///   `From<LockError>`.
///
/// ```
/// # let tmp = tempfile::tempdir()?;
/// # let dir = tmp.path();
/// #[scoped_lockfile::locked(dir.join("report"), timeout = "0s")]
/// fn report(dir: &std::path::Path) -> std::io::Result<()> {
///     Ok(())
/// }
///
/// let _held = scoped_lockfile::LockedContext::new(dir.join("report"))?;
/// let err = report(dir).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # On `async fn`
///
/// An `async fn` awaits the lock instead of blocking its thread
/// (`locked_context_async(..).await`): while it waits, other tasks run. The
/// guard lives across the body's `.await` points, and the function's future is
/// `Send` whenever the body's is. Errors are handled as above; a waiting task
/// never gets `WouldDeadlock` (see `LockOptions::lock_async`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tmp = tempfile::tempdir()?;
/// # let dir = tmp.path();
/// #[scoped_lockfile::locked(dir.join("sync"), timeout = "30s")]
/// async fn sync(dir: &std::path::Path) -> Result<u32, scoped_lockfile::LockError> {
///     tokio::task::yield_now().await; // still holding the lock
///     Ok(1)
/// }
///
/// assert_eq!(sync(dir).await?, 1);
/// # Ok(())
/// # }
/// ```
///
/// # Deadlock on the same thread
///
/// The guard of a sync function cannot leave its frame, so while the function
/// runs, its thread holds the lock. If that thread then waits, without a
/// timeout, for the same lock file (the function re-entered, say), the wait
/// could never end: it fails at once with `LockError::WouldDeadlock`, through
/// the path above. A wait with a timeout times out instead, and an `async fn`'s
/// guard, which may move between threads with its future, is never counted,
/// nor is a lock taken `on` another backend.
///
/// # What runs under the lock
///
/// The body, and nothing after it. A sync function that returns a future
/// (`impl Future`, `Pin<Box<dyn Future>>`, `BoxFuture`) is a compile error
/// saying to write an `async fn`: its work would run once the lock is
/// released. The same holds, undetected, for any value evaluated lazily after
/// the function returns: an iterator, a closure, a builder. Collect or run
/// it inside the body.
///
/// # In tests
///
/// On `#[test]` and `#[tokio::test]` fns (in either order), `#[locked]` is a
/// cross-process `serial_test`: see the page *Serializing tests*
/// (`scoped_lockfile::serializing_tests`). Where the macro expands in a crate
/// built as a test harness (`cfg(test)`), the lock file gets a second line naming
/// the running test (`test NAME (pid PID)`), which a test that waits for the
/// lock and times out prints; outside tests the content is zc.lockfile's. A
/// test that has to wait notes on its standard error which lock it waits for
/// and who holds it (the harness shows it if the test fails).
///
/// Not supported: `const fn` (locking happens at run time) and items other than
/// functions with a body; each is a compile error saying so.
#[proc_macro_attribute]
pub fn locked(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match syn::parse::<args::LockArgs>(args) {
        Ok(args) => expand::locked(&args, &item).into(),
        // The function stays, so the only error is about the arguments.
        Err(err) => expand::with_error(&item, &err).into(),
    }
}

/// Runs a block while holding the lock file `NAME + ".lock"`; evaluates to
/// `Result<T, LockError>`, where `T` is the block's type.
///
/// ```text
/// with_lock!(NAME, { BODY })
/// with_lock!(NAME, shared, fair, timeout = "DURATION", content_template = TEMPLATE, on = BACKEND, crate = "PATH", { BODY })
/// with_lock!([NAME, NAME, ..], ..., { BODY })     // a set of locks, as #[locked] takes it
/// with_lock!(async NAME, ..., { BODY })          // in async code: awaits the lock
/// ```
///
/// The arguments are those of [`macro@locked`], with the block last; the whole
/// call is a comma-separated list, so rustfmt formats it like a function call.
/// The body runs inline, not in a closure: `?` and `return` in it act on the
/// enclosing function, `break` and `continue` on the enclosing loop. If the lock
/// cannot be taken the body does not run and the result is the `Err`.
///
/// # What it expands to
///
/// ```
/// # use scoped_lockfile::{LockError, LockOptions};
/// # use std::time::Duration;
/// # let tmp = tempfile::tempdir()?;
/// # let name = tmp.path().join("state");
/// let total: Result<u32, LockError> = scoped_lockfile::with_lock!(&name, timeout = "5s", {
///     40 + 2
/// });
///
/// // is the same as
/// let by_hand: Result<u32, LockError> = {
///     let taken = LockOptions::new().timeout(Duration::from_secs(5)).locked_context(&(&name));
///     match taken {
///         Ok(_guard) => Ok({ 40 + 2 }),
///         Err(err) => Err(err),
///     }
/// };
/// assert_eq!(total?, by_hand?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Lints
///
/// The expansion makes no lint fire on correct code. To that end it allows,
/// on its own statements, `unreachable_code` (a body that always returns or
/// breaks makes the `Ok` around its value unreachable) and clippy's
/// `diverging_sub_expression`, which then covers the body's statements too.
///
/// # In async code
///
/// With `async` before the name, the lock is awaited rather than waited for
/// (`locked_context_async(..).await`), so the call must be inside an async fn
/// or block; the body is inline all the same, and may `.await` while holding
/// the lock.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tmp = tempfile::tempdir()?;
/// # let dir = tmp.path();
/// let n = scoped_lockfile::with_lock!(async dir.join("state"), timeout = "5s", {
///     tokio::task::yield_now().await;
///     42
/// })?;
/// assert_eq!(n, 42);
/// # Ok(())
/// # }
/// ```
///
/// # In a loop
///
/// ```
/// # let tmp = tempfile::tempdir()?;
/// # let dir = tmp.path();
/// fn first_even(dir: &std::path::Path, items: &[&str]) -> Result<Option<u32>, Box<dyn std::error::Error>> {
///     for item in items {
///         let found = scoped_lockfile::with_lock!(dir.join("scan"), timeout = "1s", {
///             let n: u32 = item.parse()?; // returns from `first_even`
///             if n % 2 == 1 {
///                 continue; // next item, lock released
///             }
///             n
///         })?;
///         return Ok(Some(found));
///     }
///     Ok(None)
/// }
/// assert_eq!(first_even(dir, &["3", "8", "5"])?, Some(8));
/// assert!(first_even(dir, &["x"]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[proc_macro]
pub fn with_lock(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as args::WithLockInput);
    expand::with_lock(&input).into()
}
