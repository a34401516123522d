//! Alerting in memory while the database file cannot be written (a full
//! disk). Alerts, notices and the outbox get TEMP copies in memory, which
//! SQLite finds before the file's own tables of the same name: the alert
//! engine runs unchanged, on the same queries, and every message it composes
//! meanwhile is in the memory outbox for the sender to deliver. Once the file
//! takes writes again, what changed is written back in one transaction and
//! the copies are dropped.
//!
//! Only what alerting looks at is copied (open, flapping and the last day's
//! alerts, their notices, the last day's messages and the last one of each
//! channel), so the copy costs memory in proportion to a day of alerts, not
//! to the history. The newest row of each table is always copied, so rows
//! added in memory get ids the file does not have yet.

use jiff::Timestamp;
use rusqlite::params;

use super::{OutboxEntry, Store, StoreError};

/// The tables alerting writes, in the order they are copied.
const TABLES: [&str; 3] = ["alerts", "outbox", "notices"];

/// How far back the copy reaches: flapping, rate limits and grouping look
/// at most this far.
const LOOK_BACK_MS: i64 = 24 * 3_600_000;

/// Which rows of each table are copied; `?1` is the earliest time kept.
const COPY: [&str; 3] = [
    "INSERT INTO temp.alerts SELECT * FROM main.alerts WHERE resolved_ms IS NULL OR flapping = 1 \
     OR opened_ms >= ?1 OR resolved_ms >= ?1 OR id = (SELECT MAX(id) FROM main.alerts)",
    "INSERT INTO temp.outbox SELECT * FROM main.outbox WHERE created_ms >= ?1 \
     OR (delivered_ms IS NULL AND gave_up_ms IS NULL) \
     OR id IN (SELECT MAX(id) FROM main.outbox GROUP BY channel)",
    "INSERT INTO temp.notices SELECT * FROM main.notices WHERE alert_id IN (SELECT id FROM temp.alerts) \
     OR message_id IS NULL OR due_ms >= ?1 OR id = (SELECT MAX(id) FROM main.notices)",
];

/// What the store remembers while alerting runs in memory.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shadow {
    /// The newest message of the file when the copy was made: later ones
    /// exist only in memory.
    outbox_from: i64,
}

impl Store {
    /// Whether alerting runs on the copies in memory.
    pub fn alerting_in_memory(&self) -> bool {
        self.shadow.is_some()
    }

    /// Moves alerting to memory at `now` (see the module header); nothing
    /// happens if it is there already.
    pub fn alerting_to_memory(&mut self, now: Timestamp) -> Result<(), StoreError> {
        if self.shadow.is_some() {
            return Ok(());
        }
        let fail = |source| StoreError::sqlite("moving alerting to memory", &self.path, source);
        let since = now.as_millisecond().saturating_sub(LOOK_BACK_MS);
        let tx = self.conn.transaction().map_err(fail)?;
        let definitions: Vec<(String, String)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT type, sql FROM main.sqlite_schema WHERE tbl_name IN \
                     ('alerts', 'notices', 'outbox') AND sql IS NOT NULL ORDER BY type DESC",
                )
                .map_err(fail)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(fail)?;
            rows.collect::<Result<_, _>>().map_err(fail)?
        };
        for (kind, sql) in definitions {
            tx.execute_batch(&in_temp(&kind, &sql)).map_err(fail)?;
        }
        for copy in COPY {
            tx.execute(copy, [since]).map_err(fail)?;
        }
        let outbox_from: i64 = tx
            .query_row("SELECT COALESCE(MAX(id), 0) FROM main.outbox", [], |r| {
                r.get(0)
            })
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        // Statements prepared before would still name the file's tables.
        self.conn.flush_prepared_statement_cache();
        self.shadow = Some(Shadow { outbox_from });
        Ok(())
    }

    /// The messages composed in memory that are not delivered yet, oldest first.
    pub fn messages_in_memory(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let Some(shadow) = self.shadow else {
            return Ok(Vec::new());
        };
        Ok(self
            .undelivered()?
            .into_iter()
            .filter(|entry| entry.id > shadow.outbox_from)
            .collect())
    }

    /// Writes what alerting did in memory back to the file, in one
    /// transaction, and drops the copies; on failure (still no room) nothing
    /// changes and alerting stays in memory.
    pub fn alerting_to_file(&mut self) -> Result<(), StoreError> {
        let Some(shadow) = self.shadow else {
            return Ok(());
        };
        let fail =
            |source| StoreError::sqlite("writing back alerting from memory", &self.path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        tx.execute_batch(
            "INSERT OR REPLACE INTO main.alerts SELECT * FROM temp.alerts;
             INSERT OR REPLACE INTO main.notices SELECT * FROM temp.notices;",
        )
        .map_err(fail)?;
        let added: Vec<i64> = {
            let mut stmt = tx
                .prepare("SELECT id FROM temp.outbox WHERE id > ?1 ORDER BY id")
                .map_err(fail)?;
            let rows = stmt
                .query_map([shadow.outbox_from], |r| r.get(0))
                .map_err(fail)?;
            rows.collect::<Result<_, _>>().map_err(fail)?
        };
        for id in added {
            // A message queued in the file meanwhile (a scheduled report)
            // may have taken this id: then this one gets a new id.
            let taken: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM main.outbox WHERE id = ?1)",
                    [id],
                    |r| r.get(0),
                )
                .map_err(fail)?;
            let columns = "channel, message, created_ms, next_ms, attempts, last_error, delivered_ms, gave_up_ms";
            if taken {
                tx.execute(
                    &format!("INSERT INTO main.outbox ({columns}) SELECT {columns} FROM temp.outbox WHERE id = ?1"),
                    [id],
                )
                .map_err(fail)?;
                let new = tx.last_insert_rowid();
                tx.execute(
                    "UPDATE main.notices SET message_id = ?2 WHERE message_id = ?1 \
                     AND id IN (SELECT id FROM temp.notices)",
                    params![id, new],
                )
                .map_err(fail)?;
            } else {
                tx.execute(
                    &format!("INSERT INTO main.outbox (id, {columns}) SELECT id, {columns} FROM temp.outbox WHERE id = ?1"),
                    [id],
                )
                .map_err(fail)?;
            }
        }
        for table in TABLES {
            tx.execute_batch(&format!("DROP TABLE temp.{table}"))
                .map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
        self.conn.flush_prepared_statement_cache();
        self.shadow = None;
        Ok(())
    }
}

