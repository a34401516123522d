//! The words every layer shares: how a service is doing ([`State`]), why it
//! failed ([`FailureKind`]), how bad an alert is ([`Severity`]), which
//! escalation policy it follows ([`Policy`]), and the names of the series
//! keepwatch writes ([`metric`], [`service_metric`]) and of the agent's
//! stored state ([`state_key`]). It imports nothing of
//! keepwatch, so collectors, checks, the store, alerting and the API can all
//! use it without depending on each other.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a service is doing, from the point of view of its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Works as expected.
    Up,
    /// Works, but something needs attention soon (slow, certificate expiring).
    Degraded,
    /// Does not work for its users.
    Down,
}

impl State {
    /// The name used in the store, the API and the config (`up`, `degraded`, `down`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }

    /// Orders states from best to worst: up < degraded < down.
    pub fn severity(self) -> u8 {
        match self {
            Self::Up => 0,
            Self::Degraded => 1,
            Self::Down => 2,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a check did not find its service up. Stored and sent as the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The check's own configuration cannot be used (bad URL, unreadable secret or CA file).
    ConfigError,
    /// The host name could not be resolved.
    DnsFailure,
    /// The host answered that nothing listens on the port.
    ConnectionRefused,
    /// No route to the host or its network.
    HostUnreachable,
    /// The service did not answer within the configured timeout.
    Timeout,
    /// The connection was closed or reset before a complete answer.
    ConnectionClosed,
    /// The TLS handshake failed for a reason other than the certificate.
    TlsError,
    /// The certificate's end date has passed.
    CertificateExpired,
    /// The certificate ends within the configured warning period.
    CertificateExpiring,
    /// The certificate is not signed by a trusted authority (e.g. self-signed).
    CertificateUntrusted,
    /// The certificate does not cover the host name that was asked for.
    CertificateWrongHost,
    /// Any other certificate problem: not yet valid, revoked, badly signed.
    CertificateInvalid,
    /// The service answered with an unexpected HTTP status.
    HttpStatus,
    /// The service rejected the configured credentials.
    AuthFailed,
    /// The answer did not contain the expected text or pattern.
    BodyMismatch,
    /// The answer was expected to be JSON and is not.
    JsonInvalid,
    /// A JSON field did not have the expected value.
    JsonMismatch,
    /// Redirects went on past the limit (usually a loop).
    TooManyRedirects,
    /// The service's greeting (banner) was not the expected one.
    BannerMismatch,
    /// The service did not speak the expected protocol.
    ProtocolError,
    /// The database server answers, but the configured database does not exist.
    DatabaseMissing,
    /// The login worked, but the configured query (or command) failed.
    QueryFailed,
    /// The answer came, but later than the response-time budget.
    Slow,
    /// A DNS name resolved, but not to the expected answer.
    DnsMismatch,
    /// Some echo requests (pings) went unanswered, more than allowed.
    PacketLoss,
    /// A job that reports to keepwatch (a heartbeat) did not report in time.
    Missed,
    /// A job that reports to keepwatch said it failed (`/fail`, an exit code).
    ReportedFailure,
    /// A job that reported its start has not finished within its allowed time.
    RunningTooLong,
    /// A failure keepwatch could not classify; the explanation has the details.
    Other,
    /// The check could not be run: this computer is out of file descriptors,
    /// memory or sockets. Says nothing about the service, so it never
    /// changes the service's state (see `checks::local`).
    NotRun,
}

impl FailureKind {
    /// Every kind, for documentation and exhaustive tests.
    pub const ALL: [FailureKind; 30] = [
        Self::ConfigError,
        Self::DnsFailure,
        Self::ConnectionRefused,
        Self::HostUnreachable,
        Self::Timeout,
        Self::ConnectionClosed,
        Self::TlsError,
        Self::CertificateExpired,
        Self::CertificateExpiring,
        Self::CertificateUntrusted,
        Self::CertificateWrongHost,
        Self::CertificateInvalid,
        Self::HttpStatus,
        Self::AuthFailed,
        Self::BodyMismatch,
        Self::JsonInvalid,
        Self::JsonMismatch,
        Self::TooManyRedirects,
        Self::BannerMismatch,
        Self::ProtocolError,
        Self::DatabaseMissing,
        Self::QueryFailed,
        Self::Slow,
        Self::DnsMismatch,
        Self::PacketLoss,
        Self::Missed,
        Self::ReportedFailure,
        Self::RunningTooLong,
        Self::Other,
        Self::NotRun,
    ];

    /// The stored name, e.g. `connection_refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfigError => "config_error",
            Self::DnsFailure => "dns_failure",
            Self::ConnectionRefused => "connection_refused",
            Self::HostUnreachable => "host_unreachable",
            Self::Timeout => "timeout",
            Self::ConnectionClosed => "connection_closed",
            Self::TlsError => "tls_error",
            Self::CertificateExpired => "certificate_expired",
            Self::CertificateExpiring => "certificate_expiring",
            Self::CertificateUntrusted => "certificate_untrusted",
            Self::CertificateWrongHost => "certificate_wrong_host",
            Self::CertificateInvalid => "certificate_invalid",
            Self::HttpStatus => "http_status",
            Self::AuthFailed => "auth_failed",
            Self::BodyMismatch => "body_mismatch",
            Self::JsonInvalid => "json_invalid",
            Self::JsonMismatch => "json_mismatch",
            Self::TooManyRedirects => "too_many_redirects",
            Self::BannerMismatch => "banner_mismatch",
            Self::ProtocolError => "protocol_error",
            Self::DatabaseMissing => "database_missing",
            Self::QueryFailed => "query_failed",
            Self::Slow => "slow",
            Self::DnsMismatch => "dns_mismatch",
            Self::PacketLoss => "packet_loss",
            Self::Missed => "missed",
            Self::ReportedFailure => "reported_failure",
            Self::RunningTooLong => "running_too_long",
            Self::Other => "other",
            Self::NotRun => "not_run",
        }
    }

