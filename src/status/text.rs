//! The text of `keepwatch status`, `keepwatch alerts` and `keepwatch check`:
//! the status model laid out for a terminal, in plain words, times in the
//! business time zone.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::maintenance::{Listed, Planned};
use super::model::{
    AgentLink, AgentState, AgentView, AlertView, DeliveryState, Measurement, NextKind, NextView,
    ServiceView, Shown, StatusView, WindowView,
};
use crate::checks::{CheckOutcome, ServiceSpec};
use crate::config::{Origin, last_good_path};
use crate::plain;
use crate::printable;
use crate::vocabulary::State;
use crate::vocabulary::metric;

/// Problems of a broken settings file listed in `status`; the rest are counted.
const PROBLEMS_SHOWN: usize = 5;

/// The settings file `status` read, and whether it could be used.
#[derive(Debug, Clone, Copy)]
pub struct SettingsInUse<'a> {
    /// The file (which may not exist yet).
    pub path: &'a Path,
    /// Whether its settings are in force, its last good copy's, or the defaults.
    pub origin: &'a Origin,
}

/// The full status text: the agent, which settings it runs on (when
/// `settings` is given), each configured service, each host.
pub fn render(
    status: &StatusView,
    settings: Option<SettingsInUse<'_>>,
    now: Timestamp,
    tz: &TimeZone,
) -> String {
    let mut out = String::new();
    let when = |at: Timestamp| {
        at.to_zoned_datetime(tz.clone())
            .strftime("%a %d %b %H:%M:%S")
            .to_string()
    };
    let ago = |at: Timestamp| plain::duration(now.duration_since(at).as_secs_f64().max(0.0));
    let state = match (status.agent, status.last_seen) {
        (AgentState::Running, Some(last_seen)) => {
            format!("running (last measurement {} ago)", ago(last_seen))
        }
        (AgentState::Stopped, Some(at)) => {
            format!("not running: stopped on {} ({} ago)", when(at), ago(at))
        }
        (AgentState::Stuck, Some(last_seen)) => format!(
            "is running, but it has not been able to write its database since {} ({} ago); the disk is probably full. Alerts still go out, history is kept in memory until it can be written",
            when(last_seen),
            ago(last_seen)
        ),
        (AgentState::Silent, Some(last_seen)) => format!(
            "not running: silent since {} ({} ago) without a clean stop; was it killed, or is the computer off?",
            when(last_seen),
            ago(last_seen)
        ),
        _ => "has not run yet: start it with `keepwatch run`".to_owned(),
    };
    let _ = writeln!(out, "keepwatch {state}");
    let _ = writeln!(
        out,
        "Data: {} ({})",
        status.database,
        plain::bytes(status.database_bytes as f64)
    );
    if let Some(settings) = settings {
        out.push_str(&settings_lines(settings, status.agent));
    }
    if let Some(throttle) = &status.throttle {
        let _ = writeln!(out, "Self-throttling: {throttle}");
    }
    let _ = writeln!(out, "Business hours: {}", status.business_hours);

    if !status.services.is_empty() {
        let _ = writeln!(out, "\nServices:");
        out.push_str(&service_lines(&status.services, now, tz));
    }
    for agent in &status.agents {
        let _ = writeln!(
            out,
            "\n{} (agent): {}",
            printable::name(&agent.name),
            agent_line(agent, now, tz)
        );
        let prefix = format!("{}/", agent.name);
        let services: Vec<ServiceView> = agent
            .services
            .iter()
            .map(|service| ServiceView {
                name: service
                    .name
                    .strip_prefix(&prefix)
                    .unwrap_or(&service.name)
                    .to_owned(),
                ..service.clone()
            })
            .collect();
        out.push_str(&service_lines(&services, now, tz));
    }

    let mut by_host: BTreeMap<&str, Vec<&Measurement>> = BTreeMap::new();
    for sample in &status.measurements {
        by_host
            .entry(sample.host.as_str())
            .or_default()
            .push(sample);
    }
    for (host, samples) in by_host {
        let newest = samples.iter().map(|s| s.at).max().unwrap_or(now);
        let _ = writeln!(out, "\n{host}, as measured {}:", when(newest));
        out.push_str(&host_lines(&samples));
    }
    if status.measurements.is_empty() {
        let _ = writeln!(out, "\nNo measurements yet.");
    }
    if !status.events.is_empty() {
        let _ = writeln!(out, "\nRecent events:");
        for event in &status.events {
            let _ = writeln!(
                out,
                "  {}  {}",
                when(event.at),
                printable::line(&event.message)
            );
        }
    }
    out
}

