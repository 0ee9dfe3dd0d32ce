// What `#[async_trait]` hands to `#[locked]` on a method: the `async fn` is
// already a fn returning a boxed future with the `'async_trait` lifetime.
use std::future::Future;
use std::pin::Pin;

struct Store;

impl Store {
    #[scoped_lockfile::locked("store")]
    fn save<'life0, 'async_trait>(
        &'life0 self,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {})
    }
}

fn main() {
    let _ = Store.save();
}
