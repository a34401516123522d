//! What every network check shares: how far a connection got, and how a
//! failure at the network level is told.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use super::CheckOutcome;
use super::wording::possessive;
use crate::plain::short_duration;
use crate::vocabulary::FailureKind;

/// How far a check got before it stopped, so a timeout can say where it hung.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Looking up the host name.
    Resolving,
    /// Opening the connection (TCP, and TLS for HTTPS).
    Connecting,
    /// Connected, waiting for the first byte of the answer.
    Waiting,
    /// The answer started but has not ended.
    Reading,
}

/// The failure kind an I/O error stands for, when it is one of the common
/// network failures.
pub(crate) fn io_kind(err: &io::Error) -> Option<FailureKind> {
    use io::ErrorKind as K;
    match err.kind() {
        K::ConnectionRefused => Some(FailureKind::ConnectionRefused),
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe => {
            Some(FailureKind::ConnectionClosed)
        }
        K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown => {
            Some(FailureKind::HostUnreachable)
        }
        K::TimedOut => Some(FailureKind::Timeout),
        _ => None,
    }
}

/// The outcome for a network-level failure of `kind` while talking to
/// `target` (`host:port`). `limit` is the configured timeout.
pub(crate) fn failure(
    kind: FailureKind,
    name: &str,
    target: &str,
    stage: Stage,
    limit: Duration,
) -> CheckOutcome {
    let explanation = match kind {
        FailureKind::ConnectionRefused => format!(
            "{name} refused the connection on {target}: nothing is listening on that port, so the service is probably stopped (or the port is wrong)."
        ),
        FailureKind::HostUnreachable => format!(
            "{name} cannot be reached at {target} (no route to the host): the machine may be off, or the network path to it is broken."
        ),
        FailureKind::ConnectionClosed => match stage {
            Stage::Reading => format!(
                "{name} closed the connection in the middle of its answer: the service may be crashing or restarting."
            ),
            _ => format!(
                "{name} closed the connection on {target} without answering: the service may be crashing or restarting, or something else listens on that port."
            ),
        },
        _ => timeout_explanation(name, target, stage, limit),
    };
    let kind = match kind {
        FailureKind::ConnectionRefused
        | FailureKind::HostUnreachable
        | FailureKind::ConnectionClosed => kind,
        _ if stage == Stage::Resolving => FailureKind::DnsFailure,
        _ => FailureKind::Timeout,
    };
    CheckOutcome::failed(kind, explanation)
}

fn timeout_explanation(name: &str, target: &str, stage: Stage, limit: Duration) -> String {
    let limit = short_duration(limit);
    match stage {
        Stage::Resolving => format!(
            "{} host name in {target} could not be looked up in time (DNS did not answer within {limit}): check the DNS server this computer uses.",
            possessive(name)
        ),
        Stage::Connecting => format!(
            "{name} did not accept a connection on {target} within {limit} (timeout): the host may be down, or a firewall may be dropping the traffic."
        ),
        Stage::Waiting => format!(
            "{name} accepted the connection on {target} but did not answer within {limit} (timeout): the service is overloaded or stuck."
        ),
        Stage::Reading => format!(
            "{name} started answering but did not finish within {limit} (timeout): the service is overloaded or the answer is very large."
        ),
    }
}

/// The outcome when a host name does not resolve; `detail` is the resolver's reason.
pub(crate) fn dns_failure(name: &str, host: &str, detail: &str) -> CheckOutcome {
    CheckOutcome::failed(
        FailureKind::DnsFailure,
        format!(
            "{} host name {host} could not be found (DNS: {detail}): check the name for typos and that its DNS records exist.",
            possessive(name)
        ),
    )
}

