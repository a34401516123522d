//! Empties the outbox: sends each composed message through its channel,
//! marks it delivered the moment the channel accepts it (so it is never sent
//! twice), and retries a failure with backoff until it goes through. Runs
//! beside the agent with its own connection to the database, so a slow mail
//! server never holds up checks.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;

use super::held::{Attempt, Held};
use super::{Channel, Message, SendError};
use crate::clock::Clock;
use crate::store::{OutboxEntry, Store, StoreError};

/// A message sent this long after it was composed says that it is late.
const LATE: SignedDuration = SignedDuration::from_secs(60);

/// The channels by name, as the current config has them.
pub type Channels = Arc<HashMap<String, Channel>>;

/// The channels of a config's `[[channel]]` tables, with the built-in log.
pub fn channels(configured: &[Channel]) -> Channels {
    let mut map: HashMap<String, Channel> = configured
        .iter()
        .map(|c| (c.name.clone(), c.clone()))
        .collect();
    map.entry(Channel::LOG.to_owned())
        .or_insert_with(Channel::log);
    Arc::new(map)
}

/// What one pass of [`Outbox::deliver`] saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Messages accepted by their channel.
    pub delivered: usize,
    /// Messages that failed and wait for a retry.
    pub failed: usize,
    /// When the next waiting message is due.
    pub next: Option<Timestamp>,
}

/// The delivering side of the outbox.
pub struct Outbox {
    store: Store,
    clock: Arc<dyn Clock>,
    /// Channels whose last attempt failed, so the log says so once, not at
    /// every retry.
    failing: HashSet<String>,
    /// Messages composed while the database could not be written.
    held: Held,
    /// Messages delivered whose delivery the database did not take yet, with
    /// when: they are not sent again.
    unmarked: Vec<(i64, Timestamp)>,
}

/// A message to send, from the database or held in memory.
struct Queued {
    entry: OutboxEntry,
    held: bool,
}

