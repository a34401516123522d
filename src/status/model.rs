//! The status model: every fact `keepwatch status` shows, read from the
//! store in one place, as a plain serialisable struct. The text renderer
//! lays it out for the terminal; the API serialises it as it is; `doctor`
//! and reports read the same facts through the same functions.

use std::path::Path;

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::alert::engine::Alerter;
use crate::alert::problems::agent_fingerprints;
use crate::alert::upcoming::{Delivery, Next, Told, Whereabouts};
use crate::calendar::{Calendar, Period};
use crate::checks::{CheckSpec, ServiceSpec};
use crate::config::ApiConfig;
use crate::notify::Channel;
use crate::store::{
    AGENT_ROLE, AlertRecord, Incident, ServiceStatus, Store, StoreError, StoredWindow,
};
use crate::vocabulary::{Severity, State, state_key};

/// Whether the agent is running, judged from when it last wrote.
#[derive(Debug, Clone, PartialEq)]
pub enum Liveness {
    /// It wrote recently (within a few of its intervals).
    Running {
        /// When it last recorded anything.
        last_seen: Timestamp,
    },
    /// It stopped cleanly at this time.
    Stopped {
        /// When it stopped.
        at: Timestamp,
    },
    /// It runs (it holds its lock) but has not written for longer than it
    /// promised: it cannot write its database (a full disk, above all).
    /// Alerts still go out meanwhile.
    Stuck {
        /// When it last recorded anything.
        last_seen: Timestamp,
    },
    /// Nothing recent, and no clean stop recorded: killed, crashed, or the computer is off.
    Silent {
        /// When it last recorded anything.
        last_seen: Timestamp,
    },
    /// It never ran with this database.
    Never,
}

/// What the status page says about the agent itself.
#[derive(Debug, Clone)]
pub struct AgentSummary {
    /// Running, stopped, silent or never started.
    pub liveness: Liveness,
    /// The database file and its size on disk.
    pub database: (String, u64),
    /// The current throttling state in words, if the agent recorded one.
    pub throttle: Option<String>,
    /// Notable recent happenings, newest last.
    pub events: Vec<(Timestamp, String)>,
}

/// How late past its promised next measurement the agent may be before it
/// counts as silent (a busy host, a slow disk).
const GRACE: jiff::SignedDuration = jiff::SignedDuration::from_secs(30);

/// How far back `status` looks for a service's last problem.
const LAST_PROBLEM_WITHIN: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 30);

/// Reads what the agent recorded about itself from the store.
pub fn summarize(
    store: &Store,
    database: &Path,
    now: Timestamp,
) -> Result<AgentSummary, StoreError> {
    let time = |key: &str| -> Result<Option<Timestamp>, StoreError> {
        Ok(store.state(key)?.and_then(|text| text.parse().ok()))
    };
    let (stopped, last_seen) = (time(state_key::STOPPED_AT)?, time(state_key::LAST_SEEN)?);
    let promised = time(state_key::NEXT_BY)?.or(last_seen);
    let on_time = promised.is_some_and(|p| now <= p.saturating_add(GRACE).unwrap_or(p));
    let liveness = match (stopped, last_seen) {
        (None, Some(last_seen)) if on_time => Liveness::Running { last_seen },
        // It holds its lock, so it runs, but it has not written as promised
        // (or could not even record its start): the disk is full.
        (stopped, seen) if Store::agent_holds(database) => Liveness::Stuck {
            last_seen: seen.max(stopped).unwrap_or(now),
        },
        (Some(at), _) => Liveness::Stopped { at },
        (None, Some(last_seen)) => Liveness::Silent { last_seen },
        (None, None) => Liveness::Never,
    };
    let events = store
        .recent_events(8)?
        .into_iter()
        .rev()
        .map(|event| (event.at, event.message))
        .collect();
    Ok(AgentSummary {
        liveness,
        database: (database.display().to_string(), store.size_on_disk()?),
        throttle: store.state(state_key::THROTTLE)?,
        events,
    })
}

