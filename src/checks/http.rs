//! `type = "http"`: an HTTP or HTTPS request, judged the way a user or a
//! client program would judge the answer: status, content, JSON health
//! fields, redirects, certificate.
//!
//! Each run builds its own client with a fresh connection (no pooling), so
//! every run measures name lookup, connection and TLS handshake as a new
//! visitor experiences them, and notices a broken listener at once.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::certificate;
use super::net::{self, Stage};
use super::wording::{possessive, quote};
use super::{CheckOutcome, Checker, Common};
use crate::plain::short_duration;
use crate::secret::Secret;
use crate::tls::{self, SeenCell};
use crate::vocabulary::FailureKind;

/// Settings of an HTTP check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// The address to request, `http://` or `https://`.
    pub url: String,
    /// Request method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Extra request headers. A value may be a secret reference
    /// (`"X-Api-Key" = "env:SHIPPING_KEY"`), and like every secret is never
    /// shown in logs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// Request body, e.g. for a POST to a health endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Acceptable statuses of the final answer: `200`, `"2xx"`, or a list.
    #[serde(default)]
    pub expect_status: StatusSet,
    /// Text the answer must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// Pattern the answer must match (regex-lite syntax: no Unicode classes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_regex: Option<Pattern>,
    /// JSON fields and the values they must have, by dotted path:
    /// `json = { "status" = "ok", "checks.db" = "up" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub json: BTreeMap<String, Json>,
    /// Redirects followed before giving up; 0 judges the redirect itself.
    #[serde(default = "default_max_redirects")]
    pub max_redirects: u32,
    /// How long before its end date a certificate makes the service
    /// degraded: a number of days (`14`) or a duration (`"14d"`).
    #[serde(default = "default_cert_expiry_warning", with = "days_or_duration")]
    pub cert_expiry_warning: crate::units::Duration,
    /// A PEM file of extra authorities to trust (a company's own CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// User name and password sent with HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Token sent as `Authorization: Bearer ...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_max_redirects() -> u32 {
    10
}

fn default_cert_expiry_warning() -> crate::units::Duration {
    crate::units::Duration::from_days(14)
}

impl HttpSpec {
    /// A GET of `url` with every other setting at its default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            method: default_method(),
            headers: BTreeMap::new(),
            body: None,
            expect_status: StatusSet::default(),
            body_contains: None,
            body_regex: None,
            json: BTreeMap::new(),
            max_redirects: default_max_redirects(),
            cert_expiry_warning: default_cert_expiry_warning(),
            ca_file: None,
            basic_auth: None,
            bearer_token: None,
        }
    }

    /// Whether any setting looks at the content of the answer.
    fn reads_body(&self) -> bool {
        self.body_contains.is_some() || self.body_regex.is_some() || !self.json.is_empty()
    }

    fn has_credentials(&self) -> bool {
        self.basic_auth.is_some()
            || self.bearer_token.is_some()
            || self
                .headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("authorization"))
    }
}

/// HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password: inline, `env:NAME` or `file:/path`.
    pub password: Secret,
}

/// Acceptable HTTP statuses, as inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl Default for StatusSet {
    /// Any success (2xx).
    fn default() -> Self {
        Self(vec![(200, 299)])
    }
}

impl StatusSet {
    /// Exactly these codes.
    pub fn codes(codes: &[u16]) -> Self {
        Self(codes.iter().map(|c| (*c, *c)).collect())
    }

    /// `true` when `code` is acceptable.
    pub fn contains(&self, code: u16) -> bool {
        self.0
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&code))
    }

    fn item(text: &str) -> Option<(u16, u16)> {
        let text = text.trim();
        if let Some(class) = text.strip_suffix("xx").or_else(|| text.strip_suffix("XX")) {
            let class: u16 = class.parse().ok().filter(|c| (1..=5).contains(c))?;
            return Some((class * 100, class * 100 + 99));
        }
        let code: u16 = text.parse().ok().filter(|c| (100..=599).contains(c))?;
        Some((code, code))
    }

    fn item_text((low, high): (u16, u16)) -> String {
        if low == high {
            low.to_string()
        } else if low % 100 == 0 && high == low + 99 {
            format!("{}xx", low / 100)
        } else {
            format!("{low}-{high}")
        }
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.0.iter().map(|i| Self::item_text(*i)).collect();
        match items.split_last() {
            Some((last, [])) => f.write_str(last),
            Some((last, rest)) => write!(f, "{} or {last}", rest.join(", ")),
            None => f.write_str("nothing"),
        }
    }
}

