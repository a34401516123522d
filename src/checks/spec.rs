//! One `[[service]]` table of `keepwatch.toml`: the settings every check has,
//! and `type = "..."` choosing the check and its own settings.
//!
//! The file is flat (`name`, `interval` and `url` side by side), but the types
//! are not: [`Common`] holds what every service has and [`CheckSpec`] what its
//! check type adds. serde can neither deny unknown keys through
//! `#[serde(flatten)]` nor say where a problem is once a tagged enum has
//! buffered its content, so [`ServiceSpec`] deserializes by hand:
//!
//! - each key is checked while its own value is read: unknown keys (with every
//!   valid key listed, so the config loader can suggest the closest) and bad
//!   values (by deserializing the one key into its struct). A deserializer
//!   that knows positions, like toml's, then points at that line;
//! - at the end, the common keys become [`Common`] and the rest, picked by
//!   `type`, the check's settings struct.
//!
//! Keys that come before `type` are checked against every check type's keys,
//! and again against the right one at the end (with the position of the
//! whole table).

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::units::Duration;

use super::dns::DnsSpec;
use super::heartbeat::HeartbeatSpec;
use super::http::HttpSpec;
use super::mysql::MysqlSpec;
use super::ping::PingSpec;
use super::postgres::PostgresSpec;
use super::redis::RedisSpec;
use super::tcp::TcpSpec;

/// A service to watch: one `[[service]]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSpec {
    /// What every service has.
    #[serde(flatten)]
    pub common: Common,
    /// The check type and its settings.
    #[serde(flatten)]
    pub check: CheckSpec,
}

/// The check types, picked by `type = "..."`. Adding one is a module with a
/// settings struct and a `run` function, plus a variant here with its arms in
/// [`CheckSpec::TYPES`], [`CheckSpec::type_name`],
/// `CheckSpec::deserialize_settings` and [`super::Checker::run`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CheckSpec {
    /// An HTTP or HTTPS request (boxed: it has many more settings than the others).
    Http(Box<HttpSpec>),
    /// A TCP connection, optionally reading the greeting.
    Tcp(TcpSpec),
    /// A DNS lookup, optionally of an expected answer.
    Dns(DnsSpec),
    /// Echo requests (ICMP, or a TCP connection where ICMP is not allowed).
    Ping(PingSpec),
    /// A PostgreSQL login, optionally with a query.
    Postgres(PostgresSpec),
    /// A MySQL or MariaDB login, optionally with a query.
    Mysql(MysqlSpec),
    /// A Redis command, after `AUTH` and `SELECT` when configured.
    Redis(RedisSpec),
    /// A job that reports to keepwatch (pings) instead of being checked.
    Heartbeat(HeartbeatSpec),
}

impl CheckSpec {
    /// Every `type` name, as written in the config.
    pub const TYPES: &[&str] = &[
        "http",
        "tcp",
        "dns",
        "ping",
        "postgres",
        "mysql",
        "redis",
        "heartbeat",
    ];

