//! A message as keepwatch hands it to a channel, whoever wrote it: an
//! alert's notice (`alert::compose`), a scheduled report, a test message.
//! The outbox stores it as JSON and the channels deliver it; neither needs
//! to know what it is about, so it sits below both.

use serde::{Deserialize, Serialize};

use crate::printable::markup;

/// The name of the built-in channel that writes to keepwatch's own log; the
/// default steps notify it, and it exists even when no `[[channel]]` does.
pub const LOG_CHANNEL: &str = "log";

/// One message, composed once and stored in the outbox as is, so a retry
/// after a restart sends exactly what would have been sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Unique per outbox entry; sent as the email Message-ID and the webhook's
    /// delivery id, so a receiver can drop a repeat.
    pub id: String,
    /// One line: what is wrong (the email subject, the chat title).
    pub subject: String,
    /// The whole message in plain text: what is wrong, since when, what it
    /// affects, and how to acknowledge.
    pub text: String,
    /// The same as simple HTML, for email.
    pub html: String,
    /// At most about 160 characters, for SMS.
    pub short: String,
    /// The alerts behind the message, for webhooks (JSON).
    pub data: serde_json::Value,
    /// What only a report's email carries (its own recipients, its charts
    /// and its PDF); alerts have none, so their mail is as it always was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enclosure: Option<Enclosure>,
}

impl Message {
    /// The message as delivered `late` after it was written (its channel
    /// failed meanwhile): it says so first, so "since 21:50 (less than a
    /// minute)" reads as of when it was written, not as news.
    pub fn delivered_late(&mut self, late: std::time::Duration) {
        let took = crate::plain::duration(late.as_secs_f64());
        let note = format!(
            "Delivered {took} late: the channel could not be reached at first. What follows was written {took} ago."
        );
        self.text = format!("{note}\n\n{}", self.text);
        self.html = match self.html.strip_prefix("<html><body>") {
            Some(body) => format!("<html><body><p><em>{}</em></p>{body}", markup(&note)),
            None => format!("<p><em>{}</em></p>{}", markup(&note), self.html),
        };
        self.short = truncate(&format!("[{took} late] {}", self.short), 160);
    }
}

/// The parts of an email beyond its text and HTML: a scheduled report's
/// pictures and PDF, and the addresses it goes to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enclosure {
    /// Addresses that receive it instead of the channel's own `to`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// Pictures the HTML shows by Content-ID (`<img src="cid:chart-0">`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inline: Vec<Attachment>,
    /// Files attached for the reader to open or keep (the PDF).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<Attachment>,
}

/// One file that travels with an email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file name the reader sees, e.g. `report-2026-11.pdf`; for an
    /// inline picture, also its Content-ID (without angle brackets).
    pub name: String,
    /// Its MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// The bytes, kept as base64 in the stored message.
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

/// Bytes as one base64 string in JSON, a third larger instead of four times
/// as a list of numbers.
mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// `text` cut to `max` characters, an ellipsis marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}
