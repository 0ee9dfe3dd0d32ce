//! The runtime every etcd request of a handle runs on: a current-thread tokio
//! runtime on a thread of its own.
//!
//! Why owned rather than the caller's: a lease must be kept alive while the
//! caller's thread runs plain blocking code, or while the caller's executor is
//! busy (or is not tokio at all). gRPC connections live on the runtime that
//! opened them, so the client is created here too, and the caller only ever
//! waits for results: on a channel when blocking, on a `JoinHandle` when async.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc as std_mpsc;
use std::task::{Context, Poll};

use tokio::runtime::{Builder, Handle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A handle on the background runtime that keeps it running.
///
/// The thread exits once every `Background` is dropped: it waits for the last
/// `keep_running` sender to go, then drops the runtime outside of any async
/// context (a tokio runtime must not be dropped from inside one).
#[derive(Debug, Clone)]
pub(crate) struct Background {
    handle: Handle,
    _keep_running: mpsc::Sender<()>,
}

impl Background {
    /// Starts the thread and its runtime.
    pub(crate) fn start() -> std::io::Result<Self> {
        let runtime = Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (keep_running, mut stopped) = mpsc::channel::<()>(1);
        std::thread::Builder::new()
            .name("scoped-lockfile-etcd".to_owned())
            .spawn(move || {
                // `recv` returns `None` once every sender (every `Background`) is gone;
                // work that must finish (a release) holds one until it is done.
                runtime.block_on(async move { while stopped.recv().await.is_some() {} });
            })?;
        Ok(Self {
            handle,
            _keep_running: keep_running,
        })
    }

    /// Runs `future` on the background runtime, detached.
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs `future` on the background runtime and blocks this thread until it is done.
    ///
    /// Works from any thread, even one inside a runtime (it then blocks that
    /// thread, as any blocking call would); it never panics for being called
    /// from async code, unlike `Runtime::block_on`. It must not be called on the
    /// background thread itself, which would wait for itself.
    pub(crate) fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (done, result) = std_mpsc::sync_channel(1);
        self.spawn(async move {
            let _ = done.send(future.await);
        });
        result
            .recv()
            .expect("a scoped-lockfile-etcd background task panicked")
    }

    /// Runs `future` on the background runtime; the returned future waits for it
    /// on any executor, and cancels it when dropped.
    pub(crate) fn run<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Task(self.spawn(future))
    }

    /// Whether the calling thread is inside some tokio runtime, where waiting
    /// for the background thread would block an executor (or, on the background
    /// thread itself, wait forever).
    pub(crate) fn in_async_context() -> bool {
        Handle::try_current().is_ok()
    }
}

/// A task on the background runtime, awaited from anywhere; dropping it aborts
/// the task, so a cancelled caller does not leave work running for nobody.
#[derive(Debug)]
pub(crate) struct Task<T>(JoinHandle<T>);

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(output) => output,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            // Only `abort` cancels a task, and only `Drop` calls it.
            Err(err) => unreachable!("background task cancelled while awaited: {err}"),
        })
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
