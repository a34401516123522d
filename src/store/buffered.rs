//! Writing that survives a full disk: samples wait in memory until the store
//! takes them again.

use std::collections::VecDeque;
use std::fmt;

use super::{ServiceStatus, Store, Writes};
use crate::observation::Sample;

/// How many samples wait in memory at most: about 20 minutes of 5 hosts and
/// 25 services, in a few MB of memory.
pub const BUFFER_CAPACITY: usize = 100_000;

/// Whether the store is taking writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageHealth {
    /// Writes succeed.
    Healthy,
    /// Writes fail; samples are kept in memory.
    Degraded {
        /// Why, in words: "disk full", or the error.
        reason: String,
    },
}

/// A change of [`StorageHealth`], reported once when it happens so the caller
/// can log it (its `Display` is the log line) and record it as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    /// The health from now on.
    pub health: StorageHealth,
    /// Samples waiting in memory after this change.
    pub buffered: usize,
    /// Whether the store refused because the disk is full.
    pub disk_full: bool,
    /// Samples dropped (oldest first) since storage became degraded, because
    /// the memory buffer was full. Only meaningful when becoming healthy.
    pub dropped: u64,
}

impl fmt::Display for HealthChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.health {
            StorageHealth::Degraded { reason } => write!(
                f,
                "storage degraded: {reason}, keeping {} samples in memory",
                self.buffered
            ),
            StorageHealth::Healthy if self.dropped == 0 => {
                write!(f, "storage healthy again: no samples lost")
            }
            StorageHealth::Healthy => write!(
                f,
                "storage healthy again: {} samples were lost while it was degraded",
                self.dropped
            ),
        }
    }
}

/// Wraps a [`Store`] so a write failure (a full disk, above all) degrades
/// storage instead of stopping the agent: samples wait in a bounded memory
/// buffer and are written, in order, once the store takes them again.
#[derive(Debug)]
pub struct BufferedWriter {
    store: Store,
    pending: VecDeque<Sample>,
    capacity: usize,
    health: StorageHealth,
    dropped_total: u64,
    dropped_since_degraded: u64,
}

impl BufferedWriter {
    /// Wraps `store`, keeping at most [`BUFFER_CAPACITY`] samples in memory.
    pub fn new(store: Store) -> Self {
        Self::with_capacity(store, BUFFER_CAPACITY)
    }

    /// Wraps `store`, keeping at most `capacity` samples in memory; beyond it
    /// the oldest are dropped (and counted).
    pub fn with_capacity(store: Store, capacity: usize) -> Self {
        Self {
            store,
            pending: VecDeque::new(),
            capacity: capacity.max(1),
            health: StorageHealth::Healthy,
            dropped_total: 0,
            dropped_since_degraded: 0,
        }
    }

    /// Queues `samples` for the next [`flush`](Self::flush); beyond the
    /// capacity the oldest waiting are dropped (and counted).
    pub fn queue(&mut self, samples: &[Sample]) {
        self.pending.extend(samples.iter().cloned());
        let excess = self.pending.len().saturating_sub(self.capacity);
        if excess > 0 {
            self.pending.drain(..excess);
            self.dropped_total += excess as u64;
            self.dropped_since_degraded += excess as u64;
        }
    }

    /// Tries to write every waiting sample, with the service `statuses` and
    /// agent `states` given, in one transaction.
    ///
    /// Returns the health change this caused, if any.
    pub fn flush(
        &mut self,
        statuses: &[ServiceStatus],
        states: &[(&str, &str)],
    ) -> Option<HealthChange> {
        let writes = Writes {
            samples: self.pending.make_contiguous(),
            statuses,
            states,
        };
        // An empty write would succeed without telling whether the disk has
        // room again.
        if writes.is_empty() {
            return None;
        }
        match self.store.write_all(&writes) {
            Ok(_) => {
                self.pending.clear();
                if self.health == StorageHealth::Healthy {
                    return None;
                }
                self.health = StorageHealth::Healthy;
                let dropped = std::mem::take(&mut self.dropped_since_degraded);
                Some(self.change(dropped, false))
            }
            Err(error) => {
                if self.health != StorageHealth::Healthy {
                    return None;
                }
                let disk_full = error.is_disk_full();
                let reason = if disk_full {
                    "disk full".to_owned()
                } else {
                    error.to_string()
                };
                self.health = StorageHealth::Degraded { reason };
                Some(self.change(0, disk_full))
            }
        }
    }

    /// The current health.
    pub fn health(&self) -> &StorageHealth {
        &self.health
    }

    /// Samples waiting in memory.
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// Samples dropped because the memory buffer was full, since creation.
    pub fn dropped(&self) -> u64 {
        self.dropped_total
    }

    /// The store, for queries.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, for maintenance and events.
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The store and the samples it has not taken yet.
    pub fn into_parts(self) -> (Store, Vec<Sample>) {
        (self.store, self.pending.into())
    }

