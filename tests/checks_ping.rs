//! Ping checks against 127.0.0.1, by each method this machine can offer.
//!
//! Which method works depends on the machine: unprivileged ICMP needs
//! `net.ipv4.ping_group_range` to include the user's group, raw ICMP needs
//! root or `CAP_NET_RAW`. So that each method is tested wherever the tests run
//! as root, a check can run on a thread of its own that first moves into a
//! new network namespace (with its own loopback and its own ICMP settings)
//! and may drop `CAP_NET_RAW`, which Linux keeps per thread. Nothing else in
//! the process, or on the machine, sees those changes. Where that is not
//! permitted (not root), those tests say so loudly and pass; with
//! `KEEPWATCH_REQUIRE_SERVICES=1` (as in CI) they fail.
//!
//! Every packet goes to 127.0.0.1.

#[cfg(target_os = "linux")]
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use keepwatch::checks::CheckOutcome;
use keepwatch::checks::ServiceSpec;

use keepwatch::vocabulary::{FailureKind, State};
#[cfg(target_os = "linux")]
use sandbox::{LOOPBACK, Sandbox, in_sandbox};
use support::{assert_failure, assert_up, check, closed_port, service};

// Network namespaces and per-thread capabilities are Linux's.
#[cfg(target_os = "linux")]
mod sandbox;
mod support;

const ROUTER: &str = "Router";

fn router(extra: &str) -> ServiceSpec {
    let text = format!("name = \"Router\"\ntype = \"ping\"\nhost = \"127.0.0.1\"\n{extra}");
    service(&text)
}

/// A TCP port on 127.0.0.1 that accepts connections (open while the listener lives).
fn listening() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[cfg(target_os = "linux")]
fn run_in(sandbox: Sandbox, spec: ServiceSpec) -> Option<CheckOutcome> {
    in_sandbox(sandbox, move || async move { check(&spec).await })
}

#[tokio::test]
async fn localhost_answers_by_whatever_method_this_machine_allows() {
    let (_listener, port) = listening();
    let outcome = check(&router(&format!("fallback_port = {port}"))).await;
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");
    let methods = [
        "answered 3 of 3 pings to 127.0.0.1 via unprivileged ICMP (round trip average ",
        "answered 3 of 3 pings to 127.0.0.1 via raw ICMP (round trip average ",
        &format!("accepted a connection via TCP port {port} (ICMP not permitted: "),
    ];
    assert!(
        methods.iter().any(|m| outcome.explanation.contains(m)),
        "{}",
        outcome.explanation
    );
    eprintln!("this machine: {}", outcome.explanation);
    assert!(outcome.response_time.is_some());
}

#[cfg(target_os = "linux")]
#[test]
fn unprivileged_icmp_is_used_where_the_group_range_allows_it() {
    let sandbox = Sandbox {
        unprivileged_icmp: true,
        ..LOOPBACK
    };
    let Some(outcome) = run_in(sandbox, router("")) else {
        return;
    };
    assert_up(
        &outcome,
        "Router ",
        "answered 3 of 3 pings to 127.0.0.1 via unprivileged ICMP (round trip average ",
    );
    assert!(outcome.response_time.unwrap() < Duration::from_secs(1));
}

#[cfg(target_os = "linux")]
#[test]
fn raw_icmp_is_used_where_unprivileged_icmp_is_off() {
    let Some(outcome) = run_in(LOOPBACK, router("count = 5")) else {
        return;
    };
    assert_up(
        &outcome,
        "Router ",
        "answered 5 of 5 pings to 127.0.0.1 via raw ICMP (round trip average ",
    );
}

#[cfg(target_os = "linux")]
#[test]
fn without_icmp_the_fallback_port_proves_the_host_is_up_and_says_how_to_allow_icmp() {
    let sandbox = Sandbox {
        no_raw_sockets: true,
        ..LOOPBACK
    };
    // The listener lives in the check's namespace, so it is made there.
    let outcome = in_sandbox(sandbox, || async {
        let (_listener, open) = listening();
        let closed = closed_port();
        (
            open,
            check(&router(&format!("fallback_port = {open}"))).await,
            closed,
            check(&router(&format!("fallback_port = {closed}"))).await,
            check(&router("")).await,
            check(&router(&format!(
                "method = \"icmp\"\nfallback_port = {open}"
            )))
            .await,
        )
    });
    let Some((open, accepted, closed, refused, no_fallback, icmp_only)) = outcome else {
        return;
    };
    assert_up(
        &accepted,
        "Router ",
        &format!(
            "Router is up: 127.0.0.1 accepted a connection via TCP port {open} (ICMP not permitted: allow it with `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` or `setcap cap_net_raw+ep`"
        ),
    );
    assert!(accepted.response_time.is_some());
    assert_up(
        &refused,
        "Router ",
        &format!("127.0.0.1 refused a connection via TCP port {closed} (ICMP not permitted: "),
    );
    assert!(
        refused
            .explanation
            .ends_with("which proves the host answers."),
        "{}",
        refused.explanation
    );
    for outcome in [no_fallback, icmp_only] {
        assert_failure(
            &outcome,
            ROUTER,
            FailureKind::ConfigError,
            "cannot be pinged: this computer does not let keepwatch send ICMP (",
        );
        assert!(
            outcome.explanation.contains("ping_group_range")
                && outcome.explanation.contains("set `fallback_port`"),
            "{}",
            outcome.explanation
        );
    }
}