/// The addresses of `host` (a name, or an IP address with or without
/// brackets), looked up by the system before `deadline`; when that fails,
/// the outcome to report. `target` is how a sentence names what was looked
/// up (`host:port`, or just the host).
pub(crate) async fn resolve(
    name: &str,
    host: &str,
    port: u16,
    target: &str,
    deadline: Instant,
    limit: Duration,
) -> Result<Vec<SocketAddr>, CheckOutcome> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match timeout_at(deadline, tokio::net::lookup_host((bare, port))).await {
        Err(_) => Err(failure(
            FailureKind::Timeout,
            name,
            target,
            Stage::Resolving,
            limit,
        )),
        Ok(Err(err)) => Err(dns_failure(name, host, &err.to_string())),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                return Err(dns_failure(name, host, "the name has no addresses"));
            }
            Ok(addrs)
        }
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub(crate) fn target(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::assert_explains;

    #[test]
    fn common_io_errors_map_to_their_kinds() {
        let kind = |k: io::ErrorKind| io_kind(&io::Error::from(k));
        assert_eq!(
            kind(io::ErrorKind::ConnectionRefused),
            Some(FailureKind::ConnectionRefused)
        );
        assert_eq!(
            kind(io::ErrorKind::ConnectionReset),
            Some(FailureKind::ConnectionClosed)
        );
        assert_eq!(
            kind(io::ErrorKind::UnexpectedEof),
            Some(FailureKind::ConnectionClosed)
        );
        assert_eq!(
            kind(io::ErrorKind::HostUnreachable),
            Some(FailureKind::HostUnreachable)
        );
        assert_eq!(
            kind(io::ErrorKind::NetworkUnreachable),
            Some(FailureKind::HostUnreachable)
        );
        assert_eq!(kind(io::ErrorKind::TimedOut), Some(FailureKind::Timeout));
        assert_eq!(kind(io::ErrorKind::PermissionDenied), None);
    }

    #[test]
    fn each_network_failure_names_the_service_target_and_cause() {
        let limit = Duration::from_secs(10);
        let cases = [
            (
                FailureKind::ConnectionRefused,
                Stage::Connecting,
                "refused the connection on db:5432",
            ),
            (
                FailureKind::HostUnreachable,
                Stage::Connecting,
                "no route to the host",
            ),
            (
                FailureKind::ConnectionClosed,
                Stage::Waiting,
                "closed the connection on db:5432 without answering",
            ),
            (
                FailureKind::ConnectionClosed,
                Stage::Reading,
                "in the middle of its answer",
            ),
            (
                FailureKind::Timeout,
                Stage::Connecting,
                "did not accept a connection on db:5432 within 10 s",
            ),
            (
                FailureKind::Timeout,
                Stage::Waiting,
                "did not answer within 10 s",
            ),
            (
                FailureKind::Timeout,
                Stage::Reading,
                "did not finish within 10 s",
            ),
        ];
        for (kind, stage, expected) in cases {
            let outcome = failure(kind, "Database", "db:5432", stage, limit);
            assert_explains(&outcome, kind, "Database ", expected);
        }
    }

    #[test]
    fn a_timeout_while_resolving_is_a_dns_failure() {
        let outcome = failure(
            FailureKind::Timeout,
            "Shop",
            "shop.example:443",
            Stage::Resolving,
            Duration::from_secs(5),
        );
        assert_eq!(outcome.kind, Some(FailureKind::DnsFailure));
        assert!(
            outcome
                .explanation
                .contains("DNS did not answer within 5 s"),
            "{}",
            outcome.explanation
        );
    }

    #[test]
    fn a_dns_failure_quotes_the_name_and_the_reason() {
        let outcome = dns_failure("Shop", "shop.example.invalid", "name not found");
        assert_eq!(outcome.kind, Some(FailureKind::DnsFailure));
        assert_eq!(
            outcome.explanation,
            "Shop's host name shop.example.invalid could not be found (DNS: name not found): check the name for typos and that its DNS records exist."
        );
    }

    #[test]
    fn ipv6_targets_get_brackets() {
        assert_eq!(target("::1", 80), "[::1]:80");
        assert_eq!(target("shop.example", 443), "shop.example:443");
    }
}