const STATUS_EXPECTED: &str =
    "an HTTP status such as 200, a class such as \"2xx\", or a list of them";

impl<'de> Deserialize<'de> for StatusSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;

        impl<'de> Visitor<'de> for StatusVisitor {
            type Value = StatusSet;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(STATUS_EXPECTED)
            }

            fn visit_i64<E: de::Error>(self, code: i64) -> Result<StatusSet, E> {
                self.visit_str(&code.to_string())
            }

            fn visit_u64<E: de::Error>(self, code: u64) -> Result<StatusSet, E> {
                self.visit_str(&code.to_string())
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<StatusSet, E> {
                StatusSet::item(text)
                    .map(|item| StatusSet(vec![item]))
                    .ok_or_else(|| E::custom(format!("`{text}` is not {STATUS_EXPECTED}")))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StatusSet, A::Error> {
                let mut items = Vec::new();
                while let Some(one) = seq.next_element::<StatusSet>()? {
                    items.extend(one.0);
                }
                if items.is_empty() {
                    return Err(de::Error::custom(format!(
                        "an empty list is not {STATUS_EXPECTED}"
                    )));
                }
                Ok(StatusSet(items))
            }
        }

        deserializer.deserialize_any(StatusVisitor)
    }
}

impl Serialize for StatusSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for item in &self.0 {
            match item {
                (low, high) if low == high => seq.serialize_element(low)?,
                _ => seq.serialize_element(&Self::item_text(*item))?,
            }
        }
        seq.end()
    }
}

/// A compiled `body_regex`; checked when the config is read, so a bad pattern
/// is reported with its line instead of at the first run.
#[derive(Clone)]
pub struct Pattern(regex_lite::Regex);

impl Pattern {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Result<Self, regex_lite::Error> {
        regex_lite::Regex::new(pattern).map(Self)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.as_str())
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(&text)
            .map_err(|err| de::Error::custom(format!("invalid regular expression: {err}")))
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `cert_expiry_warning = 14` (days) or `"14d"`.
mod days_or_duration {
    use serde::de::{self, Deserializer, Visitor};
    use serde::{Serialize, Serializer};
    use std::fmt;

    use crate::units::Duration;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        struct DaysVisitor;

        impl Visitor<'_> for DaysVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of days such as 14, or a duration such as \"14d\"")
            }

            fn visit_i64<E: de::Error>(self, days: i64) -> Result<Duration, E> {
                u64::try_from(days)
                    .map(Duration::from_days)
                    .map_err(|_| E::custom("a negative number of days"))
            }

            fn visit_u64<E: de::Error>(self, days: u64) -> Result<Duration, E> {
                Ok(Duration::from_days(days))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
                text.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(DaysVisitor)
    }
}

/// The most of an answer kept for the content checks (nothing is kept when
/// there are none); the rest is read, so the response time is the whole
/// download, and dropped.
const BODY_LIMIT: usize = 1 << 20;

/// Runs the request and judges the answer.
pub(crate) async fn run(common: &Common, spec: &HttpSpec, checker: &Checker) -> CheckOutcome {
    let name = common.name.as_str();
    let limit = common.timeout.std();
    let url = match super::settings::parse_url(&spec.url) {
        Ok(url) => url,
        Err((message, _)) => return config_error(name, message),
    };
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let target = net::target(&host, url.port_or_known_default().unwrap_or(0));

    let probe = Arc::new(Probe::default());
    let client = match build_client(spec, checker, &probe, limit) {
        Ok(client) => client,
        Err(problem) => return config_error(name, problem),
    };
    let request = match build_request(&client, spec, url) {
        Ok(request) => request,
        Err(problem) => return config_error(name, problem),
    };

    let started = Instant::now();
    let mut response = match client.execute(request).await {
        Ok(response) => response,
        Err(err) => return request_failure(name, &host, &target, &err, &probe, limit),
    };
    let first_byte = started.elapsed();
    let status = response.status();
    // After redirects, the certificate that matters is the final server's.
    let is_https = response.url().scheme() == "https";
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let clock_ahead =
        server_date(response.headers()).map(|theirs| checker.clock().now().duration_since(theirs));

    let keep = if spec.reads_body() { BODY_LIMIT } else { 0 };
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = keep.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) => break,
            Err(err) => {
                let mut outcome = request_failure(name, &host, &target, &err, &probe, limit);
                outcome.http_status = Some(status.as_u16());
                return outcome;
            }
        }
    }
    let took = started.elapsed();

    let answer = Answer {
        status: status.as_u16(),
        location: location.as_deref(),
        body: &body,
    };
    let cert = if is_https { probe.cert() } else { None };
    let outcome = judge(name, spec, &answer)
        .or_else(|| {
            let cert = cert.as_ref()?;
            let warning = spec.cert_expiry_warning.std();
            certificate::expiry_warning(name, cert, checker.clock().now(), warning)
        })
        .unwrap_or_else(|| {
            CheckOutcome::up(format!(
                "{name} is up: HTTP {} in {}.",
                status_text(status.as_u16()),
                short_duration(took)
            ))
        });
    CheckOutcome {
        http_status: Some(status.as_u16()),
        certificate_expires: cert.map(|c| c.not_after),
        clock_ahead,
        ..outcome
    }
    .with_response_time(took)
    .with_phases(probe.phases(first_byte, took))
}

