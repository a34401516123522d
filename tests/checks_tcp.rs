//! TCP checks against real listeners on 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use keepwatch::checks::ServiceSpec;

use keepwatch::vocabulary::{FailureKind, State};
use support::{assert_failure, check, check_within, service};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

mod support;

const MAIL: &str = "Mail";

/// What the listener does with each connection.
#[derive(Clone, Copy)]
enum Greeting {
    /// Sends this line after a delay.
    Line(&'static str, Duration),
    /// Sends nothing and keeps the connection open.
    Silent,
    /// Closes at once.
    Close,
}

async fn listen(greeting: Greeting) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                match greeting {
                    Greeting::Line(line, delay) => {
                        tokio::time::sleep(delay).await;
                        let _ = stream.write_all(line.as_bytes()).await;
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    Greeting::Silent => tokio::time::sleep(Duration::from_secs(30)).await,
                    Greeting::Close => drop(stream),
                }
            });
        }
    });
    addr
}

fn mail(host: &str, port: u16, extra: &str) -> ServiceSpec {
    let text =
        format!("name = \"Mail\"\ntype = \"tcp\"\nhost = \"{host}\"\nport = {port}\n{extra}");
    service(&text)
}

const SMTP: Greeting = Greeting::Line("220 mail.example.com ESMTP Postfix\r\n", Duration::ZERO);

#[tokio::test]
async fn an_open_port_is_up_with_its_connect_time() {
    let addr = listen(Greeting::Silent).await;
    let outcome = check(&mail("127.0.0.1", addr.port(), "")).await;
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");
    assert!(
        outcome.explanation.starts_with(&format!(
            "Mail accepts connections on 127.0.0.1:{}",
            addr.port()
        )),
        "{}",
        outcome.explanation
    );
    let names: Vec<_> = outcome.phases.iter().map(|p| p.0).collect();
    assert_eq!(names, ["dns", "connect"]);
    assert!(outcome.response_time.is_some());
}

#[tokio::test]
async fn a_host_name_is_resolved_first() {
    let addr = listen(SMTP).await;
    let outcome = check(&mail("localhost", addr.port(), "expect_banner = \"ESMTP\"")).await;
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");
}

#[tokio::test]
async fn the_expected_banner_is_up_and_quoted() {
    let addr = listen(SMTP).await;
    let outcome = check(&mail("127.0.0.1", addr.port(), "expect_banner = \"ESMTP\"")).await;
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");
    assert!(
        outcome
            .explanation
            .contains("\"220 mail.example.com ESMTP Postfix\""),
        "{}",
        outcome.explanation
    );
    let names: Vec<_> = outcome.phases.iter().map(|p| p.0).collect();
    assert_eq!(names, ["dns", "connect", "banner"]);
}

#[tokio::test]
async fn another_banner_is_a_mismatch() {
    let addr = listen(Greeting::Line("SSH-2.0-OpenSSH_9.6\r\n", Duration::ZERO)).await;
    let outcome = check(&mail("127.0.0.1", addr.port(), "expect_banner = \"ESMTP\"")).await;
    assert_failure(
        &outcome,
        MAIL,
        FailureKind::BannerMismatch,
        "greeting on 127.0.0.1",
    );
    assert!(
        outcome
            .explanation
            .contains("is \"SSH-2.0-OpenSSH_9.6\", which does not contain \"ESMTP\""),
        "{}",
        outcome.explanation
    );
}

#[tokio::test]
async fn a_silent_service_times_out_waiting_for_its_banner() {
    let addr = listen(Greeting::Silent).await;
    let outcome = check_within(
        &mail(
            "127.0.0.1",
            addr.port(),
            "expect_banner = \"ESMTP\"\ntimeout = \"300ms\"",
        ),
        Duration::from_secs(2),
    )
    .await;
    assert_failure(
        &outcome,
        MAIL,
        FailureKind::Timeout,
        "accepted the connection",
    );
    assert!(
        outcome.explanation.contains("did not answer within 300 ms"),
        "{}",
        outcome.explanation
    );
}

#[tokio::test]
async fn a_service_that_hangs_up_without_a_banner_closed_the_connection() {
    let addr = listen(Greeting::Close).await;
    let outcome = check(&mail("127.0.0.1", addr.port(), "expect_banner = \"ESMTP\"")).await;
    assert_failure(
        &outcome,
        MAIL,
        FailureKind::ConnectionClosed,
        "closed the connection",
    );
}

#[tokio::test]
async fn a_slow_banner_is_degraded() {
    let addr = listen(Greeting::Line("220 ESMTP\r\n", Duration::from_millis(300))).await;
    let outcome = check(&mail(
        "127.0.0.1",
        addr.port(),
        "expect_banner = \"ESMTP\"\nslow_after = \"100ms\"",
    ))
    .await;
    assert_failure(&outcome, MAIL, FailureKind::Slow, "over its 100 ms budget");
}

#[tokio::test]
async fn a_released_port_refuses_the_connection() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let outcome = check(&mail("127.0.0.1", port, "")).await;
    assert_failure(
        &outcome,
        MAIL,
        FailureKind::ConnectionRefused,
        &format!("refused the connection on 127.0.0.1:{port}"),
    );
}

#[tokio::test]
async fn a_name_that_does_not_exist_is_a_dns_failure() {
    let outcome = check(&mail("mail.keepwatch-test.invalid", 25, "")).await;
    assert_failure(
        &outcome,
        MAIL,
        FailureKind::DnsFailure,
        "host name mail.keepwatch-test.invalid could not be found",
    );
}
