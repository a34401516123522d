//! Prometheus names for keepwatch's series, one source for `/metrics` (the
//! API scraped) and remote write (history pushed), so a dashboard built on
//! one works on the other.
//!
//! Names follow Prometheus's conventions: a `keepwatch_` prefix, base units
//! in the name (`_bytes`, `_seconds`, `_ratio` for 0–1 shares; keepwatch's
//! percentages are divided by 100). A service's state is one series per
//! state word, 1 for the state it is in and 0 for the others, which is what
//! PromQL counts and alerts on easily (`keepwatch_service_state{state="down"} == 1`).

use crate::observation::SeriesKey;
use crate::vocabulary::{metric, service_metric};

/// A service's state: 1 for the state it is in, 0 for the others.
pub const SERVICE_STATE: &str = "keepwatch_service_state";
/// How long a service's answer took, in seconds.
pub const SERVICE_RESPONSE: &str = "keepwatch_service_response_seconds";
/// When a service's TLS certificate ends, in seconds since 1970.
pub const SERVICE_CERTIFICATE: &str = "keepwatch_service_certificate_expiry_timestamp_seconds";
/// The state words of [`SERVICE_STATE`] by the severity keepwatch stores
/// (`vocabulary::State::severity`: 0 up, 1 degraded, 2 down).
pub const STATE_WORDS: [&str; 3] = ["up", "degraded", "down"];

/// How one of keepwatch's host metrics is exposed.
#[derive(Debug)]
pub struct HostFamily {
    /// keepwatch's name (`vocabulary::metric`).
    pub metric: &'static str,
    /// The Prometheus name.
    pub name: &'static str,
    /// The label the series' instance goes in, if the metric has instances.
    pub label: Option<&'static str>,
    /// Factor from keepwatch's unit to the exposed one.
    pub scale: f64,
    /// The HELP text.
    pub help: &'static str,
}

const fn family(
    metric: &'static str,
    name: &'static str,
    label: Option<&'static str>,
    scale: f64,
    help: &'static str,
) -> HostFamily {
    HostFamily {
        metric,
        name,
        label,
        scale,
        help,
    }
}

/// From keepwatch's percentages to Prometheus's 0–1 ratios.
pub const PERCENT: f64 = 0.01;

