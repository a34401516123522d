//! What the store keeps for heartbeats: each one's ping key (kept here, not
//! in the config the admin might share or paste into a forum) with the time
//! keepwatch started waiting for it, and the latest pings, which the API
//! and `keepwatch ping` write and the running agent reads.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// How many pings of each heartbeat are kept: enough to see its recent
/// runs, their outputs and what they amount to after a restart.
pub const PINGS_KEPT: i64 = 100;

/// A heartbeat's ping key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatKey {
    /// The service's name.
    pub service: String,
    /// The secret part of its ping URL.
    pub key: String,
    /// When the key was made: keepwatch waits for reports since then.
    pub since: Timestamp,
}

/// A ping as it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewPing<'a> {
    /// The heartbeat's service name.
    pub service: &'a str,
    /// When it arrived.
    pub at: Timestamp,
    /// `success`, `start` or `fail`.
    pub signal: &'a str,
    /// The job's exit code, when it gave one.
    pub exit_code: Option<i32>,
    /// What the job sent along.
    pub log: Option<&'a str>,
    /// Where it came from (`http 192.0.2.7`, `keepwatch ping`).
    pub source: &'a str,
}

/// A stored ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPing {
    /// Increases with every ping: the order they arrived in.
    pub id: i64,
    /// The heartbeat's service name.
    pub service: String,
    /// When it arrived.
    pub at: Timestamp,
    /// `success`, `start` or `fail`.
    pub signal: String,
    /// The job's exit code, when it gave one.
    pub exit_code: Option<i32>,
    /// What the job sent along.
    pub log: Option<String>,
    /// Where it came from.
    pub source: String,
}

fn ping_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredPing> {
    Ok(StoredPing {
        id: row.get(0)?,
        service: row.get(1)?,
        at: Timestamp::from_millisecond(row.get(2)?).unwrap_or(Timestamp::UNIX_EPOCH),
        signal: row.get(3)?,
        exit_code: row.get(4)?,
        log: row.get(5)?,
        source: row.get(6)?,
    })
}

fn key_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<HeartbeatKey> {
    Ok(HeartbeatKey {
        service: row.get(0)?,
        key: row.get(1)?,
        since: Timestamp::from_millisecond(row.get(2)?).unwrap_or(Timestamp::UNIX_EPOCH),
    })
}

const PING_COLUMNS: &str = "id, service, at_ms, signal, exit_code, log, source";

