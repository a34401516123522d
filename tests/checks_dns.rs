//! DNS checks against a small DNS server started by each test on 127.0.0.1.
//!
//! The server is a few lines over a UDP socket, answering with messages built
//! by hickory's protocol crate: it can also misbehave (stay silent, fail with
//! SERVFAIL or REFUSED, answer late), which a full server crate would make
//! harder, and it costs no extra build.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, MX, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use keepwatch::checks::ServiceSpec;
use keepwatch::vocabulary::FailureKind;
#[cfg(target_os = "linux")]
use sandbox::{LOOPBACK, Sandbox, in_sandbox};
use support::{assert_failure, assert_up, check, check_within, service};
use tokio::net::UdpSocket;

// Network and mount namespaces are Linux's.
#[cfg(target_os = "linux")]
mod sandbox;
mod support;

const SHOP_DNS: &str = "Shop DNS";

/// How the test server treats every query.
#[derive(Clone, Copy)]
enum Server {
    /// Answers from the `shop.example` zone after this delay.
    Zone(Duration),
    /// Answers every query with this error.
    Fails(ResponseCode),
    /// Reads queries and never answers.
    Silent,
}

const ZONE: Server = Server::Zone(Duration::ZERO);

/// The records of the test zone; `None` for a name that does not exist.
fn records(name: &str, record_type: RecordType) -> Option<Vec<RData>> {
    let name_of = |text: &str| Name::from_ascii(text).unwrap();
    Some(match (name, record_type) {
        ("shop.example.", RecordType::A) => vec![
            RData::A(A(Ipv4Addr::new(203, 0, 113, 10))),
            RData::A(A(Ipv4Addr::new(203, 0, 113, 11))),
        ],
        ("shop.example.", RecordType::MX) => vec![
            RData::MX(MX::new(10, name_of("mail.shop.example."))),
            RData::MX(MX::new(20, name_of("backup-mail.shop.example."))),
        ],
        ("shop.example.", RecordType::TXT) => vec![
            RData::TXT(TXT::new(vec!["v=spf1 mx -all".into()])),
            RData::TXT(TXT::new(vec!["google-site-verification=abc".into()])),
        ],
        ("shop.example." | "mail.shop.example.", _) => Vec::new(),
        _ => return None,
    })
}

fn answer(query: &Message, server: Server) -> Message {
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.add_queries(query.queries.clone());
    let Server::Zone(_) = server else {
        if let Server::Fails(code) = server {
            response.metadata.response_code = code;
        }
        return response;
    };
    response.metadata.authoritative = true;
    let Some(question) = query.queries.first() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    let name = question.name().to_ascii().to_lowercase();
    match records(&name, question.query_type()) {
        None => response.metadata.response_code = ResponseCode::NXDomain,
        Some(found) => {
            for data in found {
                response.add_answer(Record::from_rdata(question.name().clone(), 300, data));
            }
        }
    }
    response
}

/// Starts a DNS server on 127.0.0.1 and returns its address.
async fn serve(server: Server) -> SocketAddr {
    serve_on("127.0.0.1:0", server).await
}

async fn serve_on(addr: &str, server: Server) -> SocketAddr {
    let socket = UdpSocket::bind(addr).await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buffer = [0_u8; 4096];
        loop {
            let Ok((length, from)) = socket.recv_from(&mut buffer).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buffer[..length]) else {
                continue;
            };
            match server {
                Server::Silent => continue,
                Server::Zone(delay) => tokio::time::sleep(delay).await,
                Server::Fails(_) => {}
            }
            let bytes = answer(&query, server).to_vec().unwrap();
            let _ = socket.send_to(&bytes, from).await;
        }
    });
    addr
}

fn shop_dns(server: SocketAddr, extra: &str) -> ServiceSpec {
    let text = format!("name = \"Shop DNS\"\ntype = \"dns\"\nserver = \"{server}\"\n{extra}");
    service(&text)
}

