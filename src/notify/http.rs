//! What the HTTP channels (webhook, SMS, Slack, Teams, Discord) share: the
//! client, checking and showing addresses, extra headers, and sending one
//! request with its outcome classified for the outbox.
//!
//! A channel makes exactly one attempt per `send`: the durable outbox retries
//! with backoff, so retrying here would multiply the attempts. What the
//! outbox needs to know is whether a retry can help, so every failure is
//! classified: no connection, no answer in time, a 5xx or a 429 may pass
//! (temporary); any other refusal needs a config change (permanent).
//!
//! Addresses of chat webhooks, and query strings of any address, often hold
//! tokens, so errors show an address only through [`shown_url`], and every
//! reason is scrubbed of the secrets the request used.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::sync::Arc;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::SendError;
use crate::clock::Clock;
use crate::secret::Secret;

/// The default `timeout` of every HTTP channel: long enough for a slow
/// gateway, short enough that a hung one does not hold up the outbox.
pub(super) fn default_timeout() -> crate::units::Duration {
    crate::units::Duration::from_secs(10)
}

/// How many characters of a refusal's answer go into the reason: enough for
/// a provider's error code and sentence, not a whole HTML error page.
const EXCERPT_CHARS: usize = 200;

/// At most this much of an answer is read, to quote it.
const READ_LIMIT: usize = 8 * 1024;

/// Parses `text` (the setting `field`) as an `http://` or `https://` address.
pub(crate) fn parse_url(field: &str, text: &str) -> Result<Url, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!(
            "{field} is empty: write the address to send to, e.g. \"https://example.com/hook\""
        ));
    }
    let url = Url::parse(text).map_err(|err| {
        format!("{field} is not a valid address ({err}): write it in full, e.g. \"https://example.com/hook\"")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{field} must start with https:// or http://, not {}://",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{field} has no host name: write it in full, e.g. \"https://example.com/hook\""
        ));
    }
    Ok(url)
}

/// The problem with the address setting `field`, if any (for `problems()`).
pub(super) fn url_problems(field: &str, text: &str) -> Vec<String> {
    parse_url(field, text).err().into_iter().collect()
}

/// The problem with a `timeout` setting, if any.
pub(super) fn timeout_problems(timeout: crate::units::Duration) -> Vec<String> {
    if timeout.is_off() {
        vec!["timeout cannot be \"off\": a channel that never gives up would hold up every message behind it; write e.g. \"10s\"".to_owned()]
    } else {
        Vec::new()
    }
}

/// `url` as it may appear in an error or a log: scheme, host, port and path,
/// never the user name, password or query string. With `hide_path` (chat
/// webhooks, whose path is the credential) the path is left out too; without
/// it, path segments that look like tokens are.
pub(crate) fn shown_url(url: &Url, hide_path: bool) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    if hide_path {
        if url.path() != "/" {
            shown.push_str("/…");
        }
    } else {
        let path: Vec<&str> = url
            .path()
            .split('/')
            .map(|segment| {
                if looks_like_token(segment) {
                    "…"
                } else {
                    segment
                }
            })
            .collect();
        shown.push_str(&path.join("/"));
    }
    if url.query().is_some() {
        shown.push_str("?…");
    }
    shown
}

/// A long path segment mixing letters and digits: an id or a token, which
/// an error message does not need.
fn looks_like_token(segment: &str) -> bool {
    let letters = segment.chars().any(|c| c.is_ascii_alphabetic());
    let digits = segment.chars().any(|c| c.is_ascii_digit());
    segment.len() >= 24 || (segment.len() >= 16 && letters && digits)
}

/// The problems with a `headers` table: names that are not header names,
/// and names keepwatch sets itself (`reserved`, compared case-insensitively).
pub(crate) fn header_problems(
    headers: &BTreeMap<String, Secret>,
    reserved: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, value) in headers {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            problems.push(format!(
                "headers: {name:?} is not a valid header name (letters, digits and '-', e.g. \"X-Api-Key\")"
            ));
        } else if let Some(own) = reserved.iter().find(|r| r.eq_ignore_ascii_case(name)) {
            problems.push(format!(
                "headers: {own} is set by keepwatch itself; remove it from headers"
            ));
        }
        if let Secret::Inline(text) = value
            && HeaderValue::from_str(text).is_err()
        {
            problems.push(format!(
                "headers: the value of {name} has characters a header cannot hold (a line break?)"
            ));
        }
    }
    problems
}

/// The configured extra headers, their secrets read now; marked sensitive so
/// they never show in reqwest's debug output.
pub(crate) fn extra_headers(
    headers: &BTreeMap<String, Secret>,
    secrets: &mut Vec<String>,
) -> Result<HeaderMap, SendError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            SendError::permanent(format!(
                "the header name {name:?} is not valid; fix headers"
            ))
        })?;
        let value = value.reveal().map_err(|err| {
            SendError::permanent(format!(
                "the value of the header {name} cannot be read: {err}"
            ))
        })?;
        let mut header_value = HeaderValue::from_str(&value).map_err(|_| {
            SendError::permanent(format!(
                "the value of the header {name} has characters a header cannot hold"
            ))
        })?;
        header_value.set_sensitive(true);
        secrets.push(value);
        map.insert(header, header_value);
    }
    Ok(map)
}