#[tokio::test]
async fn the_tcp_method_counts_accepted_and_refused_connections_as_up() {
    let (_listener, open) = listening();
    let outcome = check(&router(&format!(
        "method = \"tcp\"\nfallback_port = {open}"
    )))
    .await;
    assert_up(
        &outcome,
        "Router ",
        &format!("Router is up: 127.0.0.1 accepted a connection via TCP port {open} in "),
    );
    let names: Vec<_> = outcome.phases.iter().map(|p| p.0).collect();
    assert_eq!(names, ["dns", "connect"]);

    let closed = closed_port();
    let outcome = check(&router(&format!(
        "method = \"tcp\"\nfallback_port = {closed}"
    )))
    .await;
    assert_up(
        &outcome,
        "Router ",
        &format!("refused a connection via TCP port {closed} in "),
    );
    assert!(!outcome.explanation.contains("not permitted"));
}

#[tokio::test]
async fn a_name_that_does_not_exist_is_a_dns_failure() {
    let spec =
        service("name = \"Router\"\ntype = \"ping\"\nhost = \"router.keepwatch-test.invalid\"\n");
    let outcome = check(&spec).await;
    assert_failure(
        &outcome,
        ROUTER,
        FailureKind::DnsFailure,
        "host name router.keepwatch-test.invalid could not be found",
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_host_without_a_route_is_unreachable_at_once() {
    // A new namespace's loopback is down: 127.0.0.1 has no route, and
    // nothing leaves the namespace.
    let sandbox = Sandbox::default();
    let started = Instant::now();
    let Some(outcome) = run_in(sandbox, router("timeout = \"5s\"")) else {
        return;
    };
    assert!(started.elapsed() < Duration::from_secs(2), "{outcome:#?}");
    assert_failure(
        &outcome,
        ROUTER,
        FailureKind::HostUnreachable,
        "cannot be reached at 127.0.0.1 (no route to the host; 3 pings tried via raw ICMP)",
    );
    assert_eq!(outcome.response_time, None);
}

#[cfg(target_os = "linux")]
#[test]
fn a_host_without_a_route_is_unreachable_by_tcp_too() {
    let Some(outcome) = run_in(
        Sandbox::default(),
        router("method = \"tcp\"\nfallback_port = 22\ntimeout = \"2s\""),
    ) else {
        return;
    };
    assert_failure(
        &outcome,
        ROUTER,
        FailureKind::HostUnreachable,
        "cannot be reached at 127.0.0.1:22 (no route to the host): the machine may be off, or the network path to it is broken (checked via TCP port 22).",
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_host_that_ignores_pings_is_down_after_the_timeout() {
    let sandbox = Sandbox {
        ignore_pings: true,
        ..LOOPBACK
    };
    let started = Instant::now();
    let Some(outcome) = run_in(sandbox, router("timeout = \"500ms\"")) else {
        return;
    };
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(2),
        "took {took:?}"
    );
    assert_failure(
        &outcome,
        ROUTER,
        FailureKind::HostUnreachable,
        "answered none of 3 pings to 127.0.0.1 via raw ICMP within 500 ms (100% packet loss)",
    );
    assert!(
        outcome.explanation.contains("`method = \"tcp\"`"),
        "{}",
        outcome.explanation
    );
}

#[test]
fn bad_settings_are_reported_when_the_config_is_read() {
    for (bad, says) in [
        (
            "method = \"tcp\"",
            "`method = \"tcp\"` needs `fallback_port`",
        ),
        ("count = 0", "`count` must be from 1 to 20"),
        ("max_loss = 150", "`max_loss` is a percentage"),
        ("port = 22", "unknown field `port`"),
    ] {
        let text = format!("name = \"Router\"\ntype = \"ping\"\nhost = \"127.0.0.1\"\n{bad}");
        let err = toml::from_str::<ServiceSpec>(&text).unwrap_err();
        assert!(err.message().contains(says), "{bad}: {}", err.message());
    }
}
