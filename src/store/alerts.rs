//! What the store keeps for alerting: alerts from start to resolution with
//! their escalation progress and acknowledgement, the notices each channel
//! still has to receive, the outbox of composed messages waiting for a
//! channel to accept them, and maintenance windows started by hand.
//!
//! The engine that decides what goes in is `crate::alert::engine`; the task
//! that empties the outbox is `crate::notify::outbox`. Both only go through
//! these functions, and each change that must not half-happen (a message
//! composed from notices) is one transaction.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError};
use crate::vocabulary::{Policy, Severity};

/// One alert as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    /// The number the admin acknowledges it by (`keepwatch ack 12`).
    pub id: i64,
    /// What the alert is about; at most one open alert per fingerprint.
    pub fingerprint: String,
    /// The service it is about, if any (for maintenance and `depends_on`).
    pub service: Option<String>,
    /// The host it is about.
    pub host: String,
    /// One line: "shop-web is down".
    pub title: String,
    /// The explanation: cause and likely fix.
    pub detail: String,
    /// The highest severity it reached.
    pub severity: Severity,
    /// Whether it must reach someone at any hour.
    pub emergency: bool,
    /// When the problem began.
    pub opened_at: Timestamp,
    /// The escalation policy it follows; `None` while silenced.
    pub policy: Option<Policy>,
    /// Escalation step times count from here.
    pub policy_from: Option<Timestamp>,
    /// Escalation steps carried out.
    pub steps_done: usize,
    /// When someone was last told (a step or a reminder).
    pub told_at: Option<Timestamp>,
    /// When it was acknowledged, and by whom.
    pub acked: Option<(Timestamp, String)>,
    /// When the problem ended.
    pub resolved_at: Option<Timestamp>,
    /// Why nobody is told (a maintenance window, flapping).
    pub silenced: Option<String>,
    /// Reported as flapping rather than as a plain alert.
    pub flapping: bool,
    /// The alert of the service this one depends on, which explains it.
    pub cause: Option<i64>,
}

/// A new alert, as the engine opens it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert<'a> {
    pub fingerprint: &'a str,
    pub service: Option<&'a str>,
    pub host: &'a str,
    pub title: &'a str,
    pub detail: &'a str,
    pub severity: Severity,
    pub emergency: bool,
    pub opened_at: Timestamp,
    pub policy: Option<(Policy, Timestamp)>,
    pub silenced: Option<&'a str>,
    pub flapping: bool,
    pub cause: Option<i64>,
}

/// Something one channel must be told about one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: i64,
    pub alert_id: i64,
    pub channel: String,
    /// `opened`, `worse`, `step`, `reminder`, `resolved`, `flapping` or `settled`.
    pub kind: String,
    /// When it was queued; it goes out with the channel's next message.
    pub due: Timestamp,
}

/// What became of one notice about an alert: its channel, when it was due,
/// and the message that carries it (`None`: not composed yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDelivery {
    /// The channel told.
    pub channel: String,
    /// When the notice was due.
    pub due: Timestamp,
    /// The message that carries it, once composed.
    pub message: Option<OutboxEntry>,
}

/// A composed message waiting in (or delivered from) the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub channel: String,
    /// The [`crate::message::Message`] as JSON.
    pub message: String,
    pub created_at: Timestamp,
    /// When the next attempt is due.
    pub next_at: Timestamp,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
    pub gave_up_at: Option<Timestamp>,
}

/// A maintenance window started from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWindow {
    pub id: i64,
    pub name: String,
    /// The services it covers; empty: everything.
    pub services: Vec<String>,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Why an acknowledgement was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("there is no alert {0}; `keepwatch status` lists the open alerts with their numbers")]
    Unknown(i64),
    #[error("alert {id} ({title}) is already resolved; nothing to acknowledge")]
    Resolved { id: i64, title: String },
    #[error("alert {id} ({title}) was already acknowledged by {by} at {at}")]
    Already {
        id: i64,
        title: String,
        by: String,
        at: Timestamp,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

const ALERT_COLUMNS: &str = "id, fingerprint, service, host, title, detail, severity, emergency, \
     opened_ms, policy, policy_ms, steps_done, told_ms, acked_ms, acked_by, resolved_ms, \
     silenced, flapping, cause";

fn severity_code(severity: Severity) -> i64 {
    match severity {
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

fn time(ms: i64) -> rusqlite::Result<Timestamp> {
    Timestamp::from_millisecond(ms).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, err.into())
    })
}

