//! `type = "ping"`: a host answers echo requests, with packet loss and round
//! trip times.
//!
//! Without root, in this order: the unprivileged ICMP socket (macOS always;
//! Linux when `net.ipv4.ping_group_range` includes keepwatch's group), a raw
//! ICMP socket (root, or `CAP_NET_RAW`), then, if `fallback_port` is set, a
//! TCP connection to that port: an accepted *or refused* connection proves
//! the host is up. Every outcome says which method was used.
//!
//! The ICMP packets are built and read here (about 150 lines) rather than
//! through surge-ping, which brings pnet_packet and, to build that, a regex
//! engine: about a minute of CPU time per clean debug build on our machines,
//! and more binary, which is most of the agent's memory. socket2 is already
//! in the build.
//!
//! Windows only allows raw ICMP sockets to administrators; without, the check
//! uses `fallback_port` (`IcmpSendEcho`, which needs no rights, is not used yet).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::{Instant, sleep_until};

use super::net;
use super::tcp::{self, TcpSpec};
use super::{CheckOutcome, Common};
use crate::plain::{round_trip, short_duration};
use crate::vocabulary::FailureKind;

/// Settings of a ping check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PingSettings")]
pub struct PingSpec {
    /// Host name or IP address.
    pub host: String,
    /// Echo requests per run.
    pub count: u8,
    /// How to reach the host: `auto`, `icmp` or `tcp`.
    pub method: PingMethod,
    /// The TCP port to connect to when ICMP is not permitted (`method =
    /// "auto"`) or not wanted (`method = "tcp"`), e.g. 22 or 443.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_port: Option<u16>,
    /// Packet loss (in percent) above which the host counts as degraded.
    pub max_loss: u8,
}

impl PingSpec {
    /// Three pings to `host`, by whatever method this computer allows.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            count: default_count(),
            method: PingMethod::default(),
            fallback_port: None,
            max_loss: default_max_loss(),
        }
    }
}

/// How a ping check reaches its host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PingMethod {
    /// ICMP if this computer allows it, else a TCP connection to `fallback_port`.
    #[default]
    Auto,
    /// ICMP only: a computer that does not allow it is a configuration problem.
    Icmp,
    /// A TCP connection to `fallback_port` only (for hosts whose firewall drops pings).
    Tcp,
}

/// The settings as written, before the checks that involve two keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PingSettings {
    host: String,
    #[serde(default = "default_count", deserialize_with = "count")]
    count: u8,
    #[serde(default)]
    method: PingMethod,
    #[serde(default, deserialize_with = "port")]
    fallback_port: Option<u16>,
    #[serde(default = "default_max_loss", deserialize_with = "percent")]
    max_loss: u8,
}

impl TryFrom<PingSettings> for PingSpec {
    type Error = String;

    fn try_from(settings: PingSettings) -> Result<Self, String> {
        if settings.method == PingMethod::Tcp && settings.fallback_port.is_none() {
            return Err(
                "`method = \"tcp\"` needs `fallback_port`, the TCP port to connect to (e.g. 22 or 443)"
                    .to_owned(),
            );
        }
        Ok(Self {
            host: settings.host,
            count: settings.count,
            method: settings.method,
            fallback_port: settings.fallback_port,
            max_loss: settings.max_loss,
        })
    }
}

fn default_count() -> u8 {
    3
}

fn default_max_loss() -> u8 {
    20
}

fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    let count = u64::deserialize(deserializer)?;
    u8::try_from(count)
        .ok()
        .filter(|count| (1..=MAX_COUNT).contains(count))
        .ok_or_else(|| de::Error::custom(format!("`count` must be from 1 to {MAX_COUNT}")))
}

fn port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u16>, D::Error> {
    let port = u64::deserialize(deserializer)?;
    u16::try_from(port)
        .ok()
        .filter(|port| *port > 0)
        .map(Some)
        .ok_or_else(|| de::Error::custom("`fallback_port` must be a TCP port, from 1 to 65535"))
}

