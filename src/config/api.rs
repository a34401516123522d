//! The `[api]` section. It lives here rather than in `api/` because the API
//! sits above `config` in the layers, like the agent's own section.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::tls::{ServerFile, server_config};
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
    /// The API's certificate chain (PEM) for HTTPS; empty: plain HTTP, which
    /// is fine on this computer but sends tokens readably over a network.
    pub cert_file: PathBuf,
    /// The private key of `cert_file` (PEM).
    pub key_file: PathBuf,
}

/// Why `cert_file` and `key_file` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsProblem {
    /// The key at fault: `cert_file` or `key_file`.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl ApiConfig {
    /// `https` when a certificate is set (a config that loaded has both
    /// files or neither), else `http`: the scheme of the API's addresses.
    pub fn scheme(&self) -> &'static str {
        match self.cert_file.as_os_str().is_empty() {
            true => "http",
            false => "https",
        }
    }

    /// The HTTPS settings from `cert_file` and `key_file` (read now), or
    /// `None` for plain HTTP when both are empty.
    pub fn tls(&self) -> Result<Option<Arc<rustls::ServerConfig>>, TlsProblem> {
        let both = "set both `cert_file` and `key_file` for HTTPS, or neither for plain HTTP";
        let unset = |field: &'static str, other: &str| TlsProblem {
            field,
            message: format!("is empty while `{other}` is set"),
            hint: both.to_owned(),
        };
        match (
            self.cert_file.as_os_str().is_empty(),
            self.key_file.as_os_str().is_empty(),
        ) {
            (true, true) => Ok(None),
            (true, false) => Err(unset("cert_file", "key_file")),
            (false, true) => Err(unset("key_file", "cert_file")),
            (false, false) => server_config(&self.cert_file, &self.key_file)
                .map(|config| Some(Arc::new(config)))
                .map_err(|err| TlsProblem {
                    field: match err.file {
                        ServerFile::Certificate => "cert_file",
                        ServerFile::Key => "key_file",
                    },
                    message: err.message,
                    hint: err.hint,
                }),
        }
    }
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
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
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

    /// A certificate for 127.0.0.1 and its key, and another key, as PEM
    /// files in `dir`: (certificate, key, other key).
    fn pair(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let paths = (
            dir.join("cert.pem"),
            dir.join("key.pem"),
            dir.join("other.pem"),
        );
        std::fs::write(&paths.0, cert.pem()).unwrap();
        std::fs::write(&paths.1, key.serialize_pem()).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&paths.2, other.serialize_pem()).unwrap();
        paths
    }

    #[test]
    fn certificate_and_key_problems_are_found_at_load_on_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, other) = pair(dir.path());
        let missing = dir.path().join("missing.pem");
        let load = |cert: &std::path::Path, key: &std::path::Path| {
            let text = format!(
                "[api]\ncert_file = {:?}\nkey_file = {:?}\n",
                cert.display().to_string(),
                key.display().to_string()
            );
            super::super::load::parse(std::path::Path::new("k.toml"), &text)
        };
        let config = load(&cert, &key).unwrap();
        assert!(config.api.tls().unwrap().is_some());
        assert!(
            ApiConfig::default().tls().unwrap().is_none(),
            "plain HTTP by default"
        );

        for (cert, key, line, says) in [
            (&missing, &key, 2, "cannot be read"),
            (&key, &key, 2, "holds no certificate"),
            (&cert, &missing, 3, "cannot be read"),
            (&cert, &cert, 3, "holds no private key"),
            (&cert, &other, 3, "is not the key of the certificate"),
        ] {
            let err = load(cert, key).unwrap_err();
            let problem = &err.problems[0];
            assert_eq!((problem.line, err.problems.len()), (Some(line), 1), "{err}");
            assert!(problem.message.contains(says), "{err}");
            assert!(
                problem.hint.as_deref().unwrap_or_default().contains("PEM")
                    || says.contains("not the key"),
                "{err}"
            );
        }
        let text = format!("[api]\ncert_file = {:?}\n", cert.display().to_string());
        let err = super::super::load::parse(std::path::Path::new("k.toml"), &text).unwrap_err();
        assert_eq!(err.problems[0].field, "api.key_file", "{err}");
        assert!(err.to_string().contains("set both"), "{err}");
    }
}
