//! The report model: what happened in a period, computed from the store, the
//! config and the business calendar, as plain data for the renderers.
//!
//! # How the figures are computed
//!
//! - A service is **watched** from the first check the store holds in the
//!   period (from the period's start when that check came within
//!   [`START_SLACK`] of it) to the period's end, or to now for a period that
//!   is still running; a service no longer in the config, to its last check
//!   or incident.
//! - **Down** and **degraded** time are the incidents the store recorded
//!   (from the confirmed start of a problem to the confirmed recovery), as
//!   spans of time: never a count of samples.
//! - **Maintenance** (planned `[[maintenance]]` windows and windows started
//!   from the command line) is taken out of the watched time before
//!   anything is counted: it neither counts as down nor as up. So is the
//!   time a hub has no data from an agent (`gaps.rs`), for that agent's
//!   services.
//! - **Availability** is the watched time (less maintenance) that was not
//!   down; degraded time counts as available and is shown apart. **Opening
//!   hours** availability does the same within the calendar's opening hours.
//! - **Cost** of a service's down time: its `cost_per_hour`, else its
//!   `revenue_share` (all for a critical service, none for others) of
//!   `[business] revenue_per_hour`, per hour down in opening hours, and
//!   `off_hours_weight` of that per hour down while closed. Rounded to the cent
//!   per service; the total is the sum of those.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};

use super::period::Period;
use super::spans::Spans;
use crate::alert::{Target, Window};
use crate::calendar::Calendar;
use crate::checks::ServiceSpec;
use crate::config::Config;
use crate::observation::SeriesKey;
use crate::store::{Incident, Store, StoreError};
use crate::vocabulary::metric;
use crate::vocabulary::service_metric;
use crate::vocabulary::{FailureKind, State};

/// A first check this close to the period's start means the service was
/// watched from the start (checks run every few seconds to minutes).
pub const START_SLACK: SignedDuration = SignedDuration::from_mins(15);
/// A response-time change smaller than this share is not a trend.
const TREND_SHARE: f64 = 0.10;
/// Disk forecasts further out than this are not worth a line.
const FORECAST_DAYS: f64 = 90.0;
/// Disk growth is measured over at most this much recent history.
const FORECAST_HISTORY: SignedDuration = SignedDuration::from_hours(14 * 24);

pub use crate::config::Audience;

/// Green, amber or red against a service's target, always said in words too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rating {
    /// At or above target.
    OnTarget,
    /// Below target, but by less than the target allows again.
    NearTarget,
    /// Further below target.
    BelowTarget,
}

impl Rating {
    /// How the rating reads: "on target".
    pub fn words(self) -> &'static str {
        match self {
            Rating::OnTarget => "on target",
            Rating::NearTarget => "just below target",
            Rating::BelowTarget => "below target",
        }
    }

    /// The colour of the rating, as a CSS/PNG colour.
    pub fn colour(self) -> &'static str {
        match self {
            Rating::OnTarget => "#1a7f37",
            Rating::NearTarget => "#b35900",
            Rating::BelowTarget => "#c62828",
        }
    }

    /// The rating of `availability` against `target` (both percent).
    pub fn of(availability: f64, target: f64) -> Rating {
        if availability >= target {
            Rating::OnTarget
        } else if availability >= target - (100.0 - target) {
            Rating::NearTarget
        } else {
            Rating::BelowTarget
        }
    }
}

/// Response times of one service in one period, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseFigures {
    /// How many answers were timed.
    pub count: usize,
    /// The mean.
    pub mean: f64,
    /// Half of the answers were faster.
    pub p50: f64,
    /// 95 of 100 answers were faster.
    pub p95: f64,
    /// The slowest.
    pub max: f64,
}

/// One day of one service, for the charts.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    /// The local date.
    pub date: jiff::civil::Date,
    /// Percent available of the watched time that day; `None` when not watched.
    pub availability: Option<f64>,
    /// Mean response time that day, in milliseconds.
    pub response_ms: Option<f64>,
}