fn percent<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    let percent = u64::deserialize(deserializer)?;
    u8::try_from(percent)
        .ok()
        .filter(|percent| *percent <= 100)
        .ok_or_else(|| de::Error::custom("`max_loss` is a percentage, from 0 to 100"))
}

const MAX_COUNT: u8 = 20;

/// Time between two echo requests of one run, unless the timeout asks for less.
const SPACING: Duration = Duration::from_millis(200);

/// How a run reached the host, as the outcome reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Via {
    /// An unprivileged ICMP ("ping") socket.
    UnprivilegedIcmp,
    /// A raw ICMP socket (root or `CAP_NET_RAW`).
    RawIcmp,
    /// A TCP connection to this port, chosen (`method = "tcp"`) or fallen
    /// back to because this computer does not permit ICMP.
    Tcp {
        /// The port connected to.
        port: u16,
        /// ICMP was tried first and not permitted.
        icmp_not_permitted: bool,
    },
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnprivilegedIcmp => f.write_str("via unprivileged ICMP"),
            Self::RawIcmp => f.write_str("via raw ICMP"),
            Self::Tcp {
                port,
                icmp_not_permitted: false,
            } => write!(f, "via TCP port {port}"),
            Self::Tcp {
                port,
                icmp_not_permitted: true,
            } => write!(
                f,
                "via TCP port {port} (ICMP not permitted: {})",
                ICMP_PERMISSION_HINT
            ),
        }
    }
}

#[cfg(target_os = "linux")]
const ICMP_PERMISSION_HINT: &str = "allow it with `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` or `setcap cap_net_raw+ep` on the keepwatch binary";
#[cfg(windows)]
const ICMP_PERMISSION_HINT: &str =
    "Windows allows ICMP sockets to administrators only; keepwatch does not use IcmpSendEcho yet";
#[cfg(not(any(target_os = "linux", windows)))]
const ICMP_PERMISSION_HINT: &str =
    "this system refuses ICMP sockets to keepwatch's user; run it with the rights to open one";

/// Pings the host within the service's timeout.
pub(crate) async fn run(common: &Common, spec: &PingSpec) -> CheckOutcome {
    let name = common.name.as_str();
    let limit = common.timeout.std();
    let started = Instant::now();
    let deadline = started + limit;
    if let (PingMethod::Tcp, Some(port)) = (spec.method, spec.fallback_port) {
        return by_tcp(common, spec, port, false, deadline).await;
    }
    let addrs = match net::resolve(name, &spec.host, 0, &spec.host, deadline, limit).await {
        Ok(addrs) => addrs,
        Err(outcome) => return outcome,
    };
    let ip = addrs[0].ip();
    let (socket, via) = match IcmpSocket::open(ip) {
        Ok(opened) => opened,
        Err(refused) if refused.kind() == io::ErrorKind::PermissionDenied => {
            return match (spec.method, spec.fallback_port) {
                (PingMethod::Auto, Some(port)) => by_tcp(common, spec, port, true, deadline).await,
                _ => not_permitted(name, &refused),
            };
        }
        Err(err) => {
            return CheckOutcome::failed(
                FailureKind::Other,
                format!(
                    "{name} cannot be pinged: this computer could not open an ICMP socket ({err})."
                ),
            );
        }
    };
    let spacing = SPACING.min(limit / (2 * u32::from(spec.count)));
    let echoes = socket.echo(ip, spec.count, spacing, deadline).await;
    let target = Target {
        name,
        host: &spec.host,
        ip,
    };
    judge(&target, &via, &echoes, spec.max_loss, limit)
}

/// ICMP is not permitted and there is no port to fall back to.
fn not_permitted(name: &str, refused: &io::Error) -> CheckOutcome {
    CheckOutcome::failed(
        FailureKind::ConfigError,
        format!(
            "{name} cannot be pinged: this computer does not let keepwatch send ICMP ({refused}); {ICMP_PERMISSION_HINT}, or set `fallback_port` (e.g. 22 or 443) to check the host with a TCP connection instead."
        ),
    )
}

