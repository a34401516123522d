//! Pushing the store's history to a Prometheus remote write receiver.
//!
//! # What is sent, and when
//!
//! Every stored sample, once, oldest first, as the series of
//! [`names`](super::names) (the names `/metrics` uses, with a `host` label).
//! A sample is sent once it is [`LAG`] old (and older than the agent's last
//! recorded moment), so samples still on their way into the store (a check
//! result, a batch held while the disk was full) are not passed by.
//!
//! # The position
//!
//! The store keeps how far the receiver has taken the history (a time: every
//! sample up to it was accepted or refused), and for which receiver. It
//! moves only after the receiver answered for a whole window, so an outage
//! of the receiver, or of keepwatch, loses nothing that is still within the
//! retention: the next pass starts where the receiver stopped taking. A new
//! receiver gets the whole history held. A window is read in one snapshot
//! ([`Store::samples_between`]), at most an hour of it at a time, and sent
//! in requests of at most [`MAX_SAMPLES`] samples.
//!
//! # Answers (the remote write 1.0 spec's rules)
//!
//! - 2xx: taken.
//! - 5xx, 429, 408, no answer: the receiver is down or busy; the same
//!   request is sent again after a pause that doubles up to [`MAX_BACKOFF`].
//! - 400 and other refusals of the data: not sent again (the spec forbids
//!   it; the same samples would be refused again): counted and said in the
//!   log, and the next request follows.
//! - 401, 403, 404, 405, redirects: the address or credentials are wrong.
//!   Nothing is dropped and nothing is retried at once: the position waits
//!   until the config changes, or [`CHECK_AGAIN`] later (the receiver may
//!   have been fixed meanwhile), and the log says what to fix.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jiff::{SignedDuration, Timestamp};
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, USER_AGENT};

use super::names;
use super::wire::{self, TimeSeries};
use crate::clock::Clock;
use crate::config::ExportConfig;
use crate::notify::http::{self, Target};
use crate::store::{SeriesPoints, Store, StoreError};
use crate::vocabulary::state_key;

/// How old a sample must be before it is sent: new samples reach the store
/// within a second or two of their time, and a later one would be passed by.
pub const LAG: SignedDuration = SignedDuration::from_secs(30);
/// How often a caught-up exporter looks for new samples.
pub const EVERY: Duration = Duration::from_secs(10);
/// The most samples in one request (Prometheus's own sender's default).
pub const MAX_SAMPLES: usize = 2000;
/// The longest pause between attempts while the receiver is down.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long a wrong address or credentials wait before the next try
/// without a config change.
pub const CHECK_AGAIN: Duration = Duration::from_secs(600);
/// The most history read, encoded and held at once.
const WINDOW_MS: i64 = 3_600_000;
/// Windows sent in one pass before the caller looks at its config again.
const WINDOWS_PER_PASS: usize = 24;
/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Where the position is kept in the store's state table.
const POSITION_KEY: &str = "remote_write.position";
/// At most one line a minute about refused samples.
const REFUSALS_LOGGED_EVERY: SignedDuration = SignedDuration::from_secs(60);

/// One request ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The compressed `WriteRequest`.
    pub body: Vec<u8>,
    /// How many samples it holds.
    pub samples: usize,
}

/// Stored series as remote write requests of at most [`MAX_SAMPLES`]
/// samples each, in the order given (a series split across requests keeps
/// its samples in time order).
pub fn requests(stored: &[SeriesPoints]) -> Result<Vec<Request>, String> {
    let mut requests = Vec::new();
    let mut batch: Vec<TimeSeries> = Vec::new();
    let mut count = 0;
    let mut flush = |batch: &mut Vec<TimeSeries>, count: &mut usize| -> Result<(), String> {
        if *count > 0 {
            requests.push(Request {
                body: wire::compress(&wire::write_request(batch))?,
                samples: *count,
            });
        }
        batch.clear();
        *count = 0;
        Ok(())
    };
    for series in stored {
        for exposed in names::exposed(&series.key) {
            let mut rest = &series.points[..];
            while !rest.is_empty() {
                let take = rest.len().min(MAX_SAMPLES - count);
                let (now, later) = rest.split_at(take);
                batch.push(TimeSeries {
                    labels: exposed.labels.clone(),
                    samples: now
                        .iter()
                        .map(|&(at, value)| (at, exposed.convert.apply(value)))
                        .collect(),
                });
                count += take;
                rest = later;
                if count == MAX_SAMPLES {
                    flush(&mut batch, &mut count)?;
                }
            }
        }
    }
    flush(&mut batch, &mut count)?;
    Ok(requests)
}