fn optional_time(ms: Option<i64>) -> rusqlite::Result<Option<Timestamp>> {
    ms.map(time).transpose()
}

fn alert_from(row: &Row) -> rusqlite::Result<AlertRecord> {
    let acked_ms: Option<i64> = row.get(13)?;
    let acked_by: Option<String> = row.get(14)?;
    Ok(AlertRecord {
        id: row.get(0)?,
        fingerprint: row.get(1)?,
        service: row.get(2)?,
        host: row.get(3)?,
        title: row.get(4)?,
        detail: row.get(5)?,
        severity: if row.get::<_, i64>(6)? >= 2 {
            Severity::Critical
        } else {
            Severity::Warning
        },
        emergency: row.get(7)?,
        opened_at: time(row.get(8)?)?,
        policy: row
            .get::<_, Option<String>>(9)?
            .as_deref()
            .and_then(Policy::parse),
        policy_from: optional_time(row.get(10)?)?,
        steps_done: usize::try_from(row.get::<_, i64>(11)?).unwrap_or(0),
        told_at: optional_time(row.get(12)?)?,
        acked: optional_time(acked_ms)?.map(|at| (at, acked_by.unwrap_or_default())),
        resolved_at: optional_time(row.get(15)?)?,
        silenced: row.get(16)?,
        flapping: row.get(17)?,
        cause: row.get(18)?,
    })
}

fn outbox_from(row: &Row) -> rusqlite::Result<OutboxEntry> {
    outbox_at(row, 0)
}

/// The [`OUTBOX_COLUMNS`] of `row` from column `start` on.
fn outbox_at(row: &Row, start: usize) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: row.get(start)?,
        channel: row.get(start + 1)?,
        message: row.get(start + 2)?,
        created_at: time(row.get(start + 3)?)?,
        next_at: time(row.get(start + 4)?)?,
        attempts: u32::try_from(row.get::<_, i64>(start + 5)?).unwrap_or(u32::MAX),
        last_error: row.get(start + 6)?,
        delivered_at: optional_time(row.get(start + 7)?)?,
        gave_up_at: optional_time(row.get(start + 8)?)?,
    })
}

/// Records that `notices` went into message `message_id` (0: into none).
fn mark_notices(
    tx: &rusqlite::Transaction,
    notices: &[i64],
    message_id: i64,
) -> rusqlite::Result<()> {
    let mut mark = tx.prepare_cached("UPDATE notices SET message_id = ?2 WHERE id = ?1")?;
    for notice in notices {
        mark.execute(params![notice, message_id])?;
    }
    Ok(())
}

const OUTBOX_COLUMNS: &str =
    "id, channel, message, created_ms, next_ms, attempts, last_error, delivered_ms, gave_up_ms";

impl Store {
    fn alerts_where(
        &self,
        condition: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let fail = |source| StoreError::sqlite("reading alerts", &self.path, source);
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE {condition}");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(fail)?;
        let rows = stmt.query_map(args, alert_from).map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// The open alert with this fingerprint.
    pub fn open_alert(&self, fingerprint: &str) -> Result<Option<AlertRecord>, StoreError> {
        Ok(self
            .alerts_where("fingerprint = ?1 AND resolved_ms IS NULL", [fingerprint])?
            .pop())
    }

    /// One alert by number.
    pub fn alert(&self, id: i64) -> Result<Option<AlertRecord>, StoreError> {
        Ok(self.alerts_where("id = ?1", [id])?.pop())
    }

    /// Every open alert, oldest first.
    pub fn open_alerts(&self) -> Result<Vec<AlertRecord>, StoreError> {
        self.alerts_where("resolved_ms IS NULL ORDER BY opened_ms, id", [])
    }

    /// The alerts the engine still has work on: the open ones, and those that
    /// ended before anyone was told (they wait for the next opening's summary).
    pub fn alerts_to_tend(&self) -> Result<Vec<AlertRecord>, StoreError> {
        self.alerts_where(
            "resolved_ms IS NULL OR (steps_done = 0 AND silenced IS NULL AND policy IS NOT NULL) \
             ORDER BY opened_ms, id",
            [],
        )
    }

    /// Alerts that overlap `from..to`, oldest first.
    pub fn alerts_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        self.alerts_where(
            "opened_ms < ?2 AND (resolved_ms IS NULL OR resolved_ms >= ?1) ORDER BY opened_ms, id",
            [from.as_millisecond(), to.as_millisecond()],
        )
    }