/// Percent-encodes everything but the unreserved characters of RFC 3986, so
/// the result is safe in a URL path or query and in a form body.
pub(super) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An `application/x-www-form-urlencoded` body of `fields`.
pub(super) fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Where one request goes, as errors name it.
pub(crate) struct Target {
    /// What is being sent to: "the webhook", "Twilio", "Slack"...
    pub what: String,
    /// The address, through [`shown_url`].
    pub shown: String,
    /// Values that must not appear in a reason (tokens, passwords, the whole
    /// address of a chat webhook): replaced by `<redacted>`.
    pub secrets: Vec<String>,
}

impl Target {
    fn describe(&self) -> String {
        format!("{} at {}", self.what, self.shown)
    }

    /// `reason` with every secret replaced.
    fn scrub(&self, reason: String) -> String {
        self.secrets
            .iter()
            .filter(|secret| secret.len() >= 4)
            .fold(reason, |reason, secret| {
                reason.replace(secret.as_str(), "<redacted>")
            })
    }

    pub(crate) fn error(&self, error: SendError) -> SendError {
        SendError {
            reason: self.scrub(error.reason),
            permanent: error.permanent,
        }
    }
}

/// A client for one attempt that gives up after `timeout` and does not
/// follow redirects (a redirected POST would arrive as a GET, or not at all);
/// certificates are judged at `clock`'s time.
pub(crate) fn client(
    timeout: crate::units::Duration,
    clock: &Arc<dyn Clock>,
) -> Result<reqwest::Client, SendError> {
    crate::tls::outgoing_client_builder(clock.clone())
        .and_then(|builder| {
            builder
                .redirect(reqwest::redirect::Policy::none())
                .timeout(timeout.std())
                .build()
                .map_err(|err| err.to_string())
        })
        .map_err(|err| SendError::permanent(format!("the HTTP client cannot be set up ({err})")))
}

/// Sends `request` once and classifies the outcome (see the module doc).
pub(super) async fn deliver(
    request: reqwest::RequestBuilder,
    target: &Target,
    timeout: crate::units::Duration,
) -> Result<(), SendError> {
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(err) => return Err(target.error(transport_error(&err, target, timeout))),
    };
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = body_start(&mut response).await;
    classify(status, &body, location.as_deref(), target).map_err(|error| target.error(error))
}