impl Store {
    /// The ping keys of the services in `wanted`, each given with a fresh
    /// key that becomes its key (dated `now`) if it has none yet; in one
    /// transaction.
    pub fn heartbeat_keys(
        &mut self,
        wanted: &[(&str, String)],
        now: Timestamp,
    ) -> Result<Vec<HeartbeatKey>, StoreError> {
        let path = self.path.clone();
        let fail = |source| StoreError::sqlite("saving the heartbeat ping keys", &path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        let mut keys = Vec::with_capacity(wanted.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO heartbeats (service, key, since_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (service) DO NOTHING",
                )
                .map_err(fail)?;
            let mut select = tx
                .prepare_cached("SELECT key, since_ms FROM heartbeats WHERE service = ?1")
                .map_err(fail)?;
            for (service, fresh) in wanted {
                let known = select
                    .query_row([service], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
                    .map_err(fail)?;
                let (key, since_ms): (String, i64) = match known {
                    Some(found) => found,
                    None => {
                        let key = fresh.clone();
                        insert
                            .execute(params![service, key, now.as_millisecond()])
                            .map_err(fail)?;
                        (key, now.as_millisecond())
                    }
                };
                keys.push(HeartbeatKey {
                    service: (*service).to_owned(),
                    key,
                    since: Timestamp::from_millisecond(since_ms).unwrap_or(now),
                });
            }
        }
        tx.commit().map_err(fail)?;
        Ok(keys)
    }

    /// The heartbeat whose ping key is `key`, if any.
    pub fn heartbeat_of_key(&self, key: &str) -> Result<Option<HeartbeatKey>, StoreError> {
        let fail = |source| StoreError::sqlite("looking up a ping key", &self.path, source);
        self.conn
            .prepare_cached("SELECT service, key, since_ms FROM heartbeats WHERE key = ?1")
            .map_err(fail)?
            .query_row([key], key_row)
            .optional()
            .map_err(fail)
    }

    /// Every heartbeat's ping key.
    pub fn all_heartbeat_keys(&self) -> Result<Vec<HeartbeatKey>, StoreError> {
        let fail = |source| StoreError::sqlite("reading the ping keys", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT service, key, since_ms FROM heartbeats ORDER BY service")
            .map_err(fail)?;
        let rows = stmt.query_map([], key_row).map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// Records a ping and forgets the heartbeat's pings beyond the latest
    /// [`PINGS_KEPT`]; returns its id.
    pub fn record_ping(&mut self, ping: &NewPing<'_>) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let fail = |source| StoreError::sqlite("recording a heartbeat ping", &path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        tx.prepare_cached(
            "INSERT INTO pings (service, at_ms, signal, exit_code, log, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(fail)?
        .execute(params![
            ping.service,
            ping.at.as_millisecond(),
            ping.signal,
            ping.exit_code,
            ping.log,
            ping.source
        ])
        .map_err(fail)?;
        let id = tx.last_insert_rowid();
        tx.prepare_cached(
            "DELETE FROM pings WHERE service = ?1 AND id NOT IN
               (SELECT id FROM pings WHERE service = ?1 ORDER BY id DESC LIMIT ?2)",
        )
        .map_err(fail)?
        .execute(params![ping.service, PINGS_KEPT])
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(id)
    }

    fn pings_where(
        &self,
        condition: &str,
        arg: impl rusqlite::ToSql,
    ) -> Result<Vec<StoredPing>, StoreError> {
        let fail = |source| StoreError::sqlite("reading heartbeat pings", &self.path, source);
        let sql = format!("SELECT {PING_COLUMNS} FROM pings WHERE {condition} ORDER BY id");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(fail)?;
        let rows = stmt.query_map([arg], ping_row).map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// The pings after the one numbered `id` (0: all), oldest first.
    pub fn pings_after(&self, id: i64) -> Result<Vec<StoredPing>, StoreError> {
        self.pings_where("id > ?1", id)
    }

    /// The kept pings of `service`, oldest first.
    pub fn pings_of(&self, service: &str) -> Result<Vec<StoredPing>, StoreError> {
        self.pings_where("service = ?1", service)
    }

    /// The number of the latest ping (0 when there is none).
    pub fn last_ping_id(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) FROM pings", [], |row| {
                row.get(0)
            })
            .map_err(|source| StoreError::sqlite("reading heartbeat pings", &self.path, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StorageConfig;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + secs).unwrap()
    }

    #[test]
    fn keys_are_made_once_and_found_again_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kw.db");
        let mut store = Store::open(&path, &StorageConfig::default()).unwrap();
        let wanted = |names: &[&'static str], first: usize| -> Vec<(&'static str, String)> {
            names
                .iter()
                .enumerate()
                .map(|(i, name)| (*name, format!("key{}", first + i)))
                .collect()
        };
        let keys = store
            .heartbeat_keys(&wanted(&["Backup", "Export"], 1), t(0))
            .unwrap();
        assert_eq!(
            keys.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(),
            ["key1", "key2"]
        );
        drop(store);
        let mut store = Store::open(&path, &StorageConfig::default()).unwrap();
        let again = store
            .heartbeat_keys(&wanted(&["Export", "Sync"], 3), t(60))
            .unwrap();
        assert_eq!(again[0], keys[1], "kept, with its first date");
        assert_eq!((again[1].key.as_str(), again[1].since), ("key4", t(60)));
        assert_eq!(
            store.heartbeat_of_key("key1").unwrap(),
            Some(keys[0].clone())
        );
        assert_eq!(store.heartbeat_of_key("nope").unwrap(), None);
        assert_eq!(store.all_heartbeat_keys().unwrap().len(), 3);
    }

    #[test]
    fn pings_come_back_in_order_and_only_the_latest_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("kw.db"), &StorageConfig::default()).unwrap();
        assert_eq!(store.last_ping_id().unwrap(), 0);
        let ping = |service, at, signal| NewPing {
            service,
            at,
            signal,
            exit_code: None,
            log: None,
            source: "test",
        };
        let first = store.record_ping(&ping("Backup", t(0), "start")).unwrap();
        let failed = NewPing {
            exit_code: Some(3),
            log: Some("tar: error"),
            ..ping("Backup", t(5), "fail")
        };
        store.record_ping(&failed).unwrap();
        let other = store.record_ping(&ping("Export", t(6), "success")).unwrap();
        let after = store.pings_after(first).unwrap();
        assert_eq!(after.len(), 2);
        assert_eq!(
            (
                after[0].signal.as_str(),
                after[0].exit_code,
                after[0].log.as_deref()
            ),
            ("fail", Some(3), Some("tar: error"))
        );
        assert_eq!(
            (after[1].id, after[1].at, after[1].source.as_str()),
            (other, t(6), "test")
        );
        assert_eq!(store.last_ping_id().unwrap(), other);

        for i in 0..PINGS_KEPT + 10 {
            store
                .record_ping(&ping("Backup", t(10 + i), "success"))
                .unwrap();
        }
        let kept = store.pings_of("Backup").unwrap();
        assert_eq!(kept.len() as i64, PINGS_KEPT);
        assert_eq!(kept.last().unwrap().at, t(10 + PINGS_KEPT + 9));
        assert!(kept.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(
            store.pings_of("Export").unwrap().len(),
            1,
            "others keep theirs"
        );
    }
}
