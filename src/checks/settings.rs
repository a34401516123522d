//! Mistakes in a service's settings that can be seen without the network.
//!
//! A typo in a URL or a host must be refused when the file is loaded, with the
//! line and a fix: let through, it becomes "Web shop is DOWN" at run time — for
//! a critical service an emergency message at night — and the file would even
//! be kept as the last good copy.

use super::spec::{CheckSpec, ServiceSpec};
use super::wording::quote;
use crate::units::Duration;

/// One mistake in a service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingProblem {
    /// The key that holds the mistake, as written in the file.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when that can be told.
    pub hint: Option<String>,
}

/// The shortest time between two runs of a check: shorter would make
/// keepwatch a load on the service it watches.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

impl ServiceSpec {
    /// Every mistake in these settings that shows without the network.
    pub fn problems(&self) -> Vec<SettingProblem> {
        let mut found = Vec::new();
        let mut report = |key, message: String, hint: Option<&str>| {
            found.push(SettingProblem {
                key,
                message,
                hint: hint.map(str::to_owned),
            });
        };
        if self.common.interval < MIN_INTERVAL {
            report(
                "interval",
                format!(
                    "{} is too short: a check runs at most once a second",
                    self.common.interval
                ),
                Some("write e.g. \"30s\"; at least \"1s\""),
            );
        }
        let host_and_port = |host: &str, port: u16| (host.to_owned(), Some(port));
        let (host, port) = match &self.check {
            CheckSpec::Http(http) => {
                if let Err((message, hint)) = parse_url(&http.url) {
                    found.push(SettingProblem {
                        key: "url",
                        message,
                        hint,
                    });
                }
                return found;
            }
            CheckSpec::Dns(_) => return found,
            CheckSpec::Heartbeat(heartbeat) => {
                found.extend(heartbeat.problems());
                return found;
            }
            CheckSpec::Tcp(tcp) => host_and_port(&tcp.host, tcp.port),
            CheckSpec::Ping(ping) => (ping.host.clone(), ping.fallback_port),
            CheckSpec::Postgres(db) => host_and_port(&db.host, db.port),
            CheckSpec::Mysql(db) => host_and_port(&db.host, db.port),
            CheckSpec::Redis(db) => host_and_port(&db.host, db.port),
        };
        if let Some((message, hint)) = host_problem("host", &host) {
            found.push(SettingProblem {
                key: "host",
                message,
                hint,
            });
        }
        if port == Some(0) {
            let key = match self.check {
                CheckSpec::Ping(_) => "fallback_port",
                _ => "port",
            };
            found.push(SettingProblem {
                key,
                message: "0 is not a port".to_owned(),
                hint: Some("write the port the service listens on, 1 to 65535".to_owned()),
            });
        }
        found
    }
}

/// A web address a check can use: `http` or `https`, with a host. The error
/// says what is wrong and, where a likely fix exists, that fix.
pub(crate) fn parse_url(text: &str) -> Result<reqwest::Url, (String, Option<String>)> {
    let shown = quote(text);
    if text.trim().is_empty() {
        return Err((
            "the URL is empty".to_owned(),
            Some("write the full address, e.g. \"https://shop.example.com/\"".to_owned()),
        ));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err((
            format!("the URL {shown} contains a space or an invisible character"),
            Some("a web address has no spaces; write %20 for one inside a path".to_owned()),
        ));
    }
    let parsed = match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            return Ok(url);
        }
        other => other,
    };
    if let Some(fixed) = with_scheme(text) {
        return Err((
            format!("the URL {shown} must start with http:// or https://"),
            Some(format!("did you mean \"{fixed}\"?")),
        ));
    }
    let why = match parsed {
        Ok(_) => "it must start with http:// or https:// and name a host".to_owned(),
        Err(err) => format!("{err}"),
    };
    Err((
        format!("the URL {shown} is not a web address ({why})"),
        Some("write it like \"https://shop.example.com/\"".to_owned()),
    ))
}

/// `text` with `http://` in front, if that makes it a web address with a
/// host: the likely fix for `"127.0.0.1:8080/"` or `"shop.example.com"`.
fn with_scheme(text: &str) -> Option<String> {
    if text.contains("://") {
        return None;
    }
    let fixed = format!("http://{text}");
    let url = reqwest::Url::parse(&fixed).ok()?;
    let host = url.host_str()?;
    (host.contains('.') || host == "localhost" || host.starts_with('[')).then_some(fixed)
}