    /// The `type` name as written in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Http(_) => "http",
            Self::Tcp(_) => "tcp",
            Self::Dns(_) => "dns",
            Self::Ping(_) => "ping",
            Self::Postgres(_) => "postgres",
            Self::Mysql(_) => "mysql",
            Self::Redis(_) => "redis",
            Self::Heartbeat(_) => "heartbeat",
        }
    }

    /// The one place a type name picks its settings struct; `None` for an
    /// unknown type.
    fn deserialize_settings<'de, D: Deserializer<'de>>(
        type_name: &str,
        settings: D,
    ) -> Option<Result<Self, D::Error>> {
        Some(match type_name {
            "http" => HttpSpec::deserialize(settings).map(|http| Self::Http(Box::new(http))),
            "tcp" => TcpSpec::deserialize(settings).map(Self::Tcp),
            "dns" => DnsSpec::deserialize(settings).map(Self::Dns),
            "ping" => PingSpec::deserialize(settings).map(Self::Ping),
            "postgres" => PostgresSpec::deserialize(settings).map(Self::Postgres),
            "mysql" => MysqlSpec::deserialize(settings).map(Self::Mysql),
            "redis" => RedisSpec::deserialize(settings).map(Self::Redis),
            "heartbeat" => HeartbeatSpec::deserialize(settings).map(Self::Heartbeat),
            _ => return None,
        })
    }

    /// The settings keys of a check type.
    fn settings_keys(type_name: &str) -> &'static [&'static str] {
        let mut fields: &'static [&'static str] = &[];
        let _ = Self::deserialize_settings(type_name, FieldProbe(&mut fields));
        fields
    }

    /// The check of type `type_name` with these settings.
    fn from_settings(type_name: &str, settings: toml::Table) -> Result<Self, String> {
        Self::deserialize_settings(type_name, toml::Value::Table(settings))
            .unwrap_or_else(|| Err(de::Error::custom(unknown_type(type_name))))
            .map_err(|err| located(&err))
    }
}

/// A table with a `type` key, as in the config.
impl<'de> Deserialize<'de> for CheckSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(deserializer)?;
        let type_name = match table.remove("type") {
            Some(value) => check_type(&value).map_err(de::Error::custom)?,
            None => return Err(de::Error::missing_field("type")),
        };
        Self::from_settings(&type_name, table).map_err(de::Error::custom)
    }
}

fn unknown_type(type_name: &str) -> String {
    let known: Vec<String> = CheckSpec::TYPES.iter().map(|t| format!("`{t}`")).collect();
    format!(
        "unknown variant `{type_name}`, expected {}",
        known.join(" or ")
    )
}

/// The value of `type`, if it names a known check type.
fn check_type(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(name) if CheckSpec::TYPES.contains(&name.as_str()) => Ok(name.clone()),
        toml::Value::String(name) => Err(unknown_type(name)),
        other => Err(format!(
            "expected a check type in quotes, such as \"http\", found {other}"
        )),
    }
}

/// The settings every service has, whatever its check type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Common {
    /// The name people know the service by ("Shop", "Payment gateway"); it
    /// starts every explanation, so a plain name reads best.
    pub name: String,
    /// Time between two runs of the check.
    pub interval: Duration,
    /// How long one run may take before it counts as a timeout.
    pub timeout: Duration,
    /// Response-time budget: an answer slower than this makes the service
    /// degraded (`slow`), not down. Unset means no budget.
    pub slow_after: Option<Duration>,
    /// Immediate re-runs of a failed run before the failure counts.
    pub retries: u32,
    /// Consecutive failed runs before the service's state changes.
    pub confirm_after: u32,
    /// Run by someone else (payment gateway, shipping API): an outage there is
    /// reported as theirs, and may be grouped with a dead internet link.
    pub external: bool,
    /// Wakes someone up when down outside business hours.
    pub critical: bool,
    /// What an hour of downtime in opening hours costs, for the reports
    /// (`revenue_per_hour` is the older name).
    #[serde(alias = "revenue_per_hour")]
    pub cost_per_hour: Option<f64>,
    /// The share (0 to 1) of `[business] revenue_per_hour` lost while this
    /// service is down, when `cost_per_hour` is not set. Unset: all of it
    /// for a critical service, none for the others.
    pub revenue_share: Option<f64>,
    /// The availability this service should reach, e.g. `"99.9%"`; reports
    /// say "on target" or "below target". Unset: 99.9% for a critical
    /// service, 99% for the others.
    pub target: Option<String>,
    /// Free labels for grouping in reports and alerts.
    pub tags: Vec<String>,
    /// Names of services (or `"internet"`) this one cannot work without;
    /// when those are down, this one's alert is folded into theirs.
    pub depends_on: Vec<String>,
}