/// The time in an answer's `Date` header, when it has a readable one.
fn server_date(headers: &reqwest::header::HeaderMap) -> Option<jiff::Timestamp> {
    let date = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    jiff::fmt::rfc2822::parse(date)
        .ok()
        .map(|zoned| zoned.timestamp())
}

fn config_error(name: &str, problem: impl fmt::Display) -> CheckOutcome {
    CheckOutcome::failed(
        FailureKind::ConfigError,
        format!(
            "{name} cannot be checked: {problem}; fix the service's settings in the config file."
        ),
    )
}

fn build_client(
    spec: &HttpSpec,
    checker: &Checker,
    probe: &Arc<Probe>,
    limit: Duration,
) -> Result<reqwest::Client, String> {
    let roots = match &spec.ca_file {
        None => tls::system_roots(),
        Some(path) => Arc::new(
            tls::with_ca_file(&tls::system_roots(), path)
                .map_err(|problem| format!("the CA file {} {problem}", path.display()))?,
        ),
    };
    let tls = tls::client_config(roots, checker.clock_arc(), probe.tls.clone())?;
    let redirects = match spec.max_redirects {
        0 => reqwest::redirect::Policy::none(),
        n => reqwest::redirect::Policy::limited(n as usize),
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .dns_resolver(TimedResolver(probe.clone()))
        .connector_layer(TimedConnect(probe.clone()))
        .redirect(redirects)
        .timeout(limit)
        .no_proxy()
        .pool_max_idle_per_host(0)
        .user_agent(concat!("keepwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| format!("the HTTP client cannot be set up ({err})"))
}

fn build_request(
    client: &reqwest::Client,
    spec: &HttpSpec,
    url: reqwest::Url,
) -> Result<reqwest::Request, String> {
    let method = reqwest::Method::from_bytes(spec.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("the method {} is not an HTTP method", quote(&spec.method)))?;
    let mut request = client.request(method, url);
    for (header, value) in &spec.headers {
        let header = reqwest::header::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| format!("the header name {} is not valid", quote(header)))?;
        let value = value
            .reveal()
            .map_err(|err| format!("the value of the header {header} cannot be read: {err}"))?;
        let mut value = reqwest::header::HeaderValue::from_str(&value)
            .map_err(|_| format!("the value of the header {header} is not valid"))?;
        value.set_sensitive(true);
        request = request.header(header, value);
    }
    if let Some(body) = &spec.body {
        request = request.body(body.clone());
    }
    if let Some(auth) = &spec.basic_auth {
        let password = auth
            .password
            .reveal()
            .map_err(|err| format!("the basic_auth password cannot be read: {err}"))?;
        request = request.basic_auth(&auth.username, Some(password));
    }
    if let Some(token) = &spec.bearer_token {
        let token = token
            .reveal()
            .map_err(|err| format!("the bearer_token cannot be read: {err}"))?;
        request = request.bearer_auth(token);
    }
    request
        .build()
        .map_err(|err| format!("the request cannot be built ({err})"))
}

/// What came back, as far as the content checks care.
struct Answer<'a> {
    status: u16,
    location: Option<&'a str>,
    body: &'a [u8],
}

/// The first way `answer` fails `spec`, if any.
fn judge(name: &str, spec: &HttpSpec, answer: &Answer<'_>) -> Option<CheckOutcome> {
    if !spec.expect_status.contains(answer.status) {
        return Some(status_failure(name, spec, answer));
    }
    let text = String::from_utf8_lossy(answer.body);
    let whose = possessive(name);
    if let Some(needle) = &spec.body_contains
        && !text.contains(needle.as_str())
    {
        return Some(CheckOutcome::failed(
            FailureKind::BodyMismatch,
            format!(
                "{whose} page does not contain {}: it may be showing an error or maintenance page, or its content changed.",
                quote(needle)
            ),
        ));
    }
    if let Some(pattern) = &spec.body_regex
        && !pattern.0.is_match(&text)
    {
        return Some(CheckOutcome::failed(
            FailureKind::BodyMismatch,
            format!(
                "{whose} page does not match the pattern /{}/: it may be showing an error or maintenance page, or its content changed.",
                pattern.as_str()
            ),
        ));
    }
    if spec.json.is_empty() {
        return None;
    }
    let document: Json = match serde_json::from_slice(answer.body) {
        Ok(document) => document,
        Err(err) => {
            let start = if text.trim().is_empty() {
                "it is empty".to_owned()
            } else {
                format!("it starts with {}", quote(&text))
            };
            return Some(CheckOutcome::failed(
                FailureKind::JsonInvalid,
                format!(
                    "{whose} answer is not valid JSON ({err}; {start}): the health endpoint may be failing, or the URL points at a web page."
                ),
            ));
        }
    };
    for (path, expected) in conditions(&spec.json) {
        let explanation = match lookup(&document, &path) {
            None => format!(
                "{whose} health report has no field {path} (expected {expected}): the endpoint's format may have changed."
            ),
            Some(found) if !json_equal(found, expected) => format!(
                "{whose} health report says {path} = {found}, where {expected} is expected."
            ),
            Some(_) => continue,
        };
        return Some(CheckOutcome::failed(FailureKind::JsonMismatch, explanation));
    }
    None
}

fn status_text(code: u16) -> String {
    match reqwest::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{code} ({reason})"),
        None => code.to_string(),
    }
}