/// Which settings file, and, when it cannot be used, what is wrong with it
/// (line by line) and what keepwatch runs on meanwhile: after a rejected edit
/// a running keepwatch keeps the settings it had, which are the file's last
/// good version.
pub fn settings_lines(settings: SettingsInUse<'_>, agent: AgentState) -> String {
    let path = settings.path.display();
    let err = match settings.origin {
        Origin::File => return format!("Settings: {path}\n"),
        Origin::Defaults => {
            return format!(
                "Settings: none yet, the built-in defaults (`keepwatch init` writes {path})\n"
            );
        }
        Origin::LastGood(err) => err,
    };
    let last_good = last_good_path(settings.path);
    let runs = match agent {
        AgentState::Running | AgentState::Stuck => format!(
            "keepwatch is running on the last good version of the file ({}) until you fix it, and picks the fix up within seconds",
            last_good.display()
        ),
        _ => format!(
            "`keepwatch run` would start on the last good version of the file ({})",
            last_good.display()
        ),
    };
    let count = match err.problems.len() {
        1 => "a mistake".to_owned(),
        n => format!("{n} mistakes"),
    };
    let mut out = format!("Settings: {path} HAS {count}, so {runs}:\n");
    for problem in err.problems.iter().take(PROBLEMS_SHOWN) {
        let _ = writeln!(out, "  {problem}");
    }
    if err.problems.len() > PROBLEMS_SHOWN {
        let _ = writeln!(
            out,
            "  and {} more (`keepwatch doctor` lists them all)",
            err.problems.len() - PROBLEMS_SHOWN
        );
    }
    out
}

/// One line per configured service: its state, since when, and what is wrong.
fn service_lines(services: &[ServiceView], now: Timestamp, tz: &TimeZone) -> String {
    let width = services
        .iter()
        .map(|s| printable::name(&s.name).chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let ping_url = |out: &mut String, service: &ServiceView| {
        if let Some(url) = &service.ping_url {
            let _ = writeln!(out, "  {:<width$}  reports to {url}", "");
        }
    };
    for service in services {
        let shown = printable::name(&service.name);
        let (Some(since), false) = (service.since, service.state == Shown::Unknown) else {
            let _ = writeln!(out, "  {shown:<width$}  not checked yet");
            ping_url(&mut out, service);
            continue;
        };
        let since = format!(
            "since {} ({})",
            since
                .to_zoned_datetime(tz.clone())
                .strftime("%a %d %b %H:%M"),
            plain::duration(now.duration_since(since).as_secs_f64().max(0.0))
        );
        let line = match service.state {
            Shown::Up => {
                let took = service
                    .response_ms
                    .map(|ms| {
                        format!(
                            ", answers in {}",
                            plain::short_duration(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
                        )
                    })
                    .unwrap_or_default();
                let note = match (&service.failure, &service.last_problem) {
                    (Some(_), _) => format!("; last check: {}", service.explanation),
                    (None, Some(problem)) => format!(
                        "; last problem {} ago: {}",
                        plain::duration(now.duration_since(problem.ended).as_secs_f64().max(0.0)),
                        problem.cause
                    ),
                    (None, None) => String::new(),
                };
                format!("up {since}{took}{note}")
            }
            Shown::Degraded => format!("DEGRADED {since}: {}", service.explanation),
            Shown::Down | Shown::Unknown => format!("DOWN {since}: {}", service.explanation),
        };
        let _ = writeln!(out, "  {shown:<width$}  {}", printable::line(&line));
        ping_url(&mut out, service);
    }
    out
}

/// The width of the name column: the longest name as shown.
fn name_width(services: &[ServiceSpec]) -> usize {
    services
        .iter()
        .map(|s| printable::name(&s.common.name).chars().count())
        .max()
        .unwrap_or(0)
}

/// The results of `keepwatch check`, one paragraph per service, and a summary line.
pub fn render_checks(services: &[ServiceSpec], outcomes: &[CheckOutcome]) -> String {
    let width = name_width(services);
    let mut out = String::new();
    let mut counts = [0usize; 3];
    let mut not_run = 0;
    for (spec, outcome) in services.iter().zip(outcomes) {
        let state = if outcome.was_run() {
            counts[usize::from(outcome.state.severity())] += 1;
            match outcome.state {
                State::Up => "up      ",
                State::Degraded => "DEGRADED",
                State::Down => "DOWN    ",
            }
        } else {
            not_run += 1;
            "NOT RUN "
        };
        let took = outcome
            .response_time
            .map(plain::short_duration)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<width$}  {state}  {took:>8}  {}",
            printable::name(&spec.common.name),
            printable::line(&outcome.explanation)
        );
    }
    let noun = if services.len() == 1 {
        "service"
    } else {
        "services"
    };
    let not_run = match not_run {
        0 => String::new(),
        n => format!(", {n} could not be checked (this computer is out of resources)"),
    };
    let _ = writeln!(
        out,
        "\n{} {noun} checked: {} up, {} degraded, {} down{not_run}.",
        services.len(),
        counts[0],
        counts[1],
        counts[2]
    );
    out
}