impl Outbox {
    /// The outbox of `store`.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            failing: HashSet::new(),
            held: Held::default(),
            unmarked: Vec::new(),
        }
    }

    /// Also sends what the pipeline holds in `held` while the database cannot
    /// be written.
    pub fn sending_held(self, held: Held) -> Self {
        Self { held, ..self }
    }

    /// The store, for reading what was delivered.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Sends every message due now, at most one at a time per channel (in the
    /// order they were composed) and the channels side by side: those of the
    /// database, then those held in memory while it cannot be written.
    pub async fn deliver(&mut self, channels: &Channels) -> Result<Pass, StoreError> {
        let now = self.clock.now();
        let mut pass = Pass::default();
        self.mark_unmarked();
        let held = self.held.take_due(now);
        let stored = match self.store.undelivered() {
            Ok(stored) => stored,
            Err(err) if held.is_empty() => return Err(err),
            Err(err) => {
                tracing::warn!("could not read the outbox ({err}); sending what is held in memory");
                Vec::new()
            }
        };
        let mut waiting: HashMap<String, Vec<Queued>> = HashMap::new();
        let stored = stored
            .into_iter()
            .filter(|entry| !self.unmarked.iter().any(|(id, _)| *id == entry.id))
            .map(|entry| Queued { entry, held: false });
        for queued in stored.chain(held.into_iter().map(|entry| Queued { entry, held: true })) {
            waiting
                .entry(queued.entry.channel.clone())
                .or_default()
                .push(queued);
        }
        // Each channel gets its messages in the order they were composed: a
        // message waiting for its retry holds back the newer ones behind it.
        let mut queues: HashMap<String, Vec<Queued>> = HashMap::new();
        for (channel, mut entries) in waiting {
            entries.sort_by_key(|q| (q.held, q.entry.id));
            let due = entries
                .iter()
                .take_while(|q| q.entry.next_at <= now)
                .count();
            if let Some(next) = entries.get(due) {
                let at = next.entry.next_at;
                pass.next = Some(pass.next.map_or(at, |t| t.min(at)));
            }
            for later in entries.drain(due..).filter(|q| q.held) {
                self.held.record(later.entry.id, None);
            }
            if !entries.is_empty() {
                queues.insert(channel, entries);
            }
        }
        // Each result comes back the moment its channel answers and is
        // recorded at once, not when the channel's whole queue is done: a
        // kill between a mail server's acceptance and this record would send
        // the message again after the restart.
        let (results, mut answered) = mpsc::unbounded_channel();
        let mut sending = JoinSet::new();
        for (name, entries) in queues {
            let Some(channel) = channels.get(&name).cloned() else {
                for queued in entries {
                    let reason = format!(
                        "the channel \"{name}\" is no longer in the config, so this message cannot be sent"
                    );
                    tracing::error!("{reason}");
                    self.give_up(&queued, reason, now);
                }
                continue;
            };
            let mut readable = Vec::new();
            for queued in entries {
                match serde_json::from_str::<Message>(&queued.entry.message) {
                    Ok(mut message) => {
                        let late = now.duration_since(queued.entry.created_at);
                        if late >= LATE {
                            message.delivered_late(late.unsigned_abs());
                        }
                        readable.push((queued, message));
                    }
                    Err(err) => {
                        // It can never be sent; it must not hold back the rest.
                        let reason = format!("the stored message is damaged ({err})");
                        tracing::error!("message {} to \"{name}\": {reason}", queued.entry.id);
                        self.give_up(&queued, reason, now);
                    }
                }
            }
            let clock = self.clock.clone();
            let results = results.clone();
            sending.spawn(async move {
                let mut readable = readable.into_iter();
                for (queued, message) in readable.by_ref() {
                    let result = channel.kind.notifier().send(&message, &clock).await;
                    let failed = result.is_err();
                    let _ = results.send((channel.name.clone(), queued, Some(result)));
                    // Later messages to a failing channel wait for the retry.
                    if failed {
                        break;
                    }
                }
                for (queued, _) in readable {
                    let _ = results.send((channel.name.clone(), queued, None));
                }
            });
        }
        drop(results);
        while let Some((name, queued, result)) = answered.recv().await {
            match result {
                Some(result) => self.record(&name, &queued, result, &mut pass),
                // Not tried (an earlier one to its channel failed).
                None if queued.held => self.held.record(queued.entry.id, None),
                None => {}
            }
        }
        while sending.join_next().await.is_some() {}
        if let Some(at) = self.held.next_due() {
            pass.next = Some(pass.next.map_or(at, |t| t.min(at)));
        }
        Ok(pass)
    }

    /// Writes the deliveries the database did not take earlier (a full disk).
    fn mark_unmarked(&mut self) {
        let store = &mut self.store;
        self.unmarked
            .retain(|(id, at)| store.mark_delivered(*id, *at).is_err());
    }

    fn give_up(&mut self, queued: &Queued, reason: String, now: Timestamp) {
        if queued.held {
            let attempt = Attempt::GaveUp { reason, at: now };
            self.held.record(queued.entry.id, Some(attempt));
        } else if let Err(err) = self.store.give_up(queued.entry.id, &reason, now) {
            tracing::warn!(
                "could not record that message {} was given up: {err}",
                queued.entry.id
            );
        }
    }

    fn record(
        &mut self,
        name: &str,
        queued: &Queued,
        result: Result<(), SendError>,
        pass: &mut Pass,
    ) {
        let now = self.clock.now();
        let entry = &queued.entry;
        match result {
            Ok(()) => {
                if queued.held {
                    self.held.record(entry.id, Some(Attempt::Delivered(now)));
                } else if let Err(err) = self.store.mark_delivered(entry.id, now) {
                    // Kept in memory, so it is not sent again, and written
                    // at the next pass that can.
                    tracing::warn!(
                        "message {} was delivered but the outbox could not record it ({err}); keepwatch remembers it and records it later",
                        entry.id
                    );
                    self.unmarked.push((entry.id, now));
                }
                pass.delivered += 1;
                if self.failing.remove(name) {
                    tracing::info!("channel \"{name}\" delivers again");
                }
            }
            Err(err) => {
                let attempts = entry.attempts.saturating_add(1);
                let next = now
                    .checked_add(retry_after(attempts, err.permanent))
                    .unwrap_or(now);
                if queued.held {
                    let attempt = Attempt::Failed {
                        reason: err.reason.clone(),
                        next,
                    };
                    self.held.record(entry.id, Some(attempt));
                } else if let Err(store_err) = self.store.mark_failed(entry.id, &err.reason, next) {
                    tracing::debug!(
                        "could not record the failed attempt at message {}: {store_err}",
                        entry.id
                    );
                }
                pass.failed += 1;
                pass.next = Some(pass.next.map_or(next, |t| t.min(next)));
                if self.failing.insert(name.to_owned()) {
                    tracing::error!(
                        "channel \"{name}\" could not deliver a message: {}. keepwatch keeps it and retries.",
                        err.reason
                    );
                } else {
                    tracing::debug!("channel \"{name}\" still failing: {}", err.reason);
                }
            }
        }
    }

    /// Delivers until `stop` completes: at once when `wake` is notified (the
    /// agent queued something), else when the next retry is due. Config
    /// reloads arrive through `channels`.
    pub async fn run(
        mut self,
        wake: Arc<Notify>,
        mut channels: watch::Receiver<Channels>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            let current = channels.borrow_and_update().clone();
            let next = match self.deliver(&current).await {
                Ok(pass) => pass.next,
                Err(err) => {
                    tracing::warn!("could not read or update the outbox, will retry: {err}");
                    self.clock
                        .now()
                        .checked_add(jiff::SignedDuration::from_secs(10))
                        .ok()
                }
            };
            let wait = next.map(|at| {
                std::time::Duration::try_from(self.clock.now().duration_until(at))
                    .unwrap_or_default()
            });
            let sleep = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut stop => break,
                () = wake.notified() => {}
                () = sleep => {}
                Ok(()) = channels.changed() => {}
            }
        }
    }
}

/// How long the outbox waits before retrying a failed delivery: doubling from
/// 10 s, at most 10 minutes, or at most an hour for a failure that needs a
/// config change (it is still retried, so a fixed password delivers the
/// backlog without anyone having to resend it).
pub fn retry_after(attempts: u32, permanent: bool) -> SignedDuration {
    let cap = if permanent { 3600 } else { 600 };
    let secs = 10_i64.saturating_mul(1_i64 << attempts.saturating_sub(1).min(20));
    SignedDuration::from_secs(secs.min(cap))
}

#[cfg(test)]
mod tests;