/// How a pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything old enough was sent (or refused): look again in [`EVERY`].
    CaughtUp,
    /// More is waiting: go on at once (after looking at the config).
    Behind,
    /// The receiver did not take a request now; it is sent again after a pause.
    Retry(String),
    /// The address or credentials are wrong; wait for a config change.
    Stopped(String),
}

/// What one [`RemoteWrite::pass`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Samples the receiver took.
    pub sent: usize,
    /// Samples the receiver refused (not sent again).
    pub refused: usize,
    /// How it ended.
    pub outcome: Outcome,
}

/// Why one request was not taken.
enum Failure {
    /// Down or busy: send it again later.
    Temporary(String),
    /// The data was refused: go on without it.
    Refused(String),
    /// The address or credentials are wrong.
    Config(String),
}

/// The window being sent: which receiver, up to when, and the requests the
/// receiver has not answered yet.
struct Pending {
    receiver: String,
    end_ms: i64,
    requests: VecDeque<Request>,
}

/// Pushes the history of a store of its own (its own connection) to the
/// configured receiver.
pub struct RemoteWrite {
    store: Arc<Mutex<Store>>,
    clock: Arc<dyn Clock>,
    pending: Option<Pending>,
    client: Option<reqwest::Client>,
    /// Why the last attempt failed, so a failure is said once, and its end.
    failing: Option<String>,
    refused_unsaid: usize,
    refusals_said: Option<Timestamp>,
}

impl RemoteWrite {
    /// An exporter reading `store` at `clock`'s time.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store: Arc::new(Mutex::new(store)),
            clock,
            pending: None,
            client: None,
            failing: None,
            refused_unsaid: 0,
            refusals_said: None,
        }
    }

    /// Sends what is due to `config`'s receiver (see the module doc).
    pub async fn pass(&mut self, config: &ExportConfig) -> Pass {
        let mut pass = Pass {
            sent: 0,
            refused: 0,
            outcome: Outcome::CaughtUp,
        };
        let url = match http::parse_url("remote_write", &config.remote_write) {
            Ok(url) => url,
            Err(problem) => {
                pass.outcome = Outcome::Stopped(format!("[export] {problem}"));
                return pass;
            }
        };
        let receiver = http::shown_url(&url, false);
        for _ in 0..WINDOWS_PER_PASS {
            if self.pending.as_ref().is_none_or(|p| p.receiver != receiver) {
                match self.next_window(&receiver).await {
                    Ok(Some(pending)) => self.pending = Some(pending),
                    Ok(None) => return pass,
                    Err(err) => {
                        pass.outcome = Outcome::Retry(format!("cannot read the history: {err}"));
                        return pass;
                    }
                }
            }
            if let Err(outcome) = self.send_pending(config, &url, &receiver, &mut pass).await {
                pass.outcome = outcome;
                return pass;
            }
        }
        pass.outcome = Outcome::Behind;
        pass
    }

    /// Sends the requests of the pending window in order; at its end, moves
    /// the position past it.
    async fn send_pending(
        &mut self,
        config: &ExportConfig,
        url: &Url,
        receiver: &str,
        pass: &mut Pass,
    ) -> Result<(), Outcome> {
        let client = self.client()?;
        while let Some(request) = self.pending.as_ref().and_then(|p| p.requests.front()) {
            let samples = request.samples;
            match send(&client, url, receiver, config, request.body.clone()).await {
                Ok(()) => {
                    pass.sent += samples;
                    self.recovered(receiver);
                }
                Err(Failure::Refused(reason)) => {
                    pass.refused += samples;
                    self.recovered(receiver);
                    self.refusal(samples, &reason);
                }
                Err(Failure::Temporary(reason)) => {
                    self.failed(
                        &reason,
                        "keepwatch keeps the history and sends it again when the receiver answers",
                    );
                    return Err(Outcome::Retry(reason));
                }
                Err(Failure::Config(reason)) => {
                    self.failed(&reason, "nothing is dropped: keepwatch tries again when the config changes, or in 10 minutes");
                    return Err(Outcome::Stopped(reason));
                }
            }
            if let Some(pending) = self.pending.as_mut() {
                pending.requests.pop_front();
            }
        }
        if let Some(done) = self.pending.take() {
            let value = format!("{} {}", done.end_ms, done.receiver);
            self.blocking(move |store| store.set_state(POSITION_KEY, &value))
                .await
                .map_err(|err| Outcome::Retry(format!("cannot record how far it got: {err}")))?;
        }
        Ok(())
    }

    fn client(&mut self) -> Result<reqwest::Client, Outcome> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let timeout = crate::units::Duration::from_secs(TIMEOUT.as_secs());
        let client =
            http::client(timeout, &self.clock).map_err(|err| Outcome::Stopped(err.reason))?;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// The next window to send to `receiver`, read and encoded on a
    /// blocking thread; `None` when nothing is old enough yet.
    async fn next_window(&mut self, receiver: &str) -> Result<Option<Pending>, String> {
        let now = self.clock.now();
        let receiver = receiver.to_owned();
        let (position, said) = {
            let receiver = receiver.clone();
            self.blocking(move |store| position(store, &receiver, now))
                .await?
        };
        if let Some(said) = said {
            tracing::warn!("remote write: {said}");
        }
        let Some((after_ms, until_ms)) = position else {
            return Ok(None);
        };
        let end_ms = after_ms.saturating_add(WINDOW_MS).min(until_ms);
        let read = self
            .blocking(move |store| store.samples_between(after_ms, end_ms))
            .await?;
        let requests = requests(&read)?;
        Ok(Some(Pending {
            receiver,
            end_ms,
            requests: requests.into(),
        }))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut store).map_err(|err| err.to_string())
        })
        .await
        .unwrap_or_else(|err| Err(format!("the database thread stopped: {err}")))
    }

    fn failed(&mut self, reason: &str, then: &str) {
        if self.failing.as_deref() != Some(reason) {
            tracing::warn!("remote write: {reason}; {then}");
            self.failing = Some(reason.to_owned());
        }
    }

    fn recovered(&mut self, receiver: &str) {
        if self.failing.take().is_some() {
            tracing::info!("remote write: {receiver} takes samples again; catching up");
        }
    }

    fn refusal(&mut self, samples: usize, reason: &str) {
        self.refused_unsaid += samples;
        let now = self.clock.now();
        if self
            .refusals_said
            .is_some_and(|at| now.duration_since(at) < REFUSALS_LOGGED_EVERY)
        {
            return;
        }
        tracing::warn!(
            "remote write: the receiver refused {} samples ({reason}); they are not sent again",
            self.refused_unsaid
        );
        self.refused_unsaid = 0;
        self.refusals_said = Some(now);
    }
}

