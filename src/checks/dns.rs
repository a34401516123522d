//! `type = "dns"`: a name resolves, optionally to the expected answer, at this
//! computer's DNS servers or at a given one.
//!
//! The query goes to DNS itself (hickory's resolver), not through the
//! operating system's lookup, which would also read the hosts file and could
//! hide a broken zone. Each run builds its own resolver without a cache, so
//! every run asks the server again.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::time::timeout_at;

use super::net::{self, Stage};
use super::wording::{possessive, quote};
use super::{CheckOutcome, Common};
use crate::plain::short_duration;
use crate::vocabulary::FailureKind;

/// Settings of a DNS check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSpec {
    /// The name to look up, e.g. `shop.example.com` (always asked as a full
    /// name: no search domains are appended).
    #[serde(deserialize_with = "domain")]
    pub domain: String,
    /// The record type to ask for: A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT or CAA.
    #[serde(default)]
    pub record_type: DnsRecordType,
    /// The DNS server to ask, `"192.0.2.53"` or `"127.0.0.1:5353"`; unset
    /// means the servers this computer uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<DnsServer>,
    /// An answer must be exactly this (an address, a name, `10 mail.example.com`
    /// or just `mail.example.com` for MX, the text of a TXT record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// An answer must contain this text (e.g. `v=spf1` in a TXT record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_contains: Option<String>,
}

impl DnsSpec {
    /// An A lookup of `domain` at this computer's DNS servers.
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            record_type: DnsRecordType::default(),
            server: None,
            expect: None,
            expect_contains: None,
        }
    }
}

fn domain<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let domain = String::deserialize(deserializer)?;
    query_name(&domain).map_err(de::Error::custom)?;
    Ok(domain)
}

/// A record type a DNS check can ask for; `A` unless set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsRecordType(RecordType);

impl DnsRecordType {
    /// The types a check can ask for, as written in the config.
    pub const SUPPORTED: [RecordType; 10] = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::CNAME,
        RecordType::MX,
        RecordType::NS,
        RecordType::PTR,
        RecordType::SOA,
        RecordType::SRV,
        RecordType::TXT,
        RecordType::CAA,
    ];
}

impl Default for DnsRecordType {
    fn default() -> Self {
        Self(RecordType::A)
    }
}

impl fmt::Display for DnsRecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for DnsRecordType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let wanted = text.trim().to_ascii_uppercase();
        Self::SUPPORTED
            .into_iter()
            .find(|t| t.to_string() == wanted)
            .map(Self)
            .ok_or_else(|| {
                let known: Vec<String> = Self::SUPPORTED.iter().map(|t| t.to_string()).collect();
                format!(
                    "`{text}` is not a record type a DNS check can ask for; use one of {}",
                    known.join(", ")
                )
            })
    }
}

crate::units::string_serde!(
    DnsRecordType,
    "a record type in quotes, e.g. \"A\" or \"MX\""
);

/// The address of a DNS server: an IP address, port 53 unless given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsServer(pub SocketAddr);

impl FromStr for DnsServer {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Self(addr));
        }
        let bare = text.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>()
            .map(|ip| Self(SocketAddr::new(ip, 53)))
            .map_err(|_| {
                format!(
                    "`{text}` is not a DNS server address: give its IP address, e.g. \"192.0.2.53\" or \"127.0.0.1:5353\" (a name would itself need DNS)"
                )
            })
    }
}

impl fmt::Display for DnsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

crate::units::string_serde!(
    DnsServer,
    "a DNS server address in quotes, e.g. \"127.0.0.1:5353\""
);

