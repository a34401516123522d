//! Reports for management: "were we up, and what did it cost us?"
//!
//! One model ([`model::Report`], pure data built by [`model::build`] from the
//! store, the config and the business calendar for a [`Period`]) and
//! renderers that lay it out: [`text`] for the terminal and the text part
//! of an email, [`html`] for the email itself (with [`chart`] pictures),
//! [`pdf`] for printing and attaching. Every renderer takes its sentences from [`words`], so the
//! formats cannot disagree. Reports read the store only, never collectors.

pub mod chart;
pub mod child;
pub mod email;
pub mod gaps;
pub mod html;
pub mod model;
pub mod pdf;
pub mod period;
pub mod schedule;
pub mod spans;
pub mod text;
pub mod words;

pub use model::{Audience, Inputs, Report, ReportError, build};
pub use period::Period;

#[cfg(test)]
mod edge_tests;
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

/// The formats `--format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text.
    Text,
    /// One HTML file, charts included.
    Html,
    /// PDF.
    Pdf,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "text" => Ok(Self::Text),
            "html" => Ok(Self::Html),
            "pdf" => Ok(Self::Pdf),
            other => Err(format!(
                "--format {other}: unknown format; use text, html or pdf"
            )),
        }
    }
}

/// The report in `format`, as the bytes of a file.
pub fn render(report: &Report, format: Format) -> Result<Vec<u8>, String> {
    Ok(match format {
        Format::Text => text::render(report).into_bytes(),
        Format::Html => html::render(report, html::Images::Inline).0.into_bytes(),
        Format::Pdf => pdf::render(report).map_err(|err| err.to_string())?,
    })
}