#[tokio::test]
async fn a_records_resolve_and_are_listed_with_the_server_and_time() {
    let server = serve(ZONE).await;
    let outcome = check(&shop_dns(server, "domain = \"shop.example\"")).await;
    assert_up(
        &outcome,
        "Shop DNS: ",
        &format!(
            "shop.example has A 203.0.113.10 and 203.0.113.11 (the DNS server {server} answered in "
        ),
    );
    let took = outcome.response_time.expect("a response time");
    assert_eq!(outcome.phases, [("dns", took)]);
}

#[cfg(target_os = "linux")]
#[test]
fn without_a_server_the_check_asks_this_computers_dns_servers() {
    // This computer's DNS server is the test's, on 127.0.0.1:53, in a
    // network and mount namespace of the test's own.
    let sandbox = Sandbox {
        resolv_conf: Some("nameserver 127.0.0.1\n"),
        ..LOOPBACK
    };
    let Some((found, missing)) = in_sandbox(sandbox, || async {
        serve_on("127.0.0.1:53", ZONE).await;
        let spec = |domain: &str| -> ServiceSpec {
            service(&format!(
                "name = \"Shop DNS\"\ntype = \"dns\"\ndomain = \"{domain}\""
            ))
        };
        (
            check(&spec("shop.example")).await,
            check(&spec("shpo.example")).await,
        )
    }) else {
        return;
    };
    assert_up(
        &found,
        "Shop DNS: ",
        "shop.example has A 203.0.113.10 and 203.0.113.11 (this computer's DNS server 127.0.0.1 answered in ",
    );
    assert_failure(
        &missing,
        SHOP_DNS,
        FailureKind::DnsFailure,
        "the name shpo.example does not exist (NXDOMAIN)",
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_computer_without_dns_servers_is_a_config_problem() {
    let sandbox = Sandbox {
        resolv_conf: Some("# no nameserver lines\n"),
        ..LOOPBACK
    };
    let Some(outcome) = in_sandbox(sandbox, || async {
        let spec = service("name = \"Shop DNS\"\ntype = \"dns\"\ndomain = \"shop.example\"");
        check(&spec).await
    }) else {
        return;
    };
    assert_failure(
        &outcome,
        SHOP_DNS,
        FailureKind::ConfigError,
        "this computer's DNS settings cannot be read (no nameservers found in config); give the computer a DNS server, or set `server`",
    );
}

#[tokio::test]
async fn an_expected_mail_server_is_found_among_the_mx_records() {
    let server = serve(ZONE).await;
    let outcome = check(&shop_dns(
        server,
        "domain = \"shop.example\"\nrecord_type = \"MX\"\nexpect = \"mail.shop.example\"",
    ))
    .await;
    assert_up(
        &outcome,
        "Shop DNS: ",
        "shop.example has MX 10 mail.shop.example and 20 backup-mail.shop.example",
    );
}

#[tokio::test]
async fn a_txt_record_containing_the_expected_text_is_up() {
    let server = serve(ZONE).await;
    let outcome = check(&shop_dns(
        server,
        "domain = \"shop.example\"\nrecord_type = \"txt\"\nexpect_contains = \"v=spf1\"",
    ))
    .await;
    assert_up(&outcome, "Shop DNS: ", "has TXT \"v=spf1 mx -all\"");
}

#[tokio::test]
async fn an_unexpected_address_is_a_mismatch() {
    let server = serve(ZONE).await;
    let outcome = check(&shop_dns(
        server,
        "domain = \"shop.example\"\nexpect = \"198.51.100.7\"",
    ))
    .await;
    assert_failure(
        &outcome,
        SHOP_DNS,
        FailureKind::DnsMismatch,
        "shop.example's A records are 203.0.113.10 and 203.0.113.11, not the expected 198.51.100.7",
    );
    assert!(outcome.response_time.is_some());
}

#[tokio::test]
async fn a_missing_text_in_txt_records_is_a_mismatch() {
    let server = serve(ZONE).await;
    let outcome = check(&shop_dns(
        server,
        "domain = \"shop.example\"\nrecord_type = \"TXT\"\nexpect_contains = \"v=DMARC1\"",
    ))
    .await;
    assert_failure(
        &outcome,
        SHOP_DNS,
        FailureKind::DnsMismatch,
        "none of shop.example's TXT records contains \"v=DMARC1\"",
    );
}

#[tokio::test]
async fn a_name_that_does_not_exist_is_nxdomain() {
    let server = serve(ZONE).await;
    let outcome = check(&shop_dns(server, "domain = \"shpo.example\"")).await;
    assert_failure(&outcome, SHOP_DNS, FailureKind::DnsFailure, "NXDOMAIN");
    assert_eq!(
        outcome.explanation,
        "Shop DNS: the name shpo.example does not exist (NXDOMAIN): check the spelling or the DNS zone."
    );
}

#[tokio::test]
async fn a_name_without_that_record_type_says_so() {
    let server = serve(ZONE).await;
    let outcome = check(&shop_dns(
        server,
        "domain = \"mail.shop.example\"\nrecord_type = \"AAAA\"",
    ))
    .await;
    assert_failure(
        &outcome,
        SHOP_DNS,
        FailureKind::DnsFailure,
        "mail.shop.example exists but has no AAAA record",
    );
}

#[tokio::test]
async fn a_failing_server_is_a_dns_failure_naming_the_error() {
    for (code, says) in [
        (
            ResponseCode::ServFail,
            "could not resolve shop.example (SERVFAIL)",
        ),
        (
            ResponseCode::Refused,
            "refused to answer for shop.example (REFUSED)",
        ),
    ] {
        let server = serve(Server::Fails(code)).await;
        let outcome = check(&shop_dns(server, "domain = \"shop.example\"")).await;
        assert_failure(&outcome, SHOP_DNS, FailureKind::DnsFailure, says);
        assert!(
            outcome
                .explanation
                .contains(&format!("the DNS server {server}")),
            "{}",
            outcome.explanation
        );
    }
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_within_the_timeout() {
    let server = serve(Server::Silent).await;
    let outcome = check_within(
        &shop_dns(server, "domain = \"shop.example\"\ntimeout = \"300ms\""),
        Duration::from_secs(2),
    )
    .await;
    assert_failure(
        &outcome,
        SHOP_DNS,
        FailureKind::Timeout,
        &format!("the DNS server {server} did not answer within 300 ms (timeout)"),
    );
    assert_eq!(outcome.response_time, None);
}

#[tokio::test]
async fn a_port_without_a_server_refuses_the_connection() {
    let port = {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.local_addr().unwrap().port()
    };
    let server: SocketAddr = ([127, 0, 0, 1], port).into();
    let outcome = check(&shop_dns(
        server,
        "domain = \"shop.example\"\ntimeout = \"2s\"",
    ))
    .await;
    assert_failure(
        &outcome,
        SHOP_DNS,
        FailureKind::ConnectionRefused,
        &format!("refused the connection on {server}"),
    );
}

#[tokio::test]
async fn a_late_answer_is_slow() {
    let server = serve(Server::Zone(Duration::from_millis(300))).await;
    let outcome = check(&shop_dns(
        server,
        "domain = \"shop.example\"\nslow_after = \"100ms\"",
    ))
    .await;
    assert_failure(
        &outcome,
        SHOP_DNS,
        FailureKind::Slow,
        "over its 100 ms budget",
    );
}

#[test]
fn bad_settings_are_reported_when_the_config_is_read() {
    for (bad, says) in [
        ("domain = \"shop..example\"", "is not a valid DNS name"),
        (
            "domain = \"shop.example\"\nrecord_type = \"ANY\"",
            "not a record type a DNS check can ask for",
        ),
        (
            "domain = \"shop.example\"\nserver = \"ns1.example\"",
            "is not a DNS server address",
        ),
        (
            "domain = \"shop.example\"\nexpected = \"x\"",
            "unknown field `expected`",
        ),
    ] {
        let text = format!("name = \"Shop DNS\"\ntype = \"dns\"\n{bad}");
        let err = toml::from_str::<ServiceSpec>(&text).unwrap_err();
        assert!(err.message().contains(says), "{bad}: {}", err.message());
    }
}
