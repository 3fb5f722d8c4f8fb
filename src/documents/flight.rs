//! Single flight: concurrent resolutions of one URL share one fetch. Runtime-agnostic (a mutex
//! and a list of wakers), and a leader that is cancelled mid-fetch releases its followers.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// One fetch in progress, which followers wait on.
pub(crate) struct Flight<T: Clone> {
    state: Mutex<State<T>>,
}

enum State<T> {
    Running(Vec<Waker>),
    Done(Option<T>),
}

impl<T: Clone> Flight<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::Running(Vec::new())),
        })
    }

    /// Publishes the leader's outcome (`None`: the leader gave up) and wakes the followers.
    pub(crate) fn finish(&self, outcome: Option<T>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let State::Running(wakers) = std::mem::replace(&mut *state, State::Done(outcome)) {
            for waker in wakers {
                waker.wake();
            }
        }
    }

    /// Waits for the leader's outcome.
    pub(crate) fn wait(self: &Arc<Self>) -> Wait<T> {
        Wait(self.clone())
    }
}

/// The future a follower awaits.
pub(crate) struct Wait<T: Clone>(Arc<Flight<T>>);

impl<T: Clone> Future for Wait<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            State::Done(outcome) => Poll::Ready(outcome.clone()),
            State::Running(wakers) => {
                if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

/// Held by the leader: if it is dropped before [`Leader::done`], the followers are released
/// with `None` and retry on their own.
pub(crate) struct Leader<T: Clone> {
    flight: Arc<Flight<T>>,
    finished: bool,
}

impl<T: Clone> Leader<T> {
    pub(crate) fn new(flight: Arc<Flight<T>>) -> Self {
        Self {
            flight,
            finished: false,
        }
    }

    pub(crate) fn done(mut self, outcome: T) {
        self.flight.finish(Some(outcome));
        self.finished = true;
    }
}

impl<T: Clone> Drop for Leader<T> {
    fn drop(&mut self) {
        if !self.finished {
            self.flight.finish(None);
        }
    }
}
