//! One `[[service]]` table of `keepwatch.toml`: the settings every check has,
//! and `type = "..."` choosing the check and its own settings.
//!
//! The file is flat (`name`, `interval` and `url` side by side), but the types
//! are not: [`Common`] holds what every service has and [`CheckSpec`] what its
//! check type adds. serde cannot deny unknown keys through `#[serde(flatten)]`,
//! so [`ServiceSpec`] deserializes by hand: it takes the keys [`Common`]
//! declares, hands the rest (with `type`) to [`CheckSpec`], whose variants deny
//! unknown keys, and adds the common keys to the list of expected keys in the
//! error, so a typo gets a "did you mean" for either kind of key.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::config::Duration;

use super::http::HttpSpec;
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
/// spec struct and a `run` function, plus a variant here with its arms in
/// [`CheckSpec::TYPES`], [`CheckSpec::type_name`], `CheckSpec::from_table`
/// and [`super::Checker::run`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CheckSpec {
    /// An HTTP or HTTPS request (boxed: it has many more settings than the others).
    Http(Box<HttpSpec>),
    /// A TCP connection, optionally reading the greeting.
    Tcp(TcpSpec),
}

impl CheckSpec {
    /// Every `type` name, as written in the config.
    pub const TYPES: &[&str] = &["http", "tcp"];

    /// The `type` name as written in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Http(_) => "http",
            Self::Tcp(_) => "tcp",
        }
    }

    /// The check a table describes: `type` picks the variant, whose struct
    /// gets the other keys. The struct is deserialized straight from toml's
    /// value (not through serde's buffering of tagged enums), so an error
    /// names the key it is about.
    fn from_table(mut table: toml::Table) -> Result<Self, String> {
        let type_name = match table.remove("type") {
            Some(toml::Value::String(name)) => name,
            Some(other) => {
                return Err(format!(
                    "`type`: expected a check type in quotes, such as \"http\", found {other}"
                ));
            }
            None => return Err("missing field `type`".to_owned()),
        };
        let settings = toml::Value::Table(table);
        let check = match type_name.as_str() {
            "http" => settings.try_into().map(|http| Self::Http(Box::new(http))),
            "tcp" => settings.try_into().map(Self::Tcp),
            other => {
                let known: Vec<String> = Self::TYPES.iter().map(|t| format!("`{t}`")).collect();
                return Err(format!(
                    "unknown variant `{other}`, expected {}",
                    known.join(" or ")
                ));
            }
        };
        check.map_err(|err| located(&err))
    }
}

impl<'de> Deserialize<'de> for CheckSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_table(toml::Table::deserialize(deserializer)?).map_err(de::Error::custom)
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
    /// What an hour of downtime costs, for the reports.
    pub revenue_per_hour: Option<f64>,
    /// Free labels for grouping in reports and alerts.
    pub tags: Vec<String>,
    /// Names of services (or `"internet"`) this one cannot work without;
    /// when those are down, this one's alert is folded into theirs.
    pub depends_on: Vec<String>,
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
            revenue_per_hour: None,
            tags: Vec::new(),
            depends_on: Vec::new(),
        }
    }
}

impl<'de> Deserialize<'de> for ServiceSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut rest = toml::Table::deserialize(deserializer)?;
        let common_keys = struct_fields::<Common>();
        let mut common = toml::Table::new();
        for key in common_keys {
            if let Some(value) = rest.remove(*key) {
                common.insert((*key).to_owned(), value);
            }
        }
        if !common.contains_key("name") {
            return Err(de::Error::missing_field("name"));
        }
        let common: Common = toml::Value::Table(common)
            .try_into()
            .map_err(|err| de::Error::custom(located(&err)))?;
        let check = CheckSpec::from_table(rest)
            .map_err(|message| de::Error::custom(with_expected_keys(&message, common_keys)))?;
        Ok(Self { common, check })
    }
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
    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Probe<'_> {
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

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
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
    fn a_multi_service_file_parses_with_defaults_for_what_is_left_out() {
        let services = parse(SHOP).unwrap();
        assert_eq!(services.len(), 3);

        let shop = &services[0];
        assert_eq!(shop.common.name, "Shop");
        assert_eq!(shop.common.interval, Duration::from_secs(30));
        assert_eq!(shop.common.timeout, Duration::from_secs(10));
        assert_eq!(shop.common.slow_after, Some(Duration::from_secs(2)));
        assert!(shop.common.critical && !shop.common.external);
        assert_eq!(shop.common.revenue_per_hour, Some(450.0));
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
        let CheckSpec::Http(http) = &gateway.check else {
            panic!()
        };
        assert_eq!(
            http.bearer_token,
            Some(super::super::Secret::Env("PAYMENT_TOKEN".into()))
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

    #[test]
    fn a_typo_in_a_check_key_lists_every_valid_key() {
        let err = parse("[[service]]\nname = \"Shop\"\ntype = \"http\"\nurll = \"http://x/\"\n")
            .unwrap_err();
        let message = err.message();
        assert!(
            message.starts_with("unknown field `urll`, expected one of `name`, `url`"),
            "{message}"
        );
        assert!(
            message.contains("`interval`") && message.contains("`body_contains`"),
            "{message}"
        );
        assert!(err.span().is_some());
    }

    #[test]
    fn a_typo_in_a_common_key_is_caught_too() {
        let err = parse("[[service]]\nname = \"Shop\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\nintervall = \"5s\"\n")
            .unwrap_err();
        assert!(
            err.message().starts_with("unknown field `intervall`"),
            "{}",
            err.message()
        );
        assert!(err.message().contains("`interval`"), "{}", err.message());
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = parse(
            "[[service]]\nname = \"Shop\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\ninterval = 5\n",
        )
        .unwrap_err();
        assert!(
            err.message().starts_with("`interval`: "),
            "{}",
            err.message()
        );
        let err =
            parse("[[service]]\nname = \"Shop\"\ntype = \"tcp\"\nhost = \"h\"\nport = 99999\n")
                .unwrap_err();
        assert!(err.message().starts_with("`port`: "), "{}", err.message());
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
        assert_eq!(fields.len(), 11);
    }

    #[test]
    fn check_types_do_not_reuse_common_key_names() {
        let common = struct_fields::<Common>();
        for fields in [struct_fields::<HttpSpec>(), struct_fields::<TcpSpec>()] {
            assert!(fields.len() > 1);
            for field in fields {
                assert!(!common.contains(field), "`{field}` is a common key");
            }
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