/// One line per metric family, skipping what was not measured.
fn host_lines(samples: &[&Measurement]) -> String {
    let value = |name: &str, instance: &str| {
        samples
            .iter()
            .find(|s| s.metric == name && s.instance == instance)
            .map(|s| s.value)
    };
    let instances = |name: &str| {
        let mut found: Vec<&str> = samples
            .iter()
            .filter(|s| s.metric == name)
            .map(|s| s.instance.as_str())
            .collect();
        found.sort_unstable();
        found
    };
    let mut lines = Vec::new();

    if let Some(cpu) = value(metric::CPU_USAGE_PERCENT, "") {
        let cores = instances(metric::CPU_CORE_USAGE_PERCENT);
        let busiest = cores
            .iter()
            .filter_map(|core| value(metric::CPU_CORE_USAGE_PERCENT, core))
            .fold(None, |max: Option<f64>, v| {
                Some(max.map_or(v, |m| m.max(v)))
            });
        let detail = match busiest {
            Some(top) => format!(
                " ({} cores, busiest at {})",
                cores.len(),
                plain::percent(top)
            ),
            None => String::new(),
        };
        lines.push(format!("CPU       {} used{detail}", plain::percent(cpu)));
    }
    if let (Some(used), Some(total)) = (
        value(metric::MEMORY_USED_BYTES, ""),
        value(metric::MEMORY_TOTAL_BYTES, ""),
    ) {
        let percent = value(metric::MEMORY_USED_PERCENT, "").unwrap_or(0.0);
        let swap = match (
            value(metric::SWAP_USED_BYTES, ""),
            value(metric::SWAP_TOTAL_BYTES, ""),
        ) {
            (Some(used), Some(total)) if total > 0.0 => {
                format!("; swap {} of {}", plain::bytes(used), plain::bytes(total))
            }
            _ => "; no swap".to_owned(),
        };
        lines.push(format!(
            "Memory    {} of {} used ({}){swap}",
            plain::bytes(used),
            plain::bytes(total),
            plain::percent(percent)
        ));
    }
    for mount in instances(metric::DISK_USED_PERCENT) {
        let used = value(metric::DISK_USED_PERCENT, mount).unwrap_or(0.0);
        let free = value(metric::DISK_FREE_BYTES, mount)
            .map(|free| format!(", {} free", plain::bytes(free)))
            .unwrap_or_default();
        lines.push(format!(
            "Disk {mount:<5}{} used{free}",
            plain::percent(used)
        ));
    }
    for iface in instances(metric::NET_RX_BYTES_PER_SEC) {
        let rate = |name| {
            value(name, iface).map_or("unknown".to_owned(), |v| format!("{}/s", plain::bytes(v)))
        };
        let errors = value(metric::NET_RX_ERRORS, iface).unwrap_or(0.0)
            + value(metric::NET_TX_ERRORS, iface).unwrap_or(0.0);
        let errors = if errors > 0.0 {
            format!(", {errors} errors since the previous measurement")
        } else {
            ", no errors".to_owned()
        };
        lines.push(format!(
            "Network   {iface}: in {}, out {}{errors}",
            rate(metric::NET_RX_BYTES_PER_SEC),
            rate(metric::NET_TX_BYTES_PER_SEC)
        ));
    }
    if let Some(load) = value(metric::LOAD_1, "") {
        let longer = match (value(metric::LOAD_5, ""), value(metric::LOAD_15, "")) {
            (Some(five), Some(fifteen)) => format!(" (5 min: {five:.2}, 15 min: {fifteen:.2})"),
            _ => String::new(),
        };
        lines.push(format!("Load      {load:.2} over the last minute{longer}"));
    }
    if let Some(uptime) = value(metric::HOST_UPTIME_SECONDS, "") {
        lines.push(format!("Up for    {}", plain::duration(uptime)));
    }
    lines.iter().map(|line| format!("  {line}\n")).collect()
}

