//! `type = "sms"`: the message's short form (`Message::short`) as a text
//! message to each number in `to`, one request per number, through Twilio's
//! REST API (or a service that copies it) or any HTTP SMS gateway.
//!
//! The settings are one flat table with a `provider` key rather than a
//! nested tagged enum: serde cannot refuse unknown keys in an internally
//! tagged enum inside the flattened `[[channel]]` table, and a misspelt key
//! must be an error naming it. Which keys a provider needs, and which it does
//! not use, is checked by [`SmsChannel::problems`].
//!
//! ```toml
//! [[channel]]
//! name = "on-call-sms"
//! type = "sms"
//! provider = "twilio"
//! to = ["+15551230001", "+15551230002"]
//! from = "+15559870000"
//! account_sid = "AC0123456789abcdef0123456789abcdef"
//! auth_token = "env:TWILIO_AUTH_TOKEN"
//!
//! [[channel]]
//! name = "gateway-sms"
//! type = "sms"
//! provider = "http"
//! to = ["+15551230001"]
//! url = "https://sms.example.com/api/send"
//! body = '{"number": "{to}", "text": "{message}"}'
//! headers = { Authorization = "env:SMS_GATEWAY_AUTH" }
//! ```
//!
//! # Templates (`provider = "http"`)
//!
//! `{to}` (the number) and `{message}` (the short text) are replaced in `url`
//! and `body`, escaped for where they stand, so a message can never break
//! the request: in `url` they are percent-encoded; in `body` they are
//! escaped by `body_format`:
//! - `"json"` (the default when the body starts with `{` or `[`): JSON string
//!   escaping, without quotes (write `"{message}"` in the template), sent as
//!   `application/json`;
//! - `"form"` (the default otherwise): percent-encoded, sent as
//!   `application/x-www-form-urlencoded` (`to={to}&text={message}`);
//! - `"text"`: as is, sent as `text/plain; charset=utf-8`.
//!
//! Other braces are left alone. Replacement is one pass: a message that
//! contains `{to}` is sent as written.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};

use super::http::{self, Target};
use super::{Message, Notifier, SendError, SendFuture};
use crate::clock::Clock;
use crate::secret::Secret;

/// Twilio's API address, overridable for a compatible service or a test.
const TWILIO_API_URL: &str = "https://api.twilio.com";

/// Which API sends the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    /// Twilio's Messages API, or a service that copies it.
    Twilio,
    /// Any gateway taking one HTTP request per message, described by
    /// `url`, `method`, `body` and `headers`.
    Http,
}

/// The request method of an HTTP gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmsMethod {
    /// Everything in the URL; no body.
    #[serde(rename = "GET", alias = "get")]
    Get,
    /// A body from the `body` template.
    #[serde(rename = "POST", alias = "post")]
    Post,
}

/// How `{to}` and `{message}` are escaped in an HTTP gateway's body, and
/// the body's content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    /// JSON string escaping; `application/json`.
    Json,
    /// Percent-encoding; `application/x-www-form-urlencoded`.
    Form,
    /// No escaping; `text/plain; charset=utf-8`.
    Text,
}

impl BodyFormat {
    fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Form => "application/x-www-form-urlencoded",
            Self::Text => "text/plain; charset=utf-8",
        }
    }

    fn escape(self, value: &str) -> String {
        match self {
            Self::Json => {
                let quoted = serde_json::Value::from(value).to_string();
                quoted
                    .strip_prefix('"')
                    .and_then(|inner| inner.strip_suffix('"'))
                    .unwrap_or(&quoted)
                    .to_owned()
            }
            Self::Form => http::percent_encode(value),
            Self::Text => value.to_owned(),
        }
    }
}

/// `type = "sms"` settings: `provider` and `to` for every provider, the
/// rest by provider (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsChannel {
    /// `"twilio"` or `"http"`.
    pub provider: SmsProvider,
    /// The phone numbers to text, each in international form (`"+4915112345678"`).
    pub to: Vec<String>,
    /// Twilio: the account's SID (`AC...`), also the basic-auth user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
    /// Twilio: the account's auth token: inline, `env:NAME` or `file:/path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<Secret>,
    /// Twilio: the sending number or alphanumeric sender id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Twilio: the API's address; default `https://api.twilio.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// HTTP gateway: the address, a template (`{to}`, `{message}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HTTP gateway: `"GET"` or `"POST"`; default `"POST"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<SmsMethod>,
    /// HTTP gateway: the POST body, a template (`{to}`, `{message}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// HTTP gateway: how the body is escaped; default from the body's look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_format: Option<BodyFormat>,
    /// HTTP gateway: extra headers (an API key); values may be secret
    /// references and are never shown.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// How long one request may take.
    #[serde(default = "http::default_timeout")]
    pub timeout: crate::units::Duration,
}