/// Whether the agent runs, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// It wrote recently.
    Running,
    /// It stopped cleanly.
    Stopped,
    /// It runs but cannot write its database (a full disk): alerts still go out.
    Stuck,
    /// Nothing recent and no clean stop: killed, crashed, or the computer is off.
    Silent,
    /// It never ran with this database.
    Never,
}

/// The same facts as `keepwatch status`: the agent, business hours, each
/// configured service, the latest measurements, the open alerts and the
/// maintenance in force.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusView {
    /// This computer's name in keepwatch.
    pub host: String,
    /// `running`, `stuck` (running, but it cannot write its database),
    /// `stopped`, `silent` or `never`.
    pub agent: AgentState,
    /// When the agent last recorded anything (RFC 3339); for a stopped
    /// agent, when it stopped.
    #[schema(value_type = Option<String>)]
    pub last_seen: Option<Timestamp>,
    /// Whether the business is open now.
    pub business_open: bool,
    /// Business hours in words: "open now (09:00-17:00)", "closed now
    /// (holiday); opens Mon 23 Nov 09:00" (in the business time zone).
    pub business_hours: String,
    /// The throttling state in words, if any.
    pub throttle: Option<String>,
    /// Where the database is, for the admin at this computer.
    #[serde(skip)]
    pub database: String,
    /// Size of the database in bytes.
    pub database_bytes: u64,
    /// Each configured service.
    pub services: Vec<ServiceView>,
    /// The newest value of every series, for the host lines.
    pub measurements: Vec<Measurement>,
    /// Notable recent happenings, oldest first.
    pub events: Vec<EventView>,
    /// The open alerts.
    pub open_alerts: Vec<AlertView>,
    /// Maintenance in force or planned.
    pub maintenance: Vec<WindowView>,
    /// Messages waiting to be sent.
    pub outbox_waiting: usize,
    /// On a hub: the other servers that report to it, with their services.
    pub agents: Vec<AgentView>,
}

/// Where the status reads from besides the store: the host's name, the
/// configured services and the business calendar.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// This computer's name in keepwatch.
    pub host: &'a str,
    /// The configured services, in config order.
    pub services: &'a [ServiceSpec],
    /// Opening hours and time zone.
    pub calendar: &'a Calendar,
    /// The alerting in force, for what comes next for each open alert.
    pub alerter: &'a Alerter,
    /// The configured channels, to say how and to whom each delivers.
    pub channels: &'a [Channel],
}

impl StatusView {
    /// Reads the status from `store` at `now`.
    pub fn read(store: &Store, sources: Sources<'_>, now: Timestamp) -> Result<Self, StoreError> {
        let summary = summarize(store, store.path(), now)?;
        let (agent, last_seen) = match summary.liveness {
            Liveness::Running { last_seen } => (AgentState::Running, Some(last_seen)),
            Liveness::Stopped { at } => (AgentState::Stopped, Some(at)),
            Liveness::Stuck { last_seen } => (AgentState::Stuck, Some(last_seen)),
            Liveness::Silent { last_seen } => (AgentState::Silent, Some(last_seen)),
            Liveness::Never => (AgentState::Never, None),
        };
        let month_ago = now.saturating_sub(LAST_PROBLEM_WITHIN).unwrap_or(now);
        let statuses = store.service_statuses()?;
        let incidents = store.incidents(month_ago, now)?;
        Ok(Self {
            host: sources.host.to_owned(),
            agent,
            last_seen,
            business_open: sources.calendar.period_at(now).is_open(),
            business_hours: business_hours(sources.calendar, now),
            throttle: summary.throttle,
            database: summary.database.0,
            database_bytes: summary.database.1,
            services: service_views(sources.services, &statuses, &incidents),
            measurements: store
                .latest()?
                .into_iter()
                .map(|sample| Measurement {
                    host: sample.key.host,
                    metric: sample.key.metric,
                    instance: sample.key.instance,
                    at: sample.at,
                    value: sample.value,
                })
                .collect(),
            events: summary
                .events
                .into_iter()
                .map(|(at, message)| EventView { at, message })
                .collect(),
            open_alerts: store
                .open_alerts()?
                .into_iter()
                .map(|alert| AlertView::read(store, alert, &sources, now))
                .collect::<Result<_, StoreError>>()?,
            maintenance: store
                .maintenance_windows(now)?
                .into_iter()
                .map(WindowView::from)
                .collect(),
            outbox_waiting: store.outbox_waiting()?,
            agents: agent_views(store, &statuses, &incidents)?,
        })
    }
}