/// The start of an answer's body (about [`READ_LIMIT`] bytes), as text, to
/// quote in a reason.
pub(crate) async fn body_start(response: &mut reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < READ_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

pub(crate) fn transport_error(
    err: &reqwest::Error,
    target: &Target,
    timeout: crate::units::Duration,
) -> SendError {
    // reqwest's own message names the full address; only the cause is kept.
    let mut cause: &dyn StdError = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    let cause = if std::ptr::addr_eq(cause, err as &dyn StdError) {
        "the request failed".to_owned()
    } else {
        cause.to_string()
    };
    let reason = if err.is_timeout() {
        format!("{} did not answer within {timeout}", target.describe())
    } else if err.is_connect() {
        format!("cannot connect to {}: {cause}", target.describe())
    } else {
        format!("the request to {} failed: {cause}", target.describe())
    };
    SendError::temporary(reason)
}

/// Judges an answer that is not a success: `Ok` only for 2xx.
pub(super) fn classify(
    status: u16,
    body: &str,
    location: Option<&str>,
    target: &Target,
) -> Result<(), SendError> {
    let reason_phrase = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
        .map(|phrase| format!(" {phrase}"))
        .unwrap_or_default();
    let answered = format!(
        "{} answered HTTP {status}{reason_phrase}{}",
        target.describe(),
        excerpt(body)
    );
    match status {
        200..=299 => Ok(()),
        300..=399 => {
            let to = location
                .and_then(|to| Url::parse(to).ok())
                .map(|to| format!(" to {}", shown_url(&to, true)))
                .unwrap_or_default();
            Err(SendError::permanent(format!(
                "{} answered with a redirect (HTTP {status}){to}; set the channel's url to the final address",
                target.describe()
            )))
        }
        // Rate limited, or the server gave up waiting for the request: both pass.
        408 | 429 => Err(SendError::temporary(answered)),
        400..=499 => Err(SendError::permanent(format!(
            "{answered}; the message was refused: check the channel's url and credentials"
        ))),
        500..=599 => Err(SendError::temporary(answered)),
        _ => Err(SendError::permanent(answered)),
    }
}

/// `": \"<the first characters of body>\""`, or nothing for an empty body.
pub(crate) fn excerpt(body: &str) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        return String::new();
    }
    let mut cut: String = flat.chars().take(EXCERPT_CHARS).collect();
    if cut.len() < flat.len() {
        cut.push('…');
    }
    format!(": {cut:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            what: "the webhook".to_owned(),
            shown: "https://example.com/hook".to_owned(),
            secrets: vec!["tok3n-value".to_owned()],
        }
    }

    #[test]
    fn server_errors_and_rate_limits_are_temporary_other_refusals_permanent() {
        assert_eq!(classify(200, "", None, &target()), Ok(()));
        assert_eq!(classify(204, "", None, &target()), Ok(()));
        for status in [500, 502, 503, 429, 408] {
            let err = classify(status, "busy", None, &target()).unwrap_err();
            assert!(!err.permanent, "{status}: {err:?}");
            assert!(err.reason.contains(&status.to_string()), "{err:?}");
        }
        for status in [400, 401, 403, 404, 410, 422] {
            let err = classify(status, "no", None, &target()).unwrap_err();
            assert!(err.permanent, "{status}: {err:?}");
        }
        let err = classify(503, "", None, &target()).unwrap_err();
        assert_eq!(
            err.reason,
            "the webhook at https://example.com/hook answered HTTP 503 Service Unavailable"
        );
    }

    #[test]
    fn a_refusal_quotes_the_start_of_the_answer() {
        let body = format!(
            "{{\"error\": \"invalid_payload\",\n\n  \"detail\": \"{}\"}}",
            "x".repeat(400)
        );
        let err = classify(400, &body, None, &target()).unwrap_err();
        assert!(err.permanent);
        assert!(
            err.reason.starts_with(
                "the webhook at https://example.com/hook answered HTTP 400 Bad Request: \"{\\\"error\\\": \\\"invalid_payload\\\", \\\"detail\\\""
            ),
            "{}",
            err.reason
        );
        assert!(err.reason.contains('…'), "{}", err.reason);
        assert!(err.reason.len() < 400, "{}", err.reason);
    }

    #[test]
    fn a_redirect_is_permanent_and_names_where_to_without_its_path() {
        let err = classify(
            301,
            "",
            Some("https://new.example.com/T0/B0/secretpath?token=x"),
            &target(),
        )
        .unwrap_err();
        assert!(err.permanent);
        assert!(
            err.reason
                .contains("redirect (HTTP 301) to https://new.example.com/…?…"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn secrets_are_scrubbed_from_reasons() {
        let err = target().error(SendError::permanent("bad token tok3n-value given"));
        assert_eq!(err.reason, "bad token <redacted> given");
        assert!(err.permanent);
    }

    #[test]
    fn shown_addresses_drop_credentials_queries_and_token_like_segments() {
        let url = Url::parse("https://user:pw@gw.example.com:8443/api/v1/send?key=abc").unwrap();
        assert_eq!(
            shown_url(&url, false),
            "https://gw.example.com:8443/api/v1/send?…"
        );
        let url =
            Url::parse("https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX")
                .unwrap();
        assert_eq!(shown_url(&url, true), "https://hooks.slack.com/…");
        assert_eq!(
            shown_url(&url, false),
            "https://hooks.slack.com/services/T0000/B0000/…"
        );
        let url = Url::parse("https://hooks.zapier.com/hooks/catch/123/abc4def5ghi6jkl7/").unwrap();
        assert_eq!(
            shown_url(&url, false),
            "https://hooks.zapier.com/hooks/catch/123/…/"
        );
    }

    #[test]
    fn addresses_must_be_http_with_a_host() {
        assert!(parse_url("url", "https://example.com/hook").is_ok());
        let err = parse_url("url", " ").unwrap_err();
        assert!(err.starts_with("url is empty"), "{err}");
        let err = parse_url("url", "example.com/hook").unwrap_err();
        assert!(err.starts_with("url is not a valid address"), "{err}");
        let err = parse_url("url", "ftp://example.com/").unwrap_err();
        assert_eq!(err, "url must start with https:// or http://, not ftp://");
    }

    #[test]
    fn header_tables_are_checked() {
        let headers: BTreeMap<String, Secret> = [
            ("X-Api-Key".to_owned(), Secret::parse("env:KEY")),
            ("Bad Name".to_owned(), Secret::parse("v")),
            ("content-type".to_owned(), Secret::parse("text/plain")),
            ("X-Ok".to_owned(), Secret::parse("two\nlines")),
        ]
        .into();
        let problems = header_problems(&headers, &["Content-Type"]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].contains("\"Bad Name\" is not a valid header name"),
            "{problems:?}"
        );
        // In the table's order: upper case sorts before lower case.
        assert!(problems[1].contains("the value of X-Ok"), "{problems:?}");
        assert!(
            problems[2].contains("Content-Type is set by keepwatch"),
            "{problems:?}"
        );
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(
            percent_encode("+1 555&x=ü/?"),
            "%2B1%20555%26x%3D%C3%BC%2F%3F"
        );
        assert_eq!(
            form_body(&[("To", "+15551234"), ("Body", "a b")]),
            "To=%2B15551234&Body=a%20b"
        );
    }
}
