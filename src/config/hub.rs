//! The `[hub]` section: on a computer that reports to a hub, where the hub
//! is and this computer's agent token; on the hub, how long an agent may be
//! silent. It lives here rather than with the agent's sender because the
//! agent sits above `config` in the layers.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ApiConfig;
use crate::secret::Secret;
use crate::units::{ByteSize, Duration};

/// The `[hub]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubConfig {
    /// The hub's address, e.g. `https://hub.example.lan:8970`; empty: this
    /// computer reports to no hub.
    pub url: String,
    /// This computer's agent token, from `keepwatch agent add NAME` on the
    /// hub (inline, `env:NAME` or `file:/path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// The authority that signed the hub's certificate (PEM), when it is
    /// not one this computer trusts already (a self-signed certificate).
    pub ca_file: PathBuf,
    /// How often new measurements are sent.
    pub send_every: Duration,
    /// Most bytes per second sent while catching up after an outage.
    pub max_rate: ByteSize,
    /// On the hub: an agent not heard from for this long is alerted on.
    pub silent_after: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            token: None,
            ca_file: PathBuf::new(),
            send_every: Duration::from_secs(10),
            max_rate: ByteSize(1_000_000),
            silent_after: Duration::from_mins(5),
        }
    }
}

impl HubConfig {
    /// Whether this computer reports to a hub.
    pub fn is_set(&self) -> bool {
        !self.url.trim().is_empty()
    }

    /// Every mistake in the section: the key, what is wrong and how to fix it.
    pub fn problems(&self) -> Vec<(&'static str, String, String)> {
        let mut found = Vec::new();
        if self.is_set() {
            let url = self.url.trim();
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            match rest {
                None => found.push((
                    "url",
                    format!("\"{url}\" is not a web address"),
                    "write the hub's address as `keepwatch agent add` printed it, e.g. \"https://hub.example.lan:8970\"".to_owned(),
                )),
                Some(rest) if rest.trim_end_matches('/').is_empty() || rest.contains(char::is_whitespace) => found.push((
                    "url",
                    format!("\"{url}\" names no computer"),
                    "write the hub's name or address and port, e.g. \"https://hub.example.lan:8970\"".to_owned(),
                )),
                Some(_) => {}
            }
            match &self.token {
                None => found.push((
                    "token",
                    "is missing: the hub only takes data with this computer's agent token".to_owned(),
                    "on the hub, `keepwatch agent add NAME` makes one; then `keepwatch init --hub URL --token TOKEN` here, or token = \"...\"".to_owned(),
                )),
                Some(Secret::Inline(token)) if !token.starts_with(AGENT_TOKEN_PREFIX) => {
                    let what = if token.starts_with("kw_") {
                        "is an API token (for tools that read), not an agent token"
                    } else {
                        "is not a keepwatch agent token (they start with kw_agent_)"
                    };
                    found.push((
                        "token",
                        what.to_owned(),
                        "on the hub, `keepwatch agent add NAME` makes an agent token".to_owned(),
                    ));
                }
                Some(_) => {}
            }
        }
        if self.send_every < Duration::from_secs(1) {
            found.push((
                "send_every",
                format!("{} is too short", self.send_every),
                "write e.g. \"10s\"; at least \"1s\"".to_owned(),
            ));
        }
        if self.max_rate.0 < 10_000 {
            found.push((
                "max_rate",
                format!(
                    "{} per second would take days to send a day's backlog",
                    self.max_rate
                ),
                "write e.g. \"1MB\"; at least \"10KB\"".to_owned(),
            ));
        }
        if !self.silent_after.is_off() && self.silent_after < Duration::from_secs(30) {
            found.push((
                "silent_after",
                format!("{} is shorter than a network hiccup", self.silent_after),
                "write e.g. \"5m\" (at least \"30s\"), or \"off\"".to_owned(),
            ));
        }
        found
    }
}

/// How an agent token starts (`keepwatch agent add`).
pub const AGENT_TOKEN_PREFIX: &str = "kw_agent_";

/// The address other servers reach this hub at, as `keepwatch agent add`
/// prints it: HTTPS when `[api]` has a certificate, this computer's name
/// `machine`, the API's port; and what stands in the way, in words.
pub fn hub_url(api: &ApiConfig, machine: &str) -> (String, Vec<String>) {
    let mut warnings = Vec::new();
    let listen: Option<std::net::SocketAddr> = api.listen.parse().ok();
    let port = listen.map_or(8970, |addr| addr.port());
    let https = !api.cert_file.as_os_str().is_empty();
    if !api.enabled {
        warnings.push(
            "the API is switched off, and agents send through it: set `enabled = true` in [api] and restart keepwatch".to_owned(),
        );
    }
    if listen.is_some_and(|addr| addr.ip().is_loopback()) {
        warnings.push(format!(
            "the API answers only on this computer ([api] listen = \"{}\"): set listen = \"0.0.0.0:{port}\" so other servers reach it, and restart keepwatch",
            api.listen
        ));
    }
    if !https {
        warnings.push(
            "the API has no certificate, so the token and the data cross the network unencrypted: give [api] a cert_file and key_file (README: \"Watching several servers\") and use https:// in the command above".to_owned(),
        );
    }
    let scheme = if https { "https" } else { "http" };
    (format!("{scheme}://{machine}:{port}"), warnings)
}