/// One service's figures for the period.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceReport {
    /// The service's name.
    pub name: String,
    /// Marked critical in the config.
    pub critical: bool,
    /// Run by someone else (payment gateway).
    pub external: bool,
    /// `false` for a service the store knows but the config no longer has
    /// (removed or renamed).
    pub in_config: bool,
    /// What part of the period the store's history covers; `None` without any.
    pub watched: Option<(Timestamp, Timestamp)>,
    /// When watching began, if after the period's start (added mid-period).
    pub added_during: Option<Timestamp>,
    /// The availability it should reach, in percent.
    pub target: f64,
    /// Watched time less maintenance, in milliseconds.
    pub counted_ms: i64,
    /// The part of `counted_ms` in opening hours.
    pub counted_open_ms: i64,
    /// Down time, in milliseconds.
    pub down_ms: i64,
    /// The part of `down_ms` in opening hours.
    pub down_open_ms: i64,
    /// Degraded (slow, certificate about to expire) time; counts as available.
    pub degraded_ms: i64,
    /// Maintenance within the watched time.
    pub maintenance_ms: i64,
    /// Percent of the counted time not down; `None` when nothing was counted.
    pub availability: Option<f64>,
    /// Percent of the counted opening hours not down.
    pub open_availability: Option<f64>,
    /// Against the target; `None` without data.
    pub rating: Option<Rating>,
    /// Estimated cost of the down time; `None` without a figure to go by.
    pub cost: Option<f64>,
    /// The hourly figure the cost is based on.
    pub cost_rate: Option<f64>,
    /// Response times this period.
    pub response: Option<ResponseFigures>,
    /// Mean response time in the previous period.
    pub previous_mean_ms: Option<f64>,
    /// Checks run (results stored) in the period.
    pub checks: usize,
    /// Incidents that overlap the period.
    pub incidents: usize,
    /// Incidents by the failure behind them.
    pub failures: BTreeMap<String, usize>,
    /// Mean time to recover from the incidents that ended, in milliseconds.
    pub mttr_ms: Option<i64>,
    /// Mean time between the starts of incidents (counted time / incidents).
    pub mtbf_ms: Option<i64>,
    /// Day by day, for the charts.
    pub days: Vec<Day>,
}

/// One incident, told as a short story.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    /// The service.
    pub service: String,
    /// When it was confirmed.
    pub started: Timestamp,
    /// When it ended; `None` while it lasts.
    pub ended: Option<Timestamp>,
    /// The worst state.
    pub state: State,
    /// What the checks found.
    pub kind: Option<FailureKind>,
    /// The checks' explanation, for the technical report.
    pub cause: String,
    /// Time counted against availability within the period (maintenance
    /// excluded), in milliseconds.
    pub counted_ms: i64,
    /// The part of it in opening hours.
    pub open_ms: i64,
    /// Estimated cost.
    pub cost: Option<f64>,
    /// Who acknowledged the alert, and how long after it opened.
    pub acked: Option<(String, SignedDuration)>,
    /// The service it depends on that was down first.
    pub caused_by: Option<String>,
}

/// A disk expected to fill up.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskForecast {
    /// The host.
    pub host: String,
    /// The mount point.
    pub disk: String,
    /// Percent used at the end of the period.
    pub used_percent: f64,
    /// Growth in percentage points per day.
    pub per_day: f64,
    /// When it will be full at this rate.
    pub full_at: Timestamp,
}

/// A host resource that grew against the previous period.
#[derive(Debug, Clone, PartialEq)]
pub struct Pressure {
    /// The host.
    pub host: String,
    /// `cpu` or `memory`.
    pub resource: &'static str,
    /// Average use this period, percent.
    pub average: f64,
    /// Highest use this period, percent.
    pub peak: f64,
    /// Average use in the previous period, percent.
    pub previous: Option<f64>,
}