/// Asks for the record within the service's timeout and judges the answers.
pub(crate) async fn run(common: &Common, spec: &DnsSpec) -> CheckOutcome {
    let name = common.name.as_str();
    let limit = common.timeout.std();
    let query = match query_name(&spec.domain) {
        Ok(query) => query,
        Err(problem) => {
            return config_error(
                name,
                &format!("{problem}; fix it in the service's settings"),
            );
        }
    };
    let (resolver, asked) = match resolver(spec.server, limit) {
        Ok(built) => built,
        Err(problem) => return config_error(name, &problem),
    };
    let record_type = spec.record_type;
    let started = Instant::now();
    // On the clock `timeout_at` reads (they differ on a paused test clock).
    let deadline = tokio::time::Instant::now() + limit;
    let lookup = timeout_at(deadline, resolver.lookup(query, record_type.0));
    let result = match spec.server {
        Some(DnsServer(server)) => tokio::select! {
            result = lookup => result,
            refused = refusal(server) => Ok(Err(NetError::from(refused))),
        },
        None => lookup.await,
    };
    let took = started.elapsed();
    let looked_up = Lookup {
        name,
        domain: spec.domain.trim_end_matches('.'),
        record_type,
        asked: &asked,
        limit,
    };
    let outcome = match result {
        Err(_) => looked_up.timeout(),
        Ok(Err(err)) => looked_up.failure(&err),
        Ok(Ok(lookup)) => {
            let answers: Vec<Answer> = lookup
                .answers()
                .iter()
                .filter(|record| record.record_type() == record_type.0)
                .map(|record| Answer::new(&record.data))
                .collect();
            looked_up.judge(spec, &answers, took)
        }
    };
    match outcome.kind {
        Some(FailureKind::Timeout | FailureKind::ConnectionRefused) => outcome,
        _ => outcome
            .with_response_time(took)
            .with_phases(vec![("dns", took)]),
    }
}

/// The name as a fully qualified DNS name, so the search list never applies.
fn query_name(domain: &str) -> Result<Name, String> {
    let mut query = Name::from_utf8(domain.trim())
        .map_err(|err| format!("`domain` {} is not a valid DNS name ({err})", quote(domain)))?;
    query.set_fqdn(true);
    Ok(query)
}

/// Whom a query goes to, as a sentence names it.
#[derive(Debug, Clone, PartialEq)]
struct Asked {
    /// `127.0.0.1:5353`, or `192.0.2.53 and 192.0.2.54`.
    servers: String,
    /// Whether these are this computer's own DNS servers.
    system: bool,
    several: bool,
}

impl fmt::Display for Asked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whose = if self.system {
            "this computer's"
        } else {
            "the"
        };
        let servers = if self.several { "servers" } else { "server" };
        write!(f, "{whose} DNS {servers} {}", self.servers)
    }
}

/// A resolver asking `server`, or this computer's DNS servers.
fn resolver(server: Option<DnsServer>, limit: Duration) -> Result<(TokioResolver, Asked), String> {
    let (config, mut options, asked) = match server {
        Some(DnsServer(addr)) => {
            let mut server = NameServerConfig::udp_and_tcp(addr.ip());
            for connection in &mut server.connections {
                connection.port = addr.port();
            }
            let asked = Asked {
                servers: net::target(&addr.ip().to_string(), addr.port()),
                system: false,
                several: false,
            };
            let config = ResolverConfig::from_name_servers(vec![server]);
            (config, ResolverOpts::default(), asked)
        }
        None => {
            let (config, options) =
                hickory_resolver::system_conf::read_system_conf().map_err(|err| {
                    let err = err.to_string();
                    let reason = err.strip_prefix("io error: ").unwrap_or(&err);
                    format!(
                        "this computer's DNS settings cannot be read ({reason}); give the computer a DNS server, or set `server` in the service's settings"
                    )
                })?;
            let mut servers: Vec<String> = Vec::new();
            for server in config.name_servers() {
                let ip = server.ip.to_string();
                if !servers.contains(&ip) {
                    servers.push(ip);
                }
            }
            let Some((last, rest)) = servers.split_last() else {
                return Err("this computer has no DNS server configured; give it one, or set `server` in the service's settings".to_owned());
            };
            let asked = Asked {
                servers: if rest.is_empty() {
                    last.clone()
                } else {
                    format!("{} and {last}", rest.join(", "))
                },
                system: true,
                several: !rest.is_empty(),
            };
            (config, options, asked)
        }
    };
    options.timeout = limit;
    // The UDP transport resends within the timeout by itself; a second
    // attempt would only run past it.
    options.attempts = 1;
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    options.try_tcp_on_error = true;
    let resolver = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(options)
        .build()
        .map_err(|err| format!("the DNS resolver cannot be set up ({err})"))?;
    Ok((resolver, asked))
}

