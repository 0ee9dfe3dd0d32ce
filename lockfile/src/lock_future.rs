//! Taking a lock from async code: the same first try, then the same helper
//! threads as a timed wait, woken through the task's `Waker` instead of blocking
//! the executor's thread.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::acquire::{FirstTry, Request, Wait, contended, finish, timed_out, try_once};
use crate::fair::{self, Ticket};
use crate::open::Identified;
use crate::sys::Access;
use crate::wait::Waiting;
use crate::{LockError, LockFile, timer};

/// The future of [`LockOptions::lock_async`](crate::LockOptions::lock_async).
///
/// Dropping it while it waits leaves the helper's queue, withdraws its
/// deadline, and releases a lock that reached it meanwhile, so cancelling
/// never leaves the lock held nor a thread of ours behind for nothing.
pub(crate) struct LockFuture {
    path: PathBuf,
    content: String,
    /// A template error, reported on the first poll before anything is touched.
    invalid: Option<LockError>,
    access: Access,
    wait: Wait,
    mode: u32,
    fair: bool,
    state: State,
}

enum State {
    Start,
    Waiting {
        waiting: Waiting,
        /// Our unlocked descriptor, to say who held the lock if we give up.
        held_elsewhere: Identified,
        started: Instant,
        /// `None` when waiting forever; dropped with the state, which
        /// withdraws it from the timer.
        deadline: Option<(Instant, timer::Deadline)>,
        /// A fair waiter's place in the queue; dropped with the state, which
        /// leaves the queue at once.
        ticket: Option<Ticket>,
    },
    Done,
}

impl LockFuture {
    pub(crate) fn new(
        path: PathBuf,
        content: Result<String, LockError>,
        access: Access,
        wait: Wait,
        mode: u32,
    ) -> Self {
        let (content, invalid) = match content {
            Ok(content) => (content, None),
            Err(err) => (String::new(), Some(err)),
        };
        Self {
            path,
            content,
            invalid,
            access,
            wait,
            mode,
            fair: false,
            state: State::Start,
        }
    }

    /// In fair mode: queued behind the fair waiters that came first.
    pub(crate) fn fair(mut self, fair: bool) -> Self {
        self.fair = fair;
        self
    }

    fn request(&self) -> Request<'_> {
        Request {
            content: &self.content,
            access: self.access,
            mode: self.mode,
        }
    }

    fn lock_file(&self, locked: Identified, ticket: Option<Ticket>) -> LockFile {
        LockFile::from_locked(self.path.clone(), locked, ticket)
    }

    /// The first try, and on contention the start of the wait.
    fn start(&mut self, cx: &mut Context<'_>) -> Poll<Result<LockFile, LockError>> {
        if let Some(err) = self.invalid.take() {
            return Poll::Ready(Err(err));
        }
        if self.fair {
            fair::check_supported(&self.path)?;
        }
        let first = if self.fair {
            fair::first_try(&self.path, self.request())?
        } else {
            try_once(&self.path, self.request())?
        };
        let held_elsewhere = match first {
            FirstTry::Locked(locked) => return Poll::Ready(Ok(self.lock_file(locked, None))),
            FirstTry::Held(held_elsewhere) => held_elsewhere,
        };
        if self.wait == Wait::For(Duration::ZERO) {
            return Poll::Ready(Err(contended(&self.path, &held_elsewhere, self.access)));
        }
        // No deadlock check: this task yields while it waits, so a holder on
        // this thread can still run and release.
        let started = Instant::now();
        let ticket = if self.fair {
            Some(Ticket::take(&self.path, self.access, self.mode)?)
        } else {
            None
        };
        let waiting = match &ticket {
            Some(ticket) => Waiting::start_fair(&self.path, ticket.turn(), self.access, self.mode)?,
            None => Waiting::start(&self.path, held_elsewhere.id, self.access, self.mode)?,
        };
        let deadline = match self.wait.deadline(started) {
            Some(at) => {
                let registered = timer::wake_at(at, Arc::downgrade(waiting.slot()))
                    .map_err(|err| LockError::io(&self.path, err))?;
                Some((at, registered))
            }
            None => None,
        };
        self.state = State::Waiting {
            waiting,
            held_elsewhere,
            started,
            deadline,
            ticket,
        };
        self.wait_more(cx)
    }

    fn wait_more(&mut self, cx: &mut Context<'_>) -> Poll<Result<LockFile, LockError>> {
        let State::Waiting {
            waiting, deadline, ..
        } = &mut self.state
        else {
            unreachable!("only called while waiting");
        };
        let expired = deadline
            .as_ref()
            .is_some_and(|(at, _)| Instant::now() >= *at);
        let arrived = waiting.poll(cx.waker());
        if arrived.is_none() && !expired {
            return Poll::Pending;
        }
        let State::Waiting {
            waiting,
            held_elsewhere,
            started,
            ticket,
            ..
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            unreachable!();
        };
        // Handed over right at the deadline: still taken.
        let Some(outcome) = arrived.or_else(|| waiting.leave()) else {
            // The ticket, dropped on return, leaves the queue at once.
            let err = timed_out(&self.path, self.wait, started, &held_elsewhere, self.access);
            return Poll::Ready(Err(err));
        };
        let locked = finish(&self.path, outcome?, self.request())?;
        Poll::Ready(Ok(self.lock_file(locked, ticket)))
    }
}

impl Future for LockFuture {
    type Output = Result<LockFile, LockError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let result = match this.state {
            State::Start => this.start(cx),
            State::Waiting { .. } => this.wait_more(cx),
            State::Done => panic!("LockFuture polled after completion"),
        };
        if result.is_ready() {
            this.state = State::Done;
        }
        result
    }
}