/// A certificate that ends soon.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    /// The service whose server shows it.
    pub service: String,
    /// When it ends.
    pub expires: Timestamp,
}

/// Alerting figures for the technical report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertFigures {
    /// Alerts opened in the period.
    pub opened: usize,
    /// Of those, acknowledged.
    pub acknowledged: usize,
    /// Mean time from opening to acknowledgement.
    pub mean_ack: Option<SignedDuration>,
    /// Alerts told to each channel.
    pub per_channel: BTreeMap<String, usize>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The business's name.
    pub business: String,
    /// Who it is for.
    pub audience: Audience,
    /// The period.
    pub period: Period,
    /// The business time zone's name.
    pub time_zone: String,
    /// When the report was made.
    pub generated: Timestamp,
    /// The end of what was counted: the period's end, or now.
    pub counted_until: Timestamp,
    /// Earliest watched instant over all services, if any.
    pub covered_from: Option<Timestamp>,
    /// Every service, critical first, then by name.
    pub services: Vec<ServiceReport>,
    /// Incidents, worst first.
    pub stories: Vec<Story>,
    /// `[business] revenue_per_hour`.
    pub revenue_per_hour: Option<f64>,
    /// `[business] off_hours_weight`.
    pub off_hours_weight: f64,
    /// The currency sign.
    pub currency: String,
    /// The sum of the services' costs; `None` when no figure is configured.
    pub total_cost: Option<f64>,
    /// Disks expected to fill up within [`FORECAST_DAYS`].
    pub forecasts: Vec<DiskForecast>,
    /// CPU and memory per host.
    pub pressure: Vec<Pressure>,
    /// Certificates ending before the end of the next period.
    pub certificates: Vec<Certificate>,
    /// Alerting figures.
    pub alerts: AlertFigures,
    /// Throttling episodes in the period (when the agent slowed itself down).
    pub throttling: Vec<(Timestamp, String)>,
    /// Size of the database now, in bytes.
    pub storage_bytes: u64,
    /// On a hub: when agents were out of reach, and whether their data came.
    pub gaps: Vec<super::gaps::Gap>,
}

/// What a report is built from.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The store, read only.
    pub store: &'a Store,
    /// The configuration (services, business, maintenance).
    pub config: &'a Config,
    /// The business calendar.
    pub calendar: &'a Calendar,
    /// The period to report on.
    pub period: Period,
    /// The period before it, for trends.
    pub previous: Option<Period>,
    /// Now.
    pub now: Timestamp,
    /// Who the report is for.
    pub audience: Audience,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The period has not begun.
    #[error(
        "the period {label} has not started yet (it starts {starts}); pick a period that has begun, e.g. --period this-week"
    )]
    Future {
        /// The period.
        label: String,
        /// Its start, in words.
        starts: String,
    },
    /// A setting the report needs is wrong.
    #[error("{0}")]
    Config(String),
}

