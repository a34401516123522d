//! The async loop around [`Agent`]: sleep until something is due, stop on
//! Ctrl-C / SIGTERM, reload the config on SIGHUP or when the file changes,
//! and end when the daily integrity check finds the database damaged.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};

use super::Agent;
use super::integrity::{self, IntegrityWatch};
use crate::checks::{CheckOutcome, Checker, ServiceSpec};
use crate::clock::Clock;
use crate::config::{Config, load_and_remember};
use crate::notify::{Outbox, channels};
use crate::store::Store;

/// How long a stopping keepwatch waits for messages being sent.
const OUTBOX_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The Tokio runtime every keepwatch command runs on: one thread, timers and
/// I/O. A single thread is enough for checks that mostly wait on the
/// network, and costs about 0.8 MB less memory and two threads fewer than the
/// multi-threaded one (CRATES.md, footprint).
pub fn new_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start: {err}"))
}

/// How `run` watches its config file.
#[derive(Debug)]
pub struct RunOptions {
    /// The config file to reload when it changes (it may not exist yet).
    pub config_path: PathBuf,
    /// How often to look at the file's modification time.
    pub watch_every: std::time::Duration,
    /// Told each configuration that comes into force, for the work that runs
    /// beside the agent (scheduled reports).
    pub configs: Option<Arc<watch::Sender<Config>>>,
    /// Wakes the outbox; whatever else queues messages (scheduled reports)
    /// holds a clone.
    pub wake: Arc<Notify>,
    /// Told when a heartbeat ping was recorded in this process (the API's
    /// ping URLs), so the agent judges it at once; pings from other
    /// processes (`keepwatch ping`) are found at the next look, within
    /// `watch_every`.
    pub pings: Arc<Notify>,
    /// Batches from agents, taken by the API (on a hub).
    pub deliveries: Option<mpsc::Receiver<super::Delivery>>,
}

impl RunOptions {
    /// Passes on the configuration in force, if it changed.
    fn tell(&self, config: &Config) {
        if let Some(configs) = &self.configs {
            configs.send_if_modified(|current| {
                let changed = current != config;
                if changed {
                    current.clone_from(config);
                }
                changed
            });
        }
    }
}

/// Why [`run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// A stop was requested.
    Stopped,
    /// The daily integrity check found the database damaged (what SQLite
    /// found): keepwatch must start again, and its start recovers the file
    /// (see [`super::integrity`] for why not in place).
    DatabaseDamaged(String),
}

/// Runs `agent` until `shutdown` completes, reloading the config at each
/// `hangup` and checking the database once a day, then saves everything
/// and records a clean stop.
pub async fn run(
    mut agent: Agent,
    clock: Arc<dyn Clock>,
    mut options: RunOptions,
    shutdown: impl Future<Output = ()>,
    mut hangup: Hangup,
) -> Ended {
    let mut watcher = FileWatch::new(&options.config_path);
    let mut watch = tokio::time::interval(options.watch_every);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let checker = Arc::new(Checker::new(clock.clone()));
    let (results_tx, mut results) = mpsc::unbounded_channel();
    let mut limit = Limit::new(agent.config().checks.max_concurrent);
    let wake = options.wake.clone();
    let (channels_tx, channels_rx) = watch::channel(channels(&agent.config().channels));
    let (stop_outbox, outbox_stopped) = oneshot::channel::<()>();
    let outbox = match Store::open(agent.store().path(), &agent.config().storage) {
        Ok(store) => Some(tokio::spawn(
            Outbox::new(store, clock.clone())
                .sending_held(agent.held())
                .run(wake.clone(), channels_rx, async {
                    let _ = outbox_stopped.await;
                }),
        )),
        Err(err) => {
            tracing::error!("alerts cannot be sent: the outbox cannot open the database: {err}");
            None
        }
    };
    tokio::pin!(shutdown);
    let damage = integrity::watch(IntegrityWatch::new(agent.store().path(), clock.clone()));
    tokio::pin!(damage);
    let mut ended = Ended::Stopped;
    let mut deliveries = options.deliveries.take();
    loop {
        let tick = agent.tick();
        if agent.take_queued() > 0 {
            wake.notify_one();
        }
        for spec in tick.checks {
            let permit = limit.acquire(agent.config().checks.max_concurrent);
            tokio::spawn(run_check(checker.clone(), permit, spec, results_tx.clone()));
        }
        let wait = clock.now().duration_until(tick.wake);
        let wait = std::time::Duration::try_from(wait).unwrap_or_default();
        tokio::select! {
            () = &mut shutdown => break,
            problem = &mut damage => {
                tracing::error!(
                    "the daily integrity check found the database {} damaged ({problem}). keepwatch stops and starts again: at start it moves the file aside, starts a new one, copies over what can still be read and tells you what was lost",
                    agent.store().path().display()
                );
                ended = Ended::DatabaseDamaged(problem);
                break;
            }
            () = tokio::time::sleep(wait) => {}
            () = options.pings.notified() => {}
            Some(delivery) = next_delivery(&mut deliveries) => agent.deliver(delivery),
            Some((name, outcome)) = results.recv() => {
                agent.check_finished(&name, outcome);
                // Whatever else finished meanwhile goes into the same transaction.
                while let Ok((name, outcome)) = results.try_recv() {
                    agent.check_finished(&name, outcome);
                }
                agent.save_check_results();
                if agent.take_queued() > 0 {
                    wake.notify_one();
                }
            }
            _ = watch.tick() => {
                if watcher.changed() {
                    reload(&mut agent, &options.config_path, "the config file changed");
                    channels_tx.send_replace(channels(&agent.config().channels));
                    options.tell(agent.config());
                }
            }
            () = hangup.recv() => {
                watcher.changed();
                reload(&mut agent, &options.config_path, "asked to reload (SIGHUP)");
                channels_tx.send_replace(channels(&agent.config().channels));
                options.tell(agent.config());
            }
        }
    }
    tracing::info!("stopping: saving what is in memory");
    agent.shutdown();
    if agent.take_queued() > 0 {
        wake.notify_one();
    }
    let _ = stop_outbox.send(());
    if let Some(outbox) = outbox
        && tokio::time::timeout(OUTBOX_GRACE, outbox).await.is_err()
    {
        tracing::warn!(
            "stopped while alerts were being sent; they are kept and sent at the next start"
        );
    }
    ended
}