/// Checks the host with a TCP connection to `port`: an accepted or refused
/// connection both mean it is up.
async fn by_tcp(
    common: &Common,
    spec: &PingSpec,
    port: u16,
    icmp_not_permitted: bool,
    deadline: Instant,
) -> CheckOutcome {
    let name = common.name.as_str();
    let via = Via::Tcp {
        port,
        icmp_not_permitted,
    };
    let remaining = deadline.saturating_duration_since(Instant::now());
    let within = Common {
        timeout: remaining.into(),
        ..common.clone()
    };
    let tcp = TcpSpec {
        host: spec.host.clone(),
        port,
        expect_banner: None,
    };
    let started = Instant::now();
    let outcome = tcp::run(&within, &tcp).await;
    let took = started.elapsed();
    match outcome.kind {
        None => CheckOutcome::up(format!(
            "{name} is up: {} accepted a connection {via} in {}.",
            spec.host,
            round_trip(took)
        ))
        .with_response_time(outcome.response_time.unwrap_or(took))
        .with_phases(outcome.phases),
        Some(FailureKind::ConnectionRefused) => CheckOutcome::up(format!(
            "{name} is up: {} refused a connection {via} in {}, which proves the host answers.",
            spec.host,
            round_trip(took)
        ))
        .with_response_time(took),
        Some(_) => {
            let cause = outcome.explanation.trim_end_matches('.');
            CheckOutcome {
                explanation: format!("{cause} (checked {via})."),
                ..outcome
            }
        }
    }
}

/// What came back from the echo requests of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Echoes {
    /// Requests sent.
    pub sent: u8,
    /// The round-trip time of each answered request.
    pub round_trips: Vec<Duration>,
    /// Why requests went unanswered, when the network said so (a router's
    /// "destination unreachable", or the system finding no route).
    pub unreachable: Option<String>,
}

impl Echoes {
    /// Lost requests, in percent of those sent (100 when none was sent).
    pub fn loss_percent(&self) -> u8 {
        if self.sent == 0 {
            return 100;
        }
        let lost = usize::from(self.sent).saturating_sub(self.round_trips.len());
        let percent = (lost * 100 + usize::from(self.sent) / 2) / usize::from(self.sent);
        u8::try_from(percent).unwrap_or(100)
    }

    fn average(&self) -> Option<Duration> {
        let count = u32::try_from(self.round_trips.len())
            .ok()
            .filter(|n| *n > 0)?;
        Some(self.round_trips.iter().sum::<Duration>() / count)
    }

    fn max(&self) -> Option<Duration> {
        self.round_trips.iter().max().copied()
    }
}

/// The host a run pinged, for wording.
struct Target<'a> {
    name: &'a str,
    host: &'a str,
    ip: IpAddr,
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(_) => f.write_str(bare),
            Err(_) => write!(f, "{bare} ({})", self.ip),
        }
    }
}

/// The outcome of a run that sent echo requests: down when none was
/// answered, degraded when more were lost than allowed.
fn judge(
    target: &Target<'_>,
    via: &Via,
    echoes: &Echoes,
    max_loss: u8,
    limit: Duration,
) -> CheckOutcome {
    let name = target.name;
    let sent = echoes.sent;
    let answered = echoes.round_trips.len();
    let (Some(average), Some(max)) = (echoes.average(), echoes.max()) else {
        let explanation = match &echoes.unreachable {
            Some(reason) => format!(
                "{name} cannot be reached at {target} ({reason}; {sent} pings tried {via}): the machine may be off, or the network path to it is broken."
            ),
            None => format!(
                "{name} answered none of {sent} pings to {target} {via} within {} (100% packet loss): the host may be off or disconnected, or a firewall drops pings (then check it with `method = \"tcp\"` and a `fallback_port`).",
                short_duration(limit)
            ),
        };
        return CheckOutcome::failed(FailureKind::HostUnreachable, explanation);
    };
    let times = format!(
        "round trip average {}, max {}",
        round_trip(average),
        round_trip(max)
    );
    let loss = echoes.loss_percent();
    let outcome = if loss > max_loss {
        CheckOutcome::failed(
            FailureKind::PacketLoss,
            format!(
                "{name} answered {answered} of {sent} pings to {target} {via}: {loss}% packet loss, over the {max_loss}% allowed ({times}); the network path to it is unreliable: check cables, Wi-Fi and how busy the link is."
            ),
        )
    } else {
        CheckOutcome::up(format!(
            "{name} answered {answered} of {sent} pings to {target} {via} ({times})."
        ))
    };
    outcome.with_response_time(average)
}

