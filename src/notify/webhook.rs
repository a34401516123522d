//! `type = "webhook"`: the message as JSON, POSTed to an address of the
//! user's own (a ticket system, an automation tool, a script), optionally
//! signed so the receiver can tell it came from this keepwatch.
//!
//! # The request
//!
//! `POST url` with `Content-Type: application/json` and this body
//! (version 1; fields are only ever added, never renamed or removed, and a
//! change of meaning would come with a new `version`):
//!
//! ```json
//! {
//!   "version": 1,
//!   "id": "<message id: the same on every retry of this message>",
//!   "subject": "<one line: what is wrong>",
//!   "text": "<the whole message in plain text>",
//!   "short": "<at most about 160 characters>",
//!   "alerts": <the alerts behind the message, as the alert engine gives them>,
//!   "sent_at": "<this attempt's time, RFC 3339 UTC, whole seconds>"
//! }
//! ```
//!
//! Headers, always: `X-Keepwatch-Delivery: <id>` (a receiver drops a repeat
//! by it) and `X-Keepwatch-Timestamp: <unix seconds of sent_at>`. With a
//! `secret`: `X-Keepwatch-Signature: sha256=<hex>`, the lowercase hex
//! HMAC-SHA256, keyed with the secret's UTF-8 bytes, of the timestamp header's
//! value, a `.`, and the exact body bytes (see [`signature`]).
//!
//! # Verifying a delivery
//!
//! 1. Read the raw body bytes (before any JSON parsing).
//! 2. Compute `HMAC-SHA256(secret, timestamp + "." + body)` as hex, prefix
//!    `sha256=`, and compare it with `X-Keepwatch-Signature` in constant time.
//! 3. Refuse a timestamp more than a few minutes from your clock: a captured
//!    request cannot be replayed later, since the timestamp is signed.
//! 4. Answer 2xx once stored. 5xx or 429 makes keepwatch retry later; any
//!    other 4xx is reported as a configuration problem (retried rarely).
//!
//! `docs/webhooks.md` has the same in prose with a receiver example.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use ring::hmac;
use serde::{Deserialize, Serialize};

use super::http::{self, Target};
use super::{Message, Notifier, SendError, SendFuture};
use crate::clock::Clock;
use crate::secret::Secret;

/// The header holding the delivery id (the message id).
const DELIVERY_HEADER: &str = "X-Keepwatch-Delivery";
/// The header holding the unix time the signature covers.
const TIMESTAMP_HEADER: &str = "X-Keepwatch-Timestamp";
/// The header holding `sha256=<hex HMAC>`.
const SIGNATURE_HEADER: &str = "X-Keepwatch-Signature";

/// Headers keepwatch sets itself, which `headers` may not override: the
/// receiver must be able to trust them.
const RESERVED: &[&str] = &[
    "Content-Type",
    "Content-Length",
    "Host",
    DELIVERY_HEADER,
    TIMESTAMP_HEADER,
    SIGNATURE_HEADER,
];

/// The version of the body's shape, sent as `version`.
const PAYLOAD_VERSION: u32 = 1;

/// `type = "webhook"` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannel {
    /// Where to POST, `https://` (or `http://` on a trusted network). Its
    /// query string is never shown in errors; a token is better sent as a
    /// header.
    pub url: String,
    /// Signs each delivery (`X-Keepwatch-Signature`) so the receiver can
    /// check it came from here: inline, `env:NAME` or `file:/path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// Extra request headers, e.g. `{ Authorization = "env:HOOK_TOKEN" }`;
    /// values may be secret references and are never shown.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// How long one attempt may take, connection to answer.
    #[serde(default = "http::default_timeout")]
    pub timeout: crate::units::Duration,
}

impl WebhookChannel {
    /// A webhook to `url`, unsigned, with no extra headers.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            secret: None,
            headers: BTreeMap::new(),
            timeout: http::default_timeout(),
        }
    }

    /// What is wrong with these settings, one sentence per problem naming
    /// the setting and the fix; empty when they can be used.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = http::url_problems("url", &self.url);
        if let Some(Secret::Inline(secret)) = &self.secret
            && secret.is_empty()
        {
            problems.push(
                "secret is empty: write a long random string (e.g. from `openssl rand -hex 32`), or remove secret to send unsigned".to_owned(),
            );
        }
        problems.extend(http::header_problems(&self.headers, RESERVED));
        problems.extend(http::timeout_problems(self.timeout));
        problems
    }
}

/// The JSON body (see the module documentation).
#[derive(Debug, Serialize)]
struct Payload<'a> {
    version: u32,
    id: &'a str,
    subject: &'a str,
    text: &'a str,
    short: &'a str,
    alerts: &'a serde_json::Value,
    sent_at: String,
}

/// The body of a delivery of `message` at `unix_seconds`.
fn payload(message: &Message, unix_seconds: i64) -> Result<Vec<u8>, SendError> {
    let sent_at = jiff::Timestamp::from_second(unix_seconds)
        .map(|at| at.to_string())
        .map_err(|err| SendError::temporary(format!("the clock is out of range ({err})")))?;
    let payload = Payload {
        version: PAYLOAD_VERSION,
        id: &message.id,
        subject: &message.subject,
        text: &message.text,
        short: &message.short,
        alerts: &message.data,
        sent_at,
    };
    serde_json::to_vec(&payload).map_err(|err| {
        SendError::permanent(format!("the message cannot be written as JSON ({err})"))
    })
}