fn status_failure(name: &str, spec: &HttpSpec, answer: &Answer<'_>) -> CheckOutcome {
    let code = answer.status;
    let status = status_text(code);
    if matches!(code, 401 | 403) && spec.has_credentials() {
        return CheckOutcome::failed(
            FailureKind::AuthFailed,
            format!(
                "{name} rejected keepwatch's credentials (HTTP {status}): check the user name and password or the token in the service's settings."
            ),
        );
    }
    let known = match code {
        500 => Some(
            "the application behind the web server has an internal error; its log will say more",
        ),
        502 => Some(
            "the proxy in front of the application cannot reach it, so the application is probably stopped",
        ),
        503 => {
            Some("the web server is up but the application behind it is failing or in maintenance")
        }
        504 => Some("the proxy in front of the application got no answer from it in time"),
        401 => Some("it requires credentials: set `basic_auth` or `bearer_token`"),
        403 => Some("it refuses keepwatch access: check which addresses or users it allows"),
        404 => Some("the page does not exist: check the path in the URL"),
        429 => Some("it is limiting how often it may be asked: check it less often"),
        _ => None,
    };
    let cause = match (known, code / 100) {
        (Some(cause), _) => cause.to_owned(),
        (None, 5) => "the server reports an error on its side".to_owned(),
        (None, 4) => "it rejected the request: check the URL, method, headers and body".to_owned(),
        (None, 3) => match answer.location {
            Some(to) => format!(
                "it redirects to {to}: point the check at that address, or allow redirects with `max_redirects`"
            ),
            None => "it redirects without saying where".to_owned(),
        },
        (None, _) => format!("{} was expected", spec.expect_status),
    };
    CheckOutcome::failed(
        FailureKind::HttpStatus,
        format!("{name} answered with HTTP {status}: {cause}."),
    )
}

/// The conditions of a `json` table as (dotted path, expected value); a nested
/// table (`json = { checks.db = "up" }` without quotes) counts as its fields.
fn conditions(table: &BTreeMap<String, Json>) -> Vec<(String, &Json)> {
    fn walk<'a>(prefix: &str, value: &'a Json, out: &mut Vec<(String, &'a Json)>) {
        match value {
            Json::Object(fields) if !fields.is_empty() => {
                for (key, inner) in fields {
                    walk(&format!("{prefix}.{key}"), inner, out);
                }
            }
            _ => out.push((prefix.to_owned(), value)),
        }
    }
    let mut out = Vec::new();
    for (key, value) in table {
        walk(key, value, &mut out);
    }
    out
}

