//! What one run of a check says: a state, a machine-readable failure kind, and
//! one plain sentence a person can act on.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
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
    /// A failure keepwatch could not classify; the explanation has the details.
    Other,
    /// The check could not be run: this computer is out of file descriptors,
    /// memory or sockets. Says nothing about the service, so it never
    /// changes the service's state (see `checks::local`).
    NotRun,
}

impl FailureKind {
    /// Every kind, for documentation and exhaustive tests.
    pub const ALL: [FailureKind; 27] = [
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

/// The result of running one check once.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    /// Up, degraded or down.
    pub state: State,
    /// Why it is not up; `None` when it is.
    pub kind: Option<FailureKind>,
    /// One plain sentence naming the service and what was found, with the
    /// likely fix where one is obvious.
    pub explanation: String,
    /// Time from the start of the check until the answer was complete, as a
    /// user would wait for it; `None` when no answer came.
    pub response_time: Option<Duration>,
    /// Where that time went, in order (e.g. `dns`, `connect`, `first_byte`,
    /// `download`); empty when the check cannot tell.
    pub phases: Vec<(&'static str, Duration)>,
    /// The HTTP status of the final answer, for HTTP checks that got one.
    pub http_status: Option<u16>,
    /// When the server's TLS certificate ends, for checks that saw one.
    pub certificate_expires: Option<Timestamp>,
}

impl CheckOutcome {
    /// The service is up.
    pub fn up(explanation: impl Into<String>) -> Self {
        Self {
            state: State::Up,
            kind: None,
            explanation: explanation.into(),
            response_time: None,
            phases: Vec::new(),
            http_status: None,
            certificate_expires: None,
        }
    }

    /// The service failed in the given way; the state follows from the kind.
    pub fn failed(kind: FailureKind, explanation: impl Into<String>) -> Self {
        Self {
            state: kind.state(),
            kind: Some(kind),
            ..Self::up(explanation)
        }
    }

    /// The same outcome with a response time.
    pub fn with_response_time(mut self, took: Duration) -> Self {
        self.response_time = Some(took);
        self
    }

    /// The same outcome with phase timings.
    pub fn with_phases(mut self, phases: Vec<(&'static str, Duration)>) -> Self {
        self.phases = phases;
        self
    }

    /// `true` when the state is [`State::Up`].
    pub fn is_up(&self) -> bool {
        self.state == State::Up
    }

    /// `false` when the check could not be run at all, so the outcome says
    /// nothing about the service.
    pub fn was_run(&self) -> bool {
        self.kind != Some(FailureKind::NotRun)
    }
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
    fn a_failed_outcome_takes_its_state_from_the_kind() {
        let outcome = CheckOutcome::failed(FailureKind::Slow, "Shop was slow.")
            .with_response_time(Duration::from_secs(3));
        assert_eq!(outcome.state, State::Degraded);
        assert_eq!(outcome.kind, Some(FailureKind::Slow));
        assert_eq!(outcome.response_time, Some(Duration::from_secs(3)));
        assert!(!outcome.is_up());
        assert!(CheckOutcome::up("Shop is up.").is_up());
    }
}