/// What is wrong with a host name or address written under `key`, if
/// anything.
pub(crate) fn host_problem(key: &str, host: &str) -> Option<(String, Option<String>)> {
    let example = "write a name like \"db.example.com\" or an address like \"192.0.2.10\"";
    if host.trim().is_empty() {
        return Some(("the host is empty".to_owned(), Some(example.to_owned())));
    }
    if host.contains("://") {
        return Some((
            format!("{} is a web address, not a host", quote(host)),
            Some("write only the name, without http:// and without a path".to_owned()),
        ));
    }
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return None;
    }
    if let Some((name, port)) = host.rsplit_once(':')
        && port.parse::<u16>().is_ok()
    {
        return Some((
            format!("{} has a port in it", quote(host)),
            Some(format!(
                "write {key} = \"{name}\" and the port as its own line: port = {port}"
            )),
        ));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == ':')
    {
        return Some((
            format!(
                "{} is not a host name: it has a space, a slash or a colon in it",
                quote(host)
            ),
            Some(example.to_owned()),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(toml: &str) -> Vec<(&'static str, String, Option<String>)> {
        let spec: ServiceSpec = toml::from_str(toml).expect("parses");
        spec.problems()
            .into_iter()
            .map(|p| (p.key, p.message, p.hint))
            .collect()
    }

    #[test]
    fn a_url_without_a_scheme_gets_the_fix_suggested() {
        let found = problems("name = \"Web shop\"\ntype = \"http\"\nurl = \"127.0.0.1:8080/\"\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "url");
        assert_eq!(
            found[0].2.as_deref(),
            Some("did you mean \"http://127.0.0.1:8080/\"?")
        );
        let found = problems("name = \"Shop\"\ntype = \"http\"\nurl = \"shop.example.com\"\n");
        assert_eq!(
            found[0].2.as_deref(),
            Some("did you mean \"http://shop.example.com\"?")
        );
    }

    #[test]
    fn urls_that_are_no_web_address_are_refused() {
        for url in [
            "not a url",
            "",
            "http://shop.example.com/a b",
            "ftp://files.example.com/",
            "http://",
            "mailto:a@b.c",
        ] {
            let found = problems(&format!("name = \"S\"\ntype = \"http\"\nurl = \"{url}\"\n"));
            assert_eq!(found.len(), 1, "{url}: {found:?}");
            assert_eq!(found[0].0, "url", "{url}");
            assert!(found[0].2.is_some(), "{url}: no hint");
        }
        assert!(
            problems("name = \"S\"\ntype = \"http\"\nurl = \"https://[::1]:8443/x?y=1\"\n")
                .is_empty()
        );
    }

    #[test]
    fn hosts_and_ports_are_checked_for_every_type_with_one() {
        let found = problems("name = \"M\"\ntype = \"tcp\"\nhost = \"\"\nport = 0\n");
        let keys: Vec<_> = found.iter().map(|p| p.0).collect();
        assert_eq!(keys, ["host", "port"], "{found:?}");
        let found =
            problems("name = \"D\"\ntype = \"postgres\"\nhost = \"db.local:5433\"\nuser = \"u\"\n");
        assert_eq!(
            found[0].2.as_deref(),
            Some("write host = \"db.local\" and the port as its own line: port = 5433")
        );
        let found = problems("name = \"P\"\ntype = \"ping\"\nhost = \"http://router/\"\n");
        assert_eq!(found[0].0, "host");
        let found = problems("name = \"R\"\ntype = \"redis\"\nhost = \"cache one\"\n");
        assert_eq!(found[0].0, "host");
        assert!(problems("name = \"R\"\ntype = \"redis\"\nhost = \"::1\"\n").is_empty());
        assert!(
            problems("name = \"T\"\ntype = \"tcp\"\nhost = \"mail.example.com\"\nport = 25\n")
                .is_empty()
        );
    }

    #[test]
    fn an_interval_under_a_second_is_refused() {
        for interval in ["0s", "500ms", "off"] {
            let found = problems(&format!(
                "name = \"T\"\ntype = \"tcp\"\nhost = \"a.example\"\nport = 1\ninterval = \"{interval}\"\n"
            ));
            assert_eq!(found.len(), 1, "{interval}: {found:?}");
            assert_eq!(found[0].0, "interval");
        }
    }
}