impl Common {
    /// How often a critical service is checked unless its `interval` says
    /// otherwise: often enough that its outage reaches the admin within 5 s
    /// even when it starts just after a check (a check, its retry and the
    /// mail take well under a second; BENCHMARKS.md, "outage to mail with
    /// the defaults"), at a cost of about a millisecond of CPU per check.
    pub const CRITICAL_INTERVAL: Duration = Duration::from_secs(4);
}

impl Default for Common {
    fn default() -> Self {
        Self {
            name: String::new(),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            slow_after: None,
            retries: 1,
            confirm_after: 1,
            external: false,
            critical: false,
            cost_per_hour: None,
            revenue_share: None,
            target: None,
            tags: Vec::new(),
            depends_on: Vec::new(),
        }
    }
}

impl<'de> Deserialize<'de> for ServiceSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ServiceVisitor)
    }
}

struct ServiceVisitor;

impl<'de> Visitor<'de> for ServiceVisitor {
    type Value = ServiceSpec;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a service table with `name` and `type`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ServiceSpec, A::Error> {
        let common_keys = struct_fields::<Common>();
        let mut common = toml::Table::new();
        let mut settings = toml::Table::new();
        let mut type_name = None;
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Entry {
                key: &key,
                type_name: type_name.as_deref(),
                common_keys,
            })?;
            if key == "type" {
                type_name = Some(check_type(&value).map_err(de::Error::custom)?);
            } else if common_keys.contains(&key.as_str()) {
                common.insert(key, value);
            } else {
                settings.insert(key, value);
            }
        }
        if !common.contains_key("name") {
            return Err(de::Error::missing_field("name"));
        }
        let Some(type_name) = type_name else {
            return Err(de::Error::missing_field("type"));
        };
        if type_name == "heartbeat"
            && let Some(key) = NOT_FOR_HEARTBEATS
                .iter()
                .find(|key| common.contains_key(**key))
        {
            return Err(de::Error::custom(format!(
                "`{key}`: a heartbeat is not checked, it waits for the job to report; say when with `every` (and `grace`) or `schedule`, and remove `{key}`"
            )));
        }
        let interval_given = common.contains_key("interval");
        let mut common: Common = toml::Value::Table(common)
            .try_into()
            .map_err(|err| de::Error::custom(located(&err)))?;
        if common.critical && !interval_given {
            common.interval = Common::CRITICAL_INTERVAL;
        }
        if common.name.trim().is_empty() {
            return Err(de::Error::custom(
                "`name`: give the service a name people know it by",
            ));
        }
        if common.timeout.is_off() {
            return Err(de::Error::custom(
                "`timeout`: must be longer than 0s, e.g. \"10s\"",
            ));
        }
        let check = CheckSpec::from_settings(&type_name, settings)
            .map_err(|message| de::Error::custom(with_expected_keys(&message, common_keys)))?;
        Ok(ServiceSpec { common, check })
    }
}

/// The common keys about running a check, which a heartbeat has none of.
const NOT_FOR_HEARTBEATS: [&str; 5] = [
    "interval",
    "timeout",
    "slow_after",
    "retries",
    "confirm_after",
];

/// One key of a service table, checked while its value is read.
struct Entry<'a> {
    key: &'a str,
    /// The service's type, if its `type` key came before this one.
    type_name: Option<&'a str>,
    common_keys: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for Entry<'_> {
    type Value = toml::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<toml::Value, D::Error> {
        let value = toml::Value::deserialize(deserializer)?;
        self.check(&value).map_err(de::Error::custom)?;
        Ok(value)
    }
}

