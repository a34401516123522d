//! The database schema, as an ordered list of migrations embedded in the binary.
//!
//! `PRAGMA user_version` holds how many migrations the file has had. Opening
//! applies the missing ones in one transaction, so a crash mid-upgrade leaves
//! the previous version intact. Migrations are only ever appended: an
//! existing entry must never change once released.

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::{StoreError, hours};

/// Marks a SQLite file as keepwatch's (`PRAGMA application_id`, "kwch"), so
/// another program's database is never mistaken for ours and altered.
pub(crate) const APPLICATION_ID: i32 = 0x6b77_6368;

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    //
    // Times are milliseconds since the Unix epoch. `staging` holds recent raw
    // samples (a row each, durable at once); `maintain` seals each closed hour
    // of a series into one compressed `chunks` row. `step` is 0 for raw chunks
    // and the bucket length in milliseconds for thinned (averaged) ones.
    //
    // A chunk's `id` is `hour << 32 | series_id` (hours since the epoch), so
    // the chunks of one hour lie together in the file: thinning or deleting an
    // hour frees whole pages, which is what brings the file under its cap.
    "CREATE TABLE series (
        id       INTEGER PRIMARY KEY,
        host     TEXT NOT NULL,
        metric   TEXT NOT NULL,
        instance TEXT NOT NULL,
        UNIQUE (host, metric, instance)
    );
    CREATE TABLE staging (
        series_id INTEGER NOT NULL,
        at_ms     INTEGER NOT NULL,
        value     REAL NOT NULL,
        PRIMARY KEY (series_id, at_ms)
    ) WITHOUT ROWID;
    CREATE TABLE chunks (
        id        INTEGER PRIMARY KEY,
        series_id INTEGER NOT NULL,
        start_ms  INTEGER NOT NULL,
        end_ms    INTEGER NOT NULL,
        count     INTEGER NOT NULL,
        step      INTEGER NOT NULL,
        data      BLOB NOT NULL,
        UNIQUE (series_id, start_ms)
    );
    CREATE TABLE latest (
        series_id INTEGER PRIMARY KEY,
        at_ms     INTEGER NOT NULL,
        value     REAL NOT NULL
    );
    CREATE TABLE events (
        id      INTEGER PRIMARY KEY,
        at_ms   INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX events_by_time ON events (at_ms);
    CREATE TABLE agent_state (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;",
    // 2: services. Response times and states are series like any other; these
    // tables hold what a series cannot: the last explanation of each service,
    // and incidents from the confirmed start of a problem to its recovery.
    "CREATE TABLE service_status (
        name        TEXT PRIMARY KEY,
        state       TEXT NOT NULL,
        kind        TEXT,
        explanation TEXT NOT NULL,
        since_ms    INTEGER NOT NULL,
        checked_ms  INTEGER NOT NULL,
        response_ms REAL
    ) WITHOUT ROWID;
    CREATE TABLE incidents (
        id         INTEGER PRIMARY KEY,
        service    TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        ended_ms   INTEGER,
        state      TEXT NOT NULL,
        kind       TEXT,
        cause      TEXT NOT NULL
    );
    CREATE INDEX incidents_by_start ON incidents (started_ms);
    CREATE INDEX open_incidents ON incidents (service) WHERE ended_ms IS NULL;",
    // 3: staging keyed by time first, and day-long chunks.
    //
    // Keyed by series first, every 10 s batch of 150 series touched a page per
    // series and wrote ~400 KB of WAL; keyed by time first, a batch lands on
    // the last page or two (a write went from 2.5 ms to 0.5 ms).
    //
    // `span_ms` is an hour for freshly sealed chunks; once a day is over, its
    // hours are compacted into one chunk spanning the day, with the id of its
    // first hour: 10% smaller, and a month is 30 rows to decode instead of
    // 720. The partial index finds the hours still waiting for that; its
    // literal span must stay equal to `CHUNK_MS`.
    "CREATE TABLE staging_by_time (
        at_ms     INTEGER NOT NULL,
        series_id INTEGER NOT NULL,
        value     REAL NOT NULL,
        PRIMARY KEY (at_ms, series_id)
    ) WITHOUT ROWID;
    INSERT INTO staging_by_time (at_ms, series_id, value)
        SELECT at_ms, series_id, value FROM staging;
    DROP TABLE staging;
    ALTER TABLE staging_by_time RENAME TO staging;
    ALTER TABLE chunks ADD COLUMN span_ms INTEGER NOT NULL DEFAULT 3600000;
    CREATE INDEX chunks_hourly ON chunks (id) WHERE span_ms = 3600000;",
    // 4: alerting. An alert lives from the start of a problem to its
    // resolution; `notices` are what each channel still has to be told,
    // waiting to be grouped into one message; `outbox` holds composed
    // messages until a channel has accepted them, so neither a mail server
    // that is down nor a restart loses one; `maintenance` holds windows
    // started from the command line.
    "CREATE TABLE alerts (
        id           INTEGER PRIMARY KEY,
        fingerprint  TEXT NOT NULL,
        service      TEXT,
        host         TEXT NOT NULL,
        title        TEXT NOT NULL,
        detail       TEXT NOT NULL,
        severity     INTEGER NOT NULL,
        emergency    INTEGER NOT NULL,
        opened_ms    INTEGER NOT NULL,
        policy       TEXT,
        policy_ms    INTEGER,
        steps_done   INTEGER NOT NULL DEFAULT 0,
        told_ms      INTEGER,
        acked_ms     INTEGER,
        acked_by     TEXT,
        resolved_ms  INTEGER,
        silenced     TEXT,
        flapping     INTEGER NOT NULL DEFAULT 0,
        cause        INTEGER
    );
    CREATE UNIQUE INDEX open_alerts ON alerts (fingerprint) WHERE resolved_ms IS NULL;
    CREATE INDEX alerts_by_fingerprint ON alerts (fingerprint, opened_ms);
    CREATE TABLE notices (
        id         INTEGER PRIMARY KEY,
        alert_id   INTEGER NOT NULL,
        channel    TEXT NOT NULL,
        kind       TEXT NOT NULL,
        due_ms     INTEGER NOT NULL,
        message_id INTEGER
    );
    CREATE INDEX waiting_notices ON notices (channel, due_ms) WHERE message_id IS NULL;
    CREATE INDEX notices_by_alert ON notices (alert_id);
    CREATE TABLE outbox (
        id           INTEGER PRIMARY KEY,
        channel      TEXT NOT NULL,
        message      TEXT NOT NULL,
        created_ms   INTEGER NOT NULL,
        next_ms      INTEGER NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT,
        delivered_ms INTEGER,
        gave_up_ms   INTEGER
    );
    CREATE INDEX outbox_waiting ON outbox (next_ms) WHERE delivered_ms IS NULL AND gave_up_ms IS NULL;
    CREATE INDEX outbox_by_channel ON outbox (channel, created_ms);
    CREATE TABLE maintenance (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        services   TEXT NOT NULL,
        start_ms   INTEGER NOT NULL,
        end_ms     INTEGER NOT NULL
    );",
    // 5: API tokens. Only a SHA-256 hash of each token is kept, with a few
    // leading characters so `keepwatch token list` can show which one is which.
    "CREATE TABLE api_tokens (
        name       TEXT PRIMARY KEY,
        role       TEXT NOT NULL,
        hash       BLOB NOT NULL,
        shown      TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 6: scheduled reports: the last scheduled time each was made for, so a
    // restart sends none twice and one missed while stopped is sent once.
    "CREATE TABLE report_runs (
        report   TEXT PRIMARY KEY,
        due_ms   INTEGER NOT NULL,
        made_ms  INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 7: heartbeats: each one's ping key with when keepwatch began waiting
    // for it, and the latest pings in the order they arrived.
    "CREATE TABLE heartbeats (
        service  TEXT PRIMARY KEY,
        key      TEXT NOT NULL UNIQUE,
        since_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE pings (
        id        INTEGER PRIMARY KEY,
        service   TEXT NOT NULL,
        at_ms     INTEGER NOT NULL,
        signal    TEXT NOT NULL,
        exit_code INTEGER,
        log       TEXT,
        source    TEXT NOT NULL
    );
    CREATE INDEX pings_by_service ON pings (service, id);",
    // 8: several servers. On an agent, `outgoing` is its cursor: everything
    // recorded up to `sent_ms` the hub has acknowledged; `reading_ms` is the
    // end of the batch being read and sent, so a write into it while it is
    // on its way moves the cursor back (`Store::write`) instead of being
    // skipped. On a hub, `remote_agents` holds each agent's stream: the
    // last batch (session, number, end of its window), when it was heard
    // from (the hub's clock) and the agent's clock then; `remote_services`
    // what alerting needs of each agent's services; `silences` when an agent
    // went quiet, for reports. Incidents of agents are looked up by their
    // service and start when an agent sends them again.
    "CREATE TABLE outgoing (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        sent_ms    INTEGER NOT NULL,
        reading_ms INTEGER NOT NULL
    );
    CREATE TABLE remote_agents (
        name     TEXT PRIMARY KEY,
        session  TEXT NOT NULL,
        seq      INTEGER NOT NULL,
        upto_ms  INTEGER NOT NULL,
        seen_ms  INTEGER NOT NULL,
        sent_ms  INTEGER NOT NULL,
        first_ms INTEGER NOT NULL,
        version  TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE remote_services (
        host       TEXT NOT NULL,
        name       TEXT NOT NULL,
        critical   INTEGER NOT NULL,
        depends_on TEXT NOT NULL,
        PRIMARY KEY (host, name)
    ) WITHOUT ROWID;
    CREATE TABLE silences (
        host    TEXT NOT NULL,
        from_ms INTEGER NOT NULL,
        to_ms   INTEGER,
        PRIMARY KEY (host, from_ms)
    ) WITHOUT ROWID;
    CREATE INDEX incidents_by_service ON incidents (service, started_ms);",
    // 9: staging as a rowid table, keyed by time and series in one integer
    // (`at_ms << 20 | series_id`, see `staging_key`). A batch is appended at
    // the end of the table either way, but SQLite splits the last page of a
    // WITHOUT ROWID table by rewriting it with two of its neighbours and
    // their parent, every kilobyte or so, where a rowid table just starts a
    // new page: a minute of 25 services and host metrics went from about
    // five pages written to about three. `at_ms` and `series_id` stay
    // readable as columns computed from the key (stored nowhere).
    //
    // `series_by_instance` finds a service's series by its name, for the
    // time of its last check (`Store::service_statuses`): a steady service's
    // row in `service_status` is rewritten only every few minutes.
    "CREATE TABLE staging_packed (
        k         INTEGER PRIMARY KEY,
        value     REAL NOT NULL,
        at_ms     INTEGER GENERATED ALWAYS AS (k >> 20) VIRTUAL,
        series_id INTEGER GENERATED ALWAYS AS (k & 1048575) VIRTUAL
    );
    INSERT INTO staging_packed (k, value)
        SELECT (at_ms << 20) | series_id, value FROM staging ORDER BY at_ms, series_id;
    DROP TABLE staging;
    ALTER TABLE staging_packed RENAME TO staging;
    CREATE INDEX series_by_instance ON series (instance, metric);",
    // 10: a summary of each hour of each chunk (`hours.rs`): count, sum,
    // lowest, highest and last value, so a month of hourly averages is read
    // without decoding a month of points. Every chunk is written with it;
    // those written before are summed up by this upgrade (`SUMMARIES`).
    "ALTER TABLE chunks ADD COLUMN hours BLOB;",
];