impl SmsChannel {
    /// Twilio settings with the defaults.
    pub fn twilio(
        to: Vec<String>,
        from: impl Into<String>,
        account_sid: impl Into<String>,
        auth_token: Secret,
    ) -> Self {
        Self {
            account_sid: Some(account_sid.into()),
            auth_token: Some(auth_token),
            from: Some(from.into()),
            ..Self::empty(SmsProvider::Twilio, to)
        }
    }

    /// HTTP gateway settings with the defaults: a POST of `body` to `url`.
    pub fn http(to: Vec<String>, url: impl Into<String>, body: Option<String>) -> Self {
        Self {
            url: Some(url.into()),
            body,
            ..Self::empty(SmsProvider::Http, to)
        }
    }

    fn empty(provider: SmsProvider, to: Vec<String>) -> Self {
        Self {
            provider,
            to,
            account_sid: None,
            auth_token: None,
            from: None,
            api_url: None,
            url: None,
            method: None,
            body: None,
            body_format: None,
            headers: BTreeMap::new(),
            timeout: http::default_timeout(),
        }
    }

    /// What is wrong with these settings, one sentence per problem naming
    /// the setting and the fix; empty when they can be used.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.to.is_empty() {
            problems.push(
                "to is empty: list the numbers to text, e.g. to = [\"+15551230001\"]".to_owned(),
            );
        }
        for number in &self.to {
            problems.extend(number_problem(number, self.provider));
        }
        let provider = match self.provider {
            SmsProvider::Twilio => "twilio",
            SmsProvider::Http => "http",
        };
        let unused = |field: &str, set: bool, problems: &mut Vec<String>| {
            if set {
                problems.push(format!(
                    "{field} is not a setting of provider = \"{provider}\"; remove it"
                ));
            }
        };
        let missing = |field: &str, set: bool, example: &str, problems: &mut Vec<String>| {
            if !set {
                problems.push(format!(
                    "{field} is missing: provider = \"{provider}\" needs it, e.g. {field} = {example}"
                ));
            }
        };
        match self.provider {
            SmsProvider::Twilio => {
                match self.account_sid.as_deref().map(str::trim) {
                    None => missing("account_sid", false, "\"AC...\"", &mut problems),
                    Some(sid)
                        if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) =>
                    {
                        problems.push(format!(
                            "account_sid {sid:?} is not an account SID: copy it from the Twilio console (\"AC\" and 32 characters)"
                        ));
                    }
                    Some(_) => {}
                }
                missing(
                    "auth_token",
                    self.auth_token.is_some(),
                    "\"env:TWILIO_AUTH_TOKEN\"",
                    &mut problems,
                );
                if let Some(Secret::Inline(token)) = &self.auth_token
                    && token.is_empty()
                {
                    problems.push("auth_token is empty: copy it from the Twilio console, or write \"env:NAME\"".to_owned());
                }
                match self.from.as_deref().map(str::trim) {
                    None => missing("from", false, "\"+15559870000\"", &mut problems),
                    Some("") => problems.push(
                        "from is empty: write the Twilio number or sender id to send from"
                            .to_owned(),
                    ),
                    Some(_) => {}
                }
                if let Some(api_url) = &self.api_url {
                    problems.extend(http::url_problems("api_url", api_url));
                }
                unused("url", self.url.is_some(), &mut problems);
                unused("method", self.method.is_some(), &mut problems);
                unused("body", self.body.is_some(), &mut problems);
                unused("body_format", self.body_format.is_some(), &mut problems);
                unused("headers", !self.headers.is_empty(), &mut problems);
            }
            SmsProvider::Http => {
                match &self.url {
                    None => missing(
                        "url",
                        false,
                        "\"https://sms.example.com/send?to={to}&text={message}\"",
                        &mut problems,
                    ),
                    Some(url) => problems.extend(http::url_problems(
                        "url",
                        &fill(url, "+10000000000", "text", http::percent_encode),
                    )),
                }
                let method = self.method.unwrap_or(SmsMethod::Post);
                if method == SmsMethod::Get && self.body.is_some() {
                    problems.push("body is only sent with method = \"POST\"; remove body or put the fields into url".to_owned());
                }
                if method == SmsMethod::Get && self.body_format.is_some() {
                    problems.push(
                        "body_format is only used with method = \"POST\"; remove it".to_owned(),
                    );
                }
                let in_url = self
                    .url
                    .as_deref()
                    .is_some_and(|url| url.contains("{message}"));
                let in_body = self
                    .body
                    .as_deref()
                    .is_some_and(|body| body.contains("{message}"));
                if self.url.is_some() && !in_url && !in_body {
                    problems.push("neither url nor body contains {message}: the text would not be sent; put {message} where the gateway expects the text".to_owned());
                }
                problems.extend(http::header_problems(
                    &self.headers,
                    &["Content-Type", "Content-Length", "Host"],
                ));
                unused("account_sid", self.account_sid.is_some(), &mut problems);
                unused("auth_token", self.auth_token.is_some(), &mut problems);
                unused("from", self.from.is_some(), &mut problems);
                unused("api_url", self.api_url.is_some(), &mut problems);
            }
        }
        problems.extend(http::timeout_problems(self.timeout));
        problems
    }

    /// The body format in use: the setting, or guessed from the template.
    fn body_format(&self) -> BodyFormat {
        self.body_format.unwrap_or_else(|| {
            let looks_json = self
                .body
                .as_deref()
                .map(str::trim_start)
                .is_some_and(|body| body.starts_with('{') || body.starts_with('['));
            if looks_json {
                BodyFormat::Json
            } else {
                BodyFormat::Form
            }
        })
    }

    async fn deliver(&self, message: &Message, clock: &Arc<dyn Clock>) -> Result<(), SendError> {
        if self.to.is_empty() {
            return Err(SendError::permanent(
                "the SMS channel has no numbers in to; add at least one",
            ));
        }
        let client = http::client(self.timeout, clock)?;
        let mut sent = Vec::new();
        let mut failed = Vec::new();
        for number in &self.to {
            let number = number.trim();
            let attempt = match self.provider {
                SmsProvider::Twilio => self.twilio_request(&client, number, message),
                SmsProvider::Http => self.gateway_request(&client, number, message),
            };
            let outcome = match attempt {
                Ok((request, target)) => http::deliver(request, &target, self.timeout).await,
                Err(err) => Err(err),
            };
            match outcome {
                Ok(()) => sent.push(number),
                Err(err) => failed.push((number, err)),
            }
        }
        outcome(&sent, failed)
    }

    fn twilio_request(
        &self,
        client: &reqwest::Client,
        to: &str,
        message: &Message,
    ) -> Result<(reqwest::RequestBuilder, Target), SendError> {
        let setting = |value: &Option<String>, field: &str| {
            value.clone().ok_or_else(|| {
                SendError::permanent(format!(
                    "the SMS channel's {field} is missing (provider = \"twilio\")"
                ))
            })
        };
        let sid = setting(&self.account_sid, "account_sid")?;
        let from = setting(&self.from, "from")?;
        let token = self
            .auth_token
            .as_ref()
            .ok_or_else(|| {
                SendError::permanent(
                    "the SMS channel's auth_token is missing (provider = \"twilio\")",
                )
            })?
            .reveal()
            .map_err(|err| {
                SendError::permanent(format!("the Twilio auth_token cannot be read: {err}"))
            })?;
        let base = self
            .api_url
            .as_deref()
            .unwrap_or(TWILIO_API_URL)
            .trim_end_matches('/');
        let address = format!(
            "{base}/2010-04-01/Accounts/{}/Messages.json",
            http::percent_encode(sid.trim())
        );
        let url = http::parse_url("api_url", &address)
            .map_err(|problem| SendError::permanent(format!("the SMS channel's {problem}")))?;
        let target = Target {
            what: "Twilio".to_owned(),
            shown: http::shown_url(&url, false),
            secrets: vec![token.clone()],
        };
        let body = http::form_body(&[("To", to), ("From", from.trim()), ("Body", &message.short)]);
        let request = client
            .post(url)
            .basic_auth(sid.trim(), Some(token))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        Ok((request, target))
    }

    fn gateway_request(
        &self,
        client: &reqwest::Client,
        to: &str,
        message: &Message,
    ) -> Result<(reqwest::RequestBuilder, Target), SendError> {
        let template = self.url.as_deref().ok_or_else(|| {
            SendError::permanent("the SMS channel's url is missing (provider = \"http\")")
        })?;
        let url = http::parse_url(
            "url",
            &fill(template, to, &message.short, http::percent_encode),
        )
        .map_err(|problem| SendError::permanent(format!("the SMS gateway's {problem}")))?;
        let mut target = Target {
            what: "the SMS gateway".to_owned(),
            shown: http::shown_url(&url, false),
            secrets: Vec::new(),
        };
        // A key in the query string must not come back in an error quoting
        // the gateway's answer.
        target
            .secrets
            .extend(url.query_pairs().map(|(_, value)| value.into_owned()));
        let headers = http::extra_headers(&self.headers, &mut target.secrets)?;
        let request = match self.method.unwrap_or(SmsMethod::Post) {
            SmsMethod::Get => client.get(url).headers(headers),
            SmsMethod::Post => {
                let format = self.body_format();
                let body = self
                    .body
                    .as_deref()
                    .map(|body| fill(body, to, &message.short, |value| format.escape(value)))
                    .unwrap_or_default();
                client
                    .post(url)
                    .headers(headers)
                    .header(
                        CONTENT_TYPE,
                        HeaderValue::from_static(format.content_type()),
                    )
                    .body(body)
            }
        };
        Ok((request, target))
    }
}