impl Entry<'_> {
    fn check(&self, value: &toml::Value) -> Result<(), String> {
        let key = self.key;
        if key == "type" {
            return check_type(value).map(drop);
        }
        let alone =
            || toml::Value::Table(toml::Table::from_iter([(key.to_owned(), value.clone())]));
        if self.common_keys.contains(&key) {
            return alone()
                .try_into::<Common>()
                .map(drop)
                .map_err(|err| err.message().to_owned());
        }
        let types = match self.type_name {
            Some(type_name) => vec![type_name],
            None => CheckSpec::TYPES.to_vec(),
        };
        let owners: Vec<&str> = types
            .iter()
            .copied()
            .filter(|type_name| CheckSpec::settings_keys(type_name).contains(&key))
            .collect();
        if owners.is_empty() {
            let mut allowed: Vec<&str> = Vec::new();
            for type_name in &types {
                for field in CheckSpec::settings_keys(type_name) {
                    if !allowed.contains(field) {
                        allowed.push(field);
                    }
                }
            }
            let message = unknown_field(key, &allowed);
            return Err(with_expected_keys(&message, self.common_keys));
        }
        // Alone, the key's struct misses its required keys; any other
        // complaint is about this key's value. Before `type` is known, the
        // value is wrong only if every type that has the key says so.
        let mut complaints = owners.iter().filter_map(|type_name| {
            match CheckSpec::deserialize_settings(type_name, alone()) {
                Some(Err(err)) if !err.message().starts_with("missing field") => {
                    Some(err.message().to_owned())
                }
                _ => None,
            }
        });
        let first = complaints.next();
        match first {
            Some(message) if complaints.count() + 1 == owners.len() => Err(message),
            _ => Ok(()),
        }
    }
}

/// serde's wording, which the config loader reads to suggest a key.
fn unknown_field(key: &str, expected: &[&str]) -> String {
    let list: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
    format!("unknown field `{key}`, expected one of {}", list.join(", "))
}

/// toml's message, prefixed with the key it is about when there is one.
fn located(err: &toml::de::Error) -> String {
    let message = err.message().trim();
    let text = err.to_string();
    let key = text
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("in `")?.strip_suffix('`'));
    match key {
        Some(key) if !message.starts_with("unknown field") => format!("`{key}`: {message}"),
        _ => message.to_owned(),
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" lists only the check
/// type's keys; the common keys are just as valid here.
fn with_expected_keys(message: &str, more: &[&str]) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_owned();
    };
    let Some((unknown, listed)) = rest.split_once('`') else {
        return message.to_owned();
    };
    let mut expected: Vec<&str> = listed.split('`').skip(1).step_by(2).collect();
    expected.extend(more.iter().copied().filter(|key| *key != "name"));
    expected.insert(0, "name");
    let list: Vec<String> = expected.iter().map(|key| format!("`{key}`")).collect();
    format!(
        "unknown field `{unknown}`, expected one of {}",
        list.join(", ")
    )
}

/// The field names serde's derive gave a struct, read by asking it to
/// deserialize from a deserializer that only records them.
fn struct_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    struct File {
        #[serde(default)]
        service: Vec<ServiceSpec>,
    }

    fn parse(text: &str) -> Result<Vec<ServiceSpec>, toml::de::Error> {
        toml::from_str::<File>(text).map(|file| file.service)
    }

    const SHOP: &str = r#"
[[service]]
name = "Shop"
type = "http"
url = "https://shop.example.com/"
slow_after = "2s"
critical = true
revenue_per_hour = 450.0
tags = ["web", "checkout"]
json = { "status" = "ok", "checks.db" = "up" }

[[service]]
name = "Payment gateway"
type = "http"
url = "https://api.payments.example/health"
external = true
depends_on = ["internet"]
interval = "1m"
timeout = "5s"
bearer_token = "env:PAYMENT_TOKEN"

