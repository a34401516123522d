//! Reports for management: "were we up, and what did it cost us?"
//!
//! One model ([`model::Report`], pure data built by [`model::build`] from the
//! store, the config and the business calendar for a [`Period`]) and
//! renderers that lay it out: [`text`] for the terminal and the text part
//! of an email. Every renderer takes its sentences from [`words`], so the
//! formats cannot disagree. Reports read the store only, never collectors.

pub mod model;
pub mod period;
pub mod spans;
pub mod text;
pub mod words;

pub use model::{Audience, Inputs, Report, ReportError, build};
pub use period::Period;

#[cfg(test)]
mod tests;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The period that `--period` or `--from`/`--to` name (both dates included);
/// this week without either.
pub fn period_for(
    period: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    now: Timestamp,
    tz: &TimeZone,
) -> Result<Period, String> {
    match (period, from, to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            Err("give either --period or --from and --to, not both".to_owned())
        }
        (_, Some(from), Some(to)) => Period::between(from, to, tz),
        (_, Some(_), None) => {
            Err("--from needs --to as well, e.g. --from 2026-11-01 --to 2026-11-30".to_owned())
        }
        (_, None, Some(_)) => {
            Err("--to needs --from as well, e.g. --from 2026-11-01 --to 2026-11-30".to_owned())
        }
        (name, None, None) => Period::named(name.unwrap_or("this-week"), now, tz),
    }
}