/// The definition of a table or index of the file, for its copy in TEMP.
fn in_temp(kind: &str, sql: &str) -> String {
    if kind == "table" {
        return sql.replacen("CREATE TABLE ", "CREATE TEMP TABLE ", 1);
    }
    // `CREATE [UNIQUE] INDEX name ON table`: the index goes with the TEMP table.
    match sql.find("INDEX ") {
        Some(at) => format!("{}INDEX temp.{}", &sql[..at], &sql[at + 6..]),
        None => sql.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{at, open_in};
    use crate::store::{NewAlert, StorageConfig};
    use crate::vocabulary::Severity;

    fn alert(fingerprint: &str) -> NewAlert<'_> {
        NewAlert {
            fingerprint,
            service: None,
            host: "web1",
            title: fingerprint,
            detail: "",
            severity: Severity::Critical,
            emergency: true,
            opened_at: at(0),
            policy: None,
            silenced: None,
            flapping: false,
            cause: None,
        }
    }

    #[test]
    fn alerting_in_memory_leaves_the_full_file_alone_and_is_written_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open_in(&dir);
        let old = store.insert_alert(&alert("old")).unwrap();
        let sent = store.enqueue_message("ops", "{}", &[], at(1)).unwrap();
        store.mark_delivered(sent, at(2)).unwrap();
        store.fill_disk(true);
        store.alerting_to_memory(at(10)).unwrap();
        assert!(store.alerting_in_memory());

        let new = store.insert_alert(&alert("new")).unwrap();
        assert!(new > old);
        store.add_notice(new, "ops", "opened", at(11)).unwrap();
        let notices: Vec<i64> = store
            .waiting_notices()
            .unwrap()
            .iter()
            .map(|n| n.id)
            .collect();
        let composed = store
            .enqueue_message("ops", "{\"new\":1}", &notices, at(12))
            .unwrap();
        let held = store.messages_in_memory().unwrap();
        assert_eq!(held.iter().map(|e| e.id).collect::<Vec<_>>(), [composed]);
        store.mark_delivered(composed, at(13)).unwrap();
        assert!(store.messages_in_memory().unwrap().is_empty());

        // The file: untouched, and another connection (the report scheduler)
        // queues a message there once the disk has room, taking the id.
        store.fill_disk(false);
        let mut other = Store::open(store.path(), &StorageConfig::default()).unwrap();
        assert_eq!(other.open_alerts().unwrap().len(), 1);
        let report = other
            .enqueue_message("ops", "{\"report\":1}", &[], at(14))
            .unwrap();
        assert_eq!(report, composed, "the same id, taken in the file first");

        store.alerting_to_file().unwrap();
        assert!(!store.alerting_in_memory());
        let titles: Vec<String> = other
            .open_alerts()
            .unwrap()
            .into_iter()
            .map(|a| a.title)
            .collect();
        assert_eq!(titles, ["old", "new"]);
        let messages = other.recent_messages(10).unwrap();
        assert_eq!(messages.len(), 3, "{messages:?}");
        let written = messages.iter().find(|m| m.message.contains("new")).unwrap();
        assert_ne!(written.id, report, "moved to an id of its own");
        assert_eq!(written.delivered_at, Some(at(13)));
        assert!(other.undelivered().unwrap().iter().all(|m| m.id == report));
        assert_eq!(other.told_channels(new).unwrap(), ["ops"]);
        // Its notice went with it.
        assert_eq!(
            other.alerts_told_per_channel(at(0), at(100)).unwrap(),
            [("ops".to_owned(), 1)]
        );
    }
}