/// Identifiers of echo requests, different for each run so that runs
/// sharing raw sockets do not take each other's answers.
fn next_identifier() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Truncating the process id only spreads the start between processes.
    let base = std::process::id() as u16;
    base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Whether this process may ping at all, and how: the way a check would
/// open its socket, without sending anything (`keepwatch doctor` asks this).
/// The error is the system's reason for refusing a raw socket.
pub fn icmp_access() -> io::Result<Via> {
    icmp_socket(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)).map(|(_, via)| via)
}

/// The unprivileged ICMP socket if permitted, else a raw one.
fn icmp_socket(ip: IpAddr) -> io::Result<(Socket, Via)> {
    let (domain, protocol) = match ip {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(socket) => Ok((socket, Via::UnprivilegedIcmp)),
        Err(_) => Ok((
            Socket::new(domain, Type::RAW, Some(protocol))?,
            Via::RawIcmp,
        )),
    }
}

/// An ICMP socket of either kind, readable with tokio.
struct IcmpSocket {
    socket: UdpSocket,
    /// Linux rewrites the identifier of requests on unprivileged sockets, and
    /// only delivers the socket's own answers to it.
    kernel_identifier: bool,
}

impl IcmpSocket {
    /// The unprivileged socket if permitted, else a raw one; when neither
    /// is, the system's reason for refusing the raw one (Windows has no
    /// unprivileged kind at all).
    fn open(ip: IpAddr) -> io::Result<(Self, Via)> {
        let (socket, via) = icmp_socket(ip)?;
        socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(socket.into())?;
        let kernel_identifier = cfg!(target_os = "linux") && via == Via::UnprivilegedIcmp;
        Ok((
            Self {
                socket,
                kernel_identifier,
            },
            via,
        ))
    }

    /// Sends `count` echo requests `spacing` apart and collects the answers
    /// until all came or `deadline` passes.
    async fn echo(&self, ip: IpAddr, count: u8, spacing: Duration, deadline: Instant) -> Echoes {
        let identifier = next_identifier();
        let count = usize::from(count);
        let mut sent_at: Vec<Instant> = Vec::with_capacity(count);
        // Answered, or known never to be: no use waiting for it.
        let mut settled = vec![false; count];
        let mut echoes = Echoes::default();
        let mut next_send = Instant::now();
        let mut buffer = [0_u8; 1500];
        let to = SocketAddr::new(ip, 0);
        while !settled.iter().all(|done| *done) {
            let wake = if sent_at.len() == count {
                deadline
            } else {
                next_send.min(deadline)
            };
            tokio::select! {
                () = sleep_until(wake) => {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let sequence = sent_at.len();
                    let request = echo_request(ip, identifier, u16::try_from(sequence).unwrap_or(u16::MAX));
                    sent_at.push(Instant::now());
                    echoes.sent += 1;
                    next_send += spacing;
                    if let Err(err) = self.socket.send_to(&request, to).await {
                        settled[sequence] = true;
                        echoes.unreachable.get_or_insert_with(|| unreachable_reason(&err));
                    }
                }
                received = self.socket.recv_from(&mut buffer) => {
                    let at = Instant::now();
                    let Ok((length, from)) = received else {
                        continue;
                    };
                    let expected = (!self.kernel_identifier).then_some(identifier);
                    let (sequence, unreachable) = match parse_reply(&buffer[..length], ip, from.ip(), expected) {
                        Some(Reply::Echo(sequence)) => (sequence, None),
                        Some(Reply::Unreachable(sequence, reason)) => (sequence, Some(reason)),
                        None => continue,
                    };
                    let index = usize::from(sequence);
                    let (Some(sent), Some(done)) = (sent_at.get(index), settled.get_mut(index)) else {
                        continue;
                    };
                    if *done {
                        continue;
                    }
                    *done = true;
                    match unreachable {
                        None => echoes.round_trips.push(at - *sent),
                        Some(reason) => {
                            echoes.unreachable.get_or_insert(reason);
                        }
                    }
                }
            }
        }
        echoes
    }
}