/// Completes only when nothing listens on the server's UDP port. The
/// resolver's sockets are not connected, so they never hear the "port
/// unreachable" that says so; a connected socket does. It sends an empty
/// datagram, which a DNS server drops without answering.
async fn refusal(server: SocketAddr) -> io::Error {
    let probe: io::Result<()> = async {
        let local = match server {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(server).await?;
        socket.send(&[]).await?;
        let mut byte = [0_u8; 1];
        loop {
            socket.recv(&mut byte).await?;
        }
    }
    .await;
    match probe {
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => err,
        _ => std::future::pending().await,
    }
}

fn config_error(name: &str, problem: &str) -> CheckOutcome {
    CheckOutcome::failed(
        FailureKind::ConfigError,
        format!("{name} cannot be checked: {problem}."),
    )
}

/// One answer, as quoted in a sentence and as compared with `expect`.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    /// The record's data as a zone file writes it, without trailing dots.
    text: String,
    /// What `expect` may name instead of the whole text: the host of an MX
    /// or SRV record.
    target: Option<String>,
    /// TXT records are free text; everything else compares without case.
    exact_case: bool,
}

impl Answer {
    fn new(data: &RData) -> Self {
        let bare = |name: &Name| name.to_utf8().trim_end_matches('.').to_owned();
        let (text, target) = match data {
            RData::MX(mx) => (
                format!("{} {}", mx.preference, bare(&mx.exchange)),
                Some(bare(&mx.exchange)),
            ),
            RData::SRV(srv) => (
                format!(
                    "{} {} {} {}",
                    srv.priority,
                    srv.weight,
                    srv.port,
                    bare(&srv.target)
                ),
                Some(bare(&srv.target)),
            ),
            RData::CNAME(target) => (bare(&target.0), None),
            RData::NS(target) => (bare(&target.0), None),
            RData::PTR(target) => (bare(&target.0), None),
            other => (other.to_string(), None),
        };
        Self {
            text,
            target,
            exact_case: matches!(data, RData::TXT(_)),
        }
    }

    fn equals(&self, expected: &str) -> bool {
        let expected = expected.trim();
        let expected = expected.strip_suffix('.').unwrap_or(expected);
        if let (Ok(found), Ok(wanted)) = (self.text.parse::<IpAddr>(), expected.parse::<IpAddr>()) {
            return found == wanted;
        }
        let same = |found: &str| {
            if self.exact_case {
                found == expected
            } else {
                found.eq_ignore_ascii_case(expected)
            }
        };
        same(&self.text) || self.target.as_deref().is_some_and(same)
    }

    fn contains(&self, needle: &str) -> bool {
        if self.exact_case {
            self.text.contains(needle)
        } else {
            self.text.to_lowercase().contains(&needle.to_lowercase())
        }
    }

    fn shown(&self) -> String {
        if self.exact_case {
            quote(&self.text)
        } else {
            self.text.clone()
        }
    }
}

/// The answers as a short list: `a`, `a and b`, `a, b, c and 4 more`.
fn listed(answers: &[Answer]) -> String {
    const SHOWN: usize = 3;
    let mut items: Vec<String> = answers.iter().take(SHOWN).map(Answer::shown).collect();
    if answers.len() > SHOWN {
        items.push(format!("{} more", answers.len() - SHOWN));
    }
    match items.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "nothing".to_owned(),
    }
}

/// One lookup, for wording its result.
struct Lookup<'a> {
    name: &'a str,
    domain: &'a str,
    record_type: DnsRecordType,
    asked: &'a Asked,
    limit: Duration,
}

