//! Running many checks at once, as `keepwatch check` does.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{CheckOutcome, Checker, Confirmer, ServiceSpec, run_confirmed};

/// Runs each service's check once, at most `limit` at the same time, with
/// the service's immediate retries, so a single lost packet is not reported
/// as an outage. Outcomes come back in the order of `specs`.
pub async fn check_all(
    checker: Arc<Checker>,
    specs: &[ServiceSpec],
    limit: usize,
) -> Vec<CheckOutcome> {
    let slots = Arc::new(Semaphore::new(limit.max(1)));
    let mut running = JoinSet::new();
    for (index, spec) in specs.iter().cloned().enumerate() {
        let (checker, slots) = (checker.clone(), slots.clone());
        running.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let mut confirmer = Confirmer::new(spec.common.retries, 1);
            (
                index,
                run_confirmed(checker.as_ref(), &spec, &mut confirmer)
                    .await
                    .0,
            )
        });
    }
    let mut outcomes: Vec<Option<CheckOutcome>> = vec![None; specs.len()];
    while let Some(joined) = running.join_next().await {
        if let Ok((index, outcome)) = joined {
            outcomes[index] = Some(outcome);
        }
    }
    outcomes
        .into_iter()
        .zip(specs)
        .map(|(outcome, spec)| {
            outcome.unwrap_or_else(|| {
                CheckOutcome::failed(
                    crate::vocabulary::FailureKind::Other,
                    format!(
                        "{}: the check stopped unexpectedly; please report this.",
                        spec.common.name
                    ),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::vocabulary::{FailureKind, State};

    #[tokio::test]
    async fn outcomes_come_back_in_config_order_with_failures_retried() {
        let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let text = format!(
            "[[service]]\nname = \"Closed\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {closed_port}\n\
             [[service]]\nname = \"Open\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {}\n",
            open.local_addr().unwrap().port()
        );
        let specs = crate::config::parse(std::path::Path::new("k.toml"), &text)
            .unwrap()
            .services;
        let checker = Arc::new(Checker::new(Arc::new(SystemClock)));
        let outcomes = check_all(checker, &specs, 1).await;
        assert_eq!(outcomes[0].kind, Some(FailureKind::ConnectionRefused));
        assert_eq!(outcomes[1].state, State::Up);
    }
}
