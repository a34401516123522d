//! What collectors and checks produce and the store keeps: timestamped values of
//! named series.

use jiff::Timestamp;

/// Identifies one time series: a metric of one host, optionally about one
/// instance (a CPU core, a mount point, a network interface, a service).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The host the value is about (the agent's configured name).
    pub host: String,
    /// Dotted metric name, e.g. `cpu.usage_percent`, `disk.used_percent`.
    pub metric: String,
    /// The instance within the host, e.g. `/` or `eth0`; empty for host-wide values.
    pub instance: String,
}

impl SeriesKey {
    /// A key from its three parts.
    pub fn new(
        host: impl Into<String>,
        metric: impl Into<String>,
        instance: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            metric: metric.into(),
            instance: instance.into(),
        }
    }
}

impl std::fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.instance.is_empty() {
            write!(f, "{} {}", self.host, self.metric)
        } else {
            write!(f, "{} {}[{}]", self.host, self.metric, self.instance)
        }
    }
}

/// One observed value of one series at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Which series the value belongs to.
    pub key: SeriesKey,
    /// When it was observed.
    pub at: Timestamp,
    /// The value, in the unit the metric name states (percent, bytes, seconds...).
    pub value: f64,
}