/// Every host metric keepwatch collects (a test checks none is missing).
pub const HOST: [HostFamily; 20] = [
    family(
        metric::CPU_USAGE_PERCENT,
        "keepwatch_host_cpu_usage_ratio",
        None,
        PERCENT,
        "CPU use of all cores together, 0 to 1.",
    ),
    family(
        metric::CPU_CORE_USAGE_PERCENT,
        "keepwatch_host_cpu_core_usage_ratio",
        Some("core"),
        PERCENT,
        "CPU use of one core, 0 to 1.",
    ),
    family(
        metric::MEMORY_USED_PERCENT,
        "keepwatch_host_memory_used_ratio",
        None,
        PERCENT,
        "Share of memory in use, 0 to 1.",
    ),
    family(
        metric::MEMORY_USED_BYTES,
        "keepwatch_host_memory_used_bytes",
        None,
        1.0,
        "Memory in use.",
    ),
    family(
        metric::MEMORY_AVAILABLE_BYTES,
        "keepwatch_host_memory_available_bytes",
        None,
        1.0,
        "Memory available for new work without swapping.",
    ),
    family(
        metric::MEMORY_TOTAL_BYTES,
        "keepwatch_host_memory_total_bytes",
        None,
        1.0,
        "Installed memory.",
    ),
    family(
        metric::SWAP_USED_PERCENT,
        "keepwatch_host_swap_used_ratio",
        None,
        PERCENT,
        "Share of swap in use, 0 to 1.",
    ),
    family(
        metric::SWAP_USED_BYTES,
        "keepwatch_host_swap_used_bytes",
        None,
        1.0,
        "Swap in use.",
    ),
    family(
        metric::SWAP_TOTAL_BYTES,
        "keepwatch_host_swap_total_bytes",
        None,
        1.0,
        "Swap size (0 without swap).",
    ),
    family(
        metric::DISK_USED_PERCENT,
        "keepwatch_host_disk_used_ratio",
        Some("mount"),
        PERCENT,
        "Used share of a file system, 0 to 1.",
    ),
    family(
        metric::DISK_FREE_BYTES,
        "keepwatch_host_disk_free_bytes",
        Some("mount"),
        1.0,
        "Space a normal user can still write on a file system.",
    ),
    family(
        metric::DISK_TOTAL_BYTES,
        "keepwatch_host_disk_total_bytes",
        Some("mount"),
        1.0,
        "Size of a file system.",
    ),
    family(
        metric::NET_RX_BYTES_PER_SEC,
        "keepwatch_host_network_receive_bytes_per_second",
        Some("interface"),
        1.0,
        "Bytes received per second over the last measurement interval.",
    ),
    family(
        metric::NET_TX_BYTES_PER_SEC,
        "keepwatch_host_network_transmit_bytes_per_second",
        Some("interface"),
        1.0,
        "Bytes sent per second over the last measurement interval.",
    ),
    family(
        metric::NET_RX_ERRORS,
        "keepwatch_host_network_receive_errors",
        Some("interface"),
        1.0,
        "Receive errors during the last measurement interval.",
    ),
    family(
        metric::NET_TX_ERRORS,
        "keepwatch_host_network_transmit_errors",
        Some("interface"),
        1.0,
        "Transmit errors during the last measurement interval.",
    ),
    family(
        metric::LOAD_1,
        "keepwatch_host_load1",
        None,
        1.0,
        "Load average over 1 minute.",
    ),
    family(
        metric::LOAD_5,
        "keepwatch_host_load5",
        None,
        1.0,
        "Load average over 5 minutes.",
    ),
    family(
        metric::LOAD_15,
        "keepwatch_host_load15",
        None,
        1.0,
        "Load average over 15 minutes.",
    ),
    family(
        metric::HOST_UPTIME_SECONDS,
        "keepwatch_host_uptime_seconds",
        None,
        1.0,
        "Time since the host booted.",
    ),
];

/// The host family of keepwatch's metric `name`, if it is one.
pub fn host_family(name: &str) -> Option<&'static HostFamily> {
    HOST.iter().find(|family| family.metric == name)
}

/// How a stored value becomes an exposed one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Convert {
    /// Multiplied by this factor.
    Scale(f64),
    /// 1 when the stored severity is this one, else 0 (a state's series).
    Is(u8),
}

impl Convert {
    /// The exposed value of the stored `value`.
    pub fn apply(self, value: f64) -> f64 {
        match self {
            Convert::Scale(factor) => value * factor,
            Convert::Is(severity) => f64::from(u8::from(value == f64::from(severity))),
        }
    }
}

/// One Prometheus series made from a stored one.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposed {
    /// Its labels, `__name__` included, sorted by name as remote write requires.
    pub labels: Vec<(String, String)>,
    /// How its values are made from the stored ones.
    pub convert: Convert,
}