/// How an agent is doing, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentLink {
    /// It reports.
    Reporting,
    /// The hub has not heard from it for `silent_after` (an alert is open).
    Silent,
    /// It has a token but has never reported.
    Never,
    /// Its token was removed; its history stays.
    Removed,
}

/// One agent of a hub.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentView {
    /// Its name (its token's; its series' host).
    pub name: String,
    /// `reporting`, `silent`, `never` or `removed`.
    pub state: AgentLink,
    /// When the hub last heard from it (RFC 3339).
    #[schema(value_type = Option<String>)]
    pub last_heard: Option<Timestamp>,
    /// How much of its data had not reached the hub at its last batch, in
    /// seconds (0: up to date; more while it catches up after an outage).
    pub behind_seconds: Option<f64>,
    /// How far its clock is ahead of the hub's (negative: behind), in seconds.
    pub clock_offset_seconds: Option<f64>,
    /// Its keepwatch version.
    pub version: Option<String>,
    /// Its services, as it last reported them (named `agent/service`).
    pub services: Vec<ServiceView>,
}

/// Every agent of the hub whose store this is: those with a token, and
/// those removed that left history.
pub fn agent_views(
    store: &Store,
    statuses: &[ServiceStatus],
    incidents: &[Incident],
) -> Result<Vec<AgentView>, StoreError> {
    let tokens: Vec<String> = store
        .tokens()?
        .into_iter()
        .filter(|t| t.role == AGENT_ROLE)
        .map(|t| t.name)
        .collect();
    let streams = store.remote_agents()?;
    let mut names: Vec<&str> = tokens
        .iter()
        .map(String::as_str)
        .chain(streams.iter().map(|s| s.name.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut views = Vec::new();
    for name in names {
        let stream = streams.iter().find(|s| s.name == name);
        let [silent, _] = agent_fingerprints(name);
        let state = match (tokens.iter().any(|t| t == name), stream) {
            (false, _) => AgentLink::Removed,
            (true, None) => AgentLink::Never,
            (true, Some(_)) if store.open_alert(&silent)?.is_some() => AgentLink::Silent,
            (true, Some(_)) => AgentLink::Reporting,
        };
        let prefix = format!("{name}/");
        let services = statuses
            .iter()
            .filter(|s| s.name.starts_with(&prefix))
            .map(|s| ServiceView::new(&s.name, Some(s), incidents))
            .collect();
        views.push(AgentView {
            name: name.to_owned(),
            state,
            last_heard: stream.map(|s| s.seen),
            behind_seconds: stream.map(|s| s.behind().as_secs_f64()),
            clock_offset_seconds: stream.map(|s| s.clock_offset().as_secs_f64()),
            version: stream.map(|s| s.version.clone()),
            services,
        });
    }
    Ok(views)
}

/// "open now (09:00-17:00)" or "closed now (holiday); opens Mon 23 Nov 09:00".
pub(super) fn business_hours(calendar: &Calendar, now: Timestamp) -> String {
    match calendar.period_at(now) {
        Period::Open {
            range: (start, end),
            ..
        } => {
            format!(
                "open now ({}-{})",
                start.strftime("%H:%M"),
                end.strftime("%H:%M")
            )
        }
        Period::Closed { why } => match calendar.next_opening(now) {
            Some(next) => format!(
                "closed now ({why}); opens {}",
                next.to_zoned_datetime(calendar.time_zone().clone())
                    .strftime("%a %d %b %H:%M")
            ),
            None => format!("closed now ({why}); no opening hours in the next two weeks"),
        },
    }
}

/// The newest value of one series.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Measurement {
    /// The host it was measured on.
    pub host: String,
    /// What it measures, e.g. `cpu.usage_percent`.
    pub metric: String,
    /// Which one (a disk, a core, a service); may be empty.
    pub instance: String,
    /// When (RFC 3339).
    #[schema(value_type = String)]
    pub at: Timestamp,
    /// The value, in the metric's unit.
    pub value: f64,
}

/// Something notable that happened.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EventView {
    /// When (RFC 3339).
    #[schema(value_type = String)]
    pub at: Timestamp,
    /// What happened, in plain words.
    pub message: String,
}

