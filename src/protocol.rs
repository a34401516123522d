//! What an agent sends its hub, and what the hub answers: the wire format of
//! `POST /api/v1/ingest` (docs/architecture.md, "Several servers", has the
//! guarantees built on it).
//!
//! A [`Batch`] carries everything the agent recorded in one window of its own
//! clock, `(after_ms, upto_ms]`: the samples of its series, the incidents of
//! its services that overlap the window, and the current state of each
//! service checked in it. Windows follow each other, oldest first; the agent
//! moves its cursor to `upto_ms` only when the hub has acknowledged the batch
//! ([`Ack`]), so a batch lost on the way is sent again, and the hub stores a
//! batch that arrives twice once (samples are keyed by series and time,
//! incidents by service and start, and `(session, seq)` names each batch).
//!
//! The body is JSON, zlib-compressed (`Content-Encoding: deflate`): the
//! timestamps of a series as differences from the previous one (mostly the
//! same interval, which deflate squeezes to almost nothing), values as
//! numbers that round-trip exactly. Bounded at both ends: an agent sends at
//! most [`MAX_SAMPLES`] samples per batch, and the hub inflates at most
//! [`MAX_INFLATED`] bytes.
//!
//! **Versions.** `protocol` changes only for a change an older peer cannot
//! read; anything added is an optional field with a default, which an older
//! hub ignores and a newer hub fills in. A hub accepts every protocol from
//! [`OLDEST_ACCEPTED`] to [`PROTOCOL`], so an agent one version older or
//! newer than its hub delivers; one outside that range is refused with a
//! message saying which side to update, and keeps its backlog meanwhile.

use serde::{Deserialize, Serialize};

use crate::observation::{Sample, SeriesKey};
use crate::vocabulary::State;

/// The protocol this keepwatch speaks.
pub const PROTOCOL: u32 = 1;
/// The oldest protocol a hub of this version still takes.
pub const OLDEST_ACCEPTED: u32 = 1;
/// Where a hub takes batches.
pub const INGEST_PATH: &str = "/api/v1/ingest";
/// Most samples an agent puts in one batch: about an hour of a busy agent
/// (20 host metrics every 10 s and 25 services every 30 s make ~13,000),
/// a few hundred kilobytes on the wire.
pub const MAX_SAMPLES: usize = 20_000;
/// Most bytes of one compressed batch the hub reads.
pub const MAX_COMPRESSED: usize = 4 << 20;
/// Most bytes a batch may inflate to: a batch of [`MAX_SAMPLES`] is a
/// tenth of it, so only a broken or hostile body gets near.
pub const MAX_INFLATED: usize = 16 << 20;
/// Longest name of a metric, an instance, a service or a session.
const MAX_NAME: usize = 200;

/// One delivery from an agent: what it recorded in `(after_ms, upto_ms]` of
/// its own clock (milliseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Batch {
    /// The protocol it is written in ([`PROTOCOL`] of the sender).
    pub protocol: u32,
    /// The sender's keepwatch version, for `keepwatch agent list`.
    #[serde(default)]
    pub version: String,
    /// Random for each start of the agent's sender.
    pub session: String,
    /// Counts the batches of one session from 1; a retry keeps its number.
    pub seq: u64,
    /// The window: everything recorded after this instant...
    pub after_ms: i64,
    /// ...up to and including this one.
    pub upto_ms: i64,
    /// The agent's clock when it sent the batch (for its clock's offset and
    /// for how far behind it is).
    pub sent_ms: i64,
    /// The samples, by series.
    #[serde(default)]
    pub series: Vec<Series>,
    /// The incidents of the agent's services that overlap the window.
    #[serde(default)]
    pub incidents: Vec<RemoteIncident>,
    /// The current state of each service checked in the window.
    #[serde(default)]
    pub services: Vec<RemoteService>,
}

/// The samples of one series of the agent's host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Series {
    /// The metric, e.g. `cpu.usage_percent` or `service.response_ms`.
    pub metric: String,
    /// The instance (a disk, a service's name); empty for host-wide values.
    #[serde(default)]
    pub instance: String,
    /// Times: the first in milliseconds since the epoch, each next one as
    /// the difference from the one before.
    pub t: Vec<i64>,
    /// Values, one per time.
    pub v: Vec<f64>,
}

