//! Turns what one channel has to be told into one message: short,
//! plain-language, saying what is wrong, since when, what it affects and how
//! to acknowledge. Several alerts make one message; services that fail
//! because a service they depend on is down are folded under it.
//!
//! Pure: the caller passes the alerts, their notices and the time.

use crate::message::{Message, truncate};
use crate::printable::markup;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::json;

use crate::printable;
use crate::store::AlertRecord;
use crate::vocabulary::Severity;

/// What a notice tells about its alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoticeKind {
    /// The first message about an alert.
    Opened,
    /// In the summary at the business's opening: it happened while closed.
    Digest,
    /// It got worse (warning to critical, degraded to down).
    Worse,
    /// A later escalation step: still unacknowledged.
    Step,
    /// A reminder: still unacknowledged.
    Reminder,
    /// It goes up and down; reported once.
    Flapping,
    /// A flapping service has been steady for a while.
    Settled,
    /// It is over.
    Resolved,
}

impl NoticeKind {
    /// Every kind, for parsing and tests.
    pub const ALL: [NoticeKind; 8] = [
        Self::Opened,
        Self::Digest,
        Self::Worse,
        Self::Step,
        Self::Reminder,
        Self::Flapping,
        Self::Settled,
        Self::Resolved,
    ];

    /// The name kept in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Digest => "digest",
            Self::Worse => "worse",
            Self::Step => "step",
            Self::Reminder => "reminder",
            Self::Flapping => "flapping",
            Self::Settled => "settled",
            Self::Resolved => "resolved",
        }
    }

    /// The kind named `text` in the store.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One alert to tell about, with what to say of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: NoticeKind,
    pub alert: AlertRecord,
}

/// Everything a message is made from.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    /// Unique id of the message (see [`Message::id`]).
    pub id: String,
    /// The business's name, at the start of every subject.
    pub business: &'a str,
    /// The alerts, in the order they were queued.
    pub items: Vec<Item>,
    /// Alerts that explain folded items but are not in this message.
    pub causes: BTreeMap<i64, AlertRecord>,
    /// Services that depend on each service, for "what it affects".
    pub dependents: &'a BTreeMap<String, Vec<String>>,
    /// The business's time zone, for times in the text.
    pub time_zone: &'a TimeZone,
    /// Now.
    pub now: Timestamp,
}

/// Composes the message of `batch`.
pub fn compose(batch: &Batch) -> Message {
    let (main, folded) = fold(batch);
    let digest = batch.items.iter().any(|i| i.kind == NoticeKind::Digest);
    let subject = subject(batch, &main, digest);
    let mut text = String::new();
    let mut html = String::new();
    if digest {
        let line = "While the business was closed:";
        let _ = writeln!(text, "{line}\n");
        let _ = write!(html, "<p><strong>{}</strong></p>", markup(line));
    }
    for item in &main {
        let children: Vec<&Item> = folded
            .get(&item.alert.id)
            .map(|items| items.iter().collect())
            .unwrap_or_default();
        let lines = describe(batch, item, &children);
        let mut block = lines.clone();
        if !children.is_empty() {
            block.push(fold_line(&item.alert, &children, true));
        }
        text.push_str(&block.join("\n"));
        text.push_str("\n\n");
        html.push_str("<p>");
        html.push_str(
            &block
                .iter()
                .map(|line| markup(line))
                .collect::<Vec<_>>()
                .join("<br>"),
        );
        html.push_str("</p>");
    }
    // Folded items whose cause is not in this message.
    for (cause_id, children) in &folded {
        if main.iter().any(|item| item.alert.id == *cause_id) {
            continue;
        }
        if let Some(cause) = batch.causes.get(cause_id) {
            let children: Vec<&Item> = children.iter().collect();
            let mut line = fold_line(cause, &children, false);
            if let Some(urgent) = emergency_among(&children) {
                line.push(' ');
                line.push_str(&urgent);
            }
            let _ = writeln!(text, "{line}\n");
            let _ = write!(html, "<p>{}</p>", markup(&line));
        }
    }
    let text = text.trim_end().to_owned();
    Message {
        id: batch.id.clone(),
        subject,
        short: short(batch, &main, folded.values().map(Vec::len).sum()),
        html: format!("<html><body>{html}</body></html>"),
        data: data(batch),
        text,
        enclosure: None,
    }
}

/// Splits the items into those shown on their own and those folded under the
/// alert of a service they depend on (by that alert's id).
fn fold(batch: &Batch) -> (Vec<Item>, BTreeMap<i64, Vec<Item>>) {
    let in_batch = |id: i64| batch.items.iter().any(|i| i.alert.id == id);
    let mut main = Vec::new();
    let mut folded: BTreeMap<i64, Vec<Item>> = BTreeMap::new();
    for item in &batch.items {
        match item.alert.cause {
            Some(cause) if in_batch(cause) || batch.causes.contains_key(&cause) => {
                folded.entry(cause).or_default().push(item.clone());
            }
            _ => main.push(item.clone()),
        }
    }
    (main, folded)
}