/// Builds the report of `inputs.period`.
pub fn build(inputs: &Inputs<'_>) -> Result<Report, ReportError> {
    let Inputs {
        store,
        config,
        calendar,
        period,
        now,
        ..
    } = inputs;
    let tz = calendar.time_zone();
    let from = period.from;
    let until = period.to.min(*now);
    if until <= from {
        return Err(ReportError::Future {
            label: period.label.clone(),
            starts: from
                .to_zoned_datetime(tz.clone())
                .strftime("%-d %B %Y")
                .to_string(),
        });
    }
    let open = Spans::of(calendar.open_spans(from, until));
    let series = store.series()?;
    let incidents = store.incidents(from, until)?;
    let windows = maintenance_windows(store, config, from, until)?;

    let mut names: Vec<(String, Option<&ServiceSpec>)> = config
        .services
        .iter()
        .map(|spec| (spec.common.name.clone(), Some(spec)))
        .collect();
    // On a hub, a service of an agent is `web2/shop`, its series web2's.
    let agents: Vec<String> = store
        .remote_agents()?
        .into_iter()
        .map(|agent| agent.name)
        .collect();
    let service_name = |key: &SeriesKey| match agents.contains(&key.host) {
        true => crate::protocol::hub_name(&key.host, &key.instance),
        false => key.instance.clone(),
    };
    let gaps = super::gaps::gaps(store, from, until)?;
    let mut extra: Vec<String> = series
        .iter()
        .filter(|key| key.metric == service_metric::STATE)
        .map(&service_name)
        .chain(incidents.iter().map(|i| i.service.clone()))
        .filter(|name| !names.iter().any(|(known, _)| known == name))
        .collect();
    extra.sort();
    extra.dedup();
    names.extend(extra.into_iter().map(|name| (name, None)));

    let revenue = Some(config.business.revenue_per_hour).filter(|rate| *rate > 0.0);
    let rate_of = |spec: Option<&ServiceSpec>| -> Option<f64> {
        let common = &spec?.common;
        common.cost_per_hour.or_else(|| {
            let share = common
                .revenue_share
                .unwrap_or(if common.critical { 1.0 } else { 0.0 });
            revenue.map(|rate| rate * share)
        })
    };
    let cost = |rate: Option<f64>, down: &Spans| -> Option<f64> {
        let rate = rate?;
        let open_ms = down.intersect(&open).total_ms();
        let closed_ms = down.total_ms() - open_ms;
        let hours =
            (open_ms as f64 + config.business.off_hours_weight * closed_ms as f64) / 3_600_000.0;
        Some(cents(rate * hours))
    };

    let mut services = Vec::with_capacity(names.len());
    let mut counted_of: HashMap<String, Spans> = HashMap::new();
    for (name, spec) in &names {
        let keys: Vec<&SeriesKey> = series
            .iter()
            .filter(|key| key.metric == service_metric::STATE && service_name(key) == *name)
            .collect();
        let hosts: Vec<&str> = keys.iter().map(|key| key.host.as_str()).collect();
        // Checks are counted, not read: a month of them per service.
        let (mut checks, mut first_check, mut last_check) = (0, None, None);
        let mut times: Vec<(Timestamp, f64)> = Vec::new();
        for state_key in &keys {
            if let Some(tally) = store.tally(state_key, from, until)? {
                checks += tally.count;
                first_check =
                    Some(first_check.map_or(tally.first, |t: Timestamp| t.min(tally.first)));
                last_check = Some(last_check.map_or(tally.last, |t: Timestamp| t.max(tally.last)));
            }
            let key = SeriesKey::new(
                state_key.host.as_str(),
                service_metric::RESPONSE_MS,
                state_key.instance.as_str(),
            );
            times.extend(store.range(&key, from, until)?);
        }
        times.sort_by_key(|(at, _)| *at);
        let mine: Vec<&Incident> = incidents.iter().filter(|i| &i.service == name).collect();
        let first = first_check
            .into_iter()
            .chain(mine.iter().map(|i| i.started.max(from)))
            .min();
        let watched = first.map(|first| {
            let start = if first.duration_since(from) <= START_SLACK {
                from
            } else {
                first
            };
            let end = match spec {
                None => last_check
                    .into_iter()
                    .chain(mine.iter().map(|i| i.ended.unwrap_or(until)))
                    .max()
                    .unwrap_or(start)
                    .clamp(start, until),
                Some(_) => until,
            };
            (start, end)
        });
        let watched_spans = watched.map_or_else(Spans::default, |(a, b)| Spans::one(a, b));
        let host = hosts.first().copied().unwrap_or("");
        let target_of = Target {
            host,
            service: Some(name),
        };
        let maintenance = Spans::of(
            windows
                .iter()
                .flat_map(|window| window.spans(from, until, tz, &target_of)),
        )
        .intersect(&watched_spans);
        // An agent's time without data is neither up nor down.
        let missing = Spans::of(
            gaps.iter()
                .filter(|gap| !gap.filled && hosts.contains(&gap.host.as_str()))
                .map(|gap| (gap.from, gap.to)),
        );
        let counted = watched_spans.subtract(&maintenance).subtract(&missing);
        let spans_in = |state: State| {
            Spans::of(
                mine.iter()
                    .filter(|i| i.state == state)
                    .map(|i| (i.started, i.ended.unwrap_or(until))),
            )
            .intersect(&counted)
        };
        let down = spans_in(State::Down);
        let degraded = spans_in(State::Degraded);
        let counted_ms = counted.total_ms();
        let counted_open_ms = counted.intersect(&open).total_ms();
        let down_ms = down.total_ms();
        let down_open_ms = down.intersect(&open).total_ms();
        let availability = share_up(counted_ms, down_ms);
        let open_availability = share_up(counted_open_ms, down_open_ms);
        let target = target_of_spec(*spec)?;
        let rate = rate_of(*spec);
        let response = response_figures(times.iter().map(|(_, ms)| *ms).collect());
        let previous_mean_ms = match &inputs.previous {
            Some(previous) => {
                let mut values = Vec::new();
                for state_key in &keys {
                    let key = SeriesKey::new(
                        state_key.host.as_str(),
                        service_metric::RESPONSE_MS,
                        state_key.instance.as_str(),
                    );
                    values.extend(
                        store
                            .range(&key, previous.from, previous.to)?
                            .into_iter()
                            .map(|(_, ms)| ms),
                    );
                }
                response_figures(values).map(|r| r.mean)
            }
            None => None,
        };
        let mut failures = BTreeMap::new();
        for incident in &mine {
            let kind = incident.kind.map_or("unknown", FailureKind::as_str);
            *failures.entry(kind.to_owned()).or_insert(0) += 1;
        }
        let repaired: Vec<i64> = mine
            .iter()
            .filter_map(|i| Some(i.started.duration_until(i.ended?).as_millis() as i64))
            .collect();
        let mttr_ms =
            (!repaired.is_empty()).then(|| repaired.iter().sum::<i64>() / repaired.len() as i64);
        let mtbf_ms = (!mine.is_empty()).then(|| counted_ms / mine.len() as i64);
        let days = days_of(period, tz, &counted, &down, &times);
        counted_of.insert(name.clone(), counted);
        services.push(ServiceReport {
            name: name.clone(),
            critical: spec.is_some_and(|s| s.common.critical),
            external: spec.is_some_and(|s| s.common.external),
            in_config: spec.is_some(),
            watched,
            added_during: watched.map(|w| w.0).filter(|start| *start > from),
            target,
            counted_ms,
            counted_open_ms,
            down_ms,
            down_open_ms,
            degraded_ms: degraded.total_ms(),
            maintenance_ms: maintenance.total_ms(),
            availability,
            open_availability,
            rating: availability.map(|a| Rating::of(a, target)),
            cost: cost(rate, &down),
            cost_rate: rate,
            response,
            previous_mean_ms,
            checks,
            incidents: mine.len(),
            failures,
            mttr_ms,
            mtbf_ms,
            days,
        });
    }

    let alerts = store.alerts_between(from, until)?;
    let mut stories = Vec::new();
    for incident in &incidents {
        let spec = names
            .iter()
            .find(|(name, _)| name == &incident.service)
            .and_then(|(_, spec)| *spec);
        let counted = counted_of
            .get(&incident.service)
            .cloned()
            .unwrap_or_default();
        let span =
            Spans::one(incident.started, incident.ended.unwrap_or(until)).intersect(&counted);
        if span.is_empty() {
            continue;
        }
        let rate = rate_of(spec);
        let story_cost = match incident.state {
            State::Down => cost(rate, &span),
            _ => rate.map(|_| 0.0),
        };
        let end = incident.ended.unwrap_or(until);
        let acked = alerts
            .iter()
            .filter(|a| a.service.as_deref() == Some(incident.service.as_str()))
            .filter(|a| a.opened_at >= incident.started - START_SLACK && a.opened_at <= end)
            .find_map(|a| {
                let (at, by) = a.acked.as_ref()?;
                Some((by.clone(), a.opened_at.duration_until(*at)))
            });
        let caused_by = spec.and_then(|spec| {
            spec.common.depends_on.iter().find(|parent| {
                incidents.iter().any(|other| {
                    &other.service == *parent
                        && other.state == State::Down
                        && other.started <= incident.started
                        && other.ended.is_none_or(|e| e > incident.started)
                })
            })
        });
        stories.push(Story {
            service: incident.service.clone(),
            started: incident.started,
            ended: incident.ended,
            state: incident.state,
            kind: incident.kind,
            cause: incident.cause.clone(),
            counted_ms: span.total_ms(),
            open_ms: span.intersect(&open).total_ms(),
            cost: story_cost,
            acked,
            caused_by: caused_by.cloned(),
        });
    }
    stories.sort_by(|a, b| {
        (b.state == State::Down)
            .cmp(&(a.state == State::Down))
            .then(b.cost.unwrap_or(0.0).total_cmp(&a.cost.unwrap_or(0.0)))
            .then(b.open_ms.cmp(&a.open_ms))
            .then(b.counted_ms.cmp(&a.counted_ms))
            .then(a.started.cmp(&b.started))
    });

    services.sort_by(|a, b| {
        b.critical
            .cmp(&a.critical)
            .then(b.in_config.cmp(&a.in_config))
    });

    let any_rate = services.iter().any(|s| s.cost_rate.is_some());
    let total_cost = any_rate.then(|| cents(services.iter().filter_map(|s| s.cost).sum()));
    let covered_from = services.iter().filter_map(|s| s.watched.map(|w| w.0)).min();

    let mut per_channel = BTreeMap::new();
    for (channel, count) in store.alerts_told_per_channel(from, until)? {
        per_channel.insert(channel, count);
    }
    let opened: Vec<_> = alerts.iter().filter(|a| a.opened_at >= from).collect();
    let ack_times: Vec<SignedDuration> = opened
        .iter()
        .filter_map(|a| Some(a.opened_at.duration_until(a.acked.as_ref()?.0)))
        .collect();
    let mean_ack = (!ack_times.is_empty())
        .then(|| ack_times.iter().copied().sum::<SignedDuration>() / ack_times.len() as i32);
    let alert_figures = AlertFigures {
        opened: opened.len(),
        acknowledged: ack_times.len(),
        mean_ack,
        per_channel,
    };

    let throttling = store
        .events_between(from, until)?
        .into_iter()
        .filter(|e| e.kind == "throttle")
        .map(|e| (e.at, e.message))
        .collect();

    Ok(Report {
        business: config.business.name.clone(),
        audience: inputs.audience,
        period: period.clone(),
        time_zone: tz.iana_name().unwrap_or("local time").to_owned(),
        generated: *now,
        counted_until: until,
        covered_from,
        services,
        stories,
        revenue_per_hour: revenue,
        off_hours_weight: config.business.off_hours_weight,
        currency: config.business.currency.clone(),
        total_cost,
        forecasts: disk_forecasts(store, &series, until)?,
        pressure: pressure(store, &series, from, until, inputs.previous.as_ref())?,
        certificates: certificates(store, period, until)?,
        alerts: alert_figures,
        throttling,
        storage_bytes: store.size_on_disk()?,
        gaps,
    })
}

