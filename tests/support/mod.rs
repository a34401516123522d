//! What the check tests share: reading a service from TOML, running its
//! check, a port where nothing listens, and asserting what an outcome says.
//! Each test file names its own service, and passes that name in.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use keepwatch::checks::{CheckOutcome, Checker, ServiceSpec};

use keepwatch::clock::SystemClock;
use keepwatch::vocabulary::{FailureKind, State};

/// A service read from its TOML settings; a mistake in them fails the test,
/// quoting the text.
pub fn service(toml: &str) -> ServiceSpec {
    toml::from_str(toml).unwrap_or_else(|err| panic!("{err}\n{toml}"))
}

/// Runs `spec`'s check once, at the system clock's time.
pub async fn check(spec: &ServiceSpec) -> CheckOutcome {
    Checker::new(Arc::new(SystemClock)).run(spec).await
}

/// A TCP port on 127.0.0.1 that was just free: bound, then released.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The service is up, its explanation starting with `start` and saying `says`.
#[track_caller]
pub fn assert_up(outcome: &CheckOutcome, start: &str, says: &str) {
    assert_eq!(outcome.state, State::Up, "{outcome:#?}");
    assert!(
        outcome.explanation.starts_with(start) && outcome.explanation.contains(says),
        "does not say {says:?}: {}",
        outcome.explanation
    );
}

/// The check failed with `kind` (and the state that kind stands for), its
/// explanation naming the service `name` first and saying `cause`.
#[track_caller]
pub fn assert_failure(outcome: &CheckOutcome, name: &str, kind: FailureKind, cause: &str) {
    assert_eq!(outcome.kind, Some(kind), "{outcome:#?}");
    assert_eq!(outcome.state, kind.state(), "{outcome:#?}");
    assert!(
        outcome.explanation.starts_with(name),
        "does not name the service: {}",
        outcome.explanation
    );
    assert!(
        outcome.explanation.contains(cause),
        "does not say {cause:?}: {}",
        outcome.explanation
    );
}

/// Runs `spec`'s check once, which must be over (up or not) in less than
/// `within`.
pub async fn check_within(spec: &ServiceSpec, within: Duration) -> CheckOutcome {
    let started = Instant::now();
    let outcome = check(spec).await;
    assert!(started.elapsed() < within, "took {:?}", started.elapsed());
    outcome
}