/// A service's state as shown: its checked state, or not checked yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Shown {
    /// It answers as it should.
    Up,
    /// It answers, but not well (slow, a certificate expiring).
    Degraded,
    /// It does not answer as it should.
    Down,
    /// Not checked yet.
    Unknown,
}

impl From<State> for Shown {
    fn from(state: State) -> Self {
        match state {
            State::Up => Shown::Up,
            State::Degraded => Shown::Degraded,
            State::Down => Shown::Down,
        }
    }
}

/// A problem of a service that is over.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LastProblem {
    /// When it ended (RFC 3339).
    #[schema(value_type = String)]
    pub ended: Timestamp,
    /// What was wrong, in plain words.
    pub cause: String,
}

/// One service's current state.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ServiceView {
    /// Its configured name.
    pub name: String,
    /// `up`, `degraded`, `down`, or `unknown` before its first check.
    pub state: Shown,
    /// The kind of failure, e.g. `timeout` or `dns_failure`.
    pub failure: Option<String>,
    /// The last check's explanation in plain words.
    pub explanation: String,
    /// Since when the state holds (RFC 3339).
    #[schema(value_type = Option<String>)]
    pub since: Option<Timestamp>,
    /// When it was last checked (RFC 3339).
    #[schema(value_type = Option<String>)]
    pub checked_at: Option<Timestamp>,
    /// How long the last answer took, in milliseconds.
    pub response_ms: Option<f64>,
    /// Its most recent problem that is over, among the incidents read (the
    /// last 30 days for the status, the range asked for a single service).
    pub last_problem: Option<LastProblem>,
    /// For a heartbeat: the URL its job reports to (no token needed; the
    /// key in it is the secret).
    pub ping_url: Option<String>,
}

impl ServiceView {
    /// The view of `name` with its stored `status` (`None`: not checked
    /// yet), its last problem taken from `incidents` (oldest first).
    pub fn new(name: &str, status: Option<&ServiceStatus>, incidents: &[Incident]) -> Self {
        let last_problem = incidents
            .iter()
            .rev()
            .filter(|incident| incident.service == name)
            .find_map(|incident| {
                incident.ended.map(|ended| LastProblem {
                    ended,
                    cause: incident.cause.clone(),
                })
            });
        match status {
            Some(s) => ServiceView {
                name: name.to_owned(),
                state: s.state.into(),
                failure: s.kind.map(|k| k.as_str().to_owned()),
                explanation: s.explanation.clone(),
                since: Some(s.since),
                checked_at: Some(s.checked_at),
                response_ms: s.response_ms,
                last_problem,
                ping_url: None,
            },
            None => ServiceView {
                name: name.to_owned(),
                state: Shown::Unknown,
                failure: None,
                explanation: "not checked yet".to_owned(),
                since: None,
                checked_at: None,
                response_ms: None,
                last_problem,
                ping_url: None,
            },
        }
    }
}

/// Every configured service in config order, with its stored state and its
/// last problem among `incidents` (oldest first).
pub fn service_views(
    specs: &[ServiceSpec],
    statuses: &[ServiceStatus],
    incidents: &[Incident],
) -> Vec<ServiceView> {
    specs
        .iter()
        .map(|spec| {
            let name = spec.common.name.as_str();
            ServiceView::new(name, statuses.iter().find(|s| s.name == name), incidents)
        })
        .collect()
}