fn unreachable_reason(err: &io::Error) -> String {
    match net::io_kind(err) {
        Some(FailureKind::HostUnreachable) => "no route to the host".to_owned(),
        _ => format!("the system could not send or receive: {err}"),
    }
}

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const UNREACHABLE_V4: u8 = 3;
const TIME_EXCEEDED_V4: u8 = 11;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const UNREACHABLE_V6: u8 = 1;
const TIME_EXCEEDED_V6: u8 = 3;

/// Payload of every request, so a capture shows who sent it.
const PAYLOAD: &[u8; 16] = b"keepwatch ping  ";

/// An echo request. ICMPv6 checksums cover an IP pseudo-header the kernel
/// fills in for ICMPv6 sockets, so only ICMPv4 ones are computed here.
fn echo_request(ip: IpAddr, identifier: u16, sequence: u16) -> Vec<u8> {
    let kind = if ip.is_ipv4() {
        ECHO_REQUEST_V4
    } else {
        ECHO_REQUEST_V6
    };
    let mut packet = vec![kind, 0, 0, 0];
    packet.extend_from_slice(&identifier.to_be_bytes());
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(PAYLOAD);
    if ip.is_ipv4() {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // After folding, the sum fits in 16 bits.
    !(sum as u16)
}

/// What an ICMP packet says about one of our requests.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    /// The answer to the request with this sequence number.
    Echo(u16),
    /// A router (or the host) reports the request with this sequence number
    /// could not be delivered, and why.
    Unreachable(u16, String),
}

/// Reads a received packet: an answer from `target` to one of our requests
/// (with `identifier`, unless the kernel matches identifiers itself), or an
/// error about one. Anything else (other programs' pings, our own requests
/// seen on loopback) is `None`.
fn parse_reply(
    packet: &[u8],
    target: IpAddr,
    from: IpAddr,
    identifier: Option<u16>,
) -> Option<Reply> {
    let icmp = skip_ipv4_header(packet);
    let (&kind, _) = icmp.split_first()?;
    let ours = |quoted: &[u8]| {
        quoted.len() >= 8 && identifier.is_none_or(|id| quoted[4..6] == id.to_be_bytes())
    };
    let (echo_reply, unreachable, time_exceeded) = match target {
        IpAddr::V4(_) => (ECHO_REPLY_V4, UNREACHABLE_V4, TIME_EXCEEDED_V4),
        IpAddr::V6(_) => (ECHO_REPLY_V6, UNREACHABLE_V6, TIME_EXCEEDED_V6),
    };
    if kind == echo_reply {
        return (from == target && ours(icmp))
            .then(|| Reply::Echo(u16::from_be_bytes([icmp[6], icmp[7]])));
    }
    if kind != unreachable && kind != time_exceeded {
        return None;
    }
    // An error quotes the IP header and the first 8 bytes of our request.
    let quoted = icmp.get(8..)?;
    let (destination, request) = match target {
        IpAddr::V4(_) => {
            let header = usize::from(quoted.first()? & 0x0f) * 4;
            let destination: [u8; 4] = quoted.get(16..20)?.try_into().ok()?;
            (IpAddr::from(destination), quoted.get(header..)?)
        }
        IpAddr::V6(_) => {
            let destination: [u8; 16] = quoted.get(24..40)?.try_into().ok()?;
            (IpAddr::from(destination), quoted.get(40..)?)
        }
    };
    if destination != target || !ours(request) {
        return None;
    }
    let reason = if kind == time_exceeded {
        format!("the packets expired on the way, in a routing loop, as {from} reports")
    } else {
        format!("destination unreachable, as {from} reports")
    };
    Some(Reply::Unreachable(
        u16::from_be_bytes([request[6], request[7]]),
        reason,
    ))
}

