//! The `[api]` section. It lives here rather than in `api/` because the API
//! sits above `config` in the layers, like the agent's own section.

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
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:8970".to_owned(),
            max_body: ByteSize(64 * 1024),
            max_concurrent: 8,
            rate_per_minute: 600,
        }
    }
}