/// The value at a dotted path (`checks.db`, `items.0.status`): object keys,
/// or array indexes.
fn lookup<'a>(document: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.')
        .try_fold(document, |value, segment| match value {
            Json::Object(fields) => fields.get(segment),
            Json::Array(items) => items.get(segment.parse::<usize>().ok()?),
            _ => None,
        })
}

/// Equality where `1` and `1.0` are the same number (TOML has both kinds).
fn json_equal(found: &Json, expected: &Json) -> bool {
    match (found, expected) {
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        _ => found == expected,
    }
}

/// The outcome for a request that got no (complete) answer.
fn request_failure(
    name: &str,
    host: &str,
    target: &str,
    err: &reqwest::Error,
    probe: &Probe,
    limit: Duration,
) -> CheckOutcome {
    let stage = probe.stage(err.is_body() || err.is_decode());
    let cert = probe.cert();
    if let Some(rejected) = probe.cert_error() {
        return certificate::failure(name, host, &rejected, cert.as_ref());
    }
    if err.is_redirect() {
        let last = err
            .url()
            .map(|u| format!(" (last to {u})"))
            .unwrap_or_default();
        return CheckOutcome::failed(
            FailureKind::TooManyRedirects,
            format!(
                "{name} kept redirecting{last}: the redirects probably go round in a loop; check the site's redirect rules (for example http to https and back)."
            ),
        );
    }
    if err.is_timeout() {
        return net::failure(FailureKind::Timeout, name, target, stage, limit);
    }
    for cause in causes(err) {
        if let Some(dns) = cause.downcast_ref::<DnsError>() {
            return net::dns_failure(name, &dns.host, &dns.reason());
        }
        if let Some(tls_err) = cause.downcast_ref::<rustls::Error>() {
            return certificate::failure(name, host, tls_err, cert.as_ref());
        }
        if let Some(kind) = cause.downcast_ref::<io::Error>().and_then(net::io_kind) {
            return net::failure(kind, name, target, stage, limit);
        }
        if let Some(hyper_err) = cause.downcast_ref::<hyper::Error>() {
            if hyper_err.is_incomplete_message() || hyper_err.is_closed() {
                return net::failure(FailureKind::ConnectionClosed, name, target, stage, limit);
            }
            if hyper_err.is_parse() {
                return CheckOutcome::failed(
                    FailureKind::ProtocolError,
                    format!(
                        "{name} did not answer in HTTP on {target} ({hyper_err}): check the port, and whether the URL should start with https:// instead of http://."
                    ),
                );
            }
        }
    }
    let detail: Vec<String> = causes(err).iter().map(ToString::to_string).collect();
    CheckOutcome::failed(
        FailureKind::Other,
        format!("{name} could not be checked: {}.", detail.join(": ")),
    )
}

/// The chain of causes of an error, looking inside `io::Error`s, whose
/// `source()` skips the error they wrap (rustls errors hide there).
fn causes<'a>(err: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut chain = Vec::new();
    let mut next = Some(err);
    while let Some(current) = next {
        if chain.len() == 16 {
            break;
        }
        chain.push(current);
        next = match current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
    }
    chain
}

/// What one run's client went through: lookups, connections, TLS.
#[derive(Debug, Default)]
struct Probe {
    timing: Mutex<Timing>,
    tls: SeenCell,
}

#[derive(Debug, Default)]
struct Timing {
    dns: Duration,
    /// Connection set-up including its lookup.
    connect: Duration,
    resolving: bool,
    connecting: bool,
    connected: bool,
}

impl Probe {
    fn timing(&self) -> std::sync::MutexGuard<'_, Timing> {
        self.timing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stage(&self, answer_started: bool) -> Stage {
        let timing = self.timing();
        if answer_started {
            Stage::Reading
        } else if timing.resolving {
            Stage::Resolving
        } else if timing.connected {
            Stage::Waiting
        } else {
            Stage::Connecting
        }
    }

    fn cert(&self) -> Option<tls::CertSummary> {
        self.tls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cert
            .clone()
    }

