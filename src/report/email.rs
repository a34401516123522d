//! A report as an email: the text, the HTML with its charts by Content-ID,
//! and the PDF attached. Made by the scheduler in this process, or in a
//! child process (`child.rs`) for `keepwatch run`.

use jiff::Timestamp;

use super::html::{self, Images};
use super::model::{Inputs, build};
use super::{Period, pdf, text, words};
use crate::calendar::Calendar;
use crate::config::{Config, ReportConfig};
use crate::message::{Attachment, Enclosure, Message};
use crate::printable;
use crate::store::Store;

/// The email of `table`'s report over the period it covers at `at` (its
/// scheduled time), made from the store at `now`: the text, the HTML with
/// its charts by Content-ID, and the PDF attached.
pub fn message(
    store: &Store,
    config: &Config,
    calendar: &Calendar,
    table: &ReportConfig,
    at: Timestamp,
    now: Timestamp,
) -> Result<Message, String> {
    let when = table.parse().map_err(|problems| problems.join("; "))?;
    let tz = calendar.time_zone();
    let period = Period::named(&table.period_name(&when), at, tz)?;
    let previous = period.previous(tz).ok();
    let report = build(&Inputs {
        store,
        config,
        calendar,
        period,
        previous,
        now,
        audience: table.audience,
    })
    .map_err(|err| err.to_string())?;
    let (page, charts) = html::render(&report, Images::ContentId);
    let pdf = pdf::render(&report).map_err(|err| format!("the PDF could not be made: {err}"))?;
    let label = &report.period.label;
    let file = format!("keepwatch-report-{}.pdf", report.period.first);
    let subject = format!(
        "[{}] How our systems did: {label}",
        printable::line(&report.business)
    );
    Ok(Message {
        id: format!("report-{}-{}", now.as_millisecond(), slug(&table.key())),
        subject: printable::cut(&printable::line(&subject), 200).into_owned(),
        text: text::render(&report),
        html: page,
        short: words::verdict(&report),
        data: serde_json::json!({
            "business": report.business,
            "report": { "period": label, "from": report.period.from, "to": report.period.to },
            "alerts": [],
        }),
        enclosure: Some(Enclosure {
            to: table.to.clone(),
            inline: charts
                .into_iter()
                .map(|chart| Attachment {
                    name: chart.content_id,
                    content_type: "image/png".to_owned(),
                    data: chart.png,
                })
                .collect(),
            files: vec![Attachment {
                name: file,
                content_type: "application/pdf".to_owned(),
                data: pdf,
            }],
        }),
    })
}

/// The letters and digits of `key`, in words joined by `-`, for a Message-ID.
pub(super) fn slug(key: &str) -> String {
    key.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join("-")
        .to_lowercase()
        .chars()
        .take(40)
        .collect()
}
