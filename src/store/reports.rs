//! Scheduled reports as the store keeps them: for each, the scheduled time
//! it was last made for. Putting a report's messages into the outbox and
//! recording its time happen in one transaction, so a crash between the two
//! cannot send a report twice or lose it.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

impl Store {
    /// Hands back the memory this connection keeps for the pages it read
    /// (SQLite's page cache), after a big read such as a month's report, so
    /// a connection that is idle until next week holds none of it.
    pub fn release_memory(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA shrink_memory")
            .map_err(|source| StoreError::sqlite("releasing memory", &self.path, source))
    }

    /// The scheduled time report `key` was last made (or skipped) for.
    pub fn report_made_for(&self, key: &str) -> Result<Option<Timestamp>, StoreError> {
        let ms: Option<i64> = self
            .conn
            .prepare_cached("SELECT due_ms FROM report_runs WHERE report = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(|source| StoreError::sqlite("reading report runs", &self.path, source))?;
        Ok(ms.and_then(|ms| Timestamp::from_millisecond(ms).ok()))
    }

    /// Queues the `messages` (channel name and stored message) of report
    /// `key` for its scheduled time `due`, and records that time, in one
    /// transaction. `false`, queueing nothing, when the report was already
    /// made for `due` or a later time (another keepwatch got there first).
    /// With no messages it only records the time: a new report starts at
    /// its next scheduled time instead of sending one for the past.
    pub fn queue_report(
        &mut self,
        key: &str,
        due: Timestamp,
        messages: &[(String, String)],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let fail = |source| StoreError::sqlite("queueing a report", &self.path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        let made: Option<i64> = tx
            .prepare_cached("SELECT due_ms FROM report_runs WHERE report = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(fail)?;
        if made.is_some_and(|made| made >= due.as_millisecond()) {
            return Ok(false);
        }
        for (channel, message) in messages {
            tx.prepare_cached(
                "INSERT INTO outbox (channel, message, created_ms, next_ms) VALUES (?1, ?2, ?3, ?3)",
            )
            .and_then(|mut s| s.execute(params![channel, message, now.as_millisecond()]))
            .map_err(fail)?;
        }
        tx.prepare_cached(
            "INSERT INTO report_runs (report, due_ms, made_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (report) DO UPDATE SET due_ms = excluded.due_ms, made_ms = excluded.made_ms",
        )
        .and_then(|mut s| s.execute(params![key, due.as_millisecond(), now.as_millisecond()]))
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{StorageConfig, Store};

    #[test]
    fn a_report_is_queued_once_per_scheduled_time_and_never_for_an_earlier_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kw.db");
        let mut store = Store::open(&path, &StorageConfig::default()).unwrap();
        let monday: jiff::Timestamp = "2026-11-23T07:00:00Z".parse().unwrap();
        let later = monday + jiff::SignedDuration::from_mins(1);
        assert_eq!(store.report_made_for("weekly").unwrap(), None);
        let message = vec![("mail".to_owned(), "{}".to_owned())];
        assert!(
            store
                .queue_report("weekly", monday, &message, later)
                .unwrap()
        );
        assert!(
            !store
                .queue_report("weekly", monday, &message, later)
                .unwrap()
        );
        let before = monday - jiff::SignedDuration::from_hours(168);
        assert!(
            !store
                .queue_report("weekly", before, &message, later)
                .unwrap()
        );
        assert_eq!(store.undelivered().unwrap().len(), 1);
        drop(store);
        // Another connection (a restart) sees the same.
        let mut store = Store::open(&path, &StorageConfig::default()).unwrap();
        assert_eq!(store.report_made_for("weekly").unwrap(), Some(monday));
        let next = monday + jiff::SignedDuration::from_hours(168);
        assert!(store.queue_report("weekly", next, &[], later).unwrap());
        assert_eq!(store.report_made_for("weekly").unwrap(), Some(next));
        assert_eq!(store.undelivered().unwrap().len(), 1);
        store.release_memory().unwrap();
    }
}
