//! Which failed requests are worth repeating, and repeating them until a deadline.
//!
//! A leader election, a member restarting or a connection to a dead member
//! fail a request for a moment; the same request a little later, through the
//! client's balancer, usually reaches a member with a leader. Everything we
//! send is safe to repeat: the enqueue transaction puts our key only if it is
//! absent, the rest reads or revokes.

use std::future::Future;
use std::time::{Duration, Instant};

use etcd_client::Error;

/// First pause after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
/// A leader election takes about an election timeout (1 s by default): pausing
/// longer than a fraction of it only delays the hand-over.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_millis(250);

/// Whether `err` says etcd could not answer now (no leader, member down,
/// connection lost, timeout), rather than that the request itself is wrong.
pub(crate) fn is_transient(err: &Error) -> bool {
    match err {
        Error::GRpcStatus(status) => is_transient_code(i32::from(status.code())),
        Error::TransportError(_)
        | Error::IoError(_)
        | Error::WatchError(_)
        | Error::LeaseKeepAliveError(_) => true,
        _ => false,
    }
}

/// The gRPC status codes (fixed by the gRPC spec) that etcd and the transport
/// use for "not now": `Cancelled` (a member shutting down), `Unknown` and
/// `Internal` (a connection dropped mid-request), `DeadlineExceeded`, `Aborted`,
/// `Unavailable` (no leader, leader changed, connection refused). Numbers,
/// because etcd-client does not re-export tonic's `Code`, and a dependency line
/// on tonic only for its names would have to track etcd-client's version.
fn is_transient_code(code: i32) -> bool {
    const CANCELLED: i32 = 1;
    const UNKNOWN: i32 = 2;
    const DEADLINE_EXCEEDED: i32 = 4;
    const ABORTED: i32 = 10;
    const INTERNAL: i32 = 13;
    const UNAVAILABLE: i32 = 14;
    matches!(
        code,
        CANCELLED | UNKNOWN | DEADLINE_EXCEEDED | ABORTED | INTERNAL | UNAVAILABLE
    )
}

/// Backoff between attempts: doubling from [`FIRST_BACKOFF`] to [`MAX_BACKOFF`].
#[derive(Debug)]
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Self {
        Self(FIRST_BACKOFF)
    }

    /// The next pause.
    pub(crate) fn next(&mut self) -> Duration {
        let pause = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        pause
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the next attempt
/// would start after `until` (`None`: no second attempt).
pub(crate) async fn retry_until<T, F, Fut>(
    until: Option<Instant>,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut backoff = Backoff::new();
    loop {
        let err = match attempt().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let pause = backoff.next();
        match until {
            Some(until) if is_transient(&err) && Instant::now() + pause < until => {
                tokio::time::sleep(pause).await;
            }
            _ => return Err(err),
        }
    }
}
