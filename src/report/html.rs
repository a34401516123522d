//! The report as an email-ready HTML page: inline styles only (mail clients
//! drop `<style>` blocks), table layout, at most 640 px wide, no scripts
//! and nothing fetched from elsewhere. Charts are PNGs referred to by
//! Content-ID in an email, or embedded as data in a file that stands alone.

use crate::printable::markup;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use jiff::tz::TimeZone;

use super::chart;
use super::model::{Audience, Report};
use super::words;

/// Where the page finds its charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Images {
    /// `cid:chart-N`: the PNGs travel as related parts of the email.
    ContentId,
    /// `data:image/png;base64,...`: the page is one file that stands alone.
    Inline,
}

/// One chart: its Content-ID and PNG bytes, for the email's related parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Without angle brackets: `chart-0`.
    pub content_id: String,
    /// The PNG.
    pub png: Vec<u8>,
}

/// The page, and the charts it refers to.
pub fn render(report: &Report, images: Images) -> (String, Vec<Attachment>) {
    let tz = TimeZone::get(&report.time_zone).unwrap_or(TimeZone::UTC);
    let mut attachments = Vec::new();
    let mut out = String::new();
    let title = format!(
        "{}: how our systems did, {}",
        report.business, report.period.label
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title></head>\n\
         <body style=\"margin:0;padding:0;background:#f2f2f2;\">\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"background:#f2f2f2;\"><tr><td align=\"center\" style=\"padding:12px 6px;\">\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"max-width:640px;width:100%;background:#ffffff;font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#222222;\">\n",
        markup(&title)
    );
    let worst = report.services.iter().filter_map(|s| s.rating).max();
    let bar = worst.map_or("#777777", |r| r.colour());
    let _ = writeln!(
        out,
        "<tr><td style=\"padding:20px 24px 8px 24px;border-top:6px solid {bar};\">\
         <h1 style=\"margin:0 0 10px 0;font-size:21px;line-height:1.3;\">{}</h1>\
         <p style=\"margin:0;font-size:17px;\"><strong>{}</strong></p></td></tr>",
        markup(&title),
        markup(&words::verdict(report))
    );
    section(&mut out, "Services");
    for service in &report.services {
        let (colour, label) = match service.rating {
            Some(r) => (r.colour(), r.words().to_owned()),
            None => ("#777777", "no records".to_owned()),
        };
        let _ = write!(
            out,
            "<tr><td style=\"padding:8px 24px;\">\
             <p style=\"margin:0;\"><span style=\"display:inline-block;padding:1px 8px;border-radius:3px;background:{colour};color:#ffffff;font-size:13px;font-weight:bold;\">{}</span> {}</p>",
            markup(&label.to_uppercase()),
            markup(&words::service_line(service, &tz))
        );
        if let Some(open) = service.open_availability {
            let _ = write!(
                out,
                "<p style=\"margin:2px 0 0 0;color:#555555;font-size:14px;\">During opening hours: {} available.</p>",
                words::percent(open)
            );
        }
        if !service.days.is_empty() && service.watched.is_some() {
            let png = chart::png(service);
            let src = match images {
                Images::ContentId => format!("cid:chart-{}", attachments.len()),
                Images::Inline => format!("data:image/png;base64,{}", STANDARD.encode(&png)),
            };
            attachments.push(Attachment {
                content_id: format!("chart-{}", attachments.len()),
                png,
            });
            let _ = write!(
                out,
                "<img src=\"{src}\" alt=\"{}\" width=\"{}\" height=\"{}\" style=\"display:block;width:100%;max-width:{}px;height:auto;margin:6px 0 0 0;border:0;\">",
                markup(&chart::alt_text(service)),
                chart::WIDTH,
                chart::HEIGHT,
                chart::WIDTH
            );
        }
        out.push_str("</td></tr>\n");
    }
    section(&mut out, "What went wrong");
    if report.stories.is_empty() {
        paragraph(&mut out, "Nothing: no outages and no slow spells.");
    }
    for story in &report.stories {
        paragraph(&mut out, &words::story(story, report, &tz));
    }
    section(&mut out, "Cost");
    paragraph(&mut out, &words::cost_note(report));
    let outlook = words::outlook(report, &tz);
    if !outlook.is_empty() {
        section(&mut out, "Looking ahead");
        for line in &outlook {
            paragraph(&mut out, line);
        }
    }
    if report.audience == Audience::Technical {
        section(&mut out, "Numbers for the admin");
        let _ = writeln!(
            out,
            "<tr><td style=\"padding:4px 24px;\"><pre style=\"margin:0;font-size:12px;white-space:pre-wrap;word-break:break-word;\">{}</pre></td></tr>",
            markup(&super::text::technical_text(report, &tz))
        );
    }
    let _ = write!(
        out,
        "<tr><td style=\"padding:16px 24px 20px 24px;color:#666666;font-size:13px;\">{}</td></tr>\n\
         </table></td></tr></table>\n</body></html>\n",
        markup(&words::method(report))
    );
    let attachments = match images {
        Images::ContentId => attachments,
        Images::Inline => Vec::new(),
    };
    (out, attachments)
}

fn section(out: &mut String, title: &str) {
    let _ = writeln!(
        out,
        "<tr><td style=\"padding:16px 24px 4px 24px;\"><h2 style=\"margin:0;font-size:17px;border-bottom:1px solid #dddddd;padding-bottom:4px;\">{}</h2></td></tr>",
        markup(title)
    );
}

fn paragraph(out: &mut String, text: &str) {
    let _ = writeln!(
        out,
        "<tr><td style=\"padding:4px 24px;\"><p style=\"margin:0;\">{}</p></td></tr>",
        markup(text)
    );
}