    fn change(&self, dropped: u64, disk_full: bool) -> HealthChange {
        HealthChange {
            health: self.health.clone(),
            buffered: self.pending.len(),
            dropped,
            disk_full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::SeriesKey;
    use crate::store::tests::{at, open_in, sample};

    /// Queues `samples` and writes everything waiting, as the pipeline does
    /// once its write is due.
    fn push(writer: &mut BufferedWriter, samples: &[Sample]) -> Option<HealthChange> {
        writer.queue(samples);
        writer.flush(&[], &[])
    }

    fn set_page_limit(writer: &BufferedWriter, pages: i64) {
        writer
            .store()
            .conn
            .execute_batch(&format!("PRAGMA max_page_count = {pages}"))
            .unwrap();
    }

    fn page_count(writer: &BufferedWriter) -> i64 {
        writer
            .store()
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap()
    }

    /// One 10 s tick of 50 series with long names, so batches need new pages.
    fn tick(n: i64) -> Vec<Sample> {
        (0..50)
            .map(|i| Sample {
                key: SeriesKey::new(
                    "web1",
                    format!("metric.with.a.rather.long.name.{i}"),
                    "instance-name-padding-padding-padding",
                ),
                at: at(n * 10),
                value: (n * 50 + i) as f64,
            })
            .collect()
    }

    #[test]
    fn a_full_disk_degrades_once_keeps_samples_and_recovers_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = BufferedWriter::new(open_in(&dir));
        assert_eq!(push(&mut writer, &tick(0)), None);
        set_page_limit(&writer, page_count(&writer));

        let mut changes = Vec::new();
        for n in 1..=40 {
            changes.extend(push(&mut writer, &tick(n)));
        }
        assert_eq!(changes.len(), 1, "reported exactly once: {changes:?}");
        let degraded = &changes[0];
        assert_eq!(
            degraded.health,
            StorageHealth::Degraded {
                reason: "disk full".into()
            }
        );
        assert!(
            degraded
                .to_string()
                .starts_with("storage degraded: disk full, keeping ")
        );
        assert!(degraded.to_string().ends_with(" samples in memory"));
        assert!(writer.buffered() > 0);
        assert!(matches!(writer.health(), StorageHealth::Degraded { .. }));
        assert_eq!(writer.flush(&[], &[]), None, "still full: no new report");

        set_page_limit(&writer, 1_000_000);
        let recovered = push(&mut writer, &tick(41)).expect("a change back to healthy");
        assert_eq!(recovered.health, StorageHealth::Healthy);
        assert_eq!(
            recovered.to_string(),
            "storage healthy again: no samples lost"
        );
        assert_eq!(writer.buffered(), 0);
        assert_eq!(writer.dropped(), 0);
        assert_eq!(writer.flush(&[], &[]), None);

        let store = writer.store();
        for i in [0, 17, 49] {
            let key = SeriesKey::new(
                "web1",
                format!("metric.with.a.rather.long.name.{i}"),
                "instance-name-padding-padding-padding",
            );
            let history = store.range(&key, at(0), at(420)).unwrap();
            assert_eq!(history.len(), 42, "every tick of series {i} is stored");
        }
    }

    #[test]
    fn the_memory_buffer_is_bounded_and_counts_what_it_drops() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = BufferedWriter::with_capacity(open_in(&dir), 120);
        push(&mut writer, &tick(0));
        set_page_limit(&writer, page_count(&writer));
        for n in 1..=10 {
            push(&mut writer, &tick(n));
        }
        assert_eq!(writer.buffered(), 120);
        let dropped = writer.dropped();
        assert!(dropped >= 50, "{dropped}");

        set_page_limit(&writer, 1_000_000);
        let change = writer.flush(&[], &[]).expect("recovered");
        assert_eq!(change.dropped, dropped);
        assert_eq!(
            change.to_string(),
            format!("storage healthy again: {dropped} samples were lost while it was degraded")
        );
        // Everything not counted as dropped is stored, the newest included.
        let mut stored = 0;
        for key in writer.store().series().unwrap() {
            let history = writer.store().range(&key, at(0), at(100)).unwrap();
            assert_eq!(history.last().unwrap().0, at(100));
            stored += history.len() as u64;
        }
        assert_eq!(stored + dropped, 11 * 50);
    }

    #[test]
    fn other_write_errors_degrade_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = BufferedWriter::new(open_in(&dir));
        writer
            .store()
            .conn
            .execute_batch("DROP TABLE latest")
            .unwrap();
        let change = push(&mut writer, &[sample("cpu", 0, 1.0)]).unwrap();
        match &change.health {
            StorageHealth::Degraded { reason } => assert!(reason.contains("latest"), "{reason}"),
            StorageHealth::Healthy => panic!("expected degraded"),
        }
        let (store, pending) = writer.into_parts();
        assert_eq!(pending, [sample("cpu", 0, 1.0)]);
        assert!(store.latest().is_err());
    }

    #[test]
    fn nothing_to_flush_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = BufferedWriter::new(open_in(&dir));
        assert_eq!(writer.flush(&[], &[]), None);
        assert_eq!(writer.health(), &StorageHealth::Healthy);
        assert_eq!(push(&mut writer, &[]), None);
        writer.store_mut().set_state("k", "v").unwrap();
        assert_eq!(writer.store().state("k").unwrap().as_deref(), Some("v"));
    }
}