/// How long a subject may be: mail clients show less, and a header line has
/// to stay under the 998 characters mail allows.
const SUBJECT_CHARS: usize = 200;

/// The subject: one line (a CR or LF in a name cannot start another header)
/// of at most [`SUBJECT_CHARS`].
fn subject(batch: &Batch, main: &[Item], digest: bool) -> String {
    let count = batch.items.len();
    let first = main
        .first()
        .or(batch.items.first())
        .map(headline)
        .unwrap_or_default();
    let what = match (digest, count) {
        (true, _) => format!("While you were closed: {}", alerts_word(count)),
        (false, 1) => first,
        (false, _) if main.len() == 1 => format!(
            "{first}, and {} depending on it",
            services_word(count - main.len())
        ),
        (false, _) => format!("{first}, and {} more", count - 1),
    };
    printable::cut(&format!("[{}] {what}", batch.business), SUBJECT_CHARS).into_owned()
}

fn alerts_word(count: usize) -> String {
    if count == 1 {
        "1 alert".to_owned()
    } else {
        format!("{count} alerts")
    }
}

fn services_word(count: usize) -> String {
    if count == 1 {
        "1 service".to_owned()
    } else {
        format!("{count} services")
    }
}

/// The alert's title as the notice tells it.
fn headline(item: &Item) -> String {
    let title = &item.alert.title;
    match (item.kind, item.alert.resolved_at) {
        (NoticeKind::Resolved, _) => recovered(&item.alert),
        (NoticeKind::Settled, Some(_)) => format!("{title}: stopped flapping"),
        (NoticeKind::Settled, None) => format!("{title}: stopped flapping, still a problem"),
        (NoticeKind::Flapping, _) => format!("Flapping: {title}"),
        (NoticeKind::Reminder | NoticeKind::Step, _) => format!("Still unacknowledged: {title}"),
        (NoticeKind::Worse, _) => format!("Worse: {title}"),
        (_, Some(_)) => format!("{title} (over now)"),
        _ => title.clone(),
    }
}

/// "An emergency: checkout needs attention now, at any hour." for the open
/// emergencies among folded `children`, if any: a group is at least as urgent
/// as its most urgent member.
fn emergency_among(children: &[&Item]) -> Option<String> {
    let names: Vec<&str> = children
        .iter()
        .filter(|c| c.alert.emergency && c.alert.resolved_at.is_none())
        .map(|c| c.alert.service.as_deref().unwrap_or(&c.alert.title))
        .collect();
    let verb = if names.len() == 1 { "needs" } else { "need" };
    (!names.is_empty()).then(|| {
        format!(
            "An emergency: {} {verb} attention now, at any hour.",
            names.join(", ")
        )
    })
}

/// The lines that describe one alert, with the `children` folded under it.
fn describe(batch: &Batch, item: &Item, children: &[&Item]) -> Vec<String> {
    let alert = &item.alert;
    let since = when(alert.opened_at, batch);
    let mut lines = vec![match (item.kind, alert.resolved_at) {
        (NoticeKind::Resolved, Some(end)) => format!(
            "{}. The alert was \"{}\", {}.",
            recovered(alert),
            alert.title,
            span(alert.opened_at, end, batch, false)
        ),
        (_, Some(end)) => format!(
            "{} {}; it is over now.",
            alert.title,
            span(alert.opened_at, end, batch, true)
        ),
        (NoticeKind::Flapping, None) => format!(
            "{}: it keeps failing and recovering (this time since {since}). You hear again when it settles.",
            alert.title
        ),
        (NoticeKind::Settled, None) => format!(
            "{} (since {since}): it has stopped flapping but is still failing.",
            alert.title
        ),
        _ => format!(
            "{} since {since} ({}).",
            alert.title,
            length(alert.opened_at, batch.now)
        ),
    }];
    if item.kind != NoticeKind::Resolved && !alert.detail.is_empty() {
        lines.push(alert.detail.clone());
    }
    if alert.resolved_at.is_none() {
        lines.extend(affects(batch, alert));
        let urgency = match (alert.emergency, emergency_among(children), alert.severity) {
            (true, _, _) => "An emergency: it needs attention now, at any hour.".to_owned(),
            (false, Some(urgent), _) => urgent,
            (false, None, Severity::Critical) => {
                "Needs attention, but not an emergency.".to_owned()
            }
            (false, None, Severity::Warning) => "A warning: not an emergency.".to_owned(),
        };
        lines.push(urgency);
        lines.push(match &alert.acked {
            Some((at, by)) => format!("Acknowledged by {by} at {}.", when(*at, batch)),
            None => format!(
                "Alert {id}. To acknowledge it and stop escalation: keepwatch ack {id}",
                id = alert.id
            ),
        });
    }
    lines
}

/// What the alert affects, in words.
/// What else the alert touches; nothing to add for a service nothing depends on.
fn affects(batch: &Batch, alert: &AlertRecord) -> Option<String> {
    match &alert.service {
        Some(service) => match batch.dependents.get(service) {
            Some(dependents) if !dependents.is_empty() => Some(format!(
                "It affects {service} and what depends on it: {}.",
                dependents.join(", ")
            )),
            _ => None,
        },
        None => Some(format!(
            "It affects everything that runs on {}.",
            alert.host
        )),
    }
}