/// Where the next window starts and how far it may go, for `receiver` at
/// `now`: `None` when nothing is old enough; and a sentence for the log when
/// history was deleted (retention) before it could be sent.
#[allow(clippy::type_complexity)]
fn position(
    store: &mut Store,
    receiver: &str,
    now: Timestamp,
) -> Result<(Option<(i64, i64)>, Option<String>), StoreError> {
    let last_seen = store
        .state(state_key::LAST_SEEN)?
        .and_then(|text| text.parse::<Timestamp>().ok())
        .map_or(now, |seen| seen.min(now));
    let until_ms = last_seen
        .checked_sub(LAG)
        .unwrap_or(last_seen)
        .as_millisecond();
    let saved = store.state(POSITION_KEY)?.and_then(|text| {
        let (ms, to) = text.split_once(' ')?;
        (to == receiver).then(|| ms.parse::<i64>().ok()).flatten()
    });
    let Some(oldest) = store.oldest_sample_ms()? else {
        return Ok((None, None));
    };
    let (after_ms, said) = match saved {
        None => (oldest - 1, None),
        Some(at) if at < oldest - 1 => {
            let lost = crate::plain::duration((oldest - 1 - at) as f64 / 1000.0);
            (
                oldest - 1,
                Some(format!(
                    "{lost} of history was deleted (storage retention) before the receiver took it"
                )),
            )
        }
        Some(at) => (at, None),
    };
    Ok(((after_ms < until_ms).then_some((after_ms, until_ms)), said))
}

