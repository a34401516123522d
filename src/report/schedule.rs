//! Scheduled reports: when each `[[report]]` is due, making it off the
//! agent's hot path, and putting it into the durable outbox.
//!
//! # When
//!
//! A schedule is a time of day on some days, in the business time zone. Each
//! day has at most one scheduled instant, found with jiff's *compatible*
//! disambiguation (as maintenance windows are): a time in the gap when the
//! clocks go forward moves forward by the gap (in Europe/Berlin, 02:30 on
//! 29 March 2026 is sent at 03:30 CEST), and a time in the hour that happens
//! twice when they go back is its first pass only (02:30 on 25 October 2026
//! is sent at 02:30 CEST, not again at 02:30 CET). A monthly day that a
//! month lacks (the 31st in November) is that month's last day.
//!
//! # Once, and only once
//!
//! The store keeps, for each report, the scheduled time it was last made
//! for; the messages go into the outbox in the same transaction. So a mail
//! server that is down only delays a report (the outbox retries), a restart
//! does not make it again, and a report whose time passed while keepwatch
//! was stopped is made once when it starts (only the latest missed one, not
//! one per missed week). A report seen for the first time starts at its next
//! scheduled time rather than sending one for the past.
//!
//! # Off the hot path
//!
//! [`run`] makes reports on a blocking thread with its own database
//! connection, so checks and alerts never wait for one. The agent makes
//! each in a child process of its own program ([`super::child`]), so what a
//! report needed goes back to the system when it is made. A report that cannot be made is
//! tried again [`RETRY_AFTER`] later, up to [`ATTEMPTS`] times; then the
//! admin is told (through the channels of the first business-hours step)
//! and the next scheduled time is awaited.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use tokio::sync::{Notify, watch};

use super::child::{Job, Maker};
use super::email::{message, slug};
use crate::calendar::Calendar;
use crate::clock::Clock;
use crate::config::{Config, Days, ReportConfig, When};
use crate::message::Message;
use crate::notify::{Channel, ChannelKind};
use crate::printable;
use crate::store::{Store, StoreError};

/// How many days around an instant a schedule is looked for: enough for a
/// monthly report, whatever the month.
const SEARCH_DAYS: i64 = 63;
/// How long after a failed attempt a report is tried again.
pub const RETRY_AFTER: SignedDuration = SignedDuration::from_mins(10);
/// How many attempts a report gets at one scheduled time.
pub const ATTEMPTS: u32 = 3;
/// The longest the loop sleeps without looking at the clock again, so a
/// computer that slept or had its clock set does not miss a report by long.
const LOOK_AT_LEAST_EVERY: SignedDuration = SignedDuration::from_mins(15);

/// The instant `when` is scheduled for on `date`, if it is one of its days.
pub fn on_date(when: &When, date: Date, tz: &TimeZone) -> Option<Timestamp> {
    let scheduled = match when.days {
        Days::Daily => true,
        Days::Weekly(weekday) => date.weekday() == weekday,
        Days::Monthly(day) => date.day() == day.min(date.days_in_month()),
    };
    if !scheduled {
        return None;
    }
    tz.to_ambiguous_timestamp(date.to_datetime(when.at))
        .compatible()
        .ok()
}

/// The latest scheduled instant at or before `now`.
pub fn latest(when: &When, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
    let today = tz.to_datetime(now).date();
    (0..SEARCH_DAYS)
        .filter_map(|back| today.checked_sub(back.days()).ok())
        .filter_map(|date| on_date(when, date, tz))
        .find(|at| *at <= now)
}

/// The first scheduled instant after `after`.
pub fn next_after(when: &When, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
    let day = tz.to_datetime(after).date();
    (0..SEARCH_DAYS)
        .filter_map(|ahead| day.checked_add(ahead.days()).ok())
        .filter_map(|date| on_date(when, date, tz))
        .find(|at| *at > after)
}