/// The open alerts and running maintenance windows, for `keepwatch status`
/// and `keepwatch alerts`: number, what, since when, who was told, and how to
/// acknowledge.
pub fn render_alerts(status: &StatusView, now: Timestamp, tz: &TimeZone) -> String {
    let (alerts, windows, waiting_messages): (&[AlertView], &[WindowView], usize) = (
        &status.open_alerts,
        &status.maintenance,
        status.outbox_waiting,
    );
    let when = |at: Timestamp| {
        at.to_zoned_datetime(tz.clone())
            .strftime("%a %d %b %H:%M")
            .to_string()
    };
    let mut out = String::new();
    if alerts.is_empty() {
        out.push_str("Alerts: none open.\n");
    } else {
        out.push_str(&format!("Alerts ({} open):\n", alerts.len()));
    }
    for alert in alerts {
        let ago = plain::duration(now.duration_since(alert.opened_at).as_secs_f64().max(0.0));
        let acked = alert.acknowledged_at.zip(alert.acknowledged_by.as_ref());
        let state = match (acked, &alert.held_back, alert.explained_by) {
            (Some((at, by)), _, _) => format!("acknowledged by {by} at {}", when(at)),
            (None, Some(reason), _) => format!("held back ({reason})"),
            (None, None, Some(cause)) => format!("explained by alert {cause}"),
            (None, None, None) => format!("not acknowledged: keepwatch ack {}", alert.id),
        };
        let urgency = if alert.emergency {
            "emergency"
        } else {
            "not an emergency"
        };
        out.push_str(&format!(
            "  {:>4}  {} — since {} ({ago}); {urgency}; {state}\n",
            alert.id,
            printable::line(&alert.title),
            when(alert.opened_at)
        ));
        for line in whereabouts(alert, now, tz) {
            out.push_str(&format!("        {}\n", printable::line(&line)));
        }
    }
    for window in windows.iter().filter(|w| w.start <= now) {
        let what = if window.services.is_empty() {
            "everything".to_owned()
        } else {
            window.services.join(", ")
        };
        out.push_str(&format!(
            "Maintenance {} ({}): alerts about {what} held back until {}.\n",
            window.id,
            window.reason,
            when(window.end)
        ));
    }
    if waiting_messages > 0 {
        out.push_str(&format!(
            "{waiting_messages} alert message(s) waiting to be delivered (a channel is failing; see the log).\n"
        ));
    }
    out
}

/// Where `alert` stands, one line per channel told and one for what comes
/// next: "sent by email to anna@example.com at 21:50", "next: escalation by
/// SMS to +4915112345678 at 22:05", "waits for the opening at 09:00 on Tue
/// 24 Nov, then goes …".
fn whereabouts(alert: &AlertView, now: Timestamp, tz: &TimeZone) -> Vec<String> {
    let at = |at: Timestamp| moment(at, now, tz);
    let mut lines: Vec<String> = alert
        .told
        .iter()
        .map(|told| {
            let reach = &told.reach;
            // What waits, said with `by` (how it goes) or without.
            let pending = |by: &str| match (told.state, &told.error, told.tries) {
                (DeliveryState::Queued, Some(error), tries) if tries > 0 => format!(
                    "not delivered yet{by}: {error}; tried {} since {}, next try at {}",
                    times(tries),
                    at(told.at),
                    told.next_try
                        .map(at)
                        .unwrap_or_else(|| "once it is due".to_owned())
                ),
                (DeliveryState::Queued, ..) if by.is_empty() => {
                    format!("waiting in the outbox since {}", at(told.at))
                }
                (DeliveryState::Queued, ..) => {
                    format!("waiting in the outbox to go{by} since {}", at(told.at))
                }
                _ => format!("about to go{by}, together with any other alerts due by then"),
            };
            match (told.state, told.sent_before) {
                (DeliveryState::Sent, _) => format!("sent {reach} at {}", at(told.at)),
                (DeliveryState::GivenUp, _) => format!(
                    "could not be sent {reach}: {}",
                    told.error.as_deref().unwrap_or("given up")
                ),
                (_, Some(before)) => format!(
                    "sent {reach} at {}; a newer message is {}",
                    at(before),
                    pending("")
                ),
                (_, None) => pending(&format!(" {reach}")),
            }
        })
        .collect();
    if let Some(next) = &alert.next {
        lines.push(next_line(next, now, tz));
    }
    lines
}

/// "once", "twice", "3 times".
fn times(n: u32) -> String {
    match n {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        n => format!("{n} times"),
    }
}

/// What comes next for an alert, in words.
fn next_line(next: &NextView, now: Timestamp, tz: &TimeZone) -> String {
    let reach = next.reach.join(" and ");
    let at = |at: Option<Timestamp>| match at {
        Some(at) if at > now => format!("at {}", moment(at, now, tz)),
        _ => "now".to_owned(),
    };
    let opening = if next.at_opening {
        " (the business opens then; it is not an emergency)"
    } else {
        ""
    };
    match next.what {
        NextKind::Opening => format!(
            "waits for the opening {}, then goes {reach} in the summary of what happened while closed",
            at(next.at)
        ),
        NextKind::Held => {
            let reason = next.reason.as_deref().unwrap_or("held back");
            let until = match next.at {
                Some(until) => format!(" until {}", moment(until, now, tz)),
                None => String::new(),
            };
            match reason.strip_prefix("maintenance: ") {
                Some(window) => format!(
                    "held back by the maintenance window \"{window}\"{until}; nobody is told before it ends"
                ),
                None => format!(
                    "held back: the service keeps going down and up (flapping); looked at again{until}"
                ),
            }
        }
        NextKind::Step if next.first => format!("next: {reach} {}{opening}", at(next.at)),
        NextKind::Step => format!("next: escalation {reach} {}{opening}", at(next.at)),
        NextKind::Reminder => format!("next: a reminder {reach} {}{opening}", at(next.at)),
        NextKind::Nothing if next.reason.is_some() => {
            "nothing more will be sent: it is acknowledged; you hear when it is resolved".to_owned()
        }
        NextKind::Nothing => "nothing more will be sent until it is resolved".to_owned(),
    }
}