/// Fills in the ping URLs of the heartbeats among `views` (of `specs`), from
/// the keys in `store`, as the API at `api` on `host` answers them. A
/// heartbeat whose key is not made yet (keepwatch has not run with it)
/// has none, and none has one while the API is switched off (its job can
/// still report with `keepwatch ping`).
pub fn add_ping_urls(
    views: &mut [ServiceView],
    store: &Store,
    specs: &[ServiceSpec],
    api: &ApiConfig,
    host: &str,
) -> Result<(), StoreError> {
    if !api.enabled {
        return Ok(());
    }
    let keys = store.all_heartbeat_keys()?;
    for view in views {
        let heartbeat = specs.iter().any(|spec| {
            spec.common.name == view.name && matches!(spec.check, CheckSpec::Heartbeat(_))
        });
        if let Some(key) = keys
            .iter()
            .find(|key| heartbeat && key.service == view.name)
        {
            view.ping_url = Some(ping_url(api, host, &key.key));
        }
    }
    Ok(())
}

/// The ping URL of `key` on the API configured by `api`: its `listen`
/// address, or `host` with its port when it listens on every address;
/// HTTPS when it has a certificate.
pub fn ping_url(api: &ApiConfig, host: &str, key: &str) -> String {
    let address = match api.listen.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => format!("{host}:{}", addr.port()),
        _ => api.listen.clone(),
    };
    format!("{}://{address}/ping/{key}", api.scheme())
}

/// An alert.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertView {
    /// Its number, as messages and `keepwatch status` show it.
    pub id: i64,
    /// The service it is about, if any.
    pub service: Option<String>,
    /// The host it is about.
    pub host: String,
    /// One line.
    pub title: String,
    /// The explanation.
    pub detail: String,
    /// `warning` or `critical`.
    pub severity: String,
    /// Whether it counts as an emergency (told at any hour).
    pub emergency: bool,
    /// When it opened (RFC 3339).
    #[schema(value_type = String)]
    pub opened_at: Timestamp,
    /// Who acknowledged it, if anyone.
    pub acknowledged_by: Option<String>,
    /// When it was acknowledged (RFC 3339).
    #[schema(value_type = Option<String>)]
    pub acknowledged_at: Option<Timestamp>,
    /// When it was resolved (RFC 3339); absent while open.
    #[schema(value_type = Option<String>)]
    pub resolved_at: Option<Timestamp>,
    /// Why nobody is told, if so: a maintenance window, flapping.
    pub held_back: Option<String>,
    /// The number of the alert that explains this one (the service it
    /// depends on is down), if any.
    pub explained_by: Option<i64>,
    /// What each channel got of it, in the order they were first told
    /// (filled in for the open alerts of the status).
    pub told: Vec<ToldView>,
    /// What comes next for it (filled in for the open alerts of the status).
    pub next: Option<NextView>,
}

impl AlertView {
    /// The view of `alert` and, while it is open, where it stands at `now`
    /// (from `store` and the alerting and channels of `sources`).
    pub fn read(
        store: &Store,
        alert: AlertRecord,
        sources: &Sources<'_>,
        now: Timestamp,
    ) -> Result<Self, StoreError> {
        if alert.resolved_at.is_some() {
            return Ok(Self::from(alert));
        }
        let whereabouts =
            sources
                .alerter
                .whereabouts(store, &alert, Some(sources.calendar), now)?;
        Ok(Self::from(alert).with(&whereabouts, sources.channels))
    }

    /// The view with where the alert stands, its channels described from
    /// `channels` (the configured ones; the built-in log is known).
    fn with(self, whereabouts: &Whereabouts, channels: &[Channel]) -> Self {
        let reach = |name: &str| Channel::reach_of(name, channels);
        let told = whereabouts
            .told
            .iter()
            .map(|told| ToldView::new(told, reach(&told.channel)))
            .collect();
        Self {
            told,
            next: Some(NextView::new(&whereabouts.next, reach)),
            ..self
        }
    }
}

/// Where a channel's latest message about an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Due, and waiting a moment to go together with other alerts.
    Gathering,
    /// In the outbox: not tried yet, or failed and waiting for its retry.
    Queued,
    /// The channel accepted it.
    Sent,
    /// It can never be sent (its channel left the settings).
    GivenUp,
}