/// `table`'s schedule and its latest time at or before `now`; `None` for a
/// table whose `every` cannot be read.
fn schedule_of(table: &ReportConfig, now: Timestamp, tz: &TimeZone) -> Option<(When, Timestamp)> {
    let when = table.parse().ok()?;
    Some((when, latest(&when, now, tz)?))
}

/// Who receives `table`'s report, in words: the addresses, else the channel.
pub fn recipients(table: &ReportConfig, channel: &Channel) -> String {
    let to = match &channel.kind {
        ChannelKind::Email(email) if table.to.is_empty() => email.to.join(", "),
        _ => table.to.join(", "),
    };
    if to.is_empty() {
        format!("\"{}\"", channel.name)
    } else {
        format!("{to} through \"{}\"", channel.name)
    }
}

/// One report made for `keepwatch report test`: the table, and the channel
/// with the message, or why it could not be made.
pub type Made = (ReportConfig, Result<(Channel, Message), String>);

/// Each of `config`'s reports, or only the one whose name or `every` is
/// `only`, made now over the period it would cover now.
pub fn make_now(
    store: &Store,
    config: &Config,
    calendar: &Calendar,
    only: Option<&str>,
    now: Timestamp,
) -> Result<Vec<Made>, String> {
    if config.reports.is_empty() {
        return Err("No report is set up. Add one to the config file, e.g.\n\n\
             [[report]]\nevery = \"month 1st 08:00\"\nto = [\"boss@example.com\"]\n"
            .to_owned());
    }
    let chosen: Vec<&ReportConfig> = config
        .reports
        .iter()
        .filter(|t| only.is_none_or(|only| t.name == only || t.every.trim() == only.trim()))
        .collect();
    if chosen.is_empty() {
        let known: Vec<String> = config.reports.iter().map(ReportConfig::title).collect();
        return Err(format!(
            "No report is named \"{}\". The reports are: {}.",
            only.unwrap_or_default(),
            known.join(", ")
        ));
    }
    Ok(chosen
        .into_iter()
        .map(|table| {
            let made = table.channel_in(&config.channels).and_then(|channel| {
                message(store, config, calendar, table, now, now).map(|m| (channel, m))
            });
            (table.clone(), made)
        })
        .collect())
}

/// What one [`Scheduler::pass`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Reports put into the outbox.
    pub queued: usize,
    /// Reports that could not be made this time.
    pub failed: usize,
    /// When a report is next due (or tried again).
    pub next: Option<Timestamp>,
}

/// Makes the reports that are due, with its own connection to the database.
pub struct Scheduler {
    store: Store,
    clock: Arc<dyn Clock>,
    /// Failed attempts at each report's current scheduled time.
    failures: HashMap<(String, Timestamp), u32>,
    /// Where the reports are made.
    maker: Maker,
}