/// The ICMP message of an IPv4 packet with its header (raw sockets, and
/// unprivileged ones on macOS), or the packet itself.
fn skip_ipv4_header(packet: &[u8]) -> &[u8] {
    match packet.first() {
        Some(first) if first >> 4 == 4 => {
            let length = usize::from(first & 0x0f) * 4;
            packet.get(length..).unwrap_or_default()
        }
        _ => packet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
    const ROUTER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn target() -> Target<'static> {
        Target {
            name: "Office router",
            host: "router.lan",
            ip: HOST,
        }
    }

    fn echoes(sent: u8, answered_ms: &[u64]) -> Echoes {
        Echoes {
            sent,
            round_trips: answered_ms
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
            unreachable: None,
        }
    }

    fn ipv4_header(source: IpAddr, destination: IpAddr) -> Vec<u8> {
        let (IpAddr::V4(source), IpAddr::V4(destination)) = (source, destination) else {
            unreachable!()
        };
        let mut header = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        header.extend_from_slice(&source.octets());
        header.extend_from_slice(&destination.octets());
        header
    }

    fn reply(identifier: u16, sequence: u16) -> Vec<u8> {
        let mut packet = echo_request(HOST, identifier, sequence);
        packet[0] = ECHO_REPLY_V4;
        packet
    }

    #[test]
    fn settings_read_with_defaults_and_check_their_ranges() {
        let spec: PingSpec = toml::from_str("host = \"router.lan\"").unwrap();
        assert_eq!(spec, PingSpec::new("router.lan"));
        assert_eq!((spec.count, spec.max_loss), (3, 20));
        let spec: PingSpec = toml::from_str(
            "host = \"h\"\nmethod = \"tcp\"\nfallback_port = 22\ncount = 5\nmax_loss = 0",
        )
        .unwrap();
        assert_eq!(spec.method, PingMethod::Tcp);
        assert_eq!(spec.fallback_port, Some(22));
        let text = toml::to_string(&spec).unwrap();
        assert_eq!(toml::from_str::<PingSpec>(&text).unwrap(), spec);

        for (bad, expected) in [
            ("count = 0", "`count` must be from 1 to 20"),
            ("count = 300", "`count` must be from 1 to 20"),
            ("max_loss = 101", "`max_loss` is a percentage"),
            ("fallback_port = 0", "`fallback_port` must be a TCP port"),
            (
                "fallback_port = 70000",
                "`fallback_port` must be a TCP port",
            ),
            (
                "method = \"tcp\"",
                "`method = \"tcp\"` needs `fallback_port`",
            ),
            ("method = \"udp\"", "unknown variant `udp`"),
            ("port = 22", "unknown field `port`"),
        ] {
            let err = toml::from_str::<PingSpec>(&format!("host = \"h\"\n{bad}")).unwrap_err();
            assert!(err.message().contains(expected), "{bad}: {}", err.message());
        }
    }

    #[test]
    fn loss_is_a_rounded_percentage() {
        assert_eq!(echoes(3, &[1, 1, 1]).loss_percent(), 0);
        assert_eq!(echoes(3, &[1, 1]).loss_percent(), 33);
        assert_eq!(echoes(3, &[1]).loss_percent(), 67);
        assert_eq!(echoes(3, &[]).loss_percent(), 100);
        assert_eq!(echoes(0, &[]).loss_percent(), 100);
    }

    #[test]
    fn all_answered_is_up_with_the_method_and_times() {
        let outcome = judge(
            &target(),
            &Via::RawIcmp,
            &echoes(3, &[2, 4, 3]),
            20,
            Duration::from_secs(5),
        );
        assert!(outcome.is_up());
        assert_eq!(
            outcome.explanation,
            "Office router answered 3 of 3 pings to router.lan (192.0.2.7) via raw ICMP (round trip average 3.0 ms, max 4.0 ms)."
        );
        assert_eq!(outcome.response_time, Some(Duration::from_millis(3)));
    }

    #[test]
    fn loss_over_the_allowance_is_degraded_and_under_it_up() {
        let lossy = echoes(3, &[2, 4]);
        let outcome = judge(
            &target(),
            &Via::UnprivilegedIcmp,
            &lossy,
            20,
            Duration::from_secs(5),
        );
        assert_eq!(outcome.kind, Some(FailureKind::PacketLoss));
        assert_eq!(outcome.state, crate::vocabulary::State::Degraded);
        assert!(
            outcome.explanation.starts_with(
                "Office router answered 2 of 3 pings to router.lan (192.0.2.7) via unprivileged ICMP: 33% packet loss, over the 20% allowed"
            ),
            "{}",
            outcome.explanation
        );
        let outcome = judge(
            &target(),
            &Via::UnprivilegedIcmp,
            &lossy,
            40,
            Duration::from_secs(5),
        );
        assert!(outcome.is_up(), "{outcome:?}");
    }

    #[test]
    fn nothing_answered_is_down_and_says_whether_the_network_knew_why() {
        let outcome = judge(
            &target(),
            &Via::RawIcmp,
            &echoes(3, &[]),
            20,
            Duration::from_secs(5),
        );
        assert_eq!(outcome.kind, Some(FailureKind::HostUnreachable));
        assert!(
            outcome.explanation.starts_with(
                "Office router answered none of 3 pings to router.lan (192.0.2.7) via raw ICMP within 5 s (100% packet loss)"
            ),
            "{}",
            outcome.explanation
        );
        let mut lost = echoes(3, &[]);
        lost.unreachable = Some("destination unreachable, as 192.0.2.1 reports".into());
        let outcome = judge(&target(), &Via::RawIcmp, &lost, 20, Duration::from_secs(5));
        assert_eq!(outcome.kind, Some(FailureKind::HostUnreachable));
        assert!(
            outcome.explanation.starts_with(
                "Office router cannot be reached at router.lan (192.0.2.7) (destination unreachable, as 192.0.2.1 reports; 3 pings tried via raw ICMP)"
            ),
            "{}",
            outcome.explanation
        );
    }

    #[test]
    fn the_tcp_method_says_why_icmp_was_not_used() {
        let chosen = Via::Tcp {
            port: 22,
            icmp_not_permitted: false,
        };
        assert_eq!(chosen.to_string(), "via TCP port 22");
        let fallen_back = Via::Tcp {
            port: 443,
            icmp_not_permitted: true,
        };
        assert!(
            fallen_back
                .to_string()
                .starts_with("via TCP port 443 (ICMP not permitted: "),
            "{fallen_back}"
        );
    }

    #[test]
    fn an_ip_address_is_not_repeated() {
        let target = Target {
            name: "x",
            host: "[::1]",
            ip: "::1".parse().unwrap(),
        };
        assert_eq!(target.to_string(), "::1");
    }

    #[test]
    fn requests_carry_identifier_sequence_and_a_valid_checksum() {
        let packet = echo_request(HOST, 0x1234, 7);
        assert_eq!(&packet[..2], &[ECHO_REQUEST_V4, 0]);
        assert_eq!(&packet[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(
            checksum(&packet),
            0,
            "a packet with its checksum sums to zero"
        );
        let v6 = echo_request("::1".parse().unwrap(), 1, 2);
        assert_eq!(v6[0], ECHO_REQUEST_V6);
        assert_eq!(checksum(&[0x45, 0x00, 0x00]), !0x4500);
    }

    #[test]
    fn replies_are_read_with_or_without_an_ip_header() {
        let bare = reply(9, 2);
        assert_eq!(
            parse_reply(&bare, HOST, HOST, Some(9)),
            Some(Reply::Echo(2))
        );
        assert_eq!(parse_reply(&bare, HOST, HOST, None), Some(Reply::Echo(2)));
        let mut framed = ipv4_header(HOST, ROUTER);
        framed.extend_from_slice(&bare);
        assert_eq!(
            parse_reply(&framed, HOST, HOST, Some(9)),
            Some(Reply::Echo(2))
        );

        // Someone else's ping, an answer from another host, our own request.
        assert_eq!(parse_reply(&bare, HOST, HOST, Some(10)), None);
        assert_eq!(parse_reply(&bare, HOST, ROUTER, Some(9)), None);
        assert_eq!(
            parse_reply(&echo_request(HOST, 9, 2), HOST, HOST, Some(9)),
            None
        );
        assert_eq!(parse_reply(&[], HOST, HOST, None), None);
        assert_eq!(parse_reply(&[0, 0, 0], HOST, HOST, Some(9)), None);
    }

    #[test]
    fn errors_about_our_requests_say_who_reported_them() {
        let error = |kind: u8, identifier: u16| {
            let mut packet = ipv4_header(ROUTER, "192.0.2.100".parse().unwrap());
            packet.extend_from_slice(&[kind, 1, 0, 0, 0, 0, 0, 0]);
            packet.extend_from_slice(&ipv4_header("192.0.2.100".parse().unwrap(), HOST));
            packet.extend_from_slice(&echo_request(HOST, identifier, 0)[..8]);
            packet
        };
        assert_eq!(
            parse_reply(&error(UNREACHABLE_V4, 9), HOST, ROUTER, Some(9)),
            Some(Reply::Unreachable(
                0,
                "destination unreachable, as 192.0.2.1 reports".into()
            ))
        );
        let Some(Reply::Unreachable(_, reason)) =
            parse_reply(&error(TIME_EXCEEDED_V4, 9), HOST, ROUTER, Some(9))
        else {
            panic!()
        };
        assert!(reason.contains("routing loop"), "{reason}");
        assert_eq!(
            parse_reply(&error(UNREACHABLE_V4, 8), HOST, ROUTER, Some(9)),
            None
        );
        assert_eq!(
            parse_reply(&error(UNREACHABLE_V4, 9), ROUTER, ROUTER, Some(9)),
            None,
            "about another destination"
        );
    }

    #[test]
    fn ipv6_replies_and_errors_are_read() {
        let host: IpAddr = "2001:db8::7".parse().unwrap();
        let router: IpAddr = "2001:db8::1".parse().unwrap();
        let mut answer = echo_request(host, 5, 1);
        answer[0] = ECHO_REPLY_V6;
        assert_eq!(
            parse_reply(&answer, host, host, Some(5)),
            Some(Reply::Echo(1))
        );

        let mut error = vec![UNREACHABLE_V6, 3, 0, 0, 0, 0, 0, 0];
        let mut quoted_header = vec![0x60; 8];
        quoted_header.extend_from_slice(&[0; 16]);
        let IpAddr::V6(destination) = host else {
            unreachable!()
        };
        quoted_header.extend_from_slice(&destination.octets());
        error.extend_from_slice(&quoted_header);
        error.extend_from_slice(&echo_request(host, 5, 1)[..8]);
        assert!(matches!(
            parse_reply(&error, host, router, Some(5)),
            Some(Reply::Unreachable(1, _))
        ));
    }

    #[test]
    fn identifiers_differ_between_runs() {
        assert_ne!(next_identifier(), next_identifier());
    }
}