/// What one channel got of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ToldView {
    /// The channel's name.
    pub channel: String,
    /// How and to whom, in words: "by email to anna@example.com".
    pub reach: String,
    /// Where its latest message about the alert is.
    pub state: DeliveryState,
    /// When it was sent (`sent`), composed (`queued`), due (`gathering`) or
    /// given up (`given_up`) (RFC 3339).
    #[schema(value_type = String)]
    pub at: Timestamp,
    /// How many tries failed (`queued`).
    pub tries: u32,
    /// The last failure, in the channel's words (`queued`, `given_up`).
    pub error: Option<String>,
    /// When it is tried (again) (`queued`; RFC 3339).
    #[schema(value_type = Option<String>)]
    pub next_try: Option<Timestamp>,
    /// When an earlier message about the alert was delivered, if the latest
    /// is not (RFC 3339).
    #[schema(value_type = Option<String>)]
    pub sent_before: Option<Timestamp>,
}

impl ToldView {
    fn new(told: &Told, reach: String) -> Self {
        let (state, at, tries, error, next_try) = match &told.delivery {
            Delivery::Gathering { since } => (DeliveryState::Gathering, *since, 0, None, None),
            Delivery::Queued {
                since,
                tries,
                error,
                next,
            } => (
                DeliveryState::Queued,
                *since,
                *tries,
                error.clone(),
                Some(*next),
            ),
            Delivery::Sent { at } => (DeliveryState::Sent, *at, 0, None, None),
            Delivery::GaveUp { at, reason } => {
                (DeliveryState::GivenUp, *at, 0, Some(reason.clone()), None)
            }
        };
        Self {
            channel: told.channel.clone(),
            reach,
            state,
            at,
            tries,
            error,
            next_try,
            sent_before: told.sent_before,
        }
    }
}

/// What kind of thing comes next for an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NextKind {
    /// It waits for the business to open (not an emergency, opened while
    /// closed), and then goes in the summary of what happened.
    Opening,
    /// Nobody is told while a maintenance window lasts, or while the
    /// service keeps changing (flapping).
    Held,
    /// A step of its escalation path (the first message, or the next one).
    Step,
    /// A reminder, since nobody acknowledged it.
    Reminder,
    /// Nothing more is sent until it is resolved.
    Nothing,
}

/// What comes next for an alert: by the same plan keepwatch follows.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NextView {
    /// What it is.
    pub what: NextKind,
    /// When (RFC 3339; at or before now: at keepwatch's next look); for
    /// `held`, when the hold ends, if known.
    #[schema(value_type = Option<String>)]
    pub at: Option<Timestamp>,
    /// The channels told then.
    pub channels: Vec<String>,
    /// How and to whom each of them delivers, in words.
    pub reach: Vec<String>,
    /// Why it is held back (`held`), or `acknowledged` (`nothing`).
    pub reason: Option<String>,
    /// Whether the step is the alert's first message (else an escalation).
    pub first: bool,
    /// Whether it waits for the business to open (not an emergency, and
    /// closed now).
    pub at_opening: bool,
}

impl NextView {
    fn new(next: &Next, reach: impl Fn(&str) -> String) -> Self {
        let view = |what, at: Option<Timestamp>, channels: &[String]| NextView {
            what,
            at,
            channels: channels.to_vec(),
            reach: channels.iter().map(|c| reach(c)).collect(),
            reason: None,
            first: false,
            at_opening: false,
        };
        match next {
            Next::Held { reason, until } => NextView {
                reason: Some(reason.clone()),
                ..view(NextKind::Held, *until, &[])
            },
            Next::Opening { at, channels } => view(NextKind::Opening, Some(*at), channels),
            Next::Step {
                at,
                channels,
                first,
                at_opening,
            } => NextView {
                first: *first,
                at_opening: *at_opening,
                ..view(NextKind::Step, Some(*at), channels)
            },
            Next::Reminder {
                at,
                channels,
                at_opening,
            } => NextView {
                at_opening: *at_opening,
                ..view(NextKind::Reminder, Some(*at), channels)
            },
            Next::Nothing { acknowledged } => NextView {
                reason: acknowledged.then(|| "acknowledged".to_owned()),
                ..view(NextKind::Nothing, None, &[])
            },
        }
    }
}