/// A time of day as a person reads it next to `now`: "21:50" today, else
/// "09:00 on Tue 24 Nov"; in `tz`.
fn moment(at: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    let local = at.to_zoned_datetime(tz.clone());
    if local.date() == now.to_zoned_datetime(tz.clone()).date() {
        local.strftime("%H:%M").to_string()
    } else {
        local.strftime("%H:%M on %a %d %b").to_string()
    }
}

/// The windows of `keepwatch maintenance list`, one line each, with how to
/// end those started by hand; times in `tz`.
pub fn render_windows(listed: &[Listed], tz: &TimeZone) -> String {
    let local = |at: Timestamp| {
        at.to_zoned_datetime(tz.clone())
            .strftime("%a %d %b %H:%M")
            .to_string()
    };
    let mut out = String::new();
    for window in listed {
        let _ = match window {
            Listed::Planned { name, when } => match when {
                Planned::Until(until) => {
                    writeln!(out, "{name} (planned): in force until {}", local(*until))
                }
                Planned::From(start) => {
                    writeln!(out, "{name} (planned): next from {}", local(*start))
                }
                Planned::Over => writeln!(out, "{name} (planned): over"),
            },
            Listed::Started(window) => {
                let what = if window.services.is_empty() {
                    "everything".to_owned()
                } else {
                    window.services.join(", ")
                };
                writeln!(
                    out,
                    "{} ({}): {what}, {} until {} — end it with `keepwatch maintenance stop {}`",
                    window.id,
                    window.name,
                    local(window.start),
                    local(window.end),
                    window.id
                )
            }
        };
    }
    if listed.is_empty() {
        out.push_str("No maintenance windows. Plan one with a [[maintenance]] block in the config, or start one now with `keepwatch maintenance start --for 1h`.\n");
    }
    out
}

/// An agent heard from within this (six of its batches at the default
/// `send_every`) is up to date if its last batch was.
const UP_TO_DATE_WITHIN: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// One line about an agent: "reporting, last heard 4 s ago, up to date".
pub fn agent_line(agent: &AgentView, now: Timestamp, tz: &TimeZone) -> String {
    let ago = |at: Timestamp| plain::duration(now.duration_since(at).as_secs_f64().max(0.0));
    let heard = |at: Timestamp| {
        format!(
            "last heard {} ({} ago)",
            at.to_zoned_datetime(tz.clone())
                .strftime("%a %d %b %H:%M:%S"),
            ago(at)
        )
    };
    let mut line = match (agent.state, agent.last_heard) {
        (AgentLink::Never, _) => {
            "never reported: run the command `keepwatch agent add` printed on that computer"
                .to_owned()
        }
        (AgentLink::Removed, Some(at)) => format!("removed ({}); its history stays", heard(at)),
        (AgentLink::Removed, None) => "removed".to_owned(),
        (AgentLink::Silent, Some(at)) => format!(
            "SILENT: {}; the server may be down or cut off from the network",
            heard(at)
        ),
        (_, Some(at)) => format!("reporting, {}", heard(at)),
        (_, None) => "reporting".to_owned(),
    };
    match agent.behind_seconds {
        Some(behind) if agent.state == AgentLink::Reporting && behind >= 60.0 => {
            let _ = write!(
                line,
                ", catching up: {} of data still to come",
                plain::duration(behind)
            );
        }
        // Only while it reports: up to date at a batch a while ago says
        // nothing of what it measured since.
        Some(_)
            if agent.state == AgentLink::Reporting
                && agent
                    .last_heard
                    .is_some_and(|at| now.duration_since(at) < UP_TO_DATE_WITHIN) =>
        {
            line.push_str(", up to date")
        }
        _ => {}
    }
    if let Some(offset) = agent.clock_offset_seconds
        && offset.abs() > crate::pipeline::CLOCK_OFF.as_secs_f64()
    {
        let way = if offset < 0.0 { "behind" } else { "ahead of" };
        let _ = write!(
            line,
            "; its clock is {} {way} this one's",
            plain::duration(offset.abs())
        );
    }
    printable::line(&line).into_owned()
}