    fn cert_error(&self) -> Option<rustls::Error> {
        self.tls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .error
            .clone()
    }

    /// DNS, connection (TCP and TLS), waiting for the first byte, download.
    fn phases(&self, first_byte: Duration, total: Duration) -> Vec<(&'static str, Duration)> {
        let timing = self.timing();
        let connect = timing.connect.max(timing.dns);
        vec![
            ("dns", timing.dns),
            ("connect", connect - timing.dns),
            ("first_byte", first_byte.saturating_sub(connect)),
            ("download", total.saturating_sub(first_byte)),
        ]
    }
}

#[derive(Debug)]
struct DnsError {
    host: String,
    source: io::Error,
}

impl DnsError {
    /// The resolver's reason without the "failed to lookup address information" preamble.
    fn reason(&self) -> String {
        let text = self.source.to_string();
        let reason = text
            .strip_prefix("failed to lookup address information: ")
            .unwrap_or(&text);
        reason.to_lowercase()
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot resolve {}: {}", self.host, self.source)
    }
}

impl StdError for DnsError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

/// The system resolver, timed, with failures the check can recognize.
struct TimedResolver(Arc<Probe>);

impl reqwest::dns::Resolve for TimedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let probe = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            probe.timing().resolving = true;
            let started = Instant::now();
            let result = tokio::net::lookup_host((host.as_str(), 0)).await;
            {
                let mut timing = probe.timing();
                timing.resolving = false;
                timing.dns += started.elapsed();
            }
            let addrs: Vec<_> = result
                .map_err(|source| DnsError {
                    host: host.clone(),
                    source,
                })?
                .collect();
            if addrs.is_empty() {
                let source = io::Error::other("the name has no addresses");
                return Err(Box::new(DnsError { host, source }) as _);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A connector layer timing each connection set-up (lookup, TCP, TLS).
#[derive(Clone)]
struct TimedConnect(Arc<Probe>);

impl<S> tower_layer::Layer<S> for TimedConnect {
    type Service = TimedConnector<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimedConnector {
            inner,
            probe: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct TimedConnector<S> {
    inner: S,
    probe: Arc<Probe>,
}

impl<S, R> tower_service::Service<R> for TimedConnector<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        {
            let mut timing = self.probe.timing();
            timing.connecting = true;
            timing.connected = false;
        }
        let started = Instant::now();
        let connecting = self.inner.call(request);
        let probe = self.probe.clone();
        Box::pin(async move {
            let result = connecting.await;
            let mut timing = probe.timing();
            timing.connect += started.elapsed();
            timing.connecting = false;
            timing.connected = result.is_ok();
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::assert_explains;
    use serde_json::json;

    fn spec() -> HttpSpec {
        HttpSpec::new("https://shop.example/")
    }

    fn answer(status: u16, body: &str) -> Answer<'_> {
        Answer {
            status,
            location: None,
            body: body.as_bytes(),
        }
    }

    #[test]
    fn dotted_paths_reach_into_objects_and_arrays() {
        let doc = json!({"status": "ok", "checks": {"db": "up"}, "items": [{"n": 1}, {"n": 2}]});
        assert_eq!(lookup(&doc, "status"), Some(&json!("ok")));
        assert_eq!(lookup(&doc, "checks.db"), Some(&json!("up")));
        assert_eq!(lookup(&doc, "items.1.n"), Some(&json!(2)));
        assert_eq!(lookup(&doc, "items.x"), None);
        assert_eq!(lookup(&doc, "checks.cache"), None);
        assert_eq!(lookup(&doc, "status.deeper"), None);
    }

    #[test]
    fn nested_condition_tables_become_dotted_paths() {
        let table: BTreeMap<String, Json> = toml::from_str::<toml::Table>(
            "status = \"ok\"\nchecks.db = \"up\"\n\"checks.cache\" = \"up\"\ncount = 3\n",
        )
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, serde_json::to_value(v).unwrap()))
        .collect();
        let found: Vec<(String, Json)> = conditions(&table)
            .into_iter()
            .map(|(p, v)| (p, v.clone()))
            .collect();
        assert_eq!(
            found,
            [
                ("checks.db".to_owned(), json!("up")),
                ("checks.cache".to_owned(), json!("up")),
                ("count".to_owned(), json!(3)),
                ("status".to_owned(), json!("ok")),
            ]
        );
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_equal(&json!(1), &json!(1.0)));
        assert!(!json_equal(&json!(1), &json!("1")));
        assert!(json_equal(&json!(true), &json!(true)));
    }

    #[test]
    fn statuses_parse_from_codes_classes_and_lists() {
        let parse = |text: &str| {
            toml::from_str::<BTreeMap<String, StatusSet>>(&format!("s = {text}"))
                .map(|m| m["s"].clone())
        };
        assert_eq!(parse("200").unwrap(), StatusSet::codes(&[200]));
        assert_eq!(parse("\"2xx\"").unwrap(), StatusSet::default());
        let set = parse("[200, \"3xx\", 404]").unwrap();
        assert!(set.contains(200) && set.contains(301) && set.contains(404) && !set.contains(204));
        assert_eq!(set.to_string(), "200, 3xx or 404");
        for bad in ["700", "\"9xx\"", "[]", "\"ok\"", "true"] {
            let err = parse(bad).unwrap_err();
            assert!(
                err.message().contains("an HTTP status such as 200"),
                "{bad}: {}",
                err.message()
            );
        }
        let text = serde_json::to_string(&set).unwrap();
        assert_eq!(text, "[200,\"3xx\",404]");
    }

    #[test]
    fn the_certificate_warning_takes_days_or_a_duration() {
        let parse = |text: &str| {
            toml::from_str::<HttpSpec>(&format!(
                "url = \"https://x/\"\ncert_expiry_warning = {text}"
            ))
            .map(|s| s.cert_expiry_warning)
        };
        assert_eq!(parse("14").unwrap(), crate::units::Duration::from_days(14));
        assert_eq!(
            parse("\"3d\"").unwrap(),
            crate::units::Duration::from_days(3)
        );
        assert!(parse("-1").is_err());
        assert!(parse("\"soon\"").is_err());
        let spec = toml::from_str::<HttpSpec>("url = \"https://x/\"").unwrap();
        assert_eq!(spec, HttpSpec::new("https://x/"));
    }

    #[test]
    fn a_bad_pattern_is_reported_when_the_config_is_read() {
        let err = toml::from_str::<HttpSpec>("url = \"https://x/\"\nbody_regex = \"(unclosed\"")
            .unwrap_err();
        assert!(
            err.message().contains("invalid regular expression"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn status_failures_say_what_the_code_means() {
        let cases = [
            (
                500,
                "Shop answered with HTTP 500 (Internal Server Error): the application behind the web server has an internal error",
            ),
            (502, "cannot reach it"),
            (
                503,
                "Shop answered with HTTP 503 (Service Unavailable): the web server is up but the application behind it is failing",
            ),
            (504, "got no answer from it in time"),
            (599, "an error on its side"),
            (404, "the page does not exist: check the path in the URL"),
            (
                401,
                "it requires credentials: set `basic_auth` or `bearer_token`",
            ),
            (403, "it refuses keepwatch access"),
            (429, "check it less often"),
            (418, "it rejected the request"),
            (302, "it redirects without saying where"),
            (
                204,
                "Shop answered with HTTP 204 (No Content): 200 was expected.",
            ),
        ];
        let mut spec = spec();
        spec.expect_status = StatusSet::codes(&[200]);
        for (code, expected) in cases {
            let outcome = judge("Shop", &spec, &answer(code, "")).unwrap();
            assert_explains(
                &outcome,
                FailureKind::HttpStatus,
                "Shop answered with HTTP ",
                expected,
            );
        }
        let moved = Answer {
            status: 301,
            location: Some("https://new.example/"),
            body: b"",
        };
        let outcome = judge("Shop", &spec, &moved).unwrap();
        assert!(
            outcome
                .explanation
                .contains("it redirects to https://new.example/: point the check at that address"),
            "{}",
            outcome.explanation
        );
        assert_eq!(judge("Shop", &spec, &answer(200, "")), None);
    }

    #[test]
    fn a_refusal_with_credentials_configured_is_an_authentication_failure() {
        let mut spec = spec();
        spec.bearer_token = Some(Secret::parse("t0ken"));
        for code in [401, 403] {
            let outcome = judge("Admin API", &spec, &answer(code, "")).unwrap();
            assert_eq!(outcome.kind, Some(FailureKind::AuthFailed));
            assert!(
                outcome
                    .explanation
                    .starts_with("Admin API rejected keepwatch's credentials (HTTP"),
                "{}",
                outcome.explanation
            );
        }
    }

    #[test]
    fn content_checks_name_what_was_missing() {
        let mut spec = spec();
        spec.body_contains = Some("Add to cart".into());
        let outcome = judge("Shop", &spec, &answer(200, "<h1>Maintenance</h1>")).unwrap();
        assert_eq!(outcome.kind, Some(FailureKind::BodyMismatch));
        assert!(
            outcome
                .explanation
                .starts_with("Shop's page does not contain \"Add to cart\""),
            "{}",
            outcome.explanation
        );
        assert_eq!(
            judge("Shop", &spec, &answer(200, "<button>Add to cart</button>")),
            None
        );

        let mut spec = self::spec();
        spec.body_regex = Some(Pattern::new("[0-9]+ items? in stock").unwrap());
        let outcome = judge("Shop", &spec, &answer(200, "sold out")).unwrap();
        assert_eq!(outcome.kind, Some(FailureKind::BodyMismatch));
        assert!(
            outcome.explanation.contains("/[0-9]+ items? in stock/"),
            "{}",
            outcome.explanation
        );
        assert_eq!(
            judge("Shop", &spec, &answer(200, "12 items in stock")),
            None
        );
    }

    #[test]
    fn json_conditions_report_the_field_and_both_values() {
        let mut spec = spec();
        spec.json.insert("status".into(), json!("ok"));
        spec.json.insert("checks.db".into(), json!("up"));
        let good = r#"{"status": "ok", "checks": {"db": "up"}}"#;
        assert_eq!(judge("API", &spec, &answer(200, good)), None);

        let outcome = judge(
            "API",
            &spec,
            &answer(200, r#"{"status": "ok", "checks": {"db": "down"}}"#),
        )
        .unwrap();
        assert_eq!(outcome.kind, Some(FailureKind::JsonMismatch));
        assert_eq!(
            outcome.explanation,
            "API's health report says checks.db = \"down\", where \"up\" is expected."
        );

        let outcome = judge("API", &spec, &answer(200, r#"{"status": "ok"}"#)).unwrap();
        assert_eq!(outcome.kind, Some(FailureKind::JsonMismatch));
        assert!(
            outcome
                .explanation
                .contains("has no field checks.db (expected \"up\")"),
            "{}",
            outcome.explanation
        );

        let outcome = judge("API", &spec, &answer(200, "<html>Bad gateway</html>")).unwrap();
        assert_eq!(outcome.kind, Some(FailureKind::JsonInvalid));
        assert!(
            outcome
                .explanation
                .starts_with("API's answer is not valid JSON"),
            "{}",
            outcome.explanation
        );
        assert!(
            outcome
                .explanation
                .contains("it starts with \"<html>Bad gateway</html>\""),
            "{}",
            outcome.explanation
        );
        let outcome = judge("API", &spec, &answer(200, "")).unwrap();
        assert!(
            outcome.explanation.contains("it is empty"),
            "{}",
            outcome.explanation
        );
    }

    #[test]
    fn causes_look_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = io::Error::other(io::Error::other(tls.clone()));
        let chain = causes(&wrapped);
        assert!(
            chain
                .iter()
                .any(|c| c.downcast_ref::<rustls::Error>() == Some(&tls)),
            "{chain:?}"
        );
    }

    #[test]
    fn dns_reasons_drop_the_preamble() {
        let err = DnsError {
            host: "x.invalid".into(),
            source: io::Error::other(
                "failed to lookup address information: Name or service not known",
            ),
        };
        assert_eq!(err.reason(), "name or service not known");
        assert_eq!(
            err.to_string(),
            "cannot resolve x.invalid: failed to lookup address information: Name or service not known"
        );
    }

    #[test]
    fn phases_add_up_to_the_response_time() {
        let probe = Probe::default();
        {
            let mut timing = probe.timing();
            timing.dns = Duration::from_millis(5);
            timing.connect = Duration::from_millis(25);
        }
        let phases = probe.phases(Duration::from_millis(100), Duration::from_millis(130));
        assert_eq!(
            phases,
            [
                ("dns", Duration::from_millis(5)),
                ("connect", Duration::from_millis(20)),
                ("first_byte", Duration::from_millis(75)),
                ("download", Duration::from_millis(30)),
            ]
        );
        assert_eq!(
            phases.iter().map(|p| p.1).sum::<Duration>(),
            Duration::from_millis(130)
        );
    }
}