    /// The alert of `fingerprint` whose flapping has not settled yet.
    pub fn flapping_alert(&self, fingerprint: &str) -> Result<Option<AlertRecord>, StoreError> {
        Ok(self
            .alerts_where("fingerprint = ?1 AND flapping = 1", [fingerprint])?
            .pop())
    }

    /// Alerts reported as flapping whose "settled" message is still to come.
    pub fn flapping_alerts(&self) -> Result<Vec<AlertRecord>, StoreError> {
        self.alerts_where("flapping = 1 ORDER BY id", [])
    }

    /// How many alerts with `fingerprint` opened at or after `since`.
    pub fn alerts_opened_since(
        &self,
        fingerprint: &str,
        since: Timestamp,
    ) -> Result<usize, StoreError> {
        let count: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM alerts WHERE fingerprint = ?1 AND opened_ms >= ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![fingerprint, since.as_millisecond()], |r| r.get(0))
            })
            .map_err(|source| StoreError::sqlite("reading alerts", &self.path, source))?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// The latest alert with `fingerprint`, open or not.
    pub fn last_alert(&self, fingerprint: &str) -> Result<Option<AlertRecord>, StoreError> {
        Ok(self
            .alerts_where(
                "fingerprint = ?1 ORDER BY opened_ms DESC, id DESC LIMIT 1",
                [fingerprint],
            )?
            .pop())
    }

    /// Records a new alert; returns its number.
    pub fn insert_alert(&mut self, alert: &NewAlert) -> Result<i64, StoreError> {
        let (policy, policy_ms) = match alert.policy {
            Some((policy, from)) => (Some(policy.as_str()), Some(from.as_millisecond())),
            None => (None, None),
        };
        self.conn
            .prepare_cached(
                "INSERT INTO alerts (fingerprint, service, host, title, detail, severity, \
                 emergency, opened_ms, policy, policy_ms, silenced, flapping, cause) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    alert.fingerprint,
                    alert.service,
                    alert.host,
                    alert.title,
                    alert.detail,
                    severity_code(alert.severity),
                    alert.emergency,
                    alert.opened_at.as_millisecond(),
                    policy,
                    policy_ms,
                    alert.silenced,
                    alert.flapping,
                    alert.cause,
                ])
            })
            .map_err(|source| StoreError::sqlite("recording an alert", &self.path, source))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Runs one change; `what` names it in the error.
    fn change(
        &mut self,
        what: &'static str,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(args))
            .map_err(|source| StoreError::sqlite(what, &self.path, source))?;
        Ok(())
    }

    fn update_alert(&mut self, sql: &str, args: impl rusqlite::Params) -> Result<(), StoreError> {
        self.change("updating an alert", sql, args)
    }

    /// A worse state of an open alert: its new title, explanation and class.
    pub fn worsen_alert(
        &mut self,
        id: i64,
        severity: Severity,
        emergency: bool,
        title: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.update_alert(
            "UPDATE alerts SET severity = ?2, emergency = ?3, title = ?4, detail = ?5 WHERE id = ?1",
            params![id, severity_code(severity), emergency, title, detail],
        )
    }

    /// Puts an alert on a policy (or takes it off with `None`, silencing it
    /// for `silenced`), from the first step.
    pub fn set_alert_policy(
        &mut self,
        id: i64,
        policy: Option<(Policy, Timestamp)>,
        silenced: Option<&str>,
    ) -> Result<(), StoreError> {
        let (name, from) = match policy {
            Some((policy, from)) => (Some(policy.as_str()), Some(from.as_millisecond())),
            None => (None, None),
        };
        self.update_alert(
            "UPDATE alerts SET policy = ?2, policy_ms = ?3, silenced = ?4, steps_done = 0 WHERE id = ?1",
            params![id, name, from, silenced],
        )
    }

    /// Records escalation progress: steps carried out and when someone was told.
    pub fn set_alert_progress(
        &mut self,
        id: i64,
        steps_done: usize,
        told_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.update_alert(
            "UPDATE alerts SET steps_done = ?2, told_ms = ?3 WHERE id = ?1",
            params![
                id,
                i64::try_from(steps_done).unwrap_or(i64::MAX),
                told_at.as_millisecond()
            ],
        )
    }

    /// Sets the alert of the service that explains this one.
    pub fn set_alert_cause(&mut self, id: i64, cause: Option<i64>) -> Result<(), StoreError> {
        self.update_alert(
            "UPDATE alerts SET cause = ?2 WHERE id = ?1",
            params![id, cause],
        )
    }

    /// Marks whether a flapping alert's "settled" message went out (`flapping`
    /// back to false).
    pub fn set_alert_flapping(&mut self, id: i64, flapping: bool) -> Result<(), StoreError> {
        self.update_alert(
            "UPDATE alerts SET flapping = ?2 WHERE id = ?1",
            params![id, flapping],
        )
    }

    /// Ends an alert.
    pub fn resolve_alert(&mut self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        self.update_alert(
            "UPDATE alerts SET resolved_ms = ?2 WHERE id = ?1 AND resolved_ms IS NULL",
            params![id, at.as_millisecond()],
        )
    }

    /// Acknowledges an open alert: escalation and reminders stop; the
    /// recovery message still goes out.
    pub fn acknowledge(
        &mut self,
        id: i64,
        by: &str,
        at: Timestamp,
    ) -> Result<AlertRecord, AckError> {
        let alert = self.alert(id)?.ok_or(AckError::Unknown(id))?;
        if alert.resolved_at.is_some() {
            return Err(AckError::Resolved {
                id,
                title: alert.title,
            });
        }
        if let Some((at, by)) = alert.acked {
            return Err(AckError::Already {
                id,
                title: alert.title,
                by,
                at,
            });
        }
        self.update_alert(
            "UPDATE alerts SET acked_ms = ?2, acked_by = ?3 WHERE id = ?1",
            params![id, at.as_millisecond(), by],
        )?;
        Ok(AlertRecord {
            acked: Some((at, by.to_owned())),
            ..alert
        })
    }

    /// Queues `kind` for `channel` about alert `alert_id`, not before `due`.
    pub fn add_notice(
        &mut self,
        alert_id: i64,
        channel: &str,
        kind: &str,
        due: Timestamp,
    ) -> Result<(), StoreError> {
        self.change(
            "queueing a notice",
            "INSERT INTO notices (alert_id, channel, kind, due_ms) VALUES (?1, ?2, ?3, ?4)",
            params![alert_id, channel, kind, due.as_millisecond()],
        )
    }

    /// Notices not yet in a message, by channel and age.
    pub fn waiting_notices(&self) -> Result<Vec<Notice>, StoreError> {
        let fail = |source| StoreError::sqlite("reading notices", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, alert_id, channel, kind, due_ms FROM notices \
                 WHERE message_id IS NULL ORDER BY channel, due_ms, id",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Notice {
                    id: r.get(0)?,
                    alert_id: r.get(1)?,
                    channel: r.get(2)?,
                    kind: r.get(3)?,
                    due: time(r.get(4)?)?,
                })
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// The channels that were sent (or are about to be sent) something about
    /// alert `alert_id`: who gets its recovery message.
    pub fn told_channels(&self, alert_id: i64) -> Result<Vec<String>, StoreError> {
        let fail = |source| StoreError::sqlite("reading notices", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT channel FROM notices WHERE alert_id = ?1 AND kind <> 'resolved' \
                 ORDER BY channel",
            )
            .map_err(fail)?;
        let rows = stmt.query_map([alert_id], |r| r.get(0)).map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// Puts a composed message in the outbox and marks the notices it carries,
    /// in one transaction: a notice is in exactly one message.
    pub fn enqueue_message(
        &mut self,
        channel: &str,
        message: &str,
        notices: &[i64],
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        let fail = |source| StoreError::sqlite("queueing a message", &self.path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        tx.prepare_cached(
            "INSERT INTO outbox (channel, message, created_ms, next_ms) VALUES (?1, ?2, ?3, ?3)",
        )
        .and_then(|mut s| s.execute(params![channel, message, now.as_millisecond()]))
        .map_err(fail)?;
        let id = tx.last_insert_rowid();
        mark_notices(&tx, notices, id).map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(id)
    }

    /// Marks notices that cannot become a message (their alert is gone) as
    /// done, so they are not looked at again.
    pub fn drop_notices(&mut self, notices: &[i64]) -> Result<(), StoreError> {
        let fail = |source| StoreError::sqlite("dropping notices", &self.path, source);
        let tx = self.conn.transaction().map_err(fail)?;
        mark_notices(&tx, notices, 0).map_err(fail)?;
        tx.commit().map_err(fail)
    }

    /// How many alerts opened in `from..to` each channel was told about, for reports.
    pub fn alerts_told_per_channel(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, usize)>, StoreError> {
        let fail = |source| StoreError::sqlite("reading notices", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT n.channel, count(DISTINCT n.alert_id) FROM notices n
                 JOIN alerts a ON a.id = n.alert_id
                 WHERE a.opened_ms >= ?1 AND a.opened_ms < ?2 AND n.message_id > 0
                 GROUP BY n.channel ORDER BY n.channel",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map(params![from.as_millisecond(), to.as_millisecond()], |r| {
                Ok((r.get(0)?, usize::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// When messages to `channel` were composed, since `since`.
    pub fn messages_composed_since(
        &self,
        channel: &str,
        since: Timestamp,
    ) -> Result<Vec<Timestamp>, StoreError> {
        let fail = |source| StoreError::sqlite("reading the outbox", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT created_ms FROM outbox WHERE channel = ?1 AND created_ms >= ?2")
            .map_err(fail)?;
        let rows = stmt
            .query_map(params![channel, since.as_millisecond()], |r| {
                time(r.get(0)?)
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// Whether every alert told in the latest message to `channel` is over:
    /// then their recoveries are an all-clear with nothing left to gather.
    /// False when the channel has had no message yet.
    pub fn last_message_all_over(&self, channel: &str) -> Result<bool, StoreError> {
        let fail = |source| StoreError::sqlite("reading the outbox", &self.path, source);
        self.conn
            .prepare_cached(
                "SELECT COUNT(n.id), COUNT(a.resolved_ms) FROM notices n JOIN alerts a ON a.id = n.alert_id \
                 WHERE n.message_id = (SELECT MAX(id) FROM outbox WHERE channel = ?1)",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![channel], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
            })
            .map(|(told, over)| told > 0 && told == over)
            .map_err(fail)
    }

    /// Every notice about alert `alert_id` with the message that carries it,
    /// oldest first: what each channel got of it. Notices dropped without a
    /// message (their alert was gone) are left out.
    pub fn alert_deliveries(&self, alert_id: i64) -> Result<Vec<AlertDelivery>, StoreError> {
        let fail = |source| StoreError::sqlite("reading notices", &self.path, source);
        let columns: Vec<String> = OUTBOX_COLUMNS
            .split(", ")
            .map(|column| format!("o.{column}"))
            .collect();
        let sql = format!(
            "SELECT n.channel, n.due_ms, {} FROM notices n LEFT JOIN outbox o ON o.id = n.message_id \
             WHERE n.alert_id = ?1 AND (n.message_id IS NULL OR n.message_id > 0) ORDER BY n.id",
            columns.join(", ")
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(fail)?;
        let rows = stmt
            .query_map([alert_id], |r| {
                let composed = r.get::<_, Option<i64>>(2)?.is_some();
                Ok(AlertDelivery {
                    channel: r.get(0)?,
                    due: time(r.get(1)?)?,
                    message: composed.then(|| outbox_at(r, 2)).transpose()?,
                })
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// Messages still to deliver, the soonest due first.
    pub fn undelivered(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let fail = |source| StoreError::sqlite("reading the outbox", &self.path, source);
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE delivered_ms IS NULL AND gave_up_ms IS NULL \
             ORDER BY next_ms, id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(fail)?;
        let rows = stmt.query_map([], outbox_from).map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// The outbox's most recent messages, newest first, delivered or not.
    pub fn recent_messages(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let fail = |source| StoreError::sqlite("reading the outbox", &self.path, source);
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id DESC LIMIT ?1");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(fail)?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], outbox_from)
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    fn update_outbox(&mut self, sql: &str, args: impl rusqlite::Params) -> Result<(), StoreError> {
        self.change("updating the outbox", sql, args)
    }

    /// The channel accepted message `id`: it is never sent again.
    pub fn mark_delivered(&mut self, id: i64, at: Timestamp) -> Result<(), StoreError> {
        self.update_outbox(
            "UPDATE outbox SET delivered_ms = ?2, attempts = attempts + 1 WHERE id = ?1",
            params![id, at.as_millisecond()],
        )
    }

    /// A failed attempt at message `id`: try again at `next`.
    pub fn mark_failed(&mut self, id: i64, error: &str, next: Timestamp) -> Result<(), StoreError> {
        self.update_outbox(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_ms = ?3 WHERE id = ?1",
            params![id, error, next.as_millisecond()],
        )
    }

    /// Message `id` cannot be sent at all (its channel was removed from the config).
    pub fn give_up(&mut self, id: i64, reason: &str, at: Timestamp) -> Result<(), StoreError> {
        self.update_outbox(
            "UPDATE outbox SET gave_up_ms = ?2, last_error = ?3 WHERE id = ?1",
            params![id, at.as_millisecond(), reason],
        )
    }

    /// Records a maintenance window started from the command line.
    pub fn add_maintenance(
        &mut self,
        name: &str,
        services: &[String],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<i64, StoreError> {
        let services = serde_json::to_string(services).unwrap_or_else(|_| "[]".to_owned());
        self.conn
            .prepare_cached(
                "INSERT INTO maintenance (name, services, start_ms, end_ms) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    name,
                    services,
                    start.as_millisecond(),
                    end.as_millisecond()
                ])
            })
            .map_err(|source| StoreError::sqlite("recording maintenance", &self.path, source))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Windows started from the command line that have not ended by `now`.
    pub fn maintenance_windows(&self, now: Timestamp) -> Result<Vec<StoredWindow>, StoreError> {
        self.windows_where("end_ms > ?1", [now.as_millisecond()])
    }

    /// Windows started from the command line that overlap `from..to`, for reports.
    pub fn maintenance_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredWindow>, StoreError> {
        self.windows_where(
            "end_ms > ?1 AND start_ms < ?2",
            [from.as_millisecond(), to.as_millisecond()],
        )
    }

    fn windows_where<P: rusqlite::Params>(
        &self,
        filter: &str,
        params: P,
    ) -> Result<Vec<StoredWindow>, StoreError> {
        let fail = |source| StoreError::sqlite("reading maintenance windows", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT id, name, services, start_ms, end_ms FROM maintenance WHERE {filter} \
                 ORDER BY start_ms, id"
            ))
            .map_err(fail)?;
        let rows = stmt
            .query_map(params, |r| {
                let services: String = r.get(2)?;
                Ok(StoredWindow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    services: serde_json::from_str(&services).unwrap_or_default(),
                    start: time(r.get(3)?)?,
                    end: time(r.get(4)?)?,
                })
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// Ends window `id` at `now` (or every running window with `None`);
    /// returns how many ended.
    pub fn end_maintenance(
        &mut self,
        id: Option<i64>,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let ms = now.as_millisecond();
        let fail = |source| StoreError::sqlite("ending maintenance", &self.path, source);
        let changed = match id {
            Some(id) => self
                .conn
                .execute(
                    "UPDATE maintenance SET end_ms = ?2 WHERE id = ?1 AND end_ms > ?2",
                    params![id, ms],
                )
                .map_err(fail)?,
            None => self
                .conn
                .execute(
                    "UPDATE maintenance SET end_ms = ?1 WHERE end_ms > ?1 AND start_ms <= ?1",
                    params![ms],
                )
                .map_err(fail)?,
        };
        Ok(changed)
    }

    /// Whether any outbox message is waiting (for a quick look from `status`).
    pub fn outbox_waiting(&self) -> Result<usize, StoreError> {
        let count: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE delivered_ms IS NULL AND gave_up_ms IS NULL",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|source| StoreError::sqlite("reading the outbox", &self.path, source))?
            .unwrap_or(0);
        Ok(usize::try_from(count).unwrap_or(0))
    }
}