impl Scheduler {
    /// A scheduler working on `store` at `clock`'s time, making reports in
    /// this process.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            failures: HashMap::new(),
            maker: Maker::InProcess,
        }
    }

    /// The same, making reports where `maker` says.
    pub fn made_by(self, maker: Maker) -> Self {
        Self { maker, ..self }
    }

    /// The store, for reading what was queued.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Makes and queues every report of `config` that is due now, and says
    /// when the next one is.
    pub fn pass(&mut self, config: &Config) -> Pass {
        let now = self.clock.now();
        let mut pass = Pass::default();
        if config.reports.is_empty() {
            return pass;
        }
        let calendar = match Calendar::from_config(&config.business, TimeZone::system()) {
            Ok(calendar) => calendar,
            Err(err) => {
                tracing::error!("scheduled reports cannot work out their times: {err}");
                return pass;
            }
        };
        let tz = calendar.time_zone().clone();
        let soonest = |pass: &mut Pass, at: Option<Timestamp>| {
            if let Some(at) = at {
                pass.next = Some(pass.next.map_or(at, |next| next.min(at)));
            }
        };
        for table in &config.reports {
            // The config was checked when it was loaded.
            let Some((when, due)) = schedule_of(table, now, &tz) else {
                continue;
            };
            let key = table.key();
            let made = match self.store.report_made_for(&key) {
                Ok(made) => made,
                Err(err) => {
                    tracing::warn!(
                        "{}: cannot read when it was last made: {err}",
                        table.title()
                    );
                    soonest(&mut pass, now.checked_add(RETRY_AFTER).ok());
                    continue;
                }
            };
            match made {
                None => {
                    // New: it starts with its next time.
                    match self.store.queue_report(&key, due, &[], now) {
                        Ok(_) => {
                            if let Some(first) = next_after(&when, now, &tz) {
                                tracing::info!(
                                    "{} is set up: the first goes out {}",
                                    table.title(),
                                    first
                                        .to_zoned_datetime(tz.clone())
                                        .strftime("%A %-d %B %Y at %H:%M")
                                );
                            }
                        }
                        Err(err) => tracing::warn!("{}: cannot note it down: {err}", table.title()),
                    }
                }
                Some(made) if made < due => match self.make(config, &calendar, table, due, now) {
                    // `false`: another keepwatch made it first.
                    Ok(queued) => pass.queued += usize::from(queued),
                    Err(err) => {
                        pass.failed += 1;
                        soonest(&mut pass, self.failed(config, table, due, now, &err));
                    }
                },
                Some(_) => {}
            }
            soonest(&mut pass, next_after(&when, due.max(now), &tz));
        }
        if pass.queued + pass.failed > 0 {
            // Only a hint to SQLite: nothing else to do if it fails.
            let _ = (self.store.release_memory()).inspect_err(|err| tracing::debug!("{err}"));
        }
        pass
    }

    /// Makes `table`'s report for `due` and queues it; `false` when it had
    /// been made already.
    fn make(
        &mut self,
        config: &Config,
        calendar: &Calendar,
        table: &ReportConfig,
        due: Timestamp,
        now: Timestamp,
    ) -> Result<bool, String> {
        let channel = table.channel_in(&config.channels)?;
        let message = match &self.maker {
            Maker::InProcess => message(&self.store, config, calendar, table, due, now)?,
            Maker::Child(program) => Job {
                config: config.clone(),
                database: self.store.path().to_path_buf(),
                report: table.key(),
                due,
                now,
            }
            .run_in(program)?,
        };
        let stored = serde_json::to_string(&message).map_err(|err| err.to_string())?;
        let queued = self
            .store
            .queue_report(&table.key(), due, &[(channel.name.clone(), stored)], now)
            .map_err(|err: StoreError| err.to_string())?;
        if queued {
            tracing::info!(
                "{} for {} is made and on its way to {}",
                table.title(),
                message.subject,
                recipients(table, &channel)
            );
            self.failures.retain(|(key, _), _| *key != table.key());
        }
        Ok(queued)
    }

    /// Notes a failed attempt; returns when to try again, or after the last
    /// attempt tells the admin and gives up on this scheduled time.
    fn failed(
        &mut self,
        config: &Config,
        table: &ReportConfig,
        due: Timestamp,
        now: Timestamp,
        err: &str,
    ) -> Option<Timestamp> {
        let attempts = self.failures.entry((table.key(), due)).or_insert(0);
        *attempts += 1;
        if *attempts < ATTEMPTS {
            tracing::warn!(
                "{} could not be made ({err}); trying again in {} minutes",
                table.title(),
                RETRY_AFTER.as_mins()
            );
            return now.checked_add(RETRY_AFTER).ok();
        }
        let text = format!(
            "keepwatch could not make {} that was due now: {err}. It tries again at the next \
             scheduled time; `keepwatch report test` tries at once and shows the problem.",
            table.title()
        );
        tracing::error!("{text}");
        let business = &config.business.name;
        let told = Message {
            id: format!(
                "report-failed-{}-{}",
                now.as_millisecond(),
                slug(&table.key())
            ),
            subject: printable::line(&format!(
                "[{business}] A scheduled report could not be made"
            ))
            .into_owned(),
            html: format!(
                "<html><body><p>{}</p></body></html>",
                printable::markup(&text)
            ),
            short: format!(
                "{business}: a scheduled report could not be made; see keepwatch's log."
            ),
            data: serde_json::json!({ "business": business, "report_failed": table.title(), "alerts": [] }),
            text,
            enclosure: None,
        };
        let admin: Vec<(String, String)> = config
            .alerting
            .business_hours
            .first()
            .map(|step| step.notify.clone())
            .unwrap_or_else(|| vec![Channel::LOG.to_owned()])
            .into_iter()
            .filter_map(|channel| serde_json::to_string(&told).ok().map(|m| (channel, m)))
            .collect();
        let _ = self.store.record_event(now, "report", &told.text);
        if let Err(err) = self.store.queue_report(&table.key(), due, &admin, now) {
            tracing::error!("cannot tell the admin that a report failed: {err}");
        }
        self.failures.remove(&(table.key(), due));
        None
    }
}

