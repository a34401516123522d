//! Alert decisions the store could not take. A service that went down while
//! the disk was full used to be logged ("could not record the alert") and
//! then forgotten: alerts are raised only when a state changes, so no message
//! ever followed, not even after space came back. Now a decision that cannot
//! be written waits here, in order, and is tried again at every tick until
//! the store takes it; later decisions queue behind it, so an alert's end is
//! never recorded before its start.

use std::collections::VecDeque;

use jiff::Timestamp;

use crate::alert::Decision;
use crate::alert::engine::Alerter;
use crate::calendar::Calendar;
use crate::store::{Store, StoreError};

/// How many decisions wait at most; a disk full for days drops the oldest
/// rather than growing without bound (each is a few hundred bytes).
const CAPACITY: usize = 10_000;

/// The decisions waiting for the store, oldest first, each with when it was made.
#[derive(Debug, Default)]
pub(crate) struct Unrecorded {
    waiting: VecDeque<(Decision, Timestamp)>,
}

impl Unrecorded {
    /// Records `decision` made at `now`, after any still waiting; when the
    /// store refuses, it waits too and the store's error is returned.
    pub fn record(
        &mut self,
        alerter: &Alerter,
        store: &mut Store,
        calendar: Option<&Calendar>,
        decision: Decision,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if self.waiting.len() >= CAPACITY {
            self.waiting.pop_front();
        }
        self.waiting.push_back((decision, now));
        match self.retry(alerter, store, calendar) {
            Err(err) if !self.waiting.is_empty() => Err(err),
            _ => Ok(()),
        }
    }

    /// Records what waits, in order, until the store refuses one; `Ok` with
    /// how many were recorded.
    pub fn retry(
        &mut self,
        alerter: &Alerter,
        store: &mut Store,
        calendar: Option<&Calendar>,
    ) -> Result<usize, StoreError> {
        let mut done = 0;
        while let Some((decision, at)) = self.waiting.front() {
            alerter.decide(store, decision, calendar, *at)?;
            self.waiting.pop_front();
            done += 1;
        }
        Ok(done)
    }

    /// How many decisions wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// `true` when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}
