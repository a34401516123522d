//! The HTTP notification channels (webhook, SMS, Slack, Teams, Discord)
//! against real HTTP receivers on 127.0.0.1: what arrives (body, headers,
//! signature, form fields, basic auth), and how each failure is classified
//! for the outbox and worded, never showing a secret.

use std::sync::Arc;
use std::time::Duration;

use http_receiver::{Receiver, Recorded, Reply, basic_auth, signature_is_valid};
use keepwatch::clock::{Clock, SystemClock};
use keepwatch::message::Message;
use keepwatch::notify::{
    Channel, ChannelKind, DiscordChannel, Notifier, SendError, SlackChannel, SmsChannel,
    TeamsChannel, WebhookChannel,
};
use keepwatch::secret::Secret;
use support::closed_port;

#[path = "support/http_receiver.rs"]
mod http_receiver;
mod support;

fn message() -> Message {
    Message {
        id: "msg-0001".into(),
        subject: "Shop is down".into(),
        text: "Shop is down since 10:02: connection refused.\nAcknowledge: keepwatch ack 7".into(),
        html: "<p>Shop is down</p>".into(),
        short: "DOWN: Shop since 10:02 & counting".into(),
        data: serde_json::json!([{"service": "Shop", "state": "down", "since": "2026-11-03T10:02:00Z"}]),
        enclosure: None,
    }
}

/// A `[[channel]]` table read as the config reads it.
fn channel(toml_text: &str) -> Channel {
    toml::from_str(toml_text).unwrap_or_else(|err| panic!("{err}\n{toml_text}"))
}

/// The agent's clock, as `keepwatch run` passes it.
fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

async fn send(notifier: &dyn Notifier) -> Result<(), SendError> {
    notifier.send(&message(), &clock()).await
}

#[track_caller]
fn assert_error(result: Result<(), SendError>, permanent: bool, says: &[&str], never: &[&str]) {
    let err = result.expect_err("the send should have failed");
    assert_eq!(err.permanent, permanent, "{err:?}");
    for part in says {
        assert!(
            err.reason.contains(part),
            "does not say {part:?}: {}",
            err.reason
        );
    }
    for part in never {
        assert!(!err.reason.contains(part), "shows {part:?}: {}", err.reason);
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A webhook receiver that checks the signature itself, as a real one would.
async fn verifying_receiver(secret: &'static str) -> Receiver {
    Receiver::start(move |request: &Recorded| {
        if signature_is_valid(request, secret) {
            Reply::new(204, "")
        } else {
            Reply::new(401, "{\"error\": \"bad signature\"}")
        }
    })
    .await
}

// ---------------------------------------------------------------- webhook

#[tokio::test]
async fn a_signed_webhook_is_verified_by_the_receiver_and_has_the_documented_shape() {
    let receiver = verifying_receiver("whsec-good-secret").await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hook-secret");
    std::fs::write(&secret_file, "whsec-good-secret\n").unwrap();
    let table = format!(
        "name = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\nsecret = \"file:{}\"\nheaders = {{ X-Team = \"ops\" }}\ntimeout = \"5s\"",
        receiver.url("/hooks/keepwatch"),
        secret_file.display()
    );
    let channel = channel(&table);
    let ChannelKind::Webhook(settings) = &channel.kind else {
        panic!("{channel:?}");
    };
    assert!(settings.problems().is_empty(), "{:?}", settings.problems());

    let before = now();
    send(channel.kind.notifier()).await.unwrap();

    let request = receiver.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/hooks/keepwatch");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-keepwatch-delivery"), Some("msg-0001"));
    assert_eq!(request.header("x-team"), Some("ops"));
    assert!(
        request
            .header("user-agent")
            .unwrap()
            .starts_with("keepwatch/")
    );
    let timestamp: i64 = request
        .header("x-keepwatch-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    assert!((before..=now()).contains(&timestamp), "{timestamp}");

    let body = request.json();
    let sent_at = jiff::Timestamp::from_second(timestamp).unwrap().to_string();
    assert_eq!(
        body,
        serde_json::json!({
            "version": 1,
            "id": "msg-0001",
            "subject": "Shop is down",
            "text": message().text,
            "short": message().short,
            "alerts": message().data,
            "sent_at": sent_at,
        })
    );
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_receiver_and_reported_as_permanent() {
    let receiver = verifying_receiver("whsec-good-secret").await;
    let mut hook = WebhookChannel::new(receiver.url("/hook"));
    hook.secret = Some(Secret::parse("wrong-secret-value"));
    assert_error(
        send(&hook).await,
        true,
        &[
            &format!(
                "the webhook at http://{}/hook answered HTTP 401 Unauthorized",
                receiver.addr
            ),
            "bad signature",
        ],
        &["wrong-secret-value"],
    );
    // An unsigned delivery is refused the same way, and has no signature.
    let unsigned = WebhookChannel::new(receiver.url("/hook"));
    assert_error(send(&unsigned).await, true, &["401"], &[]);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].header("x-keepwatch-signature").is_some());
    assert!(requests[1].header("x-keepwatch-signature").is_none());
    assert_eq!(requests[1].header("x-keepwatch-delivery"), Some("msg-0001"));
}