/// The `X-Keepwatch-Signature` value: `sha256=` and the lowercase hex
/// HMAC-SHA256, keyed with `secret`, of `"{timestamp}.{body}"`. Signing the
/// timestamp with the body lets a receiver refuse a replayed old request.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let mut out = String::from("sha256=");
    for byte in tag.as_ref() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// The headers keepwatch sets on a delivery.
fn own_headers(
    message: &Message,
    timestamp: i64,
    body: &[u8],
    secret: Option<&str>,
) -> Result<HeaderMap, SendError> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let id = HeaderValue::from_str(&message.id).map_err(|_| {
        SendError::permanent(format!(
            "the message id {:?} cannot be sent as a header",
            message.id
        ))
    })?;
    headers.insert(DELIVERY_HEADER, id);
    headers.insert(TIMESTAMP_HEADER, HeaderValue::from(timestamp));
    if let Some(secret) = secret {
        let value = HeaderValue::from_str(&signature(secret.as_bytes(), timestamp, body))
            .map_err(|_| SendError::permanent("the signature cannot be sent as a header"))?;
        headers.insert(SIGNATURE_HEADER, value);
    }
    Ok(headers)
}

impl WebhookChannel {
    async fn deliver(&self, message: &Message, clock: &Arc<dyn Clock>) -> Result<(), SendError> {
        let url = http::parse_url("url", &self.url)
            .map_err(|problem| SendError::permanent(format!("the webhook's {problem}")))?;
        let mut target = Target {
            what: "the webhook".to_owned(),
            shown: http::shown_url(&url, false),
            secrets: Vec::new(),
        };
        let secret = match &self.secret {
            None => None,
            Some(secret) => Some(secret.reveal().map_err(|err| {
                SendError::permanent(format!("the webhook's secret cannot be read: {err}"))
            })?),
        };
        target.secrets.extend(secret.iter().cloned());
        let mut headers = http::extra_headers(&self.headers, &mut target.secrets)?;
        let timestamp = clock.now().as_second();
        let body = payload(message, timestamp)?;
        // Ours last: they replace any extra header of the same name.
        headers.extend(own_headers(message, timestamp, &body, secret.as_deref())?);
        let request = http::client(self.timeout, clock)?
            .post(url)
            .headers(headers)
            .body(body);
        http::deliver(request, &target, self.timeout).await
    }
}

impl Notifier for WebhookChannel {
    fn send<'a>(&'a self, message: &'a Message, clock: &'a Arc<dyn Clock>) -> SendFuture<'a> {
        Box::pin(self.deliver(message, clock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message {
            id: "m-1".into(),
            subject: "Shop is down".into(),
            text: "Shop is down since 10:00.".into(),
            html: "<p>Shop is down</p>".into(),
            short: "Shop down".into(),
            data: serde_json::json!([{"service": "Shop", "state": "down"}]),
            enclosure: None,
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex() {
        // printf '%s' '1700000000.{"id":"m-1"}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature(b"whsec_test", 1_700_000_000, br#"{"id":"m-1"}"#),
            "sha256=7dcf884ea13152061e893ed6049c8f5571da58e1893a773819246f7a30332b41"
        );
    }

    #[test]
    fn the_body_has_the_documented_shape() {
        let body = payload(&message(), 1_700_000_000).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "version": 1,
                "id": "m-1",
                "subject": "Shop is down",
                "text": "Shop is down since 10:00.",
                "short": "Shop down",
                "alerts": [{"service": "Shop", "state": "down"}],
                "sent_at": "2023-11-14T22:13:20Z",
            })
        );
    }

    #[test]
    fn deliveries_carry_id_and_timestamp_and_when_signed_the_signature() {
        let body = br#"{"id":"m-1"}"#;
        let headers = own_headers(&message(), 1_700_000_000, body, None).unwrap();
        assert_eq!(headers[DELIVERY_HEADER], "m-1");
        assert_eq!(headers[TIMESTAMP_HEADER], "1700000000");
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        assert!(!headers.contains_key(SIGNATURE_HEADER));
        let signed = own_headers(&message(), 1_700_000_000, body, Some("whsec_test")).unwrap();
        assert_eq!(
            signed[SIGNATURE_HEADER],
            "sha256=7dcf884ea13152061e893ed6049c8f5571da58e1893a773819246f7a30332b41"
        );
    }

    #[test]
    fn settings_are_read_with_defaults_and_checked() {
        let channel: WebhookChannel = toml::from_str(
            "url = \"https://example.com/hook\"\nsecret = \"s3cret-value\"\nheaders = { X-Team = \"ops\" }",
        )
        .unwrap();
        assert_eq!(channel.timeout, crate::units::Duration::from_secs(10));
        assert!(channel.problems().is_empty(), "{:?}", channel.problems());
        assert!(!format!("{channel:?}").contains("s3cret-value"));
        let err = toml::from_str::<WebhookChannel>("url = \"https://x\"\nsecrett = \"a\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("secrett"), "{err}");

        let mut bad = WebhookChannel::new("hooks.example.com");
        bad.secret = Some(Secret::parse(""));
        bad.headers
            .insert("X-Keepwatch-Signature".into(), Secret::parse("forged"));
        bad.timeout = crate::units::Duration::from_secs(0);
        let problems = bad.problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0].starts_with("url is not a valid address"),
            "{problems:?}"
        );
        assert!(problems[1].starts_with("secret is empty"), "{problems:?}");
        assert!(
            problems[2].contains("X-Keepwatch-Signature is set by keepwatch"),
            "{problems:?}"
        );
        assert!(
            problems[3].starts_with("timeout cannot be \"off\""),
            "{problems:?}"
        );
    }
}