/// The version whose upgrade also sums up the existing chunks.
const SUMMARIES: i64 = 10;

/// The schema version this binary writes.
#[cfg(test)]
pub(crate) fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the database up to [`current_version`], or refuses a newer one.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    migrate_with(conn, path, MIGRATIONS, |tx, version| {
        if version == SUMMARIES {
            hours::fill_missing(tx)?;
        }
        Ok(())
    })
}

/// Applies the missing `migrations`, calling `after` with the transaction
/// and the version reached after each (for what SQL alone cannot do).
pub(super) fn migrate_with(
    conn: &mut Connection,
    path: &Path,
    migrations: &[&str],
    after: impl Fn(&Transaction<'_>, i64) -> rusqlite::Result<()>,
) -> Result<(), StoreError> {
    let open_error = |source| StoreError::sqlite("schema upgrade", path, source);
    let supported = migrations.len() as i64;
    // IMMEDIATE: two processes opening a fresh file at once must not both
    // decide to create the tables.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_error)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(open_error)?;
    if found > supported {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported,
        });
    }
    if found == supported {
        return Ok(());
    }
    for (version, sql) in (1..).zip(migrations).skip(found as usize) {
        let step = |source| StoreError::Migration {
            path: path.to_path_buf(),
            version,
            source,
        };
        tx.execute_batch(sql).map_err(step)?;
        after(&tx, version).map_err(step)?;
        tx.execute_batch(&format!("PRAGMA user_version = {version}"))
            .map_err(step)?;
    }
    tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))
        .map_err(open_error)?;
    tx.commit().map_err(open_error)?;
    tracing::info!(path = %path.display(), from = found, to = supported, "database schema upgraded");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_more(_: &Transaction<'_>, _: i64) -> rusqlite::Result<()> {
        Ok(())
    }

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn migrations_apply_in_order_and_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn = Connection::open(&path).unwrap();
        let steps = ["CREATE TABLE a (x)", "ALTER TABLE a ADD COLUMN y"];
        migrate_with(&mut conn, &path, &steps[..1], no_more).unwrap();
        assert_eq!(version(&conn), 1);
        migrate_with(&mut conn, &path, &steps, no_more).unwrap();
        assert_eq!(version(&conn), 2);
        migrate_with(&mut conn, &path, &steps, no_more).unwrap();
        assert_eq!(version(&conn), 2);
        conn.execute("INSERT INTO a (x, y) VALUES (1, 2)", [])
            .unwrap();
    }

    #[test]
    fn a_failing_migration_leaves_the_previous_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn = Connection::open(&path).unwrap();
        migrate_with(&mut conn, &path, &["CREATE TABLE a (x)"], no_more).unwrap();
        let err = migrate_with(
            &mut conn,
            &path,
            &["CREATE TABLE a (x)", "CREATE TABLE b (x)", "NOT SQL"],
            no_more,
        )
        .unwrap_err();
        assert!(
            matches!(err, StoreError::Migration { version: 3, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("schema version 3"), "{err}");
        assert_eq!(version(&conn), 1);
        let b_exists: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(b_exists, 0, "the whole upgrade rolled back");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        let err = migrate(&mut conn, &path).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("newer keepwatch"), "{err}");
    }
}
