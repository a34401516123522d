//! HTTP and HTTPS checks against real servers started here on 127.0.0.1:
//! each failure kind is produced for real, and its explanation must name the
//! service and the cause.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use keepwatch::checks::{Checker, Confirmer, ServiceSpec, Verdict};
use keepwatch::clock::{SimClock, SystemClock};
use keepwatch::vocabulary::{FailureKind, State};
use support::{assert_failure, check, check_within, closed_port, service};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

mod support;

const SHOP: &str = "Shop";

// ---------------------------------------------------------------- servers

/// What the test server does with one request.
#[derive(Clone)]
enum Reply {
    /// Answers after a delay.
    Answer {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
        delay: Duration,
    },
    /// Reads the request and never answers.
    Hang,
    /// Sends the headers and part of the body, then stalls.
    Stall,
    /// Reads the request and closes the connection.
    Close,
    /// Sends these bytes, which are not HTTP, and closes.
    Garbage(&'static str),
}

fn ok(body: &str) -> Reply {
    status(200, body)
}

fn status(code: u16, body: &str) -> Reply {
    Reply::Answer {
        status: code,
        headers: Vec::new(),
        body: body.to_owned(),
        delay: Duration::ZERO,
    }
}

fn redirect(to: &str) -> Reply {
    Reply::Answer {
        status: 302,
        headers: vec![("Location", to.to_owned())],
        body: String::new(),
        delay: Duration::ZERO,
    }
}

/// The request line and headers, as the handler sees them.
struct Request {
    path: String,
    head: String,
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// Serves `handler` on 127.0.0.1 (over TLS with `tls`), until the test ends.
async fn serve(
    tls: Option<TlsAcceptor>,
    handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler: Handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    // A client that refuses the certificate ends the handshake; nothing to do.
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            answer(stream, handler).await;
                        }
                    }
                    None => answer(stream, handler).await,
                }
            });
        }
    });
    addr
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, handler: Handler) {
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
        // What a real web server does with a request that is not HTTP (a TLS
        // handshake, say): a 400, and close.
        if !head[0].is_ascii_uppercase() {
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await;
            let _ = stream.shutdown().await;
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    match handler(&Request { path, head }) {
        Reply::Answer {
            status,
            headers,
            body,
            delay,
        } => {
            tokio::time::sleep(delay).await;
            let mut text = format!(
                "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
            text.push_str("\r\n");
            text.push_str(&body);
            let _ = stream.write_all(text.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Reply::Stall => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
                .await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Reply::Close => {}
        Reply::Garbage(bytes) => {
            let _ = stream.write_all(bytes.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

// ---------------------------------------------------------------- certificates

/// A test certificate authority, its certificate written to a PEM file.
struct Authority {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pem_file = dir.path().join("ca.pem");
        std::fs::write(&pem_file, cert.pem()).unwrap();
        Self {
            issuer: rcgen::Issuer::new(params, key),
            pem_file,
            _dir: dir,
        }
    }

    /// A server certificate for `names`, ending `days` days from today
    /// (negative: in the past), signed by this authority.
    fn acceptor(&self, names: &[&str], days: i64) -> TlsAcceptor {
        let (params, key) = leaf(names, days);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        acceptor(cert.der().clone(), key)
    }
}

fn leaf(names: &[&str], days: i64) -> (rcgen::CertificateParams, rcgen::KeyPair) {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    // Not the host name: some machines trust an authority named "localhost",
    // and a self-signed certificate would then seem to be issued by it.
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Keepwatch test server");
    let (year, month, date) = ymd(-400);
    params.not_before = rcgen::date_time_ymd(year, month, date);
    let (year, month, date) = ymd(days);
    params.not_after = rcgen::date_time_ymd(year, month, date);
    (params, rcgen::KeyPair::generate().unwrap())
}

/// Year, month and day (UTC), `days` days from today.
fn ymd(days: i64) -> (i32, u8, u8) {
    let date = day(days);
    (i32::from(date.year()), date.month() as u8, date.day() as u8)
}

fn day(days: i64) -> jiff::civil::Date {
    (Timestamp::now() + SignedDuration::from_hours(24 * days))
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
}

fn acceptor(cert: rustls::pki_types::CertificateDer<'static>, key: rcgen::KeyPair) -> TlsAcceptor {
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// How `Authority::acceptor` dates read in explanations: `3 March 2026`.
fn written(days: i64) -> String {
    let date = day(days);
    date.strftime("%-d %B %Y").to_string()
}

// ---------------------------------------------------------------- helpers

/// An HTTP service named "Shop" at `url`, with more settings in `extra`.
fn shop(url: &str, extra: &str) -> ServiceSpec {
    service(&format!(
        "name = \"Shop\"\ntype = \"http\"\nurl = \"{url}\"\ntimeout = \"5s\"\n{extra}"
    ))
}

// ---------------------------------------------------------------- plain HTTP

#[tokio::test]
async fn a_200_is_up_with_its_time_and_phases() {
    let addr = serve(None, |_| ok("welcome")).await;
    let outcome = check(&shop(&format!("http://{addr}/"), "")).await;
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");
    assert_eq!(outcome.kind, None);
    assert_eq!(outcome.http_status, Some(200));
    assert!(
        outcome
            .explanation
            .starts_with("Shop is up: HTTP 200 (OK) in "),
        "{}",
        outcome.explanation
    );
    let took = outcome.response_time.unwrap();
    let names: Vec<_> = outcome.phases.iter().map(|p| p.0).collect();
    assert_eq!(names, ["dns", "connect", "first_byte", "download"]);
    assert_eq!(outcome.phases.iter().map(|p| p.1).sum::<Duration>(), took);
    assert_eq!(outcome.certificate_expires, None);
}

#[tokio::test]
async fn a_503_is_down_and_says_the_application_is_failing() {
    let addr = serve(None, |_| status(503, "maintenance")).await;
    let outcome = check(&shop(&format!("http://{addr}/"), "")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::HttpStatus,
        "HTTP 503 (Service Unavailable): the web server is up but the application behind it is failing",
    );
    assert_eq!(outcome.http_status, Some(503));
    assert!(outcome.response_time.is_some());
}

#[tokio::test]
async fn an_expected_non_2xx_status_is_up() {
    let addr = serve(None, |_| status(401, "")).await;
    let outcome = check(&shop(
        &format!("http://{addr}/"),
        "expect_status = [401, 403]",
    ))
    .await;
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");
}

#[tokio::test]
async fn an_answer_over_budget_is_slow_not_down() {
    let addr = serve(None, |_| Reply::Answer {
        status: 200,
        headers: Vec::new(),
        body: "ok".into(),
        delay: Duration::from_millis(300),
    })
    .await;
    let outcome = check(&shop(&format!("http://{addr}/"), "slow_after = \"100ms\"")).await;
    assert_failure(&outcome, SHOP, FailureKind::Slow, "over its 100 ms budget");
    assert_eq!(outcome.state, State::Degraded);
    assert!(outcome.response_time.unwrap() >= Duration::from_millis(300));
    assert_eq!(outcome.http_status, Some(200));
}

#[tokio::test]
async fn a_hanging_server_times_out_at_the_configured_limit() {
    let addr = serve(None, |_| Reply::Hang).await;
    let spec = service(&format!(
        "name = \"Shop\"\ntype = \"http\"\nurl = \"http://{addr}/\"\ntimeout = \"300ms\"\n"
    ));
    let outcome = check_within(&spec, Duration::from_secs(3)).await;
    assert_failure(
        &outcome,
        SHOP,
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
async fn an_answer_that_stalls_halfway_times_out_while_reading() {
    let addr = serve(None, |_| Reply::Stall).await;
    let spec = service(&format!(
        "name = \"Shop\"\ntype = \"http\"\nurl = \"http://{addr}/\"\ntimeout = \"300ms\"\n"
    ));
    let outcome = check(&spec).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::Timeout,
        "started answering but did not finish within 300 ms",
    );
    assert_eq!(outcome.http_status, Some(200));
}

#[tokio::test]
async fn a_page_without_the_expected_text_is_a_body_mismatch() {
    let addr = serve(None, |_| ok("<h1>We'll be back soon</h1>")).await;
    let outcome = check(&shop(
        &format!("http://{addr}/"),
        "body_contains = \"Add to cart\"",
    ))
    .await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::BodyMismatch,
        "page does not contain \"Add to cart\"",
    );

    let outcome = check(&shop(
        &format!("http://{addr}/"),
        "body_regex = \"[0-9]+ in stock\"",
    ))
    .await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::BodyMismatch,
        "does not match the pattern /[0-9]+ in stock/",
    );

    let outcome = check(&shop(
        &format!("http://{addr}/"),
        "body_contains = \"back soon\"",
    ))
    .await;
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");
}

#[tokio::test]
async fn a_health_endpoint_is_judged_by_its_json_fields() {
    let addr = serve(None, |request| match request.path.as_str() {
        "/good" => ok(r#"{"status": "ok", "checks": {"db": "up", "cache": "up"}}"#),
        "/db-down" => ok(r#"{"status": "ok", "checks": {"db": "down"}}"#),
        _ => ok("<html><body>Bad gateway</body></html>"),
    })
    .await;
    let conditions = "json = { \"status\" = \"ok\", \"checks.db\" = \"up\" }";

    let outcome = check(&shop(&format!("http://{addr}/good"), conditions)).await;
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");

    let outcome = check(&shop(&format!("http://{addr}/db-down"), conditions)).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::JsonMismatch,
        "says checks.db = \"down\", where \"up\" is expected",
    );

    let outcome = check(&shop(&format!("http://{addr}/html"), conditions)).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::JsonInvalid,
        "answer is not valid JSON",
    );
    assert!(
        outcome.explanation.contains("it starts with \"<html>"),
        "{}",
        outcome.explanation
    );
}

#[tokio::test]
async fn redirects_are_followed_and_a_loop_is_too_many_redirects() {
    let addr = serve(None, |request| match request.path.as_str() {
        "/old" => redirect("/new"),
        "/new" => ok("here"),
        _ => redirect("/loop"),
    })
    .await;
    let outcome = check(&shop(&format!("http://{addr}/old"), "")).await;
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");

    let outcome = check(&shop(&format!("http://{addr}/loop"), "max_redirects = 3")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::TooManyRedirects,
        "kept redirecting",
    );
    assert!(
        outcome.explanation.contains("loop"),
        "{}",
        outcome.explanation
    );

    let outcome = check(&shop(&format!("http://{addr}/old"), "max_redirects = 0")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::HttpStatus,
        "it redirects to /new",
    );
}

#[tokio::test]
async fn a_released_port_refuses_the_connection() {
    let port = closed_port();
    let outcome = check(&shop(&format!("http://127.0.0.1:{port}/"), "")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::ConnectionRefused,
        &format!("refused the connection on 127.0.0.1:{port}"),
    );
    assert_eq!(outcome.response_time, None);
}

#[tokio::test]
async fn a_name_that_does_not_exist_is_a_dns_failure() {
    let outcome = check(&shop("http://shop.keepwatch-test.invalid/", "")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::DnsFailure,
        "host name shop.keepwatch-test.invalid could not be found",
    );
}

#[tokio::test]
async fn a_server_that_hangs_up_is_a_closed_connection() {
    let addr = serve(None, |_| Reply::Close).await;
    let outcome = check(&shop(&format!("http://{addr}/"), "")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::ConnectionClosed,
        "closed the connection",
    );
}

#[tokio::test]
async fn a_server_that_does_not_speak_http_is_a_protocol_error() {
    let addr = serve(None, |_| Reply::Garbage("SSH-2.0-OpenSSH_9.6\r\n")).await;
    let outcome = check(&shop(&format!("http://{addr}/"), "")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::ProtocolError,
        "did not answer in HTTP",
    );
}

#[tokio::test]
async fn credentials_are_sent_and_a_rejection_is_an_authentication_failure() {
    let addr = serve(None, |request| {
        let head = request.head.to_ascii_lowercase();
        if head.contains("authorization: basic c2hvcdpzm2nyzxq=")
            || head.contains("authorization: bearer t0ken")
            || head.contains("x-api-key: k3y")
        {
            ok("welcome")
        } else {
            status(401, "")
        }
    })
    .await;
    let url = format!("http://{addr}/");
    let good = check(&shop(
        &url,
        "basic_auth = { username = \"shop\", password = \"s3cret\" }",
    ))
    .await;
    assert_eq!(good.state, State::Up, "{good:#?}");

    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken\n").unwrap();
    let from_file = check(&shop(
        &url,
        &format!("bearer_token = \"file:{}\"", token.display()),
    ))
    .await;
    assert_eq!(from_file.state, State::Up, "{from_file:#?}");

    let header = check(&shop(
        &url,
        "headers = { \"X-Api-Key\" = \"env:KEEPWATCH_TEST_API_KEY\" }",
    ))
    .await;
    assert_failure(
        &header,
        SHOP,
        FailureKind::ConfigError,
        "KEEPWATCH_TEST_API_KEY is not set",
    );
    let header = check(&shop(&url, "headers = { \"X-Api-Key\" = \"k3y\" }")).await;
    assert_eq!(header.state, State::Up, "{header:#?}");

    let wrong = check(&shop(
        &url,
        "basic_auth = { username = \"shop\", password = \"guess\" }",
    ))
    .await;
    assert_failure(
        &wrong,
        SHOP,
        FailureKind::AuthFailed,
        "rejected keepwatch's credentials (HTTP 401 (Unauthorized))",
    );

    let none = check(&shop(&url, "")).await;
    assert_failure(
        &none,
        SHOP,
        FailureKind::HttpStatus,
        "it requires credentials",
    );
}

#[tokio::test]
async fn settings_that_cannot_work_are_config_errors() {
    let outcome = check(&shop("ftp://shop.example/", "")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::ConfigError,
        "must start with http:// or https://",
    );

    let outcome = check(&shop(
        "http://127.0.0.1:1/",
        "bearer_token = \"env:KEEPWATCH_TEST_SURELY_UNSET\"",
    ))
    .await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::ConfigError,
        "the environment variable KEEPWATCH_TEST_SURELY_UNSET is not set",
    );

    let outcome = check(&shop(
        "https://127.0.0.1:1/",
        "ca_file = \"/nonexistent/ca.pem\"",
    ))
    .await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::ConfigError,
        "the CA file /nonexistent/ca.pem cannot be read",
    );

    let outcome = check(&shop("http://127.0.0.1:1/", "method = \"GE T\"")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::ConfigError,
        "is not an HTTP method",
    );
}

// ---------------------------------------------------------------- HTTPS

fn https_shop(addr: SocketAddr, authority: &Authority, extra: &str) -> ServiceSpec {
    shop(
        &format!("https://localhost:{}/", addr.port()),
        &format!("ca_file = \"{}\"\n{extra}", authority.pem_file.display()),
    )
}

#[tokio::test]
async fn a_valid_certificate_from_the_configured_authority_is_up_and_its_end_is_known() {
    let authority = Authority::new("Keepwatch Test CA");
    let addr = serve(Some(authority.acceptor(&["localhost"], 90)), |_| {
        ok("secure")
    })
    .await;
    let outcome = check(&https_shop(addr, &authority, "")).await;
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");
    let ends = outcome.certificate_expires.unwrap();
    assert_eq!(
        ends.to_zoned_datetime(jiff::tz::TimeZone::UTC).date(),
        day(90)
    );
    assert!(
        outcome
            .phases
            .iter()
            .any(|(name, took)| *name == "connect" && *took > Duration::ZERO)
    );
}

#[tokio::test]
async fn an_expired_certificate_is_down_with_its_end_date() {
    let authority = Authority::new("Keepwatch Test CA");
    let addr = serve(Some(authority.acceptor(&["localhost"], -3)), |_| {
        ok("secure")
    })
    .await;
    let outcome = check(&https_shop(addr, &authority, "")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::CertificateExpired,
        &format!("certificate expired on {}: renew it", written(-3)),
    );
}

#[tokio::test]
async fn a_certificate_ending_soon_is_degraded_with_its_end_date() {
    let authority = Authority::new("Keepwatch Test CA");
    let addr = serve(Some(authority.acceptor(&["localhost"], 5)), |_| {
        ok("secure")
    })
    .await;
    let outcome = check(&https_shop(addr, &authority, "cert_expiry_warning = 14")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::CertificateExpiring,
        &format!("certificate expires on {}", written(5)),
    );
    assert!(
        outcome.explanation.contains("renew it soon"),
        "{}",
        outcome.explanation
    );
    assert_eq!(outcome.http_status, Some(200));

    let outcome = check(&https_shop(
        addr,
        &authority,
        "cert_expiry_warning = \"3d\"",
    ))
    .await;
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");
}

#[tokio::test]
async fn the_certificate_judged_is_the_one_at_the_end_of_the_redirects() {
    let authority = Authority::new("Keepwatch Test CA");
    let secure = serve(Some(authority.acceptor(&["localhost"], 5)), |_| {
        ok("secure")
    })
    .await;
    let target = format!("https://localhost:{}/", secure.port());
    let plain = serve(None, move |_| redirect(&target)).await;
    let spec = shop(
        &format!("http://{plain}/"),
        &format!("ca_file = \"{}\"", authority.pem_file.display()),
    );
    let outcome = check(&spec).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::CertificateExpiring,
        &format!("expires on {}", written(5)),
    );
}

#[tokio::test]
async fn a_certificate_for_another_name_is_the_wrong_host() {
    let authority = Authority::new("Keepwatch Test CA");
    let addr = serve(Some(authority.acceptor(&["shop.example"], 90)), |_| {
        ok("secure")
    })
    .await;
    let outcome = check(&https_shop(addr, &authority, "")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::CertificateWrongHost,
        "certificate is for shop.example, not localhost",
    );
}

#[tokio::test]
async fn a_self_signed_certificate_is_untrusted() {
    let (params, key) = leaf(&["localhost"], 90);
    let cert = params.self_signed(&key).unwrap();
    let addr = serve(Some(acceptor(cert.der().clone(), key)), |_| ok("secure")).await;
    let outcome = check(&shop(&format!("https://localhost:{}/", addr.port()), "")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::CertificateUntrusted,
        "certificate is self-signed",
    );
    assert!(outcome.certificate_expires.is_some());
}

#[tokio::test]
async fn a_certificate_from_an_unknown_authority_is_untrusted_and_names_it() {
    let trusted = Authority::new("Keepwatch Test CA");
    let other = Authority::new("Shady Corp CA");
    let addr = serve(Some(other.acceptor(&["localhost"], 90)), |_| ok("secure")).await;
    let outcome = check(&https_shop(addr, &trusted, "")).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::CertificateUntrusted,
        "signed by \"Shady Corp CA\", an authority this computer does not trust",
    );
}

#[tokio::test]
async fn https_to_a_plain_http_port_is_a_tls_error() {
    let addr = serve(None, |_| ok("plain")).await;
    let outcome = check(&shop(&format!("https://localhost:{}/", addr.port()), "")).await;
    assert_failure(&outcome, SHOP, FailureKind::TlsError, "use an http:// URL");
}

#[tokio::test]
async fn certificates_are_judged_at_the_checkers_clock_time() {
    let authority = Authority::new("Keepwatch Test CA");
    let addr = serve(Some(authority.acceptor(&["localhost"], 30)), |_| {
        ok("secure")
    })
    .await;
    let spec = https_shop(addr, &authority, "");
    let clock = SimClock::new(Timestamp::now());
    let checker = Checker::new(Arc::new(clock.clone()));
    assert_eq!(checker.run(&spec).await.state, State::Up);

    clock.advance(SignedDuration::from_hours(24 * 25));
    let outcome = checker.run(&spec).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::CertificateExpiring,
        &format!("expires on {}", written(30)),
    );

    clock.advance(SignedDuration::from_hours(24 * 10));
    assert!(checker.clock().now() > Timestamp::now());
    let outcome = checker.run(&spec).await;
    assert_failure(
        &outcome,
        SHOP,
        FailureKind::CertificateExpired,
        &format!("expired on {}", written(30)),
    );
}

// ---------------------------------------------------------------- confirmation

#[tokio::test]
async fn a_real_outage_is_confirmed_by_one_immediate_retry() {
    let port = closed_port();
    let spec = shop(
        &format!("http://127.0.0.1:{port}/"),
        "retries = 1\nconfirm_after = 1",
    );
    let checker = Checker::new(Arc::new(SystemClock));
    let mut confirmer = Confirmer::new(spec.common.retries, spec.common.confirm_after);
    let (outcome, verdict) =
        keepwatch::checks::run_confirmed(&checker, &spec, &mut confirmer).await;
    assert_eq!(
        verdict,
        Verdict::Changed {
            from: None,
            to: State::Down
        }
    );
    assert_eq!(outcome.kind, Some(FailureKind::ConnectionRefused));
}