/// The next batch from an agent; never, where there is no API taking them.
async fn next_delivery(
    deliveries: &mut Option<mpsc::Receiver<super::Delivery>>,
) -> Option<super::Delivery> {
    match deliveries {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs one check once it may (at most `max_concurrent` at a time) and sends
/// its outcome back. The check bounds its own time, so a hanging service only
/// holds its own slot.
async fn run_check(
    checker: Arc<Checker>,
    permit: Arc<Semaphore>,
    spec: Arc<ServiceSpec>,
    results: mpsc::UnboundedSender<(String, CheckOutcome)>,
) {
    let Ok(_slot) = permit.acquire_owned().await else {
        return;
    };
    let outcome = checker.run(&spec).await;
    // The receiver is gone only when keepwatch is stopping.
    let _ = results.send((spec.common.name.clone(), outcome));
}

/// The concurrency limit of checks, replaced when the config changes it.
struct Limit {
    size: usize,
    semaphore: Arc<Semaphore>,
}

impl Limit {
    fn new(size: usize) -> Self {
        Self {
            size,
            semaphore: Arc::new(Semaphore::new(size.max(1))),
        }
    }

    /// The semaphore to wait on, resized first if the limit changed.
    fn acquire(&mut self, size: usize) -> Arc<Semaphore> {
        if size != self.size {
            *self = Self::new(size);
        }
        self.semaphore.clone()
    }
}

/// Loads the file again; a broken file is reported and the config in force stays.
fn reload(agent: &mut Agent, path: &Path, why: &str) {
    match load_and_remember(path) {
        Ok(config) if &config == agent.config() => tracing::debug!("{why}; nothing to change"),
        Ok(config) => {
            tracing::info!(
                "{why}: new configuration from {} is in force",
                path.display()
            );
            agent.apply(config);
        }
        Err(err) => {
            tracing::error!(
                "{why}, but the new file cannot be used; keepwatch keeps running on the previous configuration.\n{err}"
            );
            let first = err
                .problems
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            let now = agent.clock.now();
            agent.event(
                now,
                "config",
                &format!("rejected a change to {}: {first}", path.display()),
            );
        }
    }
}

/// Ctrl-C, or SIGTERM on Unix (what `systemctl stop` and `kill` send). The
/// handlers are installed when this is created, so create it first thing: a
/// stop request that arrives while keepwatch is still starting is then
/// honoured cleanly instead of killing the process.
pub struct Shutdown {
    #[cfg(unix)]
    signals: (tokio::signal::unix::Signal, tokio::signal::unix::Signal),
    #[cfg(windows)]
    ctrl_c: tokio::signal::windows::CtrlC,
}

impl Shutdown {
    /// Starts listening; needs a running Tokio runtime.
    pub fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                signals: (
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                ),
            })
        }
        #[cfg(windows)]
        {
            Ok(Self {
                ctrl_c: tokio::signal::windows::ctrl_c()?,
            })
        }
    }

    /// Completes when a stop was requested.
    pub async fn requested(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.signals.0.recv() => {}
            _ = self.signals.1.recv() => {}
        }
        #[cfg(windows)]
        self.ctrl_c.recv().await;
    }
}

/// SIGHUP on Unix (a request to reload the config); never on other systems
/// (they rely on the file watch). Like [`Shutdown`], create it first thing:
/// SIGHUP's default action is to end the process, so one that arrives before
/// the handler is installed (while the database is being opened) would kill
/// keepwatch instead of being a request to reload.
pub struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    /// Starts listening; needs a running Tokio runtime.
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(|err| {
                    tracing::warn!(
                        "cannot listen for SIGHUP ({err}); config changes are still picked up"
                    )
                })
                .ok();
            Self { signal }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            signal.recv().await;
            return;
        }
        std::future::pending::<()>().await;
    }
}

/// Notices when a file's modification time or size changes (or it appears).
struct FileWatch {
    path: PathBuf,
    seen: Option<(SystemTime, u64)>,
}

impl FileWatch {
    fn new(path: &Path) -> Self {
        let mut watch = Self {
            path: path.to_path_buf(),
            seen: None,
        };
        watch.changed();
        watch
    }

    fn changed(&mut self) -> bool {
        let now = std::fs::metadata(&self.path).ok().map(|meta| {
            (
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                meta.len(),
            )
        });
        let changed = now.is_some() && now != self.seen;
        self.seen = now;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_watch_notices_appearing_and_changing_files_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepwatch.toml");
        let mut watch = FileWatch::new(&path);
        assert!(!watch.changed());
        std::fs::write(&path, "a").unwrap();
        assert!(watch.changed());
        assert!(!watch.changed());
        std::fs::write(&path, "ab").unwrap();
        assert!(watch.changed());
        std::fs::remove_file(&path).unwrap();
        assert!(!watch.changed());
    }
}