/// Sends one request body and judges the answer (see the module doc).
async fn send(
    client: &reqwest::Client,
    url: &Url,
    receiver: &str,
    config: &ExportConfig,
    body: Vec<u8>,
) -> Result<(), Failure> {
    let mut target = Target {
        what: "the remote write receiver".to_owned(),
        shown: receiver.to_owned(),
        secrets: Vec::new(),
    };
    let headers = http::extra_headers(&config.headers, &mut target.secrets)
        .map_err(|err| Failure::Config(err.reason))?;
    let mut request = client
        .post(url.clone())
        .headers(headers)
        .header(CONTENT_ENCODING, "snappy")
        .header(CONTENT_TYPE, "application/x-protobuf")
        .header(USER_AGENT, concat!("keepwatch/", env!("CARGO_PKG_VERSION")))
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body);
    if !config.user.trim().is_empty() {
        let password = match &config.password {
            Some(secret) => secret.reveal().map_err(|err| {
                Failure::Config(format!("the [export] password cannot be read: {err}"))
            })?,
            None => String::new(),
        };
        // The encoded form is as secret as the password: a receiver that
        // quotes the request's headers back must not put it in the log.
        let encoded = STANDARD.encode(format!("{}:{password}", config.user.trim()));
        let mut value = HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| {
            Failure::Config(
                "the [export] user cannot be sent in a header (a line break?)".to_owned(),
            )
        })?;
        value.set_sensitive(true);
        target.secrets.extend([password, encoded]);
        request = request.header(AUTHORIZATION, value);
    }
    let timeout = crate::units::Duration::from_secs(TIMEOUT.as_secs());
    let mut response = request.send().await.map_err(|err| {
        Failure::Temporary(
            target
                .error(http::transport_error(&err, &target, timeout))
                .reason,
        )
    })?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let said = http::body_start(&mut response).await;
    let answered = format!("{receiver} answered HTTP {status}{}", http::excerpt(&said));
    let answered = target
        .error(crate::notify::SendError::temporary(answered))
        .reason;
    Err(match status {
        408 | 429 | 500..=599 => Failure::Temporary(answered),
        300..=399 | 401 | 403 | 404 | 405 | 407 => Failure::Config(format!(
            "{answered}: check remote_write (the receiver's full address, e.g. http://prometheus:9090/api/v1/write; Prometheus needs --web.enable-remote-write-receiver), user and password in [export]"
        )),
        _ => Failure::Refused(answered),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::SeriesKey;
    use crate::vocabulary::{metric, service_metric};

    fn points(n: usize) -> Vec<(i64, f64)> {
        (0..n as i64).map(|i| (i * 1000, i as f64)).collect()
    }

    fn decode(request: &Request) -> Vec<u8> {
        snap::raw::Decoder::new()
            .decompress_vec(&request.body)
            .unwrap()
    }

    #[test]
    fn requests_hold_at_most_max_samples_and_keep_every_sample() {
        let stored = vec![
            SeriesPoints {
                key: SeriesKey::new("shop", metric::LOAD_1, ""),
                points: points(2500),
            },
            SeriesPoints {
                key: SeriesKey::new("shop", service_metric::STATE, "Mail"),
                points: points(700),
            },
        ];
        let made = requests(&stored).unwrap();
        let counts: Vec<usize> = made.iter().map(|r| r.samples).collect();
        // 2500 load samples, then 3 × 700 one-hot state samples.
        assert_eq!(counts, [2000, 2000, 600]);
        assert_eq!(counts.iter().sum::<usize>(), 2500 + 3 * 700);
        let first = decode(&made[0]);
        assert!(first.windows(20).any(|w| w == b"keepwatch_host_load1"));
        assert!(requests(&[]).unwrap().is_empty());
    }

    #[test]
    fn the_position_starts_at_the_oldest_sample_and_stays_lag_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(
            &dir.path().join("k.db"),
            &crate::store::StorageConfig::default(),
        )
        .unwrap();
        let now: Timestamp = "2026-11-02T10:00:00Z".parse().unwrap();
        assert_eq!(position(&mut store, "r", now).unwrap(), (None, None));
        let key = SeriesKey::new("shop", metric::LOAD_1, "");
        let at = |minutes: i64| now - SignedDuration::from_mins(minutes);
        store
            .write(&[crate::observation::Sample {
                key,
                at: at(90),
                value: 1.0,
            }])
            .unwrap();
        let until = (now - LAG).as_millisecond();
        let oldest = at(90).as_millisecond();
        assert_eq!(
            position(&mut store, "r", now).unwrap(),
            (Some((oldest - 1, until)), None)
        );
        // The agent's last recorded moment holds it back too.
        store
            .set_state(state_key::LAST_SEEN, &at(10).to_string())
            .unwrap();
        let seen = (at(10) - LAG).as_millisecond();
        assert_eq!(
            position(&mut store, "r", now).unwrap().0,
            Some((oldest - 1, seen))
        );
        // A position for another receiver does not count; one older than the
        // history is moved to it, and said.
        store
            .set_state(POSITION_KEY, &format!("{} other", at(20).as_millisecond()))
            .unwrap();
        assert_eq!(
            position(&mut store, "r", now).unwrap().0,
            Some((oldest - 1, seen))
        );
        store
            .set_state(POSITION_KEY, &format!("{} r", at(150).as_millisecond()))
            .unwrap();
        let (window, said) = position(&mut store, "r", now).unwrap();
        assert_eq!(window, Some((oldest - 1, seen)));
        assert!(
            said.unwrap().contains("1 hour"),
            "deleted before it was sent"
        );
        store.set_state(POSITION_KEY, &format!("{seen} r")).unwrap();
        assert_eq!(position(&mut store, "r", now).unwrap().0, None);
    }
}