[[service]]
name = "Mail"
type = "tcp"
host = "mail.example.com"
port = 25
expect_banner = "ESMTP"
retries = 0
confirm_after = 3
"#;

    #[test]
    fn a_critical_service_written_with_an_interval_keeps_it() {
        let services = parse(
            "[[service]]\nname = \"a\"\ntype = \"tcp\"\nhost = \"x\"\nport = 1\ncritical = true\ninterval = \"30s\"\n",
        )
        .unwrap();
        assert_eq!(services[0].common.interval, Duration::from_secs(30));
    }

    #[test]
    fn a_multi_service_file_parses_with_defaults_for_what_is_left_out() {
        let services = parse(SHOP).unwrap();
        assert_eq!(services.len(), 3);

        let shop = &services[0];
        assert_eq!(shop.common.name, "Shop");
        assert_eq!(
            shop.common.interval,
            Common::CRITICAL_INTERVAL,
            "a critical service is checked often unless told otherwise"
        );
        assert_eq!(shop.common.timeout, Duration::from_secs(10));
        assert_eq!(shop.common.slow_after, Some(Duration::from_secs(2)));
        assert!(shop.common.critical && !shop.common.external);
        assert_eq!(shop.common.cost_per_hour, Some(450.0));
        assert_eq!(shop.common.tags, ["web", "checkout"]);
        let CheckSpec::Http(http) = &shop.check else {
            panic!("{shop:?}")
        };
        assert_eq!(http.url, "https://shop.example.com/");
        assert_eq!(http.json.len(), 2);
        assert_eq!(shop.check.type_name(), "http");

        let gateway = &services[1];
        assert!(gateway.common.external);
        assert_eq!(gateway.common.depends_on, ["internet"]);
        assert_eq!(gateway.common.interval, Duration::from_mins(1));
        assert_eq!(services[2].common.interval, Duration::from_secs(30));
        let CheckSpec::Http(http) = &gateway.check else {
            panic!()
        };
        assert_eq!(
            http.bearer_token,
            Some(crate::secret::Secret::Env("PAYMENT_TOKEN".into()))
        );

        let mail = &services[2];
        assert_eq!((mail.common.retries, mail.common.confirm_after), (0, 3));
        let CheckSpec::Tcp(tcp) = &mail.check else {
            panic!()
        };
        assert_eq!((tcp.host.as_str(), tcp.port), ("mail.example.com", 25));
        assert_eq!(tcp.expect_banner.as_deref(), Some("ESMTP"));
        assert_eq!(mail.check.type_name(), "tcp");
    }

    /// The error for `text`: its message and the 1-based line it points at.
    fn problem(text: &str) -> (String, usize) {
        let err = parse(text).unwrap_err();
        let span = err.span().expect("a position");
        let line = text[..span.start].matches('\n').count() + 1;
        (err.message().to_owned(), line)
    }

    /// A file with a good service first, so positions must find the second.
    fn second(service: &str) -> String {
        format!(
            "[agent]\n\n[[service]]\nname = \"Web\"\ntype = \"http\"\nurl = \"http://x/\"\n\n[[service]]\n{service}"
        )
    }

    #[test]
    fn a_typo_in_a_check_key_lists_every_valid_key_and_points_at_its_line() {
        let (message, line) = problem(&second(
            "name = \"Shop\"\ntype = \"http\"\nurll = \"http://x/\"\n",
        ));
        assert!(
            message.starts_with("unknown field `urll`, expected one of `name`, `url`"),
            "{message}"
        );
        assert!(
            message.contains("`interval`") && message.contains("`body_contains`"),
            "{message}"
        );
        assert!(!message.contains("`port`"), "only http keys: {message}");
        assert_eq!(line, 11);
    }

    #[test]
    fn a_typo_in_a_common_key_points_at_its_line() {
        let (message, line) = problem(&second(
            "name = \"Mail\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\nintervall = \"5s\"\n",
        ));
        assert!(
            message.starts_with("unknown field `intervall`"),
            "{message}"
        );
        assert!(
            message.contains("`interval`") && message.contains("`host`"),
            "{message}"
        );
        assert_eq!(line, 13);
    }

    #[test]
    fn a_key_before_type_is_checked_against_every_type() {
        let (message, line) = problem(&second("name = \"Mail\"\nhots = \"h\"\ntype = \"tcp\"\n"));
        assert!(message.starts_with("unknown field `hots`"), "{message}");
        assert!(
            message.contains("`host`") && message.contains("`url`"),
            "{message}"
        );
        assert_eq!(line, 10);

        // Valid for some type, just not this one: known only at the end.
        let (message, line) = problem(&second(
            "name = \"Mail\"\nurl = \"http://x/\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\n",
        ));
        assert!(
            message.starts_with("unknown field `url`, expected one of `name`, `host`"),
            "{message}"
        );
        assert!(line >= 8, "in the second table");
    }

    #[test]
    fn a_bad_value_points_at_its_line() {
        let (message, line) = problem(&second(
            "name = \"Mail\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\ninterval = 5\n",
        ));
        assert!(message.contains("expected a duration"), "{message}");
        assert_eq!(line, 13);
        let (message, line) = problem(&second(
            "name = \"Mail\"\ntype = \"tcp\"\nhost = \"h\"\nport = 99999\n",
        ));
        assert!(message.contains("99999"), "{message}");
        assert_eq!(line, 12, "{message}");
        let (message, line) = problem(&second(
            "name = \"Shop\"\ntype = \"http\"\nurl = \"http://x/\"\nexpect_status = 999\n",
        ));
        assert!(message.contains("an HTTP status such as 200"), "{message}");
        assert_eq!(line, 12);
        let (message, line) = problem(&second("name = \"Shop\"\ntype = \"htp\"\n"));
        assert!(
            message.contains("unknown variant `htp`, expected `http` or `tcp`"),
            "{message}"
        );
        assert_eq!(line, 10);
    }

    #[test]
    fn a_value_is_checked_before_type_is_known_when_its_key_belongs_to_one_type() {
        // toml hands keys over in sorted order, so `port` comes before `type`.
        let (message, line) =
            problem("[[service]]\nname = \"Mail\"\ntype = \"tcp\"\nhost = \"h\"\nport = 99999\n");
        assert!(
            message.starts_with("invalid value: integer `99999`"),
            "{message}"
        );
        assert_eq!(line, 5);
    }

    #[test]
    fn settings_are_checked_again_against_the_type_at_the_end() {
        let table: toml::Table = toml::from_str("port = 99999\nhost = \"h\"").unwrap();
        let err = CheckSpec::from_settings("tcp", table).unwrap_err();
        assert!(err.starts_with("`port`: invalid value"), "{err}");
    }

    #[test]
    fn a_service_needs_a_name_and_a_timeout() {
        let err = parse("[[service]]\nname = \" \"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\n")
            .unwrap_err();
        assert!(
            err.message().starts_with("`name`: give the service a name"),
            "{}",
            err.message()
        );
        let err = parse("[[service]]\nname = \"Mail\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\ntimeout = \"off\"\n").unwrap_err();
        assert!(
            err.message()
                .starts_with("`timeout`: must be longer than 0s"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn a_heartbeat_takes_its_timing_and_refuses_the_keys_of_checks() {
        let services = parse(
            "[[service]]\nname = \"Nightly backup\"\ntype = \"heartbeat\"\nschedule = \"0 2 * * *\"\ngrace = \"2h\"\ncritical = true\n",
        )
        .unwrap();
        let CheckSpec::Heartbeat(heartbeat) = &services[0].check else {
            panic!("{services:?}")
        };
        assert_eq!(heartbeat.grace, Duration::from_hours(2));
        assert_eq!(services[0].check.type_name(), "heartbeat");
        let (message, line) = problem(&second(
            "name = \"Backup\"\ntype = \"heartbeat\"\nevery = \"1d\"\ninterval = \"1m\"\n",
        ));
        assert!(
            message.starts_with("`interval`: a heartbeat is not checked"),
            "{message}"
        );
        assert!(line >= 8, "in the second table");
        let (message, line) = problem(&second(
            "name = \"Backup\"\ntype = \"heartbeat\"\nschedule = \"0 2 * *\"\n",
        ));
        assert!(message.contains("has 4 fields"), "{message}");
        assert_eq!(line, 11);
    }

    #[test]
    fn a_check_spec_alone_reads_its_type_from_the_table() {
        let check: CheckSpec = toml::from_str("type = \"tcp\"\nhost = \"h\"\nport = 7\n").unwrap();
        assert_eq!(check.type_name(), "tcp");
        let err = toml::from_str::<CheckSpec>("host = \"h\"\n").unwrap_err();
        assert!(
            err.message().contains("missing field `type`"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn an_unknown_or_missing_type_or_name_says_so() {
        let err = parse("[[service]]\nname = \"Shop\"\ntype = \"htp\"\n").unwrap_err();
        assert!(
            err.message()
                .contains("unknown variant `htp`, expected `http` or `tcp`"),
            "{}",
            err.message()
        );
        let err = parse("[[service]]\nname = \"Shop\"\nurl = \"http://x/\"\n").unwrap_err();
        assert!(
            err.message().contains("missing field `type`"),
            "{}",
            err.message()
        );
        let err = parse("[[service]]\ntype = \"http\"\nurl = \"http://x/\"\n").unwrap_err();
        assert!(
            err.message().contains("missing field `name`"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn every_type_name_has_its_settings_keys() {
        for name in CheckSpec::TYPES {
            assert!(CheckSpec::settings_keys(name).len() >= 2, "{name}");
        }
        assert!(CheckSpec::settings_keys("nope").is_empty());
    }

    #[test]
    fn every_type_name_parses_to_its_variant() {
        for name in CheckSpec::TYPES {
            let text = format!(
                "[[service]]\nname = \"x\"\ntype = \"{name}\"\nurl = \"http://x/\"\nhost = \"x\"\nport = 1\n"
            );
            // Each type rejects the other's keys, which proves the dispatch reached it.
            let err = parse(&text).unwrap_err();
            assert!(
                err.message().starts_with("unknown field"),
                "{name}: {}",
                err.message()
            );
        }
        let err = parse("[[service]]\nname = \"x\"\ntype = 3\n").unwrap_err();
        assert!(
            err.message().contains("expected a check type in quotes"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn common_fields_are_read_from_the_derive() {
        let fields = struct_fields::<Common>();
        assert!(fields.contains(&"name") && fields.contains(&"depends_on"));
        // 13 keys and the older name of `cost_per_hour`.
        assert_eq!(fields.len(), 14);
    }

    #[test]
    fn check_types_do_not_reuse_common_key_names() {
        let common = struct_fields::<Common>();
        for fields in CheckSpec::TYPES.iter().map(|t| CheckSpec::settings_keys(t)) {
            assert!(fields.len() > 1);
            for field in fields {
                assert!(!common.contains(field), "`{field}` is a common key");
            }
        }
    }

    #[test]
    fn inline_secrets_never_show_in_debug_or_serialized_specs() {
        let services = parse(
            "[[service]]\nname = \"Admin\"\ntype = \"http\"\nurl = \"https://x/\"\nbearer_token = \"tok-SECRET-1\"\nbasic_auth = { username = \"admin\", password = \"pw-SECRET-2\" }\nheaders = { \"X-Api-Key\" = \"key-SECRET-3\" }\n",
        )
        .unwrap();
        let debug = format!("{services:?}");
        let serialized = toml::to_string(&File { service: services }).unwrap();
        for shown in [debug, serialized] {
            assert!(!shown.contains("SECRET"), "{shown}");
            assert!(shown.contains("admin"), "{shown}");
        }
    }

    #[test]
    fn a_spec_serializes_flat_and_parses_back_the_same() {
        let services = parse(SHOP).unwrap();
        let text = toml::to_string(&File {
            service: services.clone(),
        })
        .unwrap();
        assert!(text.contains("type = \"http\""), "{text}");
        // The bearer token is a reference, so it survives; inline secrets would not.
        assert_eq!(parse(&text).unwrap(), services);
    }
}
