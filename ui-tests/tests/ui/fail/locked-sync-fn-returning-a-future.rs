use std::future::Future;
use std::pin::Pin;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[scoped_lockfile::locked("job")]
fn impl_future() -> impl Future<Output = u8> {
    async { 1 }
}

#[scoped_lockfile::locked("job")]
fn pinned_box() -> Pin<Box<dyn Future<Output = u8> + Send>> {
    Box::pin(async { 1 })
}

#[scoped_lockfile::locked("job")]
fn box_future() -> BoxFuture<'static, u8> {
    Box::pin(async { 1 })
}

#[scoped_lockfile::locked("job")]
fn into_future() -> impl std::future::IntoFuture<Output = u8> {
    async { 1 }
}

fn main() {}