/// Planned windows from the config and windows started from the command line.
fn maintenance_windows(
    store: &Store,
    config: &Config,
    from: Timestamp,
    until: Timestamp,
) -> Result<Vec<Window>, StoreError> {
    let mut windows: Vec<Window> = config
        .maintenance
        .iter()
        .filter_map(|window| window.parse().ok())
        .collect();
    windows.extend(
        store
            .maintenance_between(from, until)?
            .into_iter()
            .map(|w| Window::ad_hoc(w.name, w.start, w.end, w.services)),
    );
    Ok(windows)
}

/// `"99.9%"` → 99.9; the default by `critical` when unset.
fn target_of_spec(spec: Option<&ServiceSpec>) -> Result<f64, ReportError> {
    let Some(spec) = spec else { return Ok(99.0) };
    let Some(text) = &spec.common.target else {
        return Ok(if spec.common.critical { 99.9 } else { 99.0 });
    };
    text.trim()
        .trim_end_matches('%')
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|t| (0.0..=100.0).contains(t))
        .ok_or_else(|| {
            ReportError::Config(format!(
                "service \"{}\": target = \"{text}\" is not a percentage; write it like target = \"99.9%\"",
                spec.common.name
            ))
        })
}

fn share_up(total_ms: i64, down_ms: i64) -> Option<f64> {
    (total_ms > 0).then(|| 100.0 * (total_ms - down_ms) as f64 / total_ms as f64)
}