/// One service of the agent as it stands, with what the hub's alerting
/// needs to know of its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemoteService {
    /// Its name on the agent.
    pub name: String,
    /// Its confirmed state: `up`, `degraded` or `down`.
    #[schema(value_type = String)]
    pub state: State,
    /// The failure the last run found (`FailureKind`'s name); an unknown
    /// one (from a newer agent) is kept as none.
    #[serde(default)]
    pub kind: Option<String>,
    /// The last run's explanation.
    #[serde(default)]
    pub explanation: String,
    /// Since when the confirmed state holds.
    pub since_ms: i64,
    /// When the check last ran.
    pub checked_ms: i64,
    /// How long the last answer took.
    #[serde(default)]
    pub response_ms: Option<f64>,
    /// Marked critical in the agent's config.
    #[serde(default)]
    pub critical: bool,
    /// The agent's names of the services it depends on.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// One incident of one of the agent's services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemoteIncident {
    /// The service's name on the agent.
    pub service: String,
    /// When the problem was confirmed.
    pub started_ms: i64,
    /// When it ended; none while it lasts.
    #[serde(default)]
    pub ended_ms: Option<i64>,
    /// Its worst state: `up`, `degraded` or `down`.
    #[schema(value_type = String)]
    pub state: State,
    /// The failure behind it (`FailureKind`'s name).
    #[serde(default)]
    pub kind: Option<String>,
    /// Its explanation.
    #[serde(default)]
    pub cause: String,
}

/// The hub's answer to a batch it stored (or had stored already).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ack {
    /// The name the hub knows the agent by (its token's).
    pub host: String,
    /// The end of the window now stored: the agent's new cursor.
    pub upto_ms: i64,
    /// The batch had arrived before and was not stored again.
    pub duplicate: bool,
    /// The hub's protocol.
    pub protocol: u32,
}

/// What is wrong with a batch; the hub's refusal says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The agent speaks a protocol this hub does not take.
    #[error("{0}")]
    Incompatible(String),
    /// The body is not a batch (damaged, too large, or not keepwatch's).
    #[error("{0}")]
    Malformed(String),
}