impl Lookup<'_> {
    fn judge(&self, spec: &DnsSpec, answers: &[Answer], took: Duration) -> CheckOutcome {
        let Self {
            name,
            domain,
            record_type,
            asked,
            ..
        } = self;
        if answers.is_empty() {
            return self.no_records();
        }
        let records = format!("{} {record_type} records", possessive(domain));
        if let Some(expected) = &spec.expect
            && !answers.iter().any(|answer| answer.equals(expected))
        {
            return CheckOutcome::failed(
                FailureKind::DnsMismatch,
                format!(
                    "{name}: {records} are {}, not the expected {}: the zone was changed, or still points at an old server; correct the record (or `expect`).",
                    listed(answers),
                    expected.trim()
                ),
            );
        }
        if let Some(needle) = &spec.expect_contains
            && !answers.iter().any(|answer| answer.contains(needle))
        {
            return CheckOutcome::failed(
                FailureKind::DnsMismatch,
                format!(
                    "{name}: none of {records} contains {} (found {}): the zone was changed or the record is missing; correct the record (or `expect_contains`).",
                    quote(needle),
                    listed(answers)
                ),
            );
        }
        CheckOutcome::up(format!(
            "{name}: {domain} has {record_type} {} ({} answered in {}).",
            listed(answers),
            asked,
            short_duration(took)
        ))
    }

    /// The name exists, but not with a record of this type.
    fn no_records(&self) -> CheckOutcome {
        let Self {
            name,
            domain,
            record_type,
            asked,
            ..
        } = self;
        CheckOutcome::failed(
            FailureKind::DnsFailure,
            format!(
                "{name}: {domain} exists but has no {record_type} record ({asked} answered with none): add the record to the DNS zone, or check `record_type`."
            ),
        )
    }

    fn timeout(&self) -> CheckOutcome {
        let Self {
            name, asked, limit, ..
        } = self;
        CheckOutcome::failed(
            FailureKind::Timeout,
            format!(
                "{name}: {asked} did not answer within {} (timeout): the DNS server may be down or overloaded, or a firewall drops DNS traffic (port 53, UDP and TCP).",
                short_duration(*limit)
            ),
        )
    }

    fn failure(&self, err: &NetError) -> CheckOutcome {
        let Self {
            name,
            domain,
            asked,
            ..
        } = self;
        let (kind, cause) = match err {
            NetError::Dns(DnsError::NoRecordsFound(NoRecords {
                response_code: ResponseCode::NXDomain,
                ..
            })) => (
                FailureKind::DnsFailure,
                format!(
                    "the name {domain} does not exist (NXDOMAIN): check the spelling or the DNS zone"
                ),
            ),
            NetError::Dns(DnsError::NoRecordsFound(_)) => return self.no_records(),
            NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => (
                FailureKind::DnsFailure,
                format!(
                    "{asked} could not resolve {domain} (SERVFAIL): the zone's own servers may be unreachable or misconfigured"
                ),
            ),
            NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => (
                FailureKind::DnsFailure,
                format!(
                    "{asked} refused to answer for {domain} (REFUSED): it does not serve this zone, or does not answer queries from this computer"
                ),
            ),
            NetError::Dns(DnsError::ResponseCode(code)) => (
                FailureKind::DnsFailure,
                format!("{asked} answered the query for {domain} with the error {code}"),
            ),
            NetError::Timeout => return self.timeout(),
            NetError::Io(io) => {
                if let Some(kind) = net::io_kind(io) {
                    return net::failure(kind, name, &asked.servers, Stage::Connecting, self.limit);
                }
                (
                    FailureKind::Other,
                    format!("{asked} could not be asked ({io})"),
                )
            }
            NetError::Proto(proto) => (
                FailureKind::ProtocolError,
                format!(
                    "{asked} did not answer in DNS ({proto}): check that the address is a DNS server"
                ),
            ),
            other => (
                FailureKind::Other,
                format!("the lookup of {domain} at {asked} failed ({other})"),
            ),
        };
        CheckOutcome::failed(kind, format!("{name}: {cause}."))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_resolver::proto::rr::rdata::{A, MX, TXT};

    use super::*;

    fn lookup(record_type: RecordType) -> Lookup<'static> {
        Lookup {
            name: "Shop DNS",
            domain: "shop.example",
            record_type: DnsRecordType(record_type),
            asked: Box::leak(Box::new(Asked {
                servers: "192.0.2.53:53".into(),
                system: false,
                several: false,
            })),
            limit: Duration::from_secs(2),
        }
    }

    #[test]
    fn the_servers_asked_are_named_in_the_singular_or_plural() {
        assert_eq!(
            lookup(RecordType::A).asked.to_string(),
            "the DNS server 192.0.2.53:53"
        );
        let system = Asked {
            servers: "192.0.2.53 and 192.0.2.54".into(),
            system: true,
            several: true,
        };
        assert_eq!(
            system.to_string(),
            "this computer's DNS servers 192.0.2.53 and 192.0.2.54"
        );
    }

    fn mx(preference: u16, exchange: &str) -> Answer {
        Answer::new(&RData::MX(MX::new(
            preference,
            Name::from_ascii(exchange).unwrap(),
        )))
    }

    fn a(ip: [u8; 4]) -> Answer {
        Answer::new(&RData::A(A(Ipv4Addr::from(ip))))
    }

    fn txt(text: &str) -> Answer {
        Answer::new(&RData::TXT(TXT::new(vec![text.to_owned()])))
    }

    #[test]
    fn record_types_parse_without_case_and_list_the_choices_when_wrong() {
        assert_eq!("mx".parse::<DnsRecordType>().unwrap().0, RecordType::MX);
        assert_eq!(
            " AAAA ".parse::<DnsRecordType>().unwrap().0,
            RecordType::AAAA
        );
        let err = "ANY".parse::<DnsRecordType>().unwrap_err();
        assert!(
            err.contains("use one of A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT, CAA"),
            "{err}"
        );
        assert_eq!(DnsRecordType::default().to_string(), "A");
    }

    #[test]
    fn servers_are_ip_addresses_with_port_53_unless_given() {
        let parse = |text: &str| text.parse::<DnsServer>().map(|s| s.0.to_string());
        assert_eq!(parse("192.0.2.53").unwrap(), "192.0.2.53:53");
        assert_eq!(parse("127.0.0.1:5353").unwrap(), "127.0.0.1:5353");
        assert_eq!(parse("::1").unwrap(), "[::1]:53");
        assert_eq!(parse("[2001:db8::53]:5353").unwrap(), "[2001:db8::53]:5353");
        let err = parse("ns1.example").unwrap_err();
        assert!(err.contains("give its IP address"), "{err}");
    }

    #[test]
    fn a_spec_reads_from_toml_with_defaults() {
        let spec: DnsSpec = toml::from_str("domain = \"shop.example\"").unwrap();
        assert_eq!(spec, DnsSpec::new("shop.example"));
        let spec: DnsSpec = toml::from_str(
            "domain = \"shop.example\"\nrecord_type = \"mx\"\nserver = \"127.0.0.1:5353\"\nexpect = \"mail.shop.example\"",
        )
        .unwrap();
        assert_eq!(spec.record_type.0, RecordType::MX);
        assert_eq!(spec.server.unwrap().0.port(), 5353);
        let text = toml::to_string(&spec).unwrap();
        assert!(text.contains("record_type = \"MX\""), "{text}");
        assert!(text.contains("server = \"127.0.0.1:5353\""), "{text}");
        assert_eq!(toml::from_str::<DnsSpec>(&text).unwrap(), spec);
        let err = toml::from_str::<DnsSpec>("domain = \"x\"\nrecord_type = \"AXFR\"").unwrap_err();
        assert!(
            err.message().contains("not a record type"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn a_bad_domain_is_reported_when_the_config_is_read() {
        let err = query_name("shop..example").unwrap_err();
        assert!(err.contains("is not a valid DNS name"), "{err}");
        let err = toml::from_str::<DnsSpec>("domain = \"shop..example\"").unwrap_err();
        assert!(
            err.message().contains("is not a valid DNS name"),
            "{}",
            err.message()
        );
        assert!(query_name("shop.example.").unwrap().is_fqdn());
        assert!(query_name("shop.example").unwrap().is_fqdn());
    }

    #[test]
    fn answers_match_expectations_by_kind() {
        let ip = a([203, 0, 113, 10]);
        assert!(ip.equals("203.0.113.10"));
        assert!(!ip.equals("203.0.113.1"));
        assert!(ip.contains("203.0.113"));

        let mail = mx(10, "Mail.Shop.Example.");
        assert_eq!(mail.text, "10 Mail.Shop.Example");
        assert!(mail.equals("mail.shop.example"));
        assert!(mail.equals("10 mail.shop.example."));
        assert!(!mail.equals("20 mail.shop.example"));
        assert!(mail.contains("shop.example"));

        let spf = txt("v=spf1 include:_spf.example ~all");
        assert!(spf.equals("v=spf1 include:_spf.example ~all"));
        assert!(!spf.equals("V=SPF1 include:_spf.example ~all"));
        assert!(spf.contains("v=spf1"));
        assert!(!spf.contains("V=SPF1"));
        assert_eq!(spf.shown(), "\"v=spf1 include:_spf.example ~all\"");

        let v6 = Answer {
            text: "2001:db8::1".into(),
            target: None,
            exact_case: false,
        };
        assert!(v6.equals("2001:0db8:0:0::1"));
    }

    #[test]
    fn long_answer_lists_are_cut_short() {
        let answers: Vec<Answer> = (1..=5).map(|n| a([192, 0, 2, n])).collect();
        assert_eq!(listed(&answers[..1]), "192.0.2.1");
        assert_eq!(listed(&answers[..2]), "192.0.2.1 and 192.0.2.2");
        assert_eq!(
            listed(&answers),
            "192.0.2.1, 192.0.2.2, 192.0.2.3 and 2 more"
        );
    }

    #[test]
    fn judgements_name_the_service_the_records_and_the_fix() {
        let took = Duration::from_millis(12);
        let mut spec = DnsSpec::new("shop.example");
        let answers = [a([10, 0, 0, 1]), a([10, 0, 0, 2])];
        let up = lookup(RecordType::A).judge(&spec, &answers, took);
        assert!(up.is_up());
        assert_eq!(
            up.explanation,
            "Shop DNS: shop.example has A 10.0.0.1 and 10.0.0.2 (the DNS server 192.0.2.53:53 answered in 12 ms)."
        );

        spec.expect = Some("203.0.113.10".into());
        let wrong = lookup(RecordType::A).judge(&spec, &answers, took);
        assert_eq!(wrong.kind, Some(FailureKind::DnsMismatch));
        assert!(
            wrong.explanation.starts_with(
                "Shop DNS: shop.example's A records are 10.0.0.1 and 10.0.0.2, not the expected 203.0.113.10"
            ),
            "{}",
            wrong.explanation
        );

        let mut spec = DnsSpec::new("shop.example");
        spec.expect_contains = Some("v=spf1".into());
        let wrong = lookup(RecordType::TXT).judge(&spec, &[txt("hello")], took);
        assert_eq!(wrong.kind, Some(FailureKind::DnsMismatch));
        assert!(
            wrong.explanation.contains(
                "none of shop.example's TXT records contains \"v=spf1\" (found \"hello\")"
            ),
            "{}",
            wrong.explanation
        );

        let none = lookup(RecordType::MX).judge(&spec, &[], took);
        assert_eq!(none.kind, Some(FailureKind::DnsFailure));
        assert!(
            none.explanation
                .starts_with("Shop DNS: shop.example exists but has no MX record"),
            "{}",
            none.explanation
        );
    }

    #[test]
    fn server_errors_say_what_the_code_means() {
        let code = |code| NetError::Dns(DnsError::ResponseCode(code));
        let servfail = lookup(RecordType::A).failure(&code(ResponseCode::ServFail));
        assert_eq!(servfail.kind, Some(FailureKind::DnsFailure));
        assert!(
            servfail.explanation.contains("(SERVFAIL)"),
            "{}",
            servfail.explanation
        );
        let refused = lookup(RecordType::A).failure(&code(ResponseCode::Refused));
        assert!(
            refused
                .explanation
                .contains("refused to answer for shop.example (REFUSED)"),
            "{}",
            refused.explanation
        );
        let other = lookup(RecordType::A).failure(&code(ResponseCode::NotImp));
        assert_eq!(other.kind, Some(FailureKind::DnsFailure));
        assert!(
            other.explanation.starts_with("Shop DNS: "),
            "{}",
            other.explanation
        );
        let timeout = lookup(RecordType::A).failure(&NetError::Timeout);
        assert_eq!(timeout.kind, Some(FailureKind::Timeout));
        assert!(
            timeout
                .explanation
                .contains("did not answer within 2 s (timeout)"),
            "{}",
            timeout.explanation
        );
    }
}