#[tokio::test]
async fn an_unreadable_secret_is_permanent_and_nothing_is_sent() {
    let receiver = Receiver::start(|_: &Recorded| Reply::ok()).await;
    let mut hook = WebhookChannel::new(receiver.url("/hook"));
    hook.secret = Some(Secret::parse("file:/nonexistent/keepwatch-hook-secret"));
    assert_error(
        send(&hook).await,
        true,
        &[
            "the webhook's secret cannot be read: the file /nonexistent/keepwatch-hook-secret cannot be read",
        ],
        &[],
    );
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_temporary() {
    let receiver = Receiver::start(|request: &Recorded| match request.target.as_str() {
        "/busy" => Reply::new(429, "slow down"),
        _ => Reply::new(500, "<html><body>Internal Server Error</body></html>"),
    })
    .await;
    assert_error(
        send(&WebhookChannel::new(receiver.url("/hook"))).await,
        false,
        &[
            "answered HTTP 500 Internal Server Error: \"<html><body>Internal Server Error</body></html>\"",
        ],
        &[],
    );
    assert_error(
        send(&WebhookChannel::new(receiver.url("/busy"))).await,
        false,
        &["HTTP 429 Too Many Requests: \"slow down\""],
        &[],
    );
}

#[tokio::test]
async fn a_client_error_is_permanent_and_quotes_the_start_of_the_answer() {
    let long = format!(
        "{{\"error\": \"invalid payload\", \"detail\": \"{}\"}}",
        "y".repeat(1000)
    );
    let receiver = Receiver::start(move |_: &Recorded| Reply::new(400, long.clone())).await;
    let hook = WebhookChannel::new(receiver.url("/hook?token=query-sekrit"));
    let err = send(&hook).await.unwrap_err();
    assert!(err.permanent, "{err:?}");
    assert!(
        err.reason.contains(&format!(
            "the webhook at http://{}/hook?… answered HTTP 400 Bad Request: \"{{\\\"error\\\": \\\"invalid payload\\\"",
            receiver.addr
        )),
        "{}",
        err.reason
    );
    assert!(err.reason.contains("yyy…\""), "{}", err.reason);
    assert!(err.reason.len() < 500, "{}", err.reason);
    assert!(!err.reason.contains("query-sekrit"), "{}", err.reason);
}

#[tokio::test]
async fn a_redirect_is_permanent_and_asks_for_the_final_address() {
    let receiver = Receiver::start(|_: &Recorded| Reply {
        headers: vec![(
            "Location".into(),
            "https://moved.example.com/new-hook".into(),
        )],
        ..Reply::new(301, "")
    })
    .await;
    assert_error(
        send(&WebhookChannel::new(receiver.url("/hook"))).await,
        true,
        &[
            "redirect (HTTP 301) to https://moved.example.com/…",
            "set the channel's url to the final address",
        ],
        &[],
    );
    assert_eq!(receiver.requests().len(), 1, "the redirect is not followed");
}

#[tokio::test]
async fn no_connection_is_temporary_and_names_the_address_without_its_token() {
    let port = closed_port();
    let hook = WebhookChannel::new(format!("http://127.0.0.1:{port}/hook?token=query-sekrit"));
    assert_error(
        send(&hook).await,
        false,
        &[
            &format!("cannot connect to the webhook at http://127.0.0.1:{port}/hook?…"),
            "refused",
        ],
        &["query-sekrit"],
    );
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_temporary() {
    let receiver = Receiver::start(|_: &Recorded| Reply {
        delay: Duration::from_secs(5),
        ..Reply::ok()
    })
    .await;
    let mut hook = WebhookChannel::new(receiver.url("/hook"));
    hook.timeout = Duration::from_millis(300).into();
    let started = std::time::Instant::now();
    assert_error(
        send(&hook).await,
        false,
        &[&format!(
            "the webhook at http://{}/hook did not answer within 300ms",
            receiver.addr
        )],
        &[],
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------- SMS

#[tokio::test]
async fn twilio_gets_one_form_post_per_number_with_basic_auth() {
    let receiver = Receiver::start(|request: &Recorded| {
        if request.header("authorization") == Some(&basic_auth("AC0123", "twilio-token")) {
            Reply::new(201, "{\"sid\": \"SM1\", \"status\": \"queued\"}")
        } else {
            Reply::new(
                401,
                "{\"code\": 20003, \"message\": \"Authenticate\", \"status\": 401}",
            )
        }
    })
    .await;
    let table = format!(
        "name = \"sms\"\ntype = \"sms\"\nprovider = \"twilio\"\nto = [\"+15551230001\", \"+15551230002\"]\nfrom = \"+15559870000\"\naccount_sid = \"AC0123\"\nauth_token = \"twilio-token\"\napi_url = \"{}\"",
        receiver.url("")
    );
    let channel = channel(&table);
    let ChannelKind::Sms(settings) = &channel.kind else {
        panic!("{channel:?}");
    };
    assert!(settings.problems().is_empty(), "{:?}", settings.problems());
    send(channel.kind.notifier()).await.unwrap();

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    for (request, to) in requests.iter().zip(["+15551230001", "+15551230002"]) {
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/2010-04-01/Accounts/AC0123/Messages.json");
        assert_eq!(
            request.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            request.form(),
            [
                ("To".to_owned(), to.to_owned()),
                ("From".to_owned(), "+15559870000".to_owned()),
                (
                    "Body".to_owned(),
                    "DOWN: Shop since 10:02 & counting".to_owned()
                ),
            ]
        );
    }

    // A wrong token: Twilio's 401, permanent, the token never shown.
    let wrong = SmsChannel {
        api_url: Some(receiver.url("/")),
        ..SmsChannel::twilio(
            vec!["+15551230001".into()],
            "+15559870000",
            "AC0123",
            Secret::parse("wrong-token-value"),
        )
    };
    assert_error(
        send(&wrong).await,
        true,
        &[
            &format!(
                "Twilio at http://{}/2010-04-01/Accounts/AC0123/Messages.json answered HTTP 401 Unauthorized",
                receiver.addr
            ),
            "Authenticate",
        ],
        &["wrong-token-value"],
    );
}

#[tokio::test]
async fn a_gateway_gets_its_json_template_filled_and_escaped() {
    let receiver = Receiver::start(|_: &Recorded| Reply::new(200, "OK")).await;
    let table = format!(
        r#"name = "gw"
type = "sms"
provider = "http"
to = ["+15551230001"]
url = "{}"
body = '{{"number": "{{to}}", "text": "{{message}}", "flash": false}}'
headers = {{ X-Api-Key = "gw-key-123" }}"#,
        receiver.url("/api/send")
    );
    let channel = channel(&table);
    let ChannelKind::Sms(settings) = &channel.kind else {
        panic!("{channel:?}");
    };
    assert!(settings.problems().is_empty(), "{:?}", settings.problems());
    let mut tricky = message();
    tricky.short = "Shop \"down\"\n{to} \\ 100%".into();
    channel
        .kind
        .notifier()
        .send(&tricky, &clock())
        .await
        .unwrap();

    let request = receiver.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/api/send");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-api-key"), Some("gw-key-123"));
    assert_eq!(
        request.json(),
        serde_json::json!({"number": "+15551230001", "text": "Shop \"down\"\n{to} \\ 100%", "flash": false})
    );
}

#[tokio::test]
async fn a_gateway_gets_its_url_and_form_templates_percent_encoded() {
    let receiver = Receiver::start(|_: &Recorded| Reply::ok()).await;
    let mut get = SmsChannel::http(
        vec!["+1 555 0001".into()],
        format!(
            "{}?user=me&to={{to}}&text={{message}}",
            receiver.url("/send")
        ),
        None,
    );
    get.method = Some(keepwatch::notify::SmsMethod::Get);
    assert!(get.problems().is_empty(), "{:?}", get.problems());
    send(&get).await.unwrap();
    let form = SmsChannel::http(
        vec!["+15550002".into()],
        receiver.url("/form"),
        Some("to={to}&text={message}&from=keepwatch".into()),
    );
    send(&form).await.unwrap();

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(
        requests[0].target,
        "/send?user=me&to=%2B1%20555%200001&text=DOWN%3A%20Shop%20since%2010%3A02%20%26%20counting"
    );
    assert_eq!(
        requests[0].query()[2].1,
        "DOWN: Shop since 10:02 & counting"
    );
    assert!(requests[0].body.is_empty());
    assert_eq!(requests[1].method, "POST");
    assert_eq!(
        requests[1].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        requests[1].form(),
        [
            ("to".to_owned(), "+15550002".to_owned()),
            (
                "text".to_owned(),
                "DOWN: Shop since 10:02 & counting".to_owned()
            ),
            ("from".to_owned(), "keepwatch".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_number_the_gateway_refuses_is_named_and_the_others_still_get_the_message() {
    let receiver = Receiver::start(|request: &Recorded| {
        if request.text().contains("%2B1999") {
            Reply::new(400, "unknown number")
        } else {
            Reply::ok()
        }
    })
    .await;
    let sms = SmsChannel::http(
        vec!["+1999".into(), "+15550001".into()],
        receiver.url("/send?apikey=gw-query-key"),
        Some("to={to}&text={message}".into()),
    );
    assert_error(
        send(&sms).await,
        true,
        &[
            &format!(
                "not sent to +1999: the SMS gateway at http://{}/send?… answered HTTP 400 Bad Request: \"unknown number\"",
                receiver.addr
            ),
            "sent to +15550001 (a retry texts them again)",
        ],
        &["gw-query-key"],
    );
    assert_eq!(receiver.requests().len(), 2);
}

// ---------------------------------------------------------------- chat

#[tokio::test]
async fn slack_teams_and_discord_get_their_own_json() {
    let receiver = Receiver::start(|request: &Recorded| match request.target.as_str() {
        "/discord" => Reply::new(204, ""),
        "/teams" => Reply::new(202, ""),
        _ => Reply::new(200, "ok"),
    })
    .await;
    for (kind, path) in [
        ("slack", "/slack"),
        ("teams", "/teams"),
        ("discord", "/discord"),
    ] {
        let channel = channel(&format!(
            "name = \"chat\"\ntype = \"{kind}\"\nurl = \"{}\"",
            receiver.url(path)
        ));
        send(channel.kind.notifier()).await.unwrap();
    }
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
    assert_eq!(
        requests[0].json(),
        serde_json::json!({"text": format!("*Shop is down*\n{}", message().text)})
    );
    let card = &requests[1].json()["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["body"][0]["text"], "Shop is down");
    assert_eq!(card["content"]["body"][1]["text"], message().text);
    assert_eq!(
        requests[2].json(),
        serde_json::json!({
            "content": format!("**Shop is down**\n{}", message().text),
            "allowed_mentions": {"parse": []},
        })
    );
}

#[tokio::test]
async fn a_long_discord_message_is_cut_with_a_note() {
    let receiver = Receiver::start(|_: &Recorded| Reply::new(204, "")).await;
    let discord = DiscordChannel::new(Secret::parse(&receiver.url("/api/webhooks/1/t")));
    let mut long = message();
    long.text = "line of detail\n".repeat(500);
    discord.send(&long, &clock()).await.unwrap();
    let content = receiver.only_request().json()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(content.chars().count(), 2000);
    assert!(
        content.ends_with("… (cut at Discord's 2000-character limit)"),
        "{content}"
    );
}

#[tokio::test]
async fn chat_errors_never_show_the_webhook_path() {
    let receiver = Receiver::start(|_: &Recorded| Reply::new(404, "no_service")).await;
    let slack = SlackChannel::new(Secret::parse(
        &receiver.url("/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    ));
    assert_error(
        send(&slack).await,
        true,
        &[&format!(
            "Slack at http://{}/… answered HTTP 404 Not Found: \"no_service\"",
            receiver.addr
        )],
        &["XXXXXXXX", "T00000000"],
    );
    let port = closed_port();
    let teams = TeamsChannel::new(Secret::parse(&format!(
        "http://127.0.0.1:{port}/webhookb2/abc-secret-path@tenant"
    )));
    assert_error(
        send(&teams).await,
        false,
        &[&format!(
            "cannot connect to Teams at http://127.0.0.1:{port}/…"
        )],
        &["abc-secret-path"],
    );
}

// ---------------------------------------------------------------- config

#[test]
fn every_http_channel_type_is_read_from_a_channel_table_and_refuses_unknown_keys() {
    let tables = [
        ("webhook", "url = \"https://example.com/hook\""),
        (
            "sms",
            "provider = \"twilio\"\nto = [\"+15551230001\"]\nfrom = \"+1555\"\naccount_sid = \"AC1\"\nauth_token = \"env:TOKEN\"",
        ),
        ("slack", "url = \"env:SLACK_URL\""),
        ("teams", "url = \"https://example.webhook.office.com/x\""),
        ("discord", "url = \"https://discord.com/api/webhooks/1/t\""),
    ];
    for (kind, settings) in tables {
        assert!(ChannelKind::TYPES.contains(&kind), "{kind}");
        let channel = channel(&format!(
            "name = \"c\"\ntype = \"{kind}\"\n{settings}\ntimeout = \"3s\""
        ));
        assert_eq!(channel.max_per_hour, 20);
        let err = toml::from_str::<Channel>(&format!(
            "name = \"c\"\ntype = \"{kind}\"\n{settings}\nretries = 3"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("retries"), "{kind}: {err}");
    }
}

// ---------------------------------------------------------------- TLS

#[tokio::test]
async fn https_uses_the_checks_tls_and_an_untrusted_certificate_is_reported() {
    let addr = self_signed_https_server().await;
    let hook = WebhookChannel::new(format!("https://{addr}/hook"));
    assert_error(
        send(&hook).await,
        false,
        &[
            &format!("cannot connect to the webhook at https://{addr}/hook"),
            "certificate",
        ],
        &[],
    );
}

#[tokio::test]
async fn certificates_are_judged_at_the_agents_clock() {
    let addr = self_signed_https_server().await;
    let hook = WebhookChannel::new(format!("https://{addr}/hook"));
    // Today the certificate is only untrusted; at a clock past its end it
    // has expired, which is checked first.
    let today = send(&hook).await.unwrap_err();
    assert!(!today.reason.contains("expired"), "{}", today.reason);
    let later: Arc<dyn Clock> = Arc::new(keepwatch::clock::SimClock::new(
        "2200-01-01T00:00:00Z".parse().unwrap(),
    ));
    let err = hook.send(&message(), &later).await.unwrap_err();
    assert!(err.reason.contains("expired"), "{}", err.reason);
}

/// An HTTPS server on 127.0.0.1 with a self-signed certificate for
/// 127.0.0.1 that ends with 2099.
async fn self_signed_https_server() -> std::net::SocketAddr {
    use tokio_rustls::rustls;

    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2099, 12, 31);
    let cert = params.self_signed(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // The client refuses the certificate; the handshake just ends.
            let _ = acceptor.accept(stream).await;
        }
    });
    addr
}