impl Notifier for SmsChannel {
    fn send<'a>(&'a self, message: &'a Message, clock: &'a Arc<dyn Clock>) -> SendFuture<'a> {
        Box::pin(self.deliver(message, clock))
    }
}

/// The result of texting several numbers: a failure names each number that
/// failed and why, and says which were texted (a retry texts every number
/// again: the outbox retries whole messages). Permanent only when every
/// failure is.
fn outcome(sent: &[&str], mut failed: Vec<(&str, SendError)>) -> Result<(), SendError> {
    if failed.is_empty() {
        return Ok(());
    }
    let permanent = failed.iter().all(|(_, err)| err.permanent);
    if sent.is_empty() && failed.len() == 1 {
        return Err(failed.swap_remove(0).1);
    }
    let mut reason = failed
        .iter()
        .map(|(number, err)| format!("not sent to {number}: {}", err.reason))
        .collect::<Vec<_>>()
        .join("; ");
    if !sent.is_empty() {
        reason.push_str(&format!(
            "; sent to {} (a retry texts them again)",
            sent.join(", ")
        ));
    }
    Err(SendError { reason, permanent })
}

/// The problem with one number in `to`, if any.
fn number_problem(number: &str, provider: SmsProvider) -> Option<String> {
    let number = number.trim();
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let allowed = number
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
    if !allowed || digits < 3 {
        return Some(format!(
            "to: {number:?} is not a phone number; write it in international form, e.g. \"+15551230001\""
        ));
    }
    if provider == SmsProvider::Twilio && !number.starts_with('+') {
        return Some(format!(
            "to: {number:?} needs the country code for Twilio, e.g. \"+15551230001\""
        ));
    }
    None
}