/// `keepwatch agent list`.
pub fn render_agents(agents: &[AgentView], now: Timestamp, tz: &TimeZone) -> String {
    if agents.is_empty() {
        return "No agents yet. `keepwatch agent add NAME` lets another server report to this one.\n"
            .to_owned();
    }
    let width = agents
        .iter()
        .map(|a| printable::name(&a.name).chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for agent in agents {
        let version = agent
            .version
            .as_deref()
            .map(|v| format!(" (keepwatch {})", printable::name(v)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<width$}  {}{version}",
            printable::name(&agent.name),
            agent_line(agent, now, tz)
        );
        let down = agent
            .services
            .iter()
            .filter(|s| matches!(s.state, Shown::Down | Shown::Degraded))
            .count();
        if !agent.services.is_empty() {
            let _ = writeln!(
                out,
                "{:<width$}  {} service(s), {down} with a problem",
                "",
                agent.services.len()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::model::{EventView, business_hours, service_views};
    use super::*;
    use crate::calendar::Calendar;
    use crate::store::{Incident, ServiceStatus};

    /// Weekdays 09:00-17:00 in UTC.
    fn utc() -> Calendar {
        let business = crate::calendar::BusinessConfig {
            timezone: "UTC".to_owned(),
            ..crate::calendar::BusinessConfig::default()
        };
        Calendar::from_config(&business, TimeZone::UTC).unwrap()
    }

    fn at() -> Timestamp {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    fn sample(metric: &str, instance: &str, value: f64) -> Measurement {
        Measurement {
            host: "web1".to_owned(),
            metric: metric.to_owned(),
            instance: instance.to_owned(),
            at: at(),
            value,
        }
    }

    /// The status of an agent that is `agent` since `last_seen`, read at `now`,
    /// with nothing measured or configured.
    fn view(agent: AgentState, last_seen: Option<Timestamp>, now: Timestamp) -> StatusView {
        StatusView {
            host: "web1".to_owned(),
            agent,
            last_seen,
            business_open: utc().period_at(now).is_open(),
            business_hours: business_hours(&utc(), now),
            throttle: None,
            database: "/data/keepwatch.db".to_owned(),
            database_bytes: 2_300_000,
            services: Vec::new(),
            measurements: Vec::new(),
            events: Vec::new(),
            open_alerts: Vec::new(),
            maintenance: Vec::new(),
            outbox_waiting: 0,
            agents: Vec::new(),
        }
    }

    fn utc_zone() -> TimeZone {
        TimeZone::UTC
    }

    #[test]
    fn a_full_host_reads_as_plain_sentences() {
        let latest = vec![
            sample(metric::CPU_USAGE_PERCENT, "", 12.3),
            sample(metric::CPU_CORE_USAGE_PERCENT, "0", 40.0),
            sample(metric::CPU_CORE_USAGE_PERCENT, "1", 5.0),
            sample(metric::MEMORY_USED_BYTES, "", 3_100_000_000.0),
            sample(metric::MEMORY_TOTAL_BYTES, "", 16_000_000_000.0),
            sample(metric::MEMORY_USED_PERCENT, "", 19.4),
            sample(metric::SWAP_USED_BYTES, "", 0.0),
            sample(metric::SWAP_TOTAL_BYTES, "", 0.0),
            sample(metric::DISK_USED_PERCENT, "/", 45.0),
            sample(metric::DISK_FREE_BYTES, "/", 120_000_000_000.0),
            sample(metric::NET_RX_BYTES_PER_SEC, "eth0", 1_200_000.0),
            sample(metric::NET_TX_BYTES_PER_SEC, "eth0", 300_000.0),
            sample(metric::NET_RX_ERRORS, "eth0", 2.0),
            sample(metric::LOAD_1, "", 0.52),
            sample(metric::LOAD_5, "", 0.4),
            sample(metric::LOAD_15, "", 0.3),
            sample(metric::HOST_UPTIME_SECONDS, "", 273_600.0),
        ];
        let now = at() + jiff::SignedDuration::from_secs(4);
        let mut agent = view(AgentState::Running, Some(at()), now);
        agent.throttle = Some("normal intervals".to_owned());
        agent.events = vec![EventView {
            at: at(),
            message: "keepwatch started".to_owned(),
        }];
        agent.measurements = latest;
        let text = render(&agent, None, now, &utc_zone());
        for expected in [
            "keepwatch running (last measurement 4 seconds ago)",
            "Data: /data/keepwatch.db (2.3 MB)",
            "Self-throttling: normal intervals",
            "Business hours: open now (09:00-17:00)",
            "web1, as measured Mon 23 Nov 10:00:00:",
            "  CPU       12% used (2 cores, busiest at 40%)",
            "  Memory    3.1 GB of 16 GB used (19%); no swap",
            "  Disk /    45% used, 120 GB free",
            "  Network   eth0: in 1.2 MB/s, out 300 KB/s, 2 errors since the previous measurement",
            "  Load      0.52 over the last minute (5 min: 0.40, 15 min: 0.30)",
            "  Up for    3 days 4 hours",
            "Recent events:\n  Mon 23 Nov 10:00:00  keepwatch started",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn status_names_the_settings_file_and_says_when_a_broken_edit_is_not_in_force() {
        let path = std::path::PathBuf::from("/home/anna/.config/keepwatch/keepwatch.toml");
        let now = at() + jiff::SignedDuration::from_secs(4);
        let running = view(AgentState::Running, Some(at()), now);
        let settings = |origin| SettingsInUse {
            path: &path,
            origin,
        };
        let fine = render(&running, Some(settings(&Origin::File)), now, &utc_zone());
        assert!(
            fine.contains("(2.3 MB)\nSettings: /home/anna/.config/keepwatch/keepwatch.toml\n"),
            "{fine}"
        );
        let defaults = render(
            &running,
            Some(settings(&Origin::Defaults)),
            now,
            &utc_zone(),
        );
        assert!(
            defaults.contains("Settings: none yet, the built-in defaults (`keepwatch init` writes /home/anna/.config/keepwatch/keepwatch.toml)\n"),
            "{defaults}"
        );
        let text = "[[service]]\nname = \"Stock\"\ntype = \"tcp\"\nhost = \"h\"\nport = \"8082\"\n";
        let broken = crate::config::parse(&path, text).unwrap_err();
        let rejected = Origin::LastGood(broken);
        let told = render(&running, Some(settings(&rejected)), now, &utc_zone());
        assert!(
            told.contains(
                "Settings: /home/anna/.config/keepwatch/keepwatch.toml HAS a mistake, so keepwatch is running on the last good version of the file (/home/anna/.config/keepwatch/keepwatch.toml.last-good) until you fix it, and picks the fix up within seconds:\n  line 5, column 8: `service.port`: `port` must be a whole number like 8082, without quotes\n"
            ),
            "{told}"
        );
        let stopped = view(AgentState::Stopped, Some(at()), now);
        let told = render(&stopped, Some(settings(&rejected)), now, &utc_zone());
        assert!(
            told.contains("HAS a mistake, so `keepwatch run` would start on the last good version of the file (/home/anna/.config/keepwatch/keepwatch.toml.last-good):\n  line 5"),
            "{told}"
        );
        let many: String = (0..7).map(|i| format!("cpu{i} = 1\n")).collect();
        let many = format!("[collect]\n{many}");
        let many = Origin::LastGood(crate::config::parse(&path, &many).unwrap_err());
        let told = render(&running, Some(settings(&many)), now, &utc_zone());
        assert!(told.contains("\n  and "), "{told}");
        assert!(
            told.contains("more (`keepwatch doctor` lists them all)\n"),
            "{told}"
        );
    }

    #[test]
    fn each_liveness_is_explained() {
        let later = at() + jiff::SignedDuration::from_hours(3);
        let stopped = render(
            &view(AgentState::Stopped, Some(at()), later),
            None,
            later,
            &utc_zone(),
        );
        assert!(
            stopped.contains("not running: stopped on Mon 23 Nov 10:00:00 (3 hours ago)"),
            "{stopped}"
        );
        assert!(stopped.contains("No measurements yet."));
        let evening = at() + jiff::SignedDuration::from_hours(9);
        let closed = render(
            &view(AgentState::Never, None, evening),
            None,
            evening,
            &utc_zone(),
        );
        assert!(
            closed.contains(
                "Business hours: closed now (outside opening hours); opens Tue 24 Nov 09:00"
            ),
            "{closed}"
        );
        let silent = render(
            &view(AgentState::Silent, Some(at()), later),
            None,
            later,
            &utc_zone(),
        );
        assert!(silent.contains("without a clean stop"), "{silent}");
        let never = render(
            &view(AgentState::Never, None, later),
            None,
            later,
            &utc_zone(),
        );
        assert!(never.contains("start it with `keepwatch run`"), "{never}");
    }

    #[test]
    fn swap_in_use_and_missing_details_are_handled() {
        let latest = vec![
            sample(metric::CPU_USAGE_PERCENT, "", 3.0),
            sample(metric::MEMORY_USED_BYTES, "", 1e9),
            sample(metric::MEMORY_TOTAL_BYTES, "", 2e9),
            sample(metric::SWAP_USED_BYTES, "", 5e8),
            sample(metric::SWAP_TOTAL_BYTES, "", 1e9),
            sample(metric::NET_RX_BYTES_PER_SEC, "wlan0", 10.0),
        ];
        let mut running = view(AgentState::Running, Some(at()), at());
        running.measurements = latest;
        let text = render(&running, None, at(), &utc_zone());
        assert!(text.contains("  CPU       3% used\n"), "{text}");
        assert!(text.contains("swap 500 MB of 1.0 GB"), "{text}");
        assert!(
            text.contains("wlan0: in 10 bytes/s, out unknown, no errors"),
            "{text}"
        );
    }

    fn services() -> Vec<ServiceSpec> {
        let text = "[[service]]\nname = \"Web shop\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\n\
                    [[service]]\nname = \"Payments\"\ntype = \"tcp\"\nhost = \"h\"\nport = 2\n\
                    [[service]]\nname = \"Mail\"\ntype = \"tcp\"\nhost = \"h\"\nport = 3\n\
                    [[service]]\nname = \"Backup\"\ntype = \"tcp\"\nhost = \"h\"\nport = 4\n";
        crate::config::parse(std::path::Path::new("k.toml"), text)
            .unwrap()
            .services
    }

    #[test]
    fn each_service_says_its_state_since_when_and_what_is_wrong() {
        use crate::vocabulary::FailureKind;
        let status = |name: &str, state, kind, explanation: &str, response_ms| ServiceStatus {
            name: name.to_owned(),
            state,
            kind,
            explanation: explanation.to_owned(),
            since: at(),
            checked_at: at(),
            response_ms,
        };
        let states = vec![
            status("Web shop", State::Up, None, "fine", Some(120.0)),
            status(
                "Payments",
                State::Down,
                Some(FailureKind::ConnectionRefused),
                "Payments refused the connection.",
                None,
            ),
            status(
                "Mail",
                State::Degraded,
                Some(FailureKind::Slow),
                "Mail answered in 2.5 s, over its 1 s budget.",
                Some(2500.0),
            ),
        ];
        let later = at() + jiff::SignedDuration::from_mins(5);
        let specs = services();
        let incidents = vec![Incident {
            id: 1,
            service: "Web shop".to_owned(),
            started: at() - jiff::SignedDuration::from_hours(3),
            ended: Some(at() - jiff::SignedDuration::from_hours(2)),
            state: State::Down,
            kind: Some(FailureKind::HttpStatus),
            cause: "Web shop answered with HTTP 503.".to_owned(),
        }];
        let mut running = view(AgentState::Running, Some(later), later);
        running.services = service_views(&specs, &states, &incidents);
        let text = render(&running, None, later, &utc_zone());
        for expected in [
            "Services:\n",
            "  Web shop  up since Mon 23 Nov 10:00 (5 minutes), answers in 120 ms; last problem 2 hours 5 minutes ago: Web shop answered with HTTP 503.\n",
            "  Payments  DOWN since Mon 23 Nov 10:00 (5 minutes): Payments refused the connection.\n",
            "  Mail      DEGRADED since Mon 23 Nov 10:00 (5 minutes): Mail answered in 2.5 s, over its 1 s budget.\n",
            "  Backup    not checked yet\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn check_results_end_with_a_count_per_state() {
        use crate::vocabulary::FailureKind;
        use std::time::Duration;
        let outcomes = vec![
            CheckOutcome::up("Web shop answered with HTTP 200.")
                .with_response_time(Duration::from_millis(42)),
            CheckOutcome::failed(
                FailureKind::ConnectionRefused,
                "Payments refused the connection.",
            ),
            CheckOutcome::failed(FailureKind::Slow, "Mail was slow.")
                .with_response_time(Duration::from_millis(2500)),
            CheckOutcome::up("Backup answered."),
        ];
        let text = render_checks(&services(), &outcomes);
        assert!(
            text.contains("Web shop  up           42 ms  Web shop answered with HTTP 200.\n"),
            "{text}"
        );
        assert!(
            text.contains("Payments  DOWN                Payments refused the connection.\n"),
            "{text}"
        );
        assert!(
            text.contains("Mail      DEGRADED     2.5 s  Mail was slow.\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\n4 services checked: 2 up, 1 degraded, 1 down.\n"),
            "{text}"
        );
    }

    #[test]
    fn an_agent_is_up_to_date_only_while_it_reports() {
        let agent = |seconds_ago: i64| AgentView {
            name: "web2".to_owned(),
            state: AgentLink::Reporting,
            last_heard: Some(at() - jiff::SignedDuration::from_secs(seconds_ago)),
            behind_seconds: Some(0.0),
            clock_offset_seconds: Some(0.0),
            version: None,
            services: Vec::new(),
        };
        let line = agent_line(&agent(5), at(), &TimeZone::UTC);
        assert!(line.ends_with("(5 seconds ago), up to date"), "{line}");
        // Cut off for three minutes, before the silence alert: the last
        // batch was up to date, what came since is not there.
        let line = agent_line(&agent(180), at(), &TimeZone::UTC);
        assert!(line.ends_with("(3 minutes ago)"), "{line}");
    }
}