    /// The state this kind of failure puts a service in: the service still
    /// works while it is slow, its certificate is about to expire, or some
    /// of its packets are lost. A check that could not be run counts as not
    /// up where a state is needed, but the agent never records it.
    pub fn state(self) -> State {
        match self {
            Self::Slow | Self::CertificateExpiring | Self::PacketLoss => State::Degraded,
            _ => State::Down,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailureKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| format!("unknown failure kind `{text}`"))
    }
}

/// How bad an alert is. Ordered: `Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Critical,
}

/// Which policy an alert follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// The business-hours escalation steps (`[alerting] business_hours`).
    BusinessHours,
    /// The off-hours escalation steps (`[alerting] off_hours`).
    OffHours,
}

impl Policy {
    /// The name kept in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BusinessHours => "business_hours",
            Self::OffHours => "off_hours",
        }
    }

    /// The policy named `text` in the store.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "business_hours" => Some(Self::BusinessHours),
            "off_hours" => Some(Self::OffHours),
            _ => None,
        }
    }
}

/// The stable names of every metric keepwatch collects about its host. Each
/// name states its unit.
pub mod metric {
    /// Total CPU use of all cores, 0–100.
    pub const CPU_USAGE_PERCENT: &str = "cpu.usage_percent";
    /// CPU use of one core, 0–100; instance = core index (`"0"`, `"1"`, ...).
    pub const CPU_CORE_USAGE_PERCENT: &str = "cpu.core_usage_percent";
    /// Memory in use (not available for new work), 0–100.
    pub const MEMORY_USED_PERCENT: &str = "memory.used_percent";
    /// Memory in use, in bytes.
    pub const MEMORY_USED_BYTES: &str = "memory.used_bytes";
    /// Memory available for new work without swapping, in bytes.
    pub const MEMORY_AVAILABLE_BYTES: &str = "memory.available_bytes";
    /// Installed memory, in bytes.
    pub const MEMORY_TOTAL_BYTES: &str = "memory.total_bytes";
    /// Swap in use, 0–100; absent when the host has no swap.
    pub const SWAP_USED_PERCENT: &str = "swap.used_percent";
    /// Swap in use, in bytes.
    pub const SWAP_USED_BYTES: &str = "swap.used_bytes";
    /// Swap size, in bytes (0 when the host has none).
    pub const SWAP_TOTAL_BYTES: &str = "swap.total_bytes";
    /// Used share of a file system, 0–100; instance = mount point.
    pub const DISK_USED_PERCENT: &str = "disk.used_percent";
    /// Space a normal (non-root) user can still write, in bytes; instance = mount point.
    pub const DISK_FREE_BYTES: &str = "disk.free_bytes";
    /// Size of a file system, in bytes; instance = mount point.
    pub const DISK_TOTAL_BYTES: &str = "disk.total_bytes";
    /// Bytes received per second since the previous sample; instance = interface.
    pub const NET_RX_BYTES_PER_SEC: &str = "net.rx_bytes_per_sec";
    /// Bytes sent per second since the previous sample; instance = interface.
    pub const NET_TX_BYTES_PER_SEC: &str = "net.tx_bytes_per_sec";
    /// Receive errors since the previous sample; instance = interface.
    pub const NET_RX_ERRORS: &str = "net.rx_errors";
    /// Transmit errors since the previous sample; instance = interface.
    pub const NET_TX_ERRORS: &str = "net.tx_errors";
    /// Load average over 1 minute (runnable tasks, all cores together).
    pub const LOAD_1: &str = "load.1";
    /// Load average over 5 minutes.
    pub const LOAD_5: &str = "load.5";
    /// Load average over 15 minutes.
    pub const LOAD_15: &str = "load.15";
    /// Seconds since the host booted.
    pub const HOST_UPTIME_SECONDS: &str = "host.uptime_seconds";