/// Makes scheduled reports until `stop` completes (not generic: one copy of
/// it in the binary): at each due time, and
/// again when the config changes (through `configs`). `wake` is the outbox's:
/// a queued report is sent at once. A pass that panics (a bug) ends scheduled reports, said
/// in the log; checks and alerts go on.
pub async fn run(
    mut scheduler: Scheduler,
    mut configs: watch::Receiver<Config>,
    wake: Arc<Notify>,
    mut stop: Pin<Box<dyn Future<Output = ()> + Send>>,
) {
    loop {
        let config = configs.borrow_and_update().clone();
        let made = tokio::task::spawn_blocking(move || {
            let pass = scheduler.pass(&config);
            (scheduler, pass)
        })
        .await;
        let pass = match made {
            Ok((back, pass)) => {
                scheduler = back;
                pass
            }
            Err(err) => {
                tracing::error!("scheduled reports stopped: {err}");
                return;
            }
        };
        if pass.queued > 0 {
            wake.notify_one();
            tokio::spawn(let_go_once_sent());
        }
        let now = scheduler.clock.now();
        let wait = pass
            .next
            .map_or(LOOK_AT_LEAST_EVERY, |next| now.duration_until(next))
            .clamp(SignedDuration::ZERO, LOOK_AT_LEAST_EVERY);
        let wait = std::time::Duration::try_from(wait).unwrap_or_default();
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(wait) => {}
            Ok(()) = configs.changed() => {}
        }
    }
}

/// How long after a report is queued the agent lets go of the code that
/// made and sent it: the outbox sends at once, so by then the mail is gone
/// (or waits for a retry, which maps what it needs back).
const SENT_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Lets go of the program pages a report ran (the outbox's mail code, the
/// child process's plumbing) and of the heap its mail freed, once it is
/// sent, instead of keeping them until the agent's hourly let-go: a report
/// runs once a day or a week, and its memory goes back afterwards (issue 12).
async fn let_go_once_sent() {
    tokio::time::sleep(SENT_WITHIN).await;
    crate::resident::let_go_of_idle_memory("a report");
}

/// Starts [`run`] beside the agent with its own connection to the database
/// at `path`, making reports where `maker` says; `None` (said in the log)
/// when the database cannot be opened.
pub fn spawn(
    path: &std::path::Path,
    maker: Maker,
    config: &Config,
    clock: Arc<dyn Clock>,
    configs: watch::Receiver<Config>,
    wake: Arc<Notify>,
) -> Option<tokio::task::JoinHandle<()>> {
    match Store::open(path, &config.storage) {
        Ok(store) => Some(tokio::spawn(run(
            Scheduler::new(store, clock).made_by(maker),
            configs,
            wake,
            Box::pin(std::future::pending()),
        ))),
        Err(err) => {
            tracing::error!("scheduled reports cannot be sent: cannot open the database: {err}");
            None
        }
    }
}

#[cfg(test)]
mod tests;
