//! Handing keepwatch's data to a bigger system: the Prometheus names of its
//! series ([`names`], shared with the API's `/metrics`), and pushing the
//! stored history with Prometheus remote write ([`remote_write`], encoded by
//! [`wire`]), configured by `[export]`.
//!
//! Remote write runs beside the agent on the same runtime, with its own
//! database connection; reading and encoding happen on a blocking thread,
//! so checks and alerts never wait for it, and a receiver that is down only
//! makes it wait.

pub mod names;
pub mod remote_write;
pub mod wire;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use remote_write::{Outcome, Pass, RemoteWrite};

use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;

/// Pushes history until `stop`, following the config in `configs`: a pass,
/// then a pause that depends on how it ended (see [`Outcome`]); a config
/// change ends any pause. The database at `path` is opened (a connection of
/// its own) only once `[export] remote_write` is set, so an agent that
/// exports nothing carries nothing for it.
pub async fn run(
    path: PathBuf,
    clock: Arc<dyn Clock>,
    mut configs: watch::Receiver<Config>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut exporter: Option<RemoteWrite> = None;
    let mut backoff = Duration::from_secs(1);
    loop {
        let config = configs.borrow_and_update().clone();
        let wait = if !config.export.enabled() {
            None
        } else if let Some(exporter) = exporter.as_mut() {
            let pass = exporter.pass(&config.export).await;
            Some(match pass.outcome {
                Outcome::CaughtUp => {
                    backoff = Duration::from_secs(1);
                    remote_write::EVERY
                }
                Outcome::Behind => Duration::ZERO,
                Outcome::Retry(_) => {
                    let wait = backoff;
                    backoff = (backoff * 2).min(remote_write::MAX_BACKOFF);
                    wait
                }
                Outcome::Stopped(_) => remote_write::CHECK_AGAIN,
            })
        } else {
            match Store::open(&path, &config.storage) {
                Ok(store) => {
                    exporter = Some(RemoteWrite::new(store, clock.clone()));
                    Some(Duration::ZERO)
                }
                Err(err) => {
                    tracing::error!("remote write cannot read the history: {err}");
                    Some(remote_write::CHECK_AGAIN)
                }
            }
        };
        let pause = async {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut stop => break,
            () = pause => {}
            Ok(()) = configs.changed() => {}
        }
    }
}

/// Starts [`run`] beside the agent, for the database at `path`.
pub fn spawn(
    path: &Path,
    clock: Arc<dyn Clock>,
    configs: watch::Receiver<Config>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(
        path.to_path_buf(),
        clock,
        configs,
        std::future::pending(),
    ))
}
