//! `type = "tcp"`: a port accepts connections, and optionally greets with the
//! expected banner (SMTP's `220 ... ESMTP`, SSH's `SSH-2.0`).

use std::net::SocketAddr;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::timeout_at;

use super::net::{self, Stage};
use super::wording::{possessive, quote};
use super::{CheckOutcome, Common};
use crate::plain::short_duration;
use crate::vocabulary::FailureKind;

/// Settings of a TCP check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSpec {
    /// Host name or IP address.
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// Text the first line the service sends must contain; unset means the
    /// connection alone is enough.
    #[serde(default)]
    pub expect_banner: Option<String>,
}

/// The most of a greeting read while waiting for its end of line.
const BANNER_LIMIT: usize = 1024;

/// Connects (and reads the banner) within the service's timeout.
pub(crate) async fn run(common: &Common, spec: &TcpSpec) -> CheckOutcome {
    let name = common.name.as_str();
    let limit = common.timeout.std();
    let target = net::target(&spec.host, spec.port);
    let started = Instant::now();
    // On the clock `timeout_at` reads (they differ on a paused test clock).
    let deadline = tokio::time::Instant::now() + limit;
    let fail = |kind, stage| net::failure(kind, name, &target, stage, limit);

    let host = spec.host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> =
        match timeout_at(deadline, tokio::net::lookup_host((host, spec.port))).await {
            Err(_) => return fail(FailureKind::Timeout, Stage::Resolving),
            Ok(Err(err)) => return net::dns_failure(name, &spec.host, &err.to_string()),
            Ok(Ok(addrs)) => addrs.collect(),
        };
    let dns = started.elapsed();

    let mut last_error = None;
    let mut stream = None;
    for addr in addrs {
        match timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return fail(FailureKind::Timeout, Stage::Connecting),
            Ok(Ok(connected)) => {
                stream = Some(connected);
                break;
            }
            Ok(Err(err)) => last_error = Some(err),
        }
    }
    let Some(mut stream) = stream else {
        return match last_error {
            Some(err) => match net::io_kind(&err) {
                Some(kind) => fail(kind, Stage::Connecting),
                None => CheckOutcome::failed(
                    FailureKind::Other,
                    format!("{name} could not be connected to on {target}: {err}."),
                ),
            },
            None => net::dns_failure(name, &spec.host, "the name has no addresses"),
        };
    };
    let connected = started.elapsed();
    let mut phases = vec![("dns", dns), ("connect", connected - dns)];

    let Some(expected) = &spec.expect_banner else {
        return CheckOutcome::up(format!(
            "{name} accepts connections on {target} (connected in {}).",
            short_duration(connected)
        ))
        .with_response_time(connected)
        .with_phases(phases);
    };

    let banner = match timeout_at(deadline, read_line(&mut stream)).await {
        Err(_) => return fail(FailureKind::Timeout, Stage::Waiting),
        Ok(Err(err)) => {
            return fail(
                net::io_kind(&err).unwrap_or(FailureKind::ConnectionClosed),
                Stage::Waiting,
            );
        }
        Ok(Ok(banner)) => banner,
    };
    let took = started.elapsed();
    phases.push(("banner", took - connected));
    if banner.is_empty() {
        return fail(FailureKind::ConnectionClosed, Stage::Waiting)
            .with_response_time(took)
            .with_phases(phases);
    }
    let outcome = if banner.contains(expected.as_str()) {
        CheckOutcome::up(format!(
            "{name} answers on {target} with the expected greeting {} in {}.",
            quote(&banner),
            short_duration(took)
        ))
    } else {
        CheckOutcome::failed(
            FailureKind::BannerMismatch,
            format!(
                "{} greeting on {target} is {}, which does not contain {}: another program may be listening on that port.",
                possessive(name),
                quote(&banner),
                quote(expected)
            ),
        )
    };
    outcome.with_response_time(took).with_phases(phases)
}

/// The first line the peer sends (without its line break), up to
/// [`BANNER_LIMIT`] bytes; empty when the peer closes without sending anything.
async fn read_line(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut chunk = [0_u8; 256];
    while line.len() < BANNER_LIMIT {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        line.extend_from_slice(&chunk[..read]);
        if line.contains(&b'\n') {
            break;
        }
    }
    let end = line.iter().position(|b| *b == b'\n').unwrap_or(line.len());
    line.truncate(end.min(BANNER_LIMIT));
    Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
}
