//! An agent's link to its hub: beside `keepwatch run` on a computer with a
//! `[hub]` section, it sends what the agent records, oldest first, in
//! windows of the agent's clock (`protocol.rs` has the format,
//! `store/outgoing.rs` the cursor). A window is sent every `send_every`;
//! while the hub cannot be reached nothing is lost, the backlog is the
//! history in the agent's own database; once the hub answers again the
//! backlog goes in windows of an hour, one after another, at most
//! `max_rate` bytes per second.
//!
//! The cursor moves only when the hub has acknowledged a window. A window
//! that failed is sent again unchanged (same session and number, so a hub
//! that had stored it answers that it had); a refusal (a revoked token, a
//! protocol the hub does not take) keeps everything until it is fixed. Each
//! change of how the link is doing is logged once and kept in the store for
//! `keepwatch status`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use reqwest::StatusCode;
use tokio::sync::watch;

use crate::checks::ServiceSpec;
use crate::clock::Clock;
use crate::config::{Config, HubConfig};
use crate::protocol::{
    Ack, Batch, INGEST_PATH, MAX_SAMPLES, PROTOCOL, RemoteIncident, RemoteService, series_of,
};
use crate::store::{Cursor, Store, StoreError, Unsent};
use crate::vocabulary::state_key;

/// A backlog is sent in windows of at most this much of the agent's time.
const WINDOW_MS: i64 = 3_600_000;
/// How long a request may take (a full window on a slow link).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The first wait after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest wait between two tries while the hub cannot be reached: a
/// link that comes back is used within this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long to wait after the hub refused this agent (its token, its
/// protocol): someone has to fix that first.
const REFUSED_WAIT: Duration = Duration::from_secs(60);
/// Fewest samples a batch is cut to when the hub finds batches too large.
const MIN_SAMPLES: usize = 500;

/// Starts the link beside the agent on the current runtime; it follows the
/// configurations sent on `configs` (a `[hub]` added, a token changed) and
/// does nothing while there is no `[hub]`.
pub fn spawn(
    database: &Path,
    config: &Config,
    clock: Arc<dyn Clock>,
    configs: watch::Receiver<Config>,
) -> Option<tokio::task::JoinHandle<()>> {
    let store = match Store::open(database, &config.storage) {
        Ok(store) => store,
        Err(err) => {
            if config.hub.is_set() {
                tracing::error!(
                    "nothing can be sent to the hub: the database cannot be opened: {err}"
                );
            }
            return None;
        }
    };
    let uplink = Uplink::new(store, clock, config.agent.host_name());
    Some(tokio::spawn(uplink.run(configs)))
}

/// What the link is doing, between rounds.
pub struct Uplink {
    /// Its own connection; moved to a blocking thread for each read.
    store: Option<Store>,
    clock: Arc<dyn Clock>,
    /// The agent's name in its own database (its series' host).
    host: String,
    /// Random per start, so the hub can tell a retry from a new batch.
    session: String,
    /// The number of the last batch made.
    seq: u64,
    /// The batch that failed, sent again as it is.
    pending: Option<(Cursor, Batch)>,
    /// The window the hub acknowledged last (as it was read, and up to
    /// where), recorded with the next read.
    acked: Option<(Cursor, i64)>,
    /// Most samples per batch; halved when the hub finds batches too large.
    max_samples: usize,
    /// Failures in a row.
    failures: u32,
    /// Why the hub did not take the last batch, as last told.
    problem: Option<String>,
}

/// The hub's address and how to reach it, from `[hub]`.
struct Link {
    url: String,
    token: crate::secret::Secret,
    client: reqwest::Client,
    send_every: Duration,
    max_rate: u64,
    services: Vec<ServiceSpec>,
}

/// What one batch carried to the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Its samples.
    pub samples: usize,
    /// Its size on the wire.
    pub bytes: usize,
    /// A backlog remains after it.
    pub more: bool,
    /// The hub had it already.
    pub duplicate: bool,
}

/// How one round ended.
#[derive(Debug)]
enum Round {
    /// Stored.
    Stored(Sent),
    /// Not stored: why, and how long to wait before the next try.
    Failed { why: String, wait: Duration },
}

impl Uplink {
    /// A link for the agent `host`, reading from `store`.
    pub fn new(store: Store, clock: Arc<dyn Clock>, host: String) -> Self {
        Self {
            store: Some(store),
            session: new_session(clock.now()),
            clock,
            host,
            seq: 0,
            pending: None,
            acked: None,
            max_samples: MAX_SAMPLES,
            failures: 0,
            problem: None,
        }
    }