impl Batch {
    /// The body as sent: JSON, zlib-compressed.
    pub fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).unwrap_or_default();
        miniz_oxide::deflate::compress_to_vec_zlib(&json, 6)
    }

    /// Reads a body (compressed if `compressed`), refusing a protocol this
    /// hub does not take and anything malformed, each with what to do.
    pub fn decode(body: &[u8], compressed: bool) -> Result<Batch, BatchError> {
        let inflated;
        let json = if compressed {
            inflated = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(body, MAX_INFLATED)
                .map_err(|err| match err.status {
                    miniz_oxide::inflate::TINFLStatus::HasMoreOutput => BatchError::Malformed(
                        format!("the batch inflates to more than {MAX_INFLATED} bytes"),
                    ),
                    _ => BatchError::Malformed(
                        "the body is not zlib-compressed data (Content-Encoding: deflate)"
                            .to_owned(),
                    ),
                })?;
            inflated.as_slice()
        } else {
            body
        };
        let batch: Batch = serde_json::from_slice(json).map_err(|err| {
            // A batch of another protocol may not even have this shape:
            // say that rather than what is missing.
            match serde_json::from_slice::<Header>(json) {
                Ok(header) if !accepted(header.protocol) => incompatible(header.protocol),
                _ => BatchError::Malformed(format!("the batch cannot be read: {err}")),
            }
        })?;
        if !accepted(batch.protocol) {
            return Err(incompatible(batch.protocol));
        }
        batch.check()?;
        Ok(batch)
    }

    /// How many samples it holds.
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.t.len()).sum()
    }

    /// Its samples, as series of `host` (the name the hub knows the agent
    /// by: an agent cannot write another's series).
    pub fn samples(&self, host: &str) -> Vec<Sample> {
        let mut samples = Vec::with_capacity(self.sample_count());
        for series in &self.series {
            let key = SeriesKey::new(host, series.metric.as_str(), series.instance.as_str());
            let mut at_ms = 0i64;
            for (index, (&t, &value)) in series.t.iter().zip(&series.v).enumerate() {
                at_ms = if index == 0 {
                    t
                } else {
                    at_ms.saturating_add(t)
                };
                // `check` made sure every time is one.
                if let Ok(at) = jiff::Timestamp::from_millisecond(at_ms) {
                    samples.push(Sample {
                        key: key.clone(),
                        at,
                        value,
                    });
                }
            }
        }
        samples
    }

    /// Finds what a well-behaved agent never sends, naming where it is.
    fn check(&self) -> Result<(), BatchError> {
        let bad = |what: String| Err(BatchError::Malformed(what));
        if self.session.is_empty() || self.session.len() > MAX_NAME {
            return bad(format!(
                "session must be 1 to {MAX_NAME} characters, not {}",
                self.session.len()
            ));
        }
        if self.after_ms > self.upto_ms {
            return bad(format!(
                "the window ends ({}) before it starts ({})",
                self.upto_ms, self.after_ms
            ));
        }
        if self.sample_count() > MAX_SAMPLES {
            return bad(format!(
                "{} samples in one batch; at most {MAX_SAMPLES}",
                self.sample_count()
            ));
        }
        let long = |name: &str| name.is_empty() || name.len() > MAX_NAME;
        for (index, series) in self.series.iter().enumerate() {
            if long(&series.metric) || series.instance.len() > MAX_NAME {
                return bad(format!(
                    "series[{index}]: a metric name is 1 to {MAX_NAME} characters and an instance at most {MAX_NAME}"
                ));
            }
            if series.t.len() != series.v.len() {
                return bad(format!(
                    "series[{index}] ({}): {} times but {} values",
                    series.metric,
                    series.t.len(),
                    series.v.len()
                ));
            }
            let mut at_ms = 0i64;
            for (i, &t) in series.t.iter().enumerate() {
                at_ms = if i == 0 { t } else { at_ms.saturating_add(t) };
                let outside = at_ms <= self.after_ms || at_ms > self.upto_ms;
                if (i > 0 && t <= 0) || outside {
                    return bad(format!(
                        "series[{index}] ({}): time {at_ms} is out of order or outside the window ({}, {}]",
                        series.metric, self.after_ms, self.upto_ms
                    ));
                }
            }
        }
        for (index, service) in self.services.iter().enumerate() {
            if long(&service.name) {
                return bad(format!(
                    "services[{index}]: a service name is 1 to {MAX_NAME} characters"
                ));
            }
        }
        for (index, incident) in self.incidents.iter().enumerate() {
            if long(&incident.service) {
                return bad(format!(
                    "incidents[{index}]: a service name is 1 to {MAX_NAME} characters"
                ));
            }
        }
        let times = self
            .services
            .iter()
            .flat_map(|s| [s.since_ms, s.checked_ms])
            .chain(
                self.incidents
                    .iter()
                    .flat_map(|i| [Some(i.started_ms), i.ended_ms])
                    .flatten(),
            )
            .chain([self.after_ms, self.upto_ms, self.sent_ms]);
        for at_ms in times {
            if jiff::Timestamp::from_millisecond(at_ms).is_err() {
                return bad(format!("{at_ms} is not a time keepwatch can store"));
            }
        }
        Ok(())
    }
}

/// The series of `samples` (of one host, sorted by time within each series),
/// in the form a batch carries.
pub fn series_of(samples: impl IntoIterator<Item = (SeriesKey, Vec<(i64, f64)>)>) -> Vec<Series> {
    samples
        .into_iter()
        .filter(|(_, points)| !points.is_empty())
        .map(|(key, points)| {
            let mut previous = None;
            let t = points
                .iter()
                .map(|&(at_ms, _)| {
                    let delta = previous.map_or(at_ms, |p| at_ms - p);
                    previous = Some(at_ms);
                    delta
                })
                .collect();
            Series {
                metric: key.metric,
                instance: key.instance,
                t,
                v: points.iter().map(|&(_, v)| v).collect(),
            }
        })
        .collect()
}

/// The name a hub gives the service `service` of its agent `host`
/// (`web2/shop`): services of several computers may share a name.
pub fn hub_name(host: &str, service: &str) -> String {
    format!("{host}/{service}")
}

/// Just the protocol number, to tell a batch of another protocol from a broken one.
#[derive(Deserialize)]
struct Header {
    protocol: u32,
}

fn accepted(protocol: u32) -> bool {
    (OLDEST_ACCEPTED..=PROTOCOL).contains(&protocol)
}

fn incompatible(protocol: u32) -> BatchError {
    let what = if protocol > PROTOCOL {
        "newer than this hub understands: update keepwatch on the hub"
    } else {
        "too old for this hub: update keepwatch on the agent"
    };
    BatchError::Incompatible(format!(
        "the agent speaks protocol {protocol}, {what} (the hub takes {OLDEST_ACCEPTED} to {PROTOCOL}); the agent keeps its data until then"
    ))
}

#[cfg(test)]
mod tests;
