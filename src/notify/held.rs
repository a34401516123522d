//! Messages held in memory while the database cannot be written (a full
//! disk). The pipeline composes them into alerting's copy in memory
//! (`store/shadow.rs`), which the sender's own connection cannot see; it
//! hands them over here, the sender delivers them like any other and notes
//! the result here, and the pipeline writes results and messages back to the
//! file once it takes writes, clearing this. A message is in exactly one
//! place at a time, so none is sent twice or lost.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;

use crate::store::OutboxEntry;

/// How many messages are held at most: a disk full for days with an alert a
/// minute still fits (each is a few KB, so at most a few MB); beyond it the
/// oldest delivered ones go first, then the oldest waiting (counted).
pub const HELD_CAPACITY: usize = 2_000;

/// What became of a held message's last attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The channel accepted it at this time.
    Delivered(Timestamp),
    /// It failed; the next try is due at `next`.
    Failed {
        /// Why, in the channel's words.
        reason: String,
        /// When to try again.
        next: Timestamp,
    },
    /// It can never be sent (its channel left the config).
    GaveUp {
        /// Why.
        reason: String,
        /// When it was given up.
        at: Timestamp,
    },
}

/// One held message and the results of its attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMessage {
    /// The message as composed, with its id in alerting's copy.
    pub entry: OutboxEntry,
    /// What each attempt gave.
    pub attempts: Vec<Attempt>,
}

impl HeldMessage {
    fn waiting(&self) -> bool {
        !matches!(
            self.attempts.last(),
            Some(Attempt::Delivered(_) | Attempt::GaveUp { .. })
        )
    }

    fn next_at(&self) -> Timestamp {
        match self.attempts.last() {
            Some(Attempt::Failed { next, .. }) => *next,
            _ => self.entry.next_at,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    messages: VecDeque<HeldMessage>,
    /// Messages the sender took and has not reported on yet.
    sending: usize,
    /// Waiting messages pushed out by [`HELD_CAPACITY`].
    dropped: u64,
}

/// The messages held in memory, shared by the pipeline and the sender.
#[derive(Debug, Clone, Default)]
pub struct Held {
    inner: Arc<Mutex<Inner>>,
}

impl Held {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding it leaves plain data behind.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Holds `entries` not held yet (by id).
    pub fn hold(&self, entries: Vec<OutboxEntry>) {
        let mut inner = self.lock();
        for entry in entries {
            if inner.messages.iter().any(|m| m.entry.id == entry.id) {
                continue;
            }
            inner.messages.push_back(HeldMessage {
                entry,
                attempts: Vec::new(),
            });
        }
        while inner.messages.len() > HELD_CAPACITY {
            let oldest_done = inner.messages.iter().position(|m| !m.waiting());
            let at = oldest_done.unwrap_or(0);
            if oldest_done.is_none() {
                inner.dropped += 1;
            }
            inner.messages.remove(at);
        }
    }

    /// The held messages due at `now`, oldest first; each is being sent
    /// until [`record`](Self::record) is called for it.
    pub fn take_due(&self, now: Timestamp) -> Vec<OutboxEntry> {
        let mut inner = self.lock();
        let due: Vec<OutboxEntry> = inner
            .messages
            .iter()
            .filter(|m| m.waiting() && m.next_at() <= now)
            .map(|m| m.entry.clone())
            .collect();
        inner.sending += due.len();
        due
    }

    /// When the earliest waiting message that is not due yet is due.
    pub fn next_due(&self) -> Option<Timestamp> {
        let inner = self.lock();
        inner
            .messages
            .iter()
            .filter(|m| m.waiting())
            .map(HeldMessage::next_at)
            .min()
    }

    /// Notes the result of sending (or not sending) held message `id`, taken
    /// by [`take_due`](Self::take_due).
    pub fn record(&self, id: i64, attempt: Option<Attempt>) {
        let mut inner = self.lock();
        inner.sending = inner.sending.saturating_sub(1);
        if let (Some(attempt), Some(message)) = (
            attempt,
            inner.messages.iter_mut().find(|m| m.entry.id == id),
        ) {
            message.attempts.push(attempt);
        }
    }

    /// Everything held, for writing back, and empties the hold; `None` while
    /// the sender is still sending one of them (ask again later).
    pub fn take_all(&self) -> Option<(Vec<HeldMessage>, u64)> {
        let mut inner = self.lock();
        if inner.sending > 0 {
            return None;
        }
        let dropped = std::mem::take(&mut inner.dropped);
        Some((inner.messages.drain(..).collect(), dropped))
    }

    /// How many held messages wait for delivery.
    pub fn waiting(&self) -> usize {
        self.lock().messages.iter().filter(|m| m.waiting()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn entry(id: i64) -> OutboxEntry {
        OutboxEntry {
            id,
            channel: "ops".into(),
            message: "{}".into(),
            created_at: at(0),
            next_at: at(0),
            attempts: 0,
            last_error: None,
            delivered_at: None,
            gave_up_at: None,
        }
    }

    #[test]
    fn a_held_message_is_sent_until_delivered_and_handed_back_once_nothing_is_in_flight() {
        let held = Held::default();
        held.hold(vec![entry(1), entry(2)]);
        held.hold(vec![entry(2)]);
        let due = held.take_due(at(0));
        assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(held.take_all(), None, "two are being sent");
        held.record(1, Some(Attempt::Delivered(at(1))));
        let failed = Attempt::Failed {
            reason: "refused".into(),
            next: at(10),
        };
        held.record(2, Some(failed.clone()));
        assert_eq!(held.waiting(), 1);
        assert_eq!(held.next_due(), Some(at(10)));
        assert!(held.take_due(at(5)).is_empty(), "not due before its retry");
        assert_eq!(held.take_due(at(10)).len(), 1);
        held.record(2, Some(Attempt::Delivered(at(11))));
        assert_eq!(held.waiting(), 0);
        let (messages, dropped) = held.take_all().unwrap();
        assert_eq!(dropped, 0);
        assert_eq!(messages[0].attempts, [Attempt::Delivered(at(1))]);
        assert_eq!(messages[1].attempts, [failed, Attempt::Delivered(at(11))]);
        assert_eq!(held.take_all(), Some((Vec::new(), 0)));
    }

    #[test]
    fn the_hold_is_bounded_dropping_delivered_messages_first() {
        let held = Held::default();
        held.hold(vec![entry(0)]);
        held.take_due(at(0));
        held.record(0, Some(Attempt::Delivered(at(0))));
        held.hold((1..=HELD_CAPACITY as i64 + 1).map(entry).collect());
        let (messages, dropped) = held.take_all().unwrap();
        assert_eq!(messages.len(), HELD_CAPACITY);
        assert_eq!(dropped, 1, "one waiting message had to go");
        assert_eq!(messages[0].entry.id, 2, "the delivered one went first");
    }
}