impl From<AlertRecord> for AlertView {
    fn from(a: AlertRecord) -> Self {
        AlertView {
            id: a.id,
            service: a.service,
            host: a.host,
            title: a.title,
            detail: a.detail,
            severity: match a.severity {
                Severity::Warning => "warning",
                Severity::Critical => "critical",
            }
            .to_owned(),
            emergency: a.emergency,
            opened_at: a.opened_at,
            acknowledged_at: a.acked.as_ref().map(|(at, _)| *at),
            acknowledged_by: a.acked.map(|(_, by)| by),
            resolved_at: a.resolved_at,
            held_back: a.silenced,
            explained_by: a.cause,
            told: Vec::new(),
            next: None,
        }
    }
}

/// A maintenance window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WindowView {
    /// Its number.
    pub id: i64,
    /// What the work is.
    pub reason: String,
    /// The services it holds alerts back for; empty means everything.
    pub services: Vec<String>,
    /// Start (RFC 3339).
    #[schema(value_type = String)]
    pub start: Timestamp,
    /// End (RFC 3339).
    #[schema(value_type = String)]
    pub end: Timestamp,
}

impl From<StoredWindow> for WindowView {
    fn from(w: StoredWindow) -> Self {
        WindowView {
            id: w.id,
            reason: w.name,
            services: w.services,
            start: w.start,
            end: w.end,
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;
    use jiff::tz::TimeZone;

    use super::*;
    use crate::checks::{CheckOutcome, Finished, Verdict};
    use crate::pipeline::Pipeline;
    use crate::vocabulary::FailureKind;

    /// Monday 23 November 2026, 10:00 UTC.
    fn at(minutes: i64) -> Timestamp {
        "2026-11-23T10:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
    }

    #[test]
    fn an_agent_holding_its_lock_that_could_not_record_its_start_is_stuck_not_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("k.db");
        let mut store = Store::open(&database, &crate::store::StorageConfig::default()).unwrap();
        store
            .set_state(state_key::STOPPED_AT, &at(0).to_string())
            .unwrap();
        assert!(matches!(
            summarize(&store, &database, at(10)).unwrap().liveness,
            Liveness::Stopped { .. }
        ));
        // A running agent holds this lock; a full disk kept it from
        // removing the clean stop of its previous run.
        let lock = std::fs::File::create(Store::lock_path(&database)).unwrap();
        lock.lock().unwrap();
        assert_eq!(
            summarize(&store, &database, at(10)).unwrap().liveness,
            Liveness::Stuck { last_seen: at(0) }
        );
    }

    #[test]
    fn the_status_is_read_from_what_the_pipeline_recorded_and_serialises_as_the_api_documents() {
        let config = crate::config::parse(
            std::path::Path::new("k.toml"),
            "[business]\ntimezone = \"UTC\"\n\
             [[service]]\nname = \"Shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n\
             [[service]]\nname = \"Mail\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 2\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k.db"), &config.storage).unwrap();
        let calendar = Calendar::from_config(&config.business, TimeZone::UTC).unwrap();
        let mut pipeline = Pipeline::new(
            "web1".to_owned(),
            store,
            &config.rules,
            config.alerter(),
            Some(calendar.clone()),
            at(0),
        );
        let result = |pipeline: &mut Pipeline, outcome: CheckOutcome, from, minutes| {
            let finished = Finished {
                verdict: Verdict::Changed {
                    from,
                    to: outcome.state,
                },
                state: outcome.state,
                since: at(minutes),
                critical: false,
            };
            pipeline.service_result("Shop", outcome, &finished, at(minutes));
            pipeline.write_results(at(minutes));
        };
        let refused = CheckOutcome::failed(FailureKind::ConnectionRefused, "Shop refused.");
        result(&mut pipeline, refused.clone(), Some(State::Up), 0);
        result(
            &mut pipeline,
            CheckOutcome::up("Shop answered."),
            Some(State::Down),
            5,
        );
        result(&mut pipeline, refused, Some(State::Up), 10);
        pipeline
            .store_mut()
            .set_states(&[
                (state_key::LAST_SEEN, at(10).to_string().as_str()),
                (state_key::NEXT_BY, at(11).to_string().as_str()),
            ])
            .unwrap();
        pipeline
            .store_mut()
            .add_maintenance("new switch", &["Mail".to_owned()], at(0), at(60))
            .unwrap();

        let alerter = config.alerter();
        let sources = Sources {
            host: "web1",
            services: &config.services,
            calendar: &calendar,
            alerter: &alerter,
            channels: &config.channels,
        };
        let status = StatusView::read(pipeline.store(), sources, at(11)).unwrap();
        assert_eq!(
            (status.agent, status.last_seen),
            (AgentState::Running, Some(at(10)))
        );
        assert!(status.business_open);
        assert_eq!(status.business_hours, "open now (09:00-17:00)");
        let shop = &status.services[0];
        assert_eq!((shop.name.as_str(), shop.state), ("Shop", Shown::Down));
        assert_eq!(shop.failure.as_deref(), Some("connection_refused"));
        assert_eq!(
            shop.last_problem,
            Some(LastProblem {
                ended: at(5),
                cause: "Shop refused.".to_owned()
            })
        );
        assert_eq!(status.services[1].state, Shown::Unknown);
        assert_eq!(status.open_alerts.len(), 1);
        assert_eq!(status.open_alerts[0].title, "Shop is down");
        assert_eq!(status.maintenance[0].reason, "new switch");
        assert!(status.outbox_waiting > 0, "the alerts went into the outbox");
        assert!(
            status
                .measurements
                .iter()
                .any(|m| m.metric == "service.state" && m.instance == "Shop" && m.value == 2.0)
        );
        assert!(
            status
                .events
                .iter()
                .any(|e| e.message == "Shop is down: Shop refused.")
        );

        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["agent"], "running");
        assert_eq!(json["last_seen"], "2026-11-23T10:10:00Z");
        assert_eq!(json["services"][0]["state"], "down");
        assert_eq!(json["services"][0]["since"], "2026-11-23T10:10:00Z");
        assert_eq!(json["services"][1]["state"], "unknown");
        assert_eq!(json["open_alerts"][0]["severity"], "critical");
        assert_eq!(json["maintenance"][0]["end"], "2026-11-23T11:00:00Z");
        assert!(
            json.get("database").is_none(),
            "the path stays on this computer"
        );
    }

    #[test]
    fn heartbeats_show_their_ping_url_while_the_api_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("kw.db"), &Default::default()).unwrap();
        let specs = crate::config::parse(
            std::path::Path::new("k.toml"),
            "[[service]]\nname = \"Backup\"\ntype = \"heartbeat\"\nevery = \"1d\"\n\
             [[service]]\nname = \"Web\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\n",
        )
        .unwrap()
        .services;
        let now: Timestamp = "2026-11-23T09:00:00Z".parse().unwrap();
        let keys = crate::checks::pings::keys(&mut store, &specs, now).unwrap();
        let mut views = service_views(&specs, &[], &[]);
        let mut api = ApiConfig::default();
        add_ping_urls(&mut views, &store, &specs, &api, "shop").unwrap();
        assert_eq!(
            views[0].ping_url,
            Some(format!("http://127.0.0.1:8970/ping/{}", keys[0].key))
        );
        assert_eq!(views[1].ping_url, None, "only heartbeats report");
        api.listen = "0.0.0.0:9000".to_owned();
        assert_eq!(ping_url(&api, "shop", "k"), "http://shop:9000/ping/k");
        api.cert_file = "/etc/ssl/shop.pem".into();
        assert_eq!(ping_url(&api, "shop", "k"), "https://shop:9000/ping/k");
        api.enabled = false;
        let mut views = service_views(&specs, &[], &[]);
        add_ping_urls(&mut views, &store, &specs, &api, "shop").unwrap();
        assert_eq!(views[0].ping_url, None, "no API, no URL");
    }
}
