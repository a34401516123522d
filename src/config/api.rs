//! The `[api]` section. It lives here rather than in `api/` because the API
//! sits above `config` in the layers, like the agent's own section.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::units::ByteSize;

/// The `[api]` section: where the API listens and how much it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Serve the API while `keepwatch run` runs.
    pub enabled: bool,
    /// Address and port; the default answers only on this computer.
    pub listen: String,
    /// Largest request body accepted.
    pub max_body: ByteSize,
    /// Requests served at the same time; more get "429 Too Many Requests".
    pub max_concurrent: usize,
    /// Requests per minute allowed for each token.
    pub rate_per_minute: u32,
    /// Addresses and networks that may read `/metrics` without a token: a
    /// Prometheus server is often configured once by someone who should not
    /// need a keepwatch token, from a machine whose address is known.
    pub metrics_allow: Vec<Network>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:8970".to_owned(),
            max_body: ByteSize(64 * 1024),
            max_concurrent: 8,
            rate_per_minute: 600,
            metrics_allow: Vec::new(),
        }
    }
}

/// One address (`"127.0.0.1"`, `"::1"`) or network (`"10.0.0.0/8"`), as
/// `metrics_allow` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(ipnet::IpNet);

impl Network {
    /// Whether `addr` is this address or inside this network. An IPv4
    /// address seen through an IPv6 socket (`::ffff:10.1.2.3`) counts as the
    /// IPv4 address it is.
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.contains(&addr.to_canonical())
    }
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let parsed = match text.parse::<IpAddr>() {
            Ok(addr) => Ok(ipnet::IpNet::from(addr)),
            Err(_) => text.parse::<ipnet::IpNet>(),
        };
        parsed.map(Network).map_err(|_| {
            format!(
                "`{text}` is not an address or a network; write one like \"127.0.0.1\", \"::1\" or \"10.0.0.0/8\""
            )
        })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.prefix_len() == self.0.max_prefix_len() {
            true => write!(f, "{}", self.0.addr()),
            false => write!(f, "{}", self.0),
        }
    }
}

crate::units::string_serde!(
    Network,
    "an address or network in quotes, e.g. \"127.0.0.1\" or \"10.0.0.0/8\""
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_networks_read_print_and_contain() {
        let net: Network = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.1.2".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert_eq!(net.to_string(), "10.0.0.0/8");
        let one: Network = " ::1 ".parse().unwrap();
        assert_eq!(one.to_string(), "::1");
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("127.0.0.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "localhost", ""] {
            let err = bad.parse::<Network>().unwrap_err();
            assert!(err.contains("10.0.0.0/8"), "{err}");
        }
    }

    #[test]
    fn a_bad_allowed_address_is_reported_on_its_line() {
        let text = "[api]\nmetrics_allow = [\"127.0.0.1\", \"10.0.0.0/33\"]\n";
        let err = super::super::load::parse(std::path::Path::new("k.toml"), text).unwrap_err();
        let problem = &err.problems[0];
        assert_eq!(problem.line, Some(2), "{err}");
        assert!(problem.field.starts_with("api.metrics_allow"), "{err}");
        assert!(
            err.to_string().contains("`10.0.0.0/33` is not an address"),
            "{err}"
        );
        let good = "[api]\nmetrics_allow = [\"127.0.0.1\", \"10.0.0.0/8\"]\n";
        let config = super::super::load::parse(std::path::Path::new("k.toml"), good).unwrap();
        assert_eq!(config.api.metrics_allow.len(), 2);
    }
}