    /// Every name above, for validating alert rules and documenting the API.
    pub const ALL: [&str; 20] = [
        CPU_USAGE_PERCENT,
        CPU_CORE_USAGE_PERCENT,
        MEMORY_USED_PERCENT,
        MEMORY_USED_BYTES,
        MEMORY_AVAILABLE_BYTES,
        MEMORY_TOTAL_BYTES,
        SWAP_USED_PERCENT,
        SWAP_USED_BYTES,
        SWAP_TOTAL_BYTES,
        DISK_USED_PERCENT,
        DISK_FREE_BYTES,
        DISK_TOTAL_BYTES,
        NET_RX_BYTES_PER_SEC,
        NET_TX_BYTES_PER_SEC,
        NET_RX_ERRORS,
        NET_TX_ERRORS,
        LOAD_1,
        LOAD_5,
        LOAD_15,
        HOST_UPTIME_SECONDS,
    ];
}

/// Names of the series a service's checks write (instance = the service's name).
pub mod service_metric {
    /// 0 up, 1 degraded, 2 down: what each run saw.
    pub const STATE: &str = "service.state";
    /// How long the answer took, as a user waits for it, in milliseconds.
    pub const RESPONSE_MS: &str = "service.response_ms";
    /// When the server's TLS certificate ends, in seconds since 1970 (for
    /// reports: "the shop's certificate expires on 3 January").
    pub const CERTIFICATE_EXPIRES: &str = "service.certificate_expires";
}

/// Keys of the agent's entries in the store's state table: written by the
/// agent, read by `status` (and whatever else reports on a running agent).
pub mod state_key {
    /// When the running agent last recorded anything (RFC 3339).
    pub const LAST_SEEN: &str = "last_seen";
    /// When the agent last stopped cleanly; removed while it runs.
    pub const STOPPED_AT: &str = "stopped_at";
    /// The current throttling state, in words.
    pub const THROTTLE: &str = "throttle";
    /// When the running agent expects to record again (RFC 3339), to tell a
    /// running agent from a silent one.
    pub const NEXT_BY: &str = "next_by";
    /// On an agent: up to when (its clock, RFC 3339) the hub has its data.
    pub const HUB_DELIVERED: &str = "hub_delivered";
    /// On an agent: why the hub does not take its data now, in words;
    /// removed while it does.
    pub const HUB_PROBLEM: &str = "hub_problem";
    /// The version of the keepwatch that started last, written at its start:
    /// `keepwatch update` waits for the new version to write it.
    pub const VERSION: &str = "version";
}

/// Every metric a rule may watch: the host metrics and the service series.
pub fn metric_names() -> Vec<&'static str> {
    metric::ALL
        .into_iter()
        .chain([service_metric::STATE, service_metric::RESPONSE_MS])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_snake_case_names_that_round_trip_through_serde_and_from_str() {
        for kind in FailureKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<FailureKind>(&json).unwrap(), kind);
            assert_eq!(kind.as_str().parse::<FailureKind>().unwrap(), kind);
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert!("nope".parse::<FailureKind>().is_err());
    }

    #[test]
    fn only_slow_expiring_certificates_and_packet_loss_leave_a_service_degraded() {
        let degraded: Vec<_> = FailureKind::ALL
            .into_iter()
            .filter(|kind| kind.state() == State::Degraded)
            .collect();
        assert_eq!(
            degraded,
            [
                FailureKind::CertificateExpiring,
                FailureKind::Slow,
                FailureKind::PacketLoss
            ]
        );
    }

    #[test]
    fn states_order_by_severity_and_print_their_names() {
        assert!(State::Up.severity() < State::Degraded.severity());
        assert!(State::Degraded.severity() < State::Down.severity());
        assert_eq!(State::Degraded.to_string(), "degraded");
        assert_eq!(serde_json::to_string(&State::Down).unwrap(), "\"down\"");
    }

    #[test]
    fn metric_names_are_unique_and_dotted() {
        let mut names = metric::ALL.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), metric::ALL.len());
        assert!(metric::ALL.iter().all(|n| n.contains('.')));
    }
}