/// Rounded to the cent.
fn cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

pub(super) fn response_figures(mut values: Vec<f64>) -> Option<ResponseFigures> {
    if values.is_empty() {
        return None;
    }
    let last = values.len() - 1;
    let rank = |share: f64| (last as f64 * share).round() as usize;
    let (p50_at, p95_at) = (rank(0.5), rank(0.95));
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    // Two selections instead of sorting a month of answers: p95 first, then
    // p50 among the values below it.
    let (below, &mut p95, _) = values.select_nth_unstable_by(p95_at, f64::total_cmp);
    let p50 = if p50_at < p95_at {
        *below.select_nth_unstable_by(p50_at, f64::total_cmp).1
    } else {
        p95
    };
    Some(ResponseFigures {
        count: values.len(),
        mean,
        p50,
        p95,
        max,
    })
}

fn days_of(
    period: &Period,
    tz: &jiff::tz::TimeZone,
    counted: &Spans,
    down: &Spans,
    times: &[(Timestamp, f64)],
) -> Vec<Day> {
    // Each day's local midnight, the day after the last one's included.
    let midnights: Vec<(jiff::civil::Date, Timestamp)> =
        std::iter::successors(Some(period.first), |date| date.tomorrow().ok())
            .take_while(|date| *date <= period.end)
            .map_while(|date| Some((date, date.to_zoned_datetime(tz.clone()).ok()?.timestamp())))
            .collect();
    midnights
        .iter()
        .zip(midnights.iter().skip(1))
        .map(|(&(date, a), &(_, b))| {
            let day = Spans::one(a, b);
            let counted_ms = counted.intersect(&day).total_ms();
            let down_ms = down.intersect(&day).total_ms();
            // `times` is in order: the day's answers are one slice of it.
            let start = times.partition_point(|(at, _)| *at < a);
            let end = times.partition_point(|(at, _)| *at < b);
            let day_times = &times[start..end];
            Day {
                date,
                availability: share_up(counted_ms, down_ms),
                response_ms: (!day_times.is_empty()).then(|| {
                    day_times.iter().map(|(_, ms)| ms).sum::<f64>() / day_times.len() as f64
                }),
            }
        })
        .collect()
}