/// The Prometheus series a stored series becomes, each labelled with its
/// host: a host metric one (its instance as the family's label), a
/// service's state one per state word, other service figures one with the
/// service's name. A metric keepwatch does not know (pushed by a newer
/// agent) keeps its name, made valid, with its instance as `instance`.
pub fn exposed(key: &SeriesKey) -> Vec<Exposed> {
    let one = |name: &str, label: Option<&str>, convert| {
        let mut labels = vec![
            ("__name__".to_owned(), name.to_owned()),
            ("host".to_owned(), key.host.clone()),
        ];
        if let Some(label) = label.filter(|_| !key.instance.is_empty()) {
            labels.push((label.to_owned(), key.instance.clone()));
        }
        labels.sort();
        Exposed { labels, convert }
    };
    if let Some(family) = host_family(&key.metric) {
        return vec![one(family.name, family.label, Convert::Scale(family.scale))];
    }
    match key.metric.as_str() {
        service_metric::STATE => (0u8..)
            .zip(STATE_WORDS)
            .map(|(severity, word)| {
                let mut series = one(SERVICE_STATE, Some("service"), Convert::Is(severity));
                series.labels.push(("state".to_owned(), word.to_owned()));
                series.labels.sort();
                series
            })
            .collect(),
        service_metric::RESPONSE_MS => vec![one(
            SERVICE_RESPONSE,
            Some("service"),
            Convert::Scale(0.001),
        )],
        service_metric::CERTIFICATE_EXPIRES => {
            vec![one(
                SERVICE_CERTIFICATE,
                Some("service"),
                Convert::Scale(1.0),
            )]
        }
        other => vec![one(
            &format!("keepwatch_{}", valid_name(other)),
            Some("instance"),
            Convert::Scale(1.0),
        )],
    }
}

/// `text` as a Prometheus metric name: letters, digits and `_` (anything else becomes `_`).
fn valid_name(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_host_metric_has_a_prometheus_name_with_its_unit() {
        for name in metric::ALL {
            let family = host_family(name).unwrap_or_else(|| panic!("{name} is not exposed"));
            assert!(family.name.starts_with("keepwatch_host_"));
            let percent = name.ends_with("_percent");
            assert_eq!(percent, family.name.ends_with("_ratio"), "{}", family.name);
            assert_eq!(percent, family.scale == PERCENT, "{}", family.name);
        }
        assert_eq!(HOST.len(), metric::ALL.len());
    }

    fn labels(series: &Exposed) -> Vec<String> {
        series
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    #[test]
    fn stored_series_become_prometheus_series_with_sorted_labels() {
        let disk = exposed(&SeriesKey::new("shop", metric::DISK_USED_PERCENT, "/var"));
        assert_eq!(disk.len(), 1);
        assert_eq!(
            labels(&disk[0]),
            [
                "__name__=keepwatch_host_disk_used_ratio",
                "host=shop",
                "mount=/var"
            ]
        );
        assert_eq!(disk[0].convert.apply(42.0), 0.42);

        let cpu = exposed(&SeriesKey::new("shop", metric::CPU_USAGE_PERCENT, ""));
        assert_eq!(
            labels(&cpu[0]),
            ["__name__=keepwatch_host_cpu_usage_ratio", "host=shop"]
        );

        let response = exposed(&SeriesKey::new("shop", service_metric::RESPONSE_MS, "Shop"));
        assert_eq!(
            labels(&response[0]),
            [
                "__name__=keepwatch_service_response_seconds",
                "host=shop",
                "service=Shop"
            ]
        );
        assert_eq!(response[0].convert.apply(250.0), 0.25);

        let unknown = exposed(&SeriesKey::new("shop", "queue.length-now", "orders"));
        assert_eq!(
            labels(&unknown[0]),
            [
                "__name__=keepwatch_queue_length_now",
                "host=shop",
                "instance=orders"
            ]
        );
    }

    #[test]
    fn a_state_is_one_series_per_word_with_1_for_the_stored_one() {
        let state = exposed(&SeriesKey::new("shop", service_metric::STATE, "Mail"));
        let words: Vec<_> = state.iter().map(|s| labels(s)[3].clone()).collect();
        assert_eq!(words, ["state=up", "state=degraded", "state=down"]);
        assert_eq!(
            labels(&state[2]),
            [
                "__name__=keepwatch_service_state",
                "host=shop",
                "service=Mail",
                "state=down"
            ]
        );
        let degraded: Vec<f64> = state.iter().map(|s| s.convert.apply(1.0)).collect();
        assert_eq!(degraded, [0.0, 1.0, 0.0]);
    }
}