/// `template` with `{to}` and `{message}` replaced by `escape`d values, in
/// one pass; any other brace is kept.
fn fill(template: &str, to: &str, message: &str, escape: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + message.len());
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{to}") {
            out.push_str(&escape(to));
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{message}") {
            out.push_str(&escape(message));
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(toml_text: &str) -> SmsChannel {
        toml::from_str(toml_text).unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn templates_escape_values_for_where_they_stand() {
        let text = "Shop \"down\" & {to}\n50% <b>";
        let json = fill(
            r#"{"to": "{to}", "text": "{message}", "n": {"a": 1}}"#,
            "+1 555",
            text,
            |v| BodyFormat::Json.escape(v),
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["text"], text);
        assert_eq!(parsed["to"], "+1 555");
        assert_eq!(parsed["n"]["a"], 1);

        let form = fill("to={to}&text={message}", "+1 555", text, |v| {
            BodyFormat::Form.escape(v)
        });
        assert_eq!(
            form,
            "to=%2B1%20555&text=Shop%20%22down%22%20%26%20%7Bto%7D%0A50%25%20%3Cb%3E"
        );
        let url = fill(
            "https://gw/send?to={to}&m={message}",
            "+1",
            "a&b=c",
            http::percent_encode,
        );
        assert_eq!(url, "https://gw/send?to=%2B1&m=a%26b%3Dc");
        assert_eq!(
            fill("{to}: {message}", "1", text, |v| BodyFormat::Text.escape(v)),
            format!("1: {text}")
        );
        assert_eq!(fill("{ {x} {", "1", "m", str::to_owned), "{ {x} {");
    }

    #[test]
    fn the_body_format_follows_the_template_unless_set() {
        let mut sms = SmsChannel::http(
            vec!["+1555".into()],
            "https://gw",
            Some(" {\"t\":\"{message}\"}".into()),
        );
        assert_eq!(sms.body_format(), BodyFormat::Json);
        sms.body = Some("t={message}".into());
        assert_eq!(sms.body_format(), BodyFormat::Form);
        sms.body_format = Some(BodyFormat::Text);
        assert_eq!(sms.body_format(), BodyFormat::Text);
    }

    #[test]
    fn twilio_settings_are_read_and_checked() {
        let sms = channel(
            "provider = \"twilio\"\nto = [\"+15551230001\"]\nfrom = \"+15559870000\"\naccount_sid = \"AC123\"\nauth_token = \"tok-secret\"",
        );
        assert!(sms.problems().is_empty(), "{:?}", sms.problems());
        assert!(!format!("{sms:?}").contains("tok-secret"));

        let sms = channel(
            "provider = \"twilio\"\nto = [\"5551230001\", \"call me\"]\nbody = \"x\"\nurl = \"https://x\"",
        );
        let problems = sms.problems();
        assert_eq!(
            problems,
            [
                "to: \"5551230001\" needs the country code for Twilio, e.g. \"+15551230001\"",
                "to: \"call me\" is not a phone number; write it in international form, e.g. \"+15551230001\"",
                "account_sid is missing: provider = \"twilio\" needs it, e.g. account_sid = \"AC...\"",
                "auth_token is missing: provider = \"twilio\" needs it, e.g. auth_token = \"env:TWILIO_AUTH_TOKEN\"",
                "from is missing: provider = \"twilio\" needs it, e.g. from = \"+15559870000\"",
                "url is not a setting of provider = \"twilio\"; remove it",
                "body is not a setting of provider = \"twilio\"; remove it",
            ]
        );
    }

    #[test]
    fn gateway_settings_are_checked() {
        let sms = channel(
            "provider = \"http\"\nto = [\"+15551230001\"]\nurl = \"https://gw.example.com/send?to={to}&text={message}\"\nmethod = \"GET\"",
        );
        assert!(sms.problems().is_empty(), "{:?}", sms.problems());
        let sms = channel(
            "provider = \"http\"\nto = []\nurl = \"https://gw.example.com/send\"\nmethod = \"get\"\nbody = \"x\"\nfrom = \"me\"\ntimeout = \"off\"",
        );
        assert_eq!(
            sms.problems(),
            [
                "to is empty: list the numbers to text, e.g. to = [\"+15551230001\"]",
                "body is only sent with method = \"POST\"; remove body or put the fields into url",
                "neither url nor body contains {message}: the text would not be sent; put {message} where the gateway expects the text",
                "from is not a setting of provider = \"http\"; remove it",
                "timeout cannot be \"off\": a channel that never gives up would hold up every message behind it; write e.g. \"10s\"",
            ]
        );
        let sms = channel("provider = \"http\"\nto = [\"+1555\"]");
        assert_eq!(
            sms.problems(),
            [
                "url is missing: provider = \"http\" needs it, e.g. url = \"https://sms.example.com/send?to={to}&text={message}\""
            ]
        );
    }

    #[test]
    fn unknown_keys_and_providers_are_refused_by_name() {
        let err = toml::from_str::<SmsChannel>("provider = \"twilio\"\nto = []\nauth_tokn = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth_tokn"), "{err}");
        let err = toml::from_str::<SmsChannel>("provider = \"nexmo\"\nto = []")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nexmo"), "{err}");
    }

    #[test]
    fn several_numbers_report_each_failure_and_what_was_sent() {
        assert_eq!(outcome(&["+1"], Vec::new()), Ok(()));
        let one = outcome(&[], vec![("+1", SendError::temporary("down"))]).unwrap_err();
        assert_eq!(one, SendError::temporary("down"));
        let mixed = outcome(
            &["+1"],
            vec![
                ("+2", SendError::permanent("bad number")),
                ("+3", SendError::temporary("busy")),
            ],
        )
        .unwrap_err();
        assert!(!mixed.permanent);
        assert_eq!(
            mixed.reason,
            "not sent to +2: bad number; not sent to +3: busy; sent to +1 (a retry texts them again)"
        );
        let all_bad = outcome(
            &[],
            vec![
                ("+2", SendError::permanent("a")),
                ("+3", SendError::permanent("b")),
            ],
        )
        .unwrap_err();
        assert!(all_bad.permanent);
    }
}