/// Disks whose use grows so that they fill within [`FORECAST_DAYS`],
/// by a least-squares line through the last two weeks of history.
fn disk_forecasts(
    store: &Store,
    series: &[SeriesKey],
    until: Timestamp,
) -> Result<Vec<DiskForecast>, StoreError> {
    let mut forecasts = Vec::new();
    let since = until.saturating_sub(FORECAST_HISTORY).unwrap_or(until);
    for key in series
        .iter()
        .filter(|k| k.metric == metric::DISK_USED_PERCENT)
    {
        let points = store.range(key, since, until)?;
        let Some(&(last_at, last)) = points.last() else {
            continue;
        };
        let Some(per_day) = slope_per_day(&points) else {
            continue;
        };
        if per_day <= 0.0 || last >= 100.0 {
            continue;
        }
        let days_left = (100.0 - last) / per_day;
        if days_left > FORECAST_DAYS {
            continue;
        }
        let full_at = last_at
            .saturating_add(SignedDuration::from_secs_f64(days_left * 86_400.0))
            .unwrap_or(last_at);
        forecasts.push(DiskForecast {
            host: key.host.clone(),
            disk: key.instance.clone(),
            used_percent: last,
            per_day,
            full_at,
        });
    }
    forecasts.sort_by_key(|f| f.full_at);
    Ok(forecasts)
}

