//! Taking a lock from async code: the same first try, the same helper threads
//! as a timed wait (woken through the task's `Waker` instead of blocking the
//! executor's thread) and the same check and write once served
//! ([`conclude`]), starting over if the path names another file by then.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::acquire::{Request, Wait, conclude, contended, first_try, timed_out};
use crate::fair::{self, Ticket};
use crate::open::Identified;
use crate::own_process::OwnProcess;
use crate::sys::Access;
use crate::wait;
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
    /// When the first try found the lock held: a wait that starts over keeps
    /// its deadline.
    started: Option<Instant>,
    /// A fair waiter's place in the queue, taken as its wait starts;
    /// dropped when the wait starts over (the path names another lock file,
    /// with another queue), when the future completes or is dropped, which
    /// leaves the queue at once. A forked child's copy is its parent's place,
    /// which the ticket itself never gives back in the child.
    ticket: Option<Ticket>,
    state: State,
}

enum State {
    Start,
    Waiting {
        /// A forked child's copy is left alone: its helper and timer are the
        /// parent's threads; the child starts over with its own.
        waiting: OwnProcess<wait::Waiting>,
        /// Our unlocked descriptor, to say who held the lock if we give up.
        held_elsewhere: Identified,
        /// `None` when waiting forever; dropped with the state, which
        /// withdraws it from the timer.
        deadline: Option<(Instant, timer::Deadline)>,
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
            started: None,
            ticket: None,
            state: State::Start,
        }
    }

    /// In fair mode: queued behind the fair waiters that came first.
    pub(crate) fn fair(mut self, fair: bool) -> Self {
        self.fair = fair;
        self
    }

    fn lock_file(&mut self, taken: crate::acquire::Taken) -> LockFile {
        LockFile::from_taken(self.path.clone(), taken, self.ticket.take())
    }

    fn request(&self) -> Request<'_> {
        Request {
            content: &self.content,
            access: self.access,
            mode: self.mode,
        }
    }

    /// The first try, and on contention the start of the wait.
    fn start(&mut self) -> Poll<Result<LockFile, LockError>> {
        if let Some(err) = self.invalid.take() {
            return Poll::Ready(Err(err));
        }
        if self.fair {
            fair::check_supported(&self.path)?;
        }
        let (held_elsewhere, queued) =
            match first_try(&self.path, self.request(), self.fair)?.not_ours() {
                Err(taken) => return Poll::Ready(Ok(self.lock_file(taken))),
                Ok(not_ours) => not_ours,
            };
        if self.wait == Wait::For(Duration::ZERO) {
            let err = contended(&self.path, &held_elsewhere, self.access, queued);
            return Poll::Ready(Err(err));
        }
        // No deadlock check: this task yields while it waits, so a holder on
        // this thread can still run and release.
        let started = *self.started.get_or_insert_with(Instant::now);
        let deadline = self.wait.deadline(started);
        if deadline.is_some_and(|at| Instant::now() >= at) {
            // Started over, and the time is up.
            let err = timed_out(&self.path, self.wait, started, &held_elsewhere, self.access);
            return Poll::Ready(Err(err));
        }
        let waiting = if self.fair {
            let (waiting, ticket) =
                wait::start_fair(&self.path, &held_elsewhere, self.access, self.mode)?;
            self.ticket = Some(ticket);
            waiting
        } else {
            wait::start(&self.path, &held_elsewhere, self.access, self.mode)?
        };
        let deadline = match deadline {
            Some(at) => {
                let registered = timer::wake_at(at, Arc::downgrade(waiting.slot()))
                    .map_err(|err| LockError::io(&self.path, err))?;
                Some((at, registered))
            }
            None => None,
        };
        self.state = State::Waiting {
            waiting: OwnProcess::new(waiting),
            held_elsewhere,
            deadline,
        };
        Poll::Pending
    }

    fn wait_more(&mut self, cx: &mut Context<'_>) -> Poll<Result<LockFile, LockError>> {
        let State::Waiting {
            waiting, deadline, ..
        } = &mut self.state
        else {
            unreachable!("only called while waiting");
        };
        if !waiting.is_ours() {
            // Polled in a child forked since the wait started: the copy is
            // left alone, and the child starts over with a first try, a
            // helper, a deadline and (if fair) a place of its own.
            self.state = State::Start;
            self.ticket = None;
            return Poll::Pending;
        }
        let at = deadline.as_ref().map(|(at, _)| *at);
        let Poll::Ready(outcome) = waiting.get_mut().poll_until(at, cx.waker()) else {
            return Poll::Pending;
        };
        let State::Waiting { held_elsewhere, .. } =
            std::mem::replace(&mut self.state, State::Start)
        else {
            unreachable!("matched above");
        };
        let Some(outcome) = outcome else {
            let started = self.started.expect("set before waiting");
            let err = timed_out(&self.path, self.wait, started, &held_elsewhere, self.access);
            return Poll::Ready(Err(err));
        };
        if let Some(taken) = conclude(&self.path, outcome?, self.request())? {
            return Poll::Ready(Ok(self.lock_file(taken)));
        }
        // The path names another file now: a first try there, at once, and a
        // place in that file's queue.
        self.ticket = None;
        Poll::Pending
    }
}

impl Future for LockFuture {
    type Output = Result<LockFile, LockError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(
            !matches!(this.state, State::Done),
            "LockFuture polled after completion"
        );
        // `start` ends ready or waiting; `wait_more` ready, waiting with the
        // waker registered, or back at `Start` to begin again at once.
        let result = loop {
            if matches!(this.state, State::Start)
                && let Poll::Ready(done) = this.start()
            {
                break Poll::Ready(done);
            }
            let step = this.wait_more(cx);
            if step.is_ready() || matches!(this.state, State::Waiting { .. }) {
                break step;
            }
        };
        if result.is_ready() {
            this.state = State::Done;
            // Leaves the queue at once after an error (moved into the guard
            // after a success).
            this.ticket = None;
        }
        result
    }
}
