//! The `[export]` section: where keepwatch pushes its history for a bigger
//! system (Prometheus remote write). It lives here rather than in `export/`
//! because `export` sits above `config` in the layers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::notify::http;
use crate::secret::Secret;

/// Headers keepwatch sets on a remote write request itself: the receiver
/// reads the body by them, so `headers` may not change them.
pub const REMOTE_WRITE_HEADERS: &[&str] = &[
    "Content-Type",
    "Content-Encoding",
    "Content-Length",
    "Host",
    "User-Agent",
    "X-Prometheus-Remote-Write-Version",
];

/// The `[export]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ExportConfig {
    /// The address of a Prometheus remote write receiver (Prometheus itself,
    /// Grafana Cloud, Mimir, VictoriaMetrics...); empty: nothing is pushed.
    pub remote_write: String,
    /// User name for the receiver's basic authentication; empty: none.
    pub user: String,
    /// Password (or API key) for `user`: inline, `env:NAME` or `file:/path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Extra request headers, e.g. `{ "X-Scope-OrgID" = "shop" }` or
    /// `{ Authorization = "env:REMOTE_WRITE_AUTH" }`; values may be secret
    /// references and are never shown.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
}

impl ExportConfig {
    /// Whether history is pushed anywhere.
    pub fn enabled(&self) -> bool {
        !self.remote_write.trim().is_empty()
    }

    /// What is wrong with these settings: the key at fault and a sentence
    /// naming the fix; empty when they can be used.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if !self.enabled() {
            return problems;
        }
        if let Err(problem) = http::parse_url("remote_write", &self.remote_write) {
            let text = self.remote_write.trim();
            let mut problem = problem.replace(
                "https://example.com/hook",
                "http://prometheus.example:9090/api/v1/write",
            );
            if !text.contains("://") {
                problem.push_str(&format!(" (did you mean \"http://{text}\"?)"));
            }
            problems.push(("remote_write", problem));
        }
        match (self.user.trim().is_empty(), &self.password) {
            (true, Some(_)) => problems.push((
                "password",
                "password is set without a user: add `user = \"...\"` (the receiver's user name), or remove password".to_owned(),
            )),
            (false, None) => problems.push((
                "user",
                "user is set without a password: add `password = \"env:REMOTE_WRITE_PASSWORD\"` (or the password itself), or remove user".to_owned(),
            )),
            _ => {}
        }
        let mut reserved = REMOTE_WRITE_HEADERS.to_vec();
        if !self.user.trim().is_empty() {
            reserved.push("Authorization");
        }
        for problem in http::header_problems(&self.headers, &reserved) {
            problems.push(("headers", problem));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ExportConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn off_by_default_and_a_good_setting_has_no_problems() {
        assert!(!ExportConfig::default().enabled());
        assert!(ExportConfig::default().problems().is_empty());
        let config = parse(
            "remote_write = \"https://prometheus.example/api/v1/write\"\nuser = \"123\"\npassword = \"env:RW\"\nheaders = { \"X-Scope-OrgID\" = \"shop\" }\n",
        );
        assert!(config.enabled());
        assert_eq!(config.problems(), Vec::new());
    }

    #[test]
    fn each_problem_names_its_key_and_the_fix() {
        let problems = parse("remote_write = \"prometheus:9090/api/v1/write\"\n").problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "remote_write");
        assert!(problems[0].1.contains("https://"), "{problems:?}");
        let problems = parse("remote_write = \"10.0.0.5:9090/api/v1/write\"\n").problems();
        assert!(
            problems[0].1.ends_with(
                "e.g. \"http://prometheus.example:9090/api/v1/write\" (did you mean \"http://10.0.0.5:9090/api/v1/write\"?)"
            ),
            "{problems:?}"
        );

        let problems =
            parse("remote_write = \"http://127.0.0.1:9090/api/v1/write\"\nuser = \"me\"\n")
                .problems();
        assert_eq!(problems[0].0, "user");
        assert!(problems[0].1.contains("password"), "{problems:?}");

        let problems =
            parse("remote_write = \"http://127.0.0.1:9090/api/v1/write\"\npassword = \"x\"\n")
                .problems();
        assert_eq!(problems[0].0, "password");

        let problems = parse(
            "remote_write = \"http://127.0.0.1:9090/api/v1/write\"\nuser = \"me\"\npassword = \"x\"\nheaders = { Authorization = \"Bearer x\", \"Content-Encoding\" = \"gzip\" }\n",
        )
        .problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| p.0 == "headers"));
        assert!(problems[0].1.contains("Authorization"), "{problems:?}");
        assert!(problems[1].1.contains("Content-Encoding"), "{problems:?}");
    }

    #[test]
    fn the_password_never_shows() {
        let config = parse(
            "remote_write = \"https://x.example/push\"\nuser = \"me\"\npassword = \"hunter2\"\n",
        );
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(!toml::to_string(&config).unwrap().contains("hunter2"));
    }
}