/// The news of an alert that is over: "Web shop is back up after 3 minutes".
fn recovered(alert: &AlertRecord) -> String {
    let took = alert
        .resolved_at
        .map(|end| length(alert.opened_at, end))
        .unwrap_or_else(|| "a while".to_owned());
    match (&alert.service, alert.severity) {
        (Some(service), Severity::Critical) => format!("{service} is back up after {took}"),
        (Some(service), Severity::Warning) => format!("{service} is fine again after {took}"),
        (None, _) => format!("Over after {took}: {}", alert.title),
    }
}

/// "from 21:50 to 21:53", with " (3 minutes)" when `with_length`; "at
/// 21:50" (", for less than a minute" when `with_length`) when both fall in
/// the same minute.
fn span(from: Timestamp, to: Timestamp, batch: &Batch, with_length: bool) -> String {
    let (start, end) = (when(from, batch), when(to, batch));
    match (start == end, with_length) {
        (true, true) => format!("at {start}, for less than a minute"),
        (true, false) => format!("at {start}"),
        (false, true) => format!("from {start} to {end} ({})", length(from, to)),
        (false, false) => format!("from {start} to {end}"),
    }
}

/// "Because of this, 3 services that depend on it are unreachable: a, b, c."
fn fold_line(cause: &AlertRecord, children: &[&Item], same_message: bool) -> String {
    let names: Vec<String> = children
        .iter()
        .map(|item| {
            item.alert
                .service
                .clone()
                .unwrap_or_else(|| item.alert.title.clone())
        })
        .collect();
    let all_over = children.iter().all(|item| item.alert.resolved_at.is_some());
    let one = names.len() == 1;
    let state = match (all_over, one) {
        (true, true) => "was affected and is fine again",
        (true, false) => "were affected and are fine again",
        (false, true) => "is failing because of it",
        (false, false) => "are failing because of it",
    };
    let count = services_word(names.len());
    let names = names.join(", ");
    if same_message {
        let depend = if one { "depends" } else { "depend" };
        format!("{count} that {depend} on it {state}: {names}.")
    } else {
        let (title, id) = (&cause.title, cause.id);
        let parent = cause.service.as_deref().unwrap_or(&cause.host);
        format!("{count} depending on {parent} {state} ({title}, alert {id}): {names}.")
    }
}

/// At most 160 characters for SMS: the first alert, since when, and how to
/// acknowledge it.
fn short(batch: &Batch, main: &[Item], folded: usize) -> String {
    let Some(first) = main.first().or(batch.items.first()) else {
        return String::new();
    };
    let alert = &first.alert;
    let mut text = format!("{}: {}", batch.business, headline(first));
    if alert.resolved_at.is_none() {
        let _ = write!(text, " since {}", when(alert.opened_at, batch));
    }
    let more = batch.items.len().saturating_sub(1);
    if more > 0 {
        let _ = write!(text, " (+{more} more");
        if folded > 0 {
            let _ = write!(text, ", {folded} caused by it");
        }
        text.push(')');
    }
    if alert.resolved_at.is_none() && alert.acked.is_none() {
        let _ = write!(text, ". Ack: keepwatch ack {}", alert.id);
    }
    truncate(&text, 160)
}

/// The alerts as JSON for webhooks.
fn data(batch: &Batch) -> serde_json::Value {
    let alerts: Vec<serde_json::Value> = batch
        .items
        .iter()
        .map(|item| {
            let alert = &item.alert;
            json!({
                "id": alert.id,
                "notice": item.kind.as_str(),
                "title": alert.title,
                "detail": alert.detail,
                "severity": match alert.severity {
                    Severity::Warning => "warning",
                    Severity::Critical => "critical",
                },
                "emergency": alert.emergency,
                "service": alert.service,
                "host": alert.host,
                "since": alert.opened_at.to_string(),
                "resolved_at": alert.resolved_at.map(|t| t.to_string()),
                "acknowledged_by": alert.acked.as_ref().map(|(_, by)| by),
                "caused_by": alert.cause,
            })
        })
        .collect();
    json!({ "business": batch.business, "alerts": alerts })
}

/// A time for people: "10:02" today, "yesterday 17:40", else "Mon 23 Nov 17:40".
fn when(at: Timestamp, batch: &Batch) -> String {
    let local = at.to_zoned_datetime(batch.time_zone.clone());
    let today = batch.now.to_zoned_datetime(batch.time_zone.clone()).date();
    let days = (today - local.date()).get_days();
    match days {
        0 => local.strftime("%H:%M").to_string(),
        1 => local.strftime("yesterday %H:%M").to_string(),
        _ => local.strftime("%a %d %b %H:%M").to_string(),
    }
}

fn length(from: Timestamp, to: Timestamp) -> String {
    let seconds = to.duration_since(from).as_secs_f64().max(0.0);
    if seconds < 60.0 {
        "less than a minute".to_owned()
    } else {
        crate::plain::duration(seconds)
    }
}

#[cfg(test)]
mod tests;