/// Least-squares slope of the points, in units per day; `None` for less than
/// a day of history.
fn slope_per_day(points: &[(Timestamp, f64)]) -> Option<f64> {
    let (first, last) = (points.first()?.0, points.last()?.0);
    if first.duration_until(last) < SignedDuration::from_hours(24) {
        return None;
    }
    let n = points.len() as f64;
    let xs = points
        .iter()
        .map(|(at, _)| first.duration_until(*at).as_secs_f64() / 86_400.0);
    let mean_x = xs.clone().sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, v)| v).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (x, (_, y)) in xs.zip(points) {
        num += (x - mean_x) * (y - mean_y);
        den += (x - mean_x) * (x - mean_x);
    }
    (den > 0.0).then(|| num / den)
}

fn pressure(
    store: &Store,
    series: &[SeriesKey],
    from: Timestamp,
    until: Timestamp,
    previous: Option<&Period>,
) -> Result<Vec<Pressure>, StoreError> {
    let mut out = Vec::new();
    for (name, resource) in [
        (metric::CPU_USAGE_PERCENT, "cpu"),
        (metric::MEMORY_USED_PERCENT, "memory"),
    ] {
        for key in series
            .iter()
            .filter(|k| k.metric == name && k.instance.is_empty())
        {
            let values: Vec<f64> = store
                .range(key, from, until)?
                .into_iter()
                .map(|p| p.1)
                .collect();
            if values.is_empty() {
                continue;
            }
            let previous = match previous {
                Some(p) => {
                    let before: Vec<f64> = store
                        .range(key, p.from, p.to)?
                        .into_iter()
                        .map(|p| p.1)
                        .collect();
                    (!before.is_empty()).then(|| before.iter().sum::<f64>() / before.len() as f64)
                }
                None => None,
            };
            out.push(Pressure {
                host: key.host.clone(),
                resource,
                average: values.iter().sum::<f64>() / values.len() as f64,
                peak: values.iter().copied().fold(f64::MIN, f64::max),
                previous,
            });
        }
    }
    Ok(out)
}

/// Certificates (as last seen) that end before the end of the next period.
fn certificates(
    store: &Store,
    period: &Period,
    until: Timestamp,
) -> Result<Vec<Certificate>, StoreError> {
    let horizon = period
        .to
        .saturating_add(period.from.duration_until(period.to))
        .unwrap_or(period.to);
    let mut out: Vec<Certificate> = store
        .latest()?
        .into_iter()
        .filter(|s| s.key.metric == service_metric::CERTIFICATE_EXPIRES && s.at <= until)
        .filter_map(|s| {
            let expires = Timestamp::from_second(s.value as i64).ok()?;
            (expires <= horizon).then_some(Certificate {
                service: s.key.instance,
                expires,
            })
        })
        .collect();
    out.sort_by_key(|c| c.expires);
    Ok(out)
}

/// The share by which `now` is above `before` (0.2: 20% slower), when it is a trend.
pub fn trend(now: f64, before: f64) -> Option<f64> {
    if before <= 0.0 {
        return None;
    }
    let change = now / before - 1.0;
    (change.abs() >= TREND_SHARE).then_some(change)
}