    /// Sends until the configuration sender is gone (keepwatch stops).
    pub async fn run(mut self, mut configs: watch::Receiver<Config>) {
        loop {
            let config = configs.borrow_and_update().clone();
            match Link::new(&config, self.clock.clone()) {
                Ok(Some(link)) => loop {
                    let (_, wait) = self.round(&link).await;
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        changed = configs.changed() => match changed {
                            Ok(()) => break,
                            Err(_) => return,
                        },
                    }
                },
                Ok(None) => {
                    // Nothing to send to until the configuration changes.
                    if configs.changed().await.is_err() {
                        return;
                    }
                }
                Err(why) => {
                    self.tell(Err(why)).await;
                    if configs.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Sends one batch now to the hub of `config`: what was sent, or why
    /// nothing was. [`run`](Self::run) does this in a loop, waiting between
    /// rounds as the answer asks.
    pub async fn send_now(&mut self, config: &Config) -> Result<Sent, String> {
        let link = Link::new(config, self.clock.clone())?.ok_or("there is no [hub] url")?;
        self.round(&link).await.0
    }

    /// Sends one batch; returns how it went and how long to wait before the next.
    async fn round(&mut self, link: &Link) -> (Result<Sent, String>, Duration) {
        match self.send_one(link).await {
            Round::Stored(sent) => {
                self.failures = 0;
                self.tell(Ok(())).await;
                let wait = if sent.more {
                    // At most `max_rate` bytes a second, and a breath between batches.
                    let pace = sent.bytes as f64 / link.max_rate.max(1) as f64;
                    Duration::from_secs_f64(pace).max(Duration::from_millis(20))
                } else {
                    link.send_every
                };
                (Ok(sent), wait)
            }
            Round::Failed { why, wait } => {
                self.failures = self.failures.saturating_add(1);
                self.tell(Err(why.clone())).await;
                (Err(why), wait)
            }
        }
    }

    /// Reads the next window (or takes the one that failed), sends it and
    /// moves the cursor if the hub stored it.
    async fn send_one(&mut self, link: &Link) -> Round {
        let now = self.clock.now();
        let (read, mut batch) = match self.pending.take() {
            Some(pending) => pending,
            None => {
                let (host, max) = (self.host.clone(), self.max_samples);
                let now_ms = now.as_millisecond();
                let acked = self.acked.take();
                match self
                    .with_store(move |store| next_window(store, &host, now_ms, max, acked))
                    .await
                {
                    Ok((read, unsent)) => {
                        self.seq += 1;
                        let batch = self.batch(unsent, &link.services);
                        (read, batch)
                    }
                    Err(err) => {
                        return Round::Failed {
                            why: format!("the agent's own database cannot be read ({err})"),
                            wait: MAX_BACKOFF,
                        };
                    }
                }
            }
        };
        batch.sent_ms = now.as_millisecond();
        let body = batch.encode();
        let bytes = body.len();
        let answer = link.post(body).await;
        let ack = match answer {
            Ok(ack) => ack,
            Err(refusal) => {
                if refusal.smaller && self.max_samples > MIN_SAMPLES {
                    // Read again in a smaller window, at once.
                    self.max_samples = (self.max_samples / 2).max(MIN_SAMPLES);
                    return Round::Failed {
                        why: refusal.why,
                        wait: Duration::ZERO,
                    };
                }
                let wait = refusal.wait.unwrap_or_else(|| backoff(self.failures));
                self.pending = Some((read, batch));
                return Round::Failed {
                    why: refusal.why,
                    wait,
                };
            }
        };
        self.acked = Some((read, ack.upto_ms));
        let behind = now.as_millisecond().saturating_sub(ack.upto_ms);
        Round::Stored(Sent {
            samples: batch.sample_count(),
            bytes,
            more: behind > link.send_every.as_millis() as i64,
            duplicate: ack.duplicate,
        })
    }

    /// The batch of a window read from the store.
    fn batch(&self, unsent: Unsent, specs: &[ServiceSpec]) -> Batch {
        let spec = |name: &str| specs.iter().find(|s| s.common.name == name);
        Batch {
            protocol: PROTOCOL,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            session: self.session.clone(),
            seq: self.seq,
            after_ms: unsent.after_ms,
            upto_ms: unsent.upto_ms,
            sent_ms: 0,
            series: series_of(unsent.series),
            incidents: unsent
                .incidents
                .into_iter()
                .map(|incident| RemoteIncident {
                    service: incident.service,
                    started_ms: incident.started.as_millisecond(),
                    ended_ms: incident.ended.map(Timestamp::as_millisecond),
                    state: incident.state,
                    kind: incident.kind.map(|k| k.as_str().to_owned()),
                    cause: incident.cause,
                })
                .collect(),
            services: unsent
                .services
                .into_iter()
                .map(|status| RemoteService {
                    critical: spec(&status.name).is_some_and(|s| s.common.critical),
                    depends_on: spec(&status.name)
                        .map(|s| s.common.depends_on.clone())
                        .unwrap_or_default(),
                    name: status.name,
                    state: status.state,
                    kind: status.kind.map(|k| k.as_str().to_owned()),
                    explanation: status.explanation,
                    since_ms: status.since.as_millisecond(),
                    checked_ms: status.checked_at.as_millisecond(),
                    response_ms: status.response_ms,
                })
                .collect(),
        }
    }

    /// Logs a change in how the link is doing, once, and keeps it for
    /// `keepwatch status`.
    async fn tell(&mut self, outcome: Result<(), String>) {
        let now = self.clock.now();
        let problem = outcome.err();
        if problem == self.problem {
            return;
        }
        match (&self.problem, &problem) {
            (_, Some(why)) => tracing::warn!(
                "the hub does not take this computer's data now: {why}; it is kept here and sent when the hub takes it"
            ),
            (Some(_), None) => tracing::info!("the hub takes this computer's data again"),
            (None, None) => {}
        }
        self.problem = problem.clone();
        self.note(problem, now).await;
    }

    /// Records where the link stands in the store (its own connection).
    async fn note(&mut self, problem: Option<String>, now: Timestamp) {
        let recorded = self
            .with_store(move |store| match problem {
                Some(why) => store.set_state(state_key::HUB_PROBLEM, &format!("{now}\n{why}")),
                None => store.remove_state(state_key::HUB_PROBLEM),
            })
            .await;
        if let Err(err) = recorded {
            tracing::debug!("could not record how the link to the hub is doing: {err}");
        }
    }

    /// Runs `work` on the store on a blocking thread.
    async fn with_store<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let Some(mut store) = self.store.take() else {
            return Err("its connection was lost when keepwatch was stopping".to_owned());
        };
        let done = tokio::task::spawn_blocking(move || {
            let result = work(&mut store);
            (store, result)
        })
        .await;
        match done {
            Ok((store, result)) => {
                self.store = Some(store);
                result.map_err(|err| err.to_string())
            }
            Err(err) => Err(format!("reading it stopped: {err}")),
        }
    }
}

/// Asks the hub of `config` whether it takes this computer's data, with a
/// batch that holds nothing: its answer (the name it knows this computer
/// by), or why not, in words. `keepwatch init --hub` tries this at once.
pub async fn hello(config: &Config, clock: Arc<dyn Clock>) -> Result<Ack, String> {
    let now = clock.now();
    let link = Link::new(config, clock)?.ok_or("there is no [hub] url")?;
    let batch = Batch {
        protocol: PROTOCOL,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        session: new_session(now),
        seq: 1,
        after_ms: now.as_millisecond(),
        upto_ms: now.as_millisecond(),
        sent_ms: now.as_millisecond(),
        series: Vec::new(),
        incidents: Vec::new(),
        services: Vec::new(),
    };
    link.post(batch.encode())
        .await
        .map_err(|refusal| refusal.why)
}

/// Reads the next window after the cursor at the agent's time `now_ms`: an
/// hour's worth while there is a backlog (skipping stretches where nothing
/// was recorded), else up to now.
fn next_window(
    store: &mut Store,
    host: &str,
    now_ms: i64,
    max: usize,
    acked: Option<(Cursor, i64)>,
) -> Result<(Cursor, Unsent), StoreError> {
    // Where the cursor will be once `acked` is recorded (unless a late
    // write moves it back, which only makes the window longer).
    let after = match acked {
        Some((_, upto)) => upto,
        None => store.outgoing_cursor()?.sent_ms,
    };
    let start = if now_ms.saturating_sub(after) > WINDOW_MS {
        store
            .next_recorded(after)?
            .unwrap_or(now_ms)
            .max(after.saturating_add(1))
    } else {
        after.saturating_add(1)
    };
    let upto = now_ms.min(start.saturating_add(WINDOW_MS - 1)).max(after);
    let read = store.begin_sending(acked, upto)?;
    let unsent = store.unsent(host, read.sent_ms, read.reading_ms, max)?;
    Ok((read, unsent))
}

/// Why the hub did not take a batch, and what to do.
struct Refusal {
    why: String,
    /// How long to wait, when the hub's answer says (`None`: back off).
    wait: Option<Duration>,
    /// The hub finds the batch too large: send smaller ones.
    smaller: bool,
}

impl Link {
    /// The link `config` asks for; `None` without a `[hub]`.
    fn new(config: &Config, clock: Arc<dyn Clock>) -> Result<Option<Link>, String> {
        let hub: &HubConfig = &config.hub;
        if !hub.is_set() {
            return Ok(None);
        }
        let token = hub.token.clone().ok_or("[hub] has a url but no token")?;
        let ca_file = (!hub.ca_file.as_os_str().is_empty()).then_some(hub.ca_file.as_path());
        let client = crate::tls::outgoing_client_trusting(clock, ca_file)
            .and_then(|builder| {
                builder
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(REQUEST_TIMEOUT)
                    .connect_timeout(Duration::from_secs(10))
                    // One connection kept open: no handshake every 10 s.
                    .pool_max_idle_per_host(1)
                    .build()
                    .map_err(|err| err.to_string())
            })
            .map_err(|err| format!("the connection to the hub cannot be set up ({err})"))?;
        Ok(Some(Link {
            url: format!("{}{INGEST_PATH}", hub.url.trim().trim_end_matches('/')),
            token,
            client,
            send_every: hub.send_every.std(),
            max_rate: hub.max_rate.0,
            services: config.services.clone(),
        }))
    }

    /// Posts a batch; the hub's acknowledgement, or why it gave none.
    async fn post(&self, body: Vec<u8>) -> Result<Ack, Refusal> {
        let retry = |why: String| Refusal {
            why,
            wait: None,
            smaller: false,
        };
        let token = self.token.reveal().map_err(|err| Refusal {
            why: format!("the [hub] token cannot be read: {err}"),
            wait: Some(REFUSED_WAIT),
            smaller: false,
        })?;
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "deflate")
            .body(body)
            .send()
            .await
            .map_err(|err| retry(format!("{} cannot be reached ({})", self.url, reason(&err))))?;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            return serde_json::from_slice::<Ack>(&body)
                .map_err(|err| retry(format!("the hub's answer cannot be read ({err})")));
        }
        let said = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|body| Some(body.get("error")?.as_str()?.to_owned()))
            .unwrap_or_else(|| status.to_string());
        let refused = |why: String| Refusal {
            why,
            wait: Some(REFUSED_WAIT),
            smaller: false,
        };
        Err(match status {
            StatusCode::UNAUTHORIZED => refused(format!(
                "the hub does not know this computer's token ({said}): it was mistyped, or removed with `keepwatch agent remove`; `keepwatch agent add NAME` on the hub makes a new one for [hub] token"
            )),
            StatusCode::FORBIDDEN => refused(format!("the hub refuses this token: {said}")),
            StatusCode::CONFLICT => Refusal {
                why: format!("the hub refuses this version of keepwatch: {said}"),
                wait: Some(REFUSED_WAIT * 5),
                smaller: false,
            },
            StatusCode::PAYLOAD_TOO_LARGE => Refusal {
                why: format!("the hub finds the batch too large ({said}); sending smaller ones"),
                wait: None,
                smaller: true,
            },
            StatusCode::TOO_MANY_REQUESTS => refused(format!("the hub asks to slow down ({said})")),
            StatusCode::BAD_REQUEST => refused(format!(
                "the hub cannot read what this computer sends ({said}); please report it, it is a fault in keepwatch"
            )),
            _ => retry(format!("the hub cannot store the data now ({said})")),
        })
    }
}

/// A request's failure in a few words.
fn reason(err: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    let mut innermost = err.to_string();
    while let Some(cause) = source {
        innermost = cause.to_string();
        source = cause.source();
    }
    if err.is_timeout() {
        "no answer in time".to_owned()
    } else {
        innermost
    }
}

/// The wait after `failures` failures in a row.
fn backoff(failures: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1 << failures.min(5))
        .min(MAX_BACKOFF)
}

/// A random session name (the time `now` where the system has no random
/// source: only its difference from the last session matters).
fn new_session(now: Timestamp) -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        bytes = now.as_millisecond().to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
