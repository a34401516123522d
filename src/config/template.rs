//! The commented `keepwatch.toml` that `keepwatch init` writes.
//!
//! The values come from serialising a [`Config`] (normally the typed defaults,
//! plus the answers to `init`'s questions), so the file and the defaults cannot
//! drift apart; this module only adds the explanations.

use super::Config;
use super::problem::table_header;

/// Explanations shown above each section and key, by dotted path. A test
/// checks that every key of the config has one.
const DOCS: &[(&str, &str)] = &[
    (
        "agent",
        "This computer, as keepwatch names it, and where it keeps its data.",
    ),
    (
        "agent.name",
        "Name of this computer in reports and alerts. Empty: use its host name.",
    ),
    (
        "agent.data_dir",
        "Folder for keepwatch's database. Empty: the usual per-user data folder\n\
         (Linux: ~/.local/share/keepwatch, macOS: ~/Library/Application Support/keepwatch,\n\
         Windows: %LOCALAPPDATA%\\keepwatch).",
    ),
    (
        "business",
        "Your business. Alerts and reports treat opening hours differently from nights and weekends.",
    ),
    ("business.name", "Shown in reports and messages."),
    (
        "business.timezone",
        "Time zone of your opening hours, e.g. \"Europe/Berlin\" or \"America/New_York\".\n\
         Empty: this computer's time zone.",
    ),
    (
        "business.admin_email",
        "Who looks after the systems and gets the alerts.",
    ),
    (
        "business.hours",
        "Opening hours per day: \"09:00-17:00\", several ranges \"08:00-12:00, 13:00-17:00\",\n\
         past midnight \"18:00-02:00\", or \"closed\".",
    ),
    (
        "business.holidays",
        "Days you are closed: \"2026-12-31\" for one date, \"12-25\" for every year.",
    ),
    (
        "business.special_days",
        "Days with their own hours, e.g. \"2026-12-24\" = \"08:00-12:00\" or \"2026-11-27\" = \"09:00-23:00\".",
    ),
    (
        "business.revenue_per_hour",
        "Your sales per open hour, e.g. 400.0: reports use it to estimate what an outage cost\n(0: not set; reports then say how to set it).",
    ),
    (
        "business.off_hours_weight",
        "How much an hour down while you are closed counts against an open hour (0.1 = a tenth).",
    ),
    (
        "business.currency",
        "The money sign reports show before amounts.",
    ),
    ("business.hours.monday", ""),
    ("business.hours.tuesday", ""),
    ("business.hours.wednesday", ""),
    ("business.hours.thursday", ""),
    ("business.hours.friday", ""),
    ("business.hours.saturday", ""),
    ("business.hours.sunday", ""),
    (
        "collect",
        "How often to measure this computer. Durations: \"10s\", \"5m\", \"1h\"; \"off\" stops one.",
    ),
    ("collect.cpu", "Processor use, in total and per core."),
    (
        "collect.per_core",
        "Also keep each core's use (true or false).",
    ),
    ("collect.memory", "Memory and swap use."),
    ("collect.disk", "Used and free space of each disk."),
    (
        "collect.network",
        "Traffic in and out, and errors, of each network connection.",
    ),
    (
        "collect.load",
        "Load average: how many programs wait for the processor.",
    ),
    (
        "collect.uptime",
        "Time since the computer started (shows unexpected restarts).",
    ),
    ("storage", "How much history to keep."),
    (
        "storage.retention",
        "History older than this is deleted, e.g. \"30d\" or \"365d\".",
    ),
    (
        "storage.max_size",
        "Most disk space the database may use, e.g. \"500MB\" or \"2GB\". Near it, the oldest\n\
         history is thinned out first; the latest state is always kept.",
    ),
    (
        "storage.write_every",
        "Measurements wait in memory this long and are then written together, so a\n\
         small server's disk (an SSD, an SD card) is written every two minutes instead\n\
         of every second. A power cut or kill -9 loses at most this much history; alerts,\n\
         acknowledgements and messages are always written at once. From \"1s\" to \"5m\".\n\
         A server that sends its data to a hub ([hub] url) writes as it measures.",
    ),
    (
        "throttle",
        "On a busy computer keepwatch measures less often and postpones housekeeping,\n\
         so monitoring never makes a busy server slower. It logs when it does.",
    ),
    ("throttle.enabled", "true or false."),
    (
        "throttle.busy_cpu_percent",
        "Busy when total processor use is above this (percent)...",
    ),
    (
        "throttle.busy_load_per_core",
        "...or when the load average per core is above this.",
    ),
    (
        "throttle.calm_cpu_percent",
        "Calm again below this processor use (percent).",
    ),
    (
        "throttle.max_own_cpu_percent",
        "keepwatch also slows down if it uses more than this much of one core (percent).",
    ),
    (
        "throttle.max_stretch",
        "Measure at most this many times less often.",
    ),
    ("checks", "How service checks are run."),
    (
        "checks.max_concurrent",
        "At most this many checks run at the same time; the others wait their turn.",
    ),
    (
        "service",
        "A service to check (see the examples at the end of this file).",
    ),
    (
        "rule",
        "An alert rule (see the examples at the end of this file).",
    ),
    (
        "alerting",
        "Who is told about alerts, and when. In business hours every alert follows\n\
         business_hours; outside them only emergencies (a critical service down, a\n\
         critical host alert) follow off_hours, and everything else waits for the next\n\
         opening, where it arrives as one summary. Acknowledge an alert with\n\
         `keepwatch ack NUMBER` to stop its escalation.",
    ),
    (
        "alerting.emergencies",
        "Which alerts reach someone outside business hours: \"critical_services\" (critical\n\
         alerts on services marked critical = true, and on this computer), \"all_critical\",\n\
         or \"never\". A [[rule]] can decide for itself with emergency = true or false.",
    ),
    (
        "alerting.group_wait",
        "The first alert goes out at once; alerts that follow within this time are\n\
         gathered into one message per channel (an emergency waits 5 seconds at most).",
    ),
    (
        "alerting.remind_every",
        "Repeat an unacknowledged alert this often after its last step (\"off\": never).",
    ),
    (
        "alerting.flapping_changes",
        "A service that fails this many times within flapping_window is reported once\n\
         as flapping, not at every change (0: off).",
    ),
    (
        "alerting.flapping_window",
        "See flapping_changes; also how long it must stay steady to count as settled.",
    ),
    (
        "alerting.business_hours",
        "Escalation steps in business hours: after how long (unacknowledged) to notify\n\
         which channels. \"log\" is keepwatch's own log; add [[channel]]s for email, SMS,\n\
         chat or webhooks (examples at the end of this file).",
    ),
    (
        "alerting.off_hours",
        "Escalation steps for emergencies outside business hours.",
    ),
    (
        "channel",
        "Where alerts are sent (see the examples at the end of this file).",
    ),
    (
        "maintenance",
        "Planned maintenance (see the examples at the end of this file).",
    ),
    (
        "report",
        "A report sent by email on a schedule (see the examples at the end of this file).",
    ),
    (
        "report.name",
        "What keepwatch calls this report in its log and in `keepwatch report test`.",
    ),
    (
        "report.every",
        "When it is sent, in your time zone: \"monday 08:00\", \"month 1st 08:00\", \"day 18:00\".",
    ),
    (
        "report.period",
        "What it covers: today, yesterday, this-week, last-week, this-month, last-month or\n\
         last-30-days. Left out: the week or month just over, or for a daily report the day.",
    ),
    (
        "report.audience",
        "\"executive\" (plain words and cost, for managers) or \"technical\" (with the numbers).",
    ),
    (
        "report.channel",
        "The [[channel]] it goes through, by name.",
    ),
    (
        "report.to",
        "Email addresses it goes to instead of the channel's own (through the email channel).",
    ),
    (
        "api",
        "The API other tools use (README: \"Connect other tools\"). It needs a token: `keepwatch token create NAME --role viewer`.",
    ),
    ("api.enabled", "Serve the API while `keepwatch run` runs."),
    (
        "api.listen",
        "Address and port. 127.0.0.1 answers only on this computer; 0.0.0.0 on every network.",
    ),
    ("api.max_body", "Largest request accepted."),
    (
        "api.max_concurrent",
        "Requests answered at the same time; more are told to try again.",
    ),
    (
        "api.rate_per_minute",
        "Requests per minute allowed for each token.",
    ),
    (
        "api.metrics_allow",
        "Addresses or networks that may read /metrics without a token, e.g. [\"127.0.0.1\", \"10.0.0.0/8\"]\n\
         (a Prometheus server). Everyone else needs a token, as for the rest of the API.",
    ),
    (
        "api.cert_file",
        "For HTTPS: the certificate chain as a PEM file (full path), e.g. Let's Encrypt's fullchain.pem.\n\
         Empty: plain HTTP. Restart keepwatch after renewing it.",
    ),
    (
        "api.key_file",
        "For HTTPS: the certificate's private key as a PEM file (full path), e.g. privkey.pem.",
    ),
    (
        "export",
        "Push keepwatch's history to a bigger system (README: \"Connect other tools\").",
    ),
    (
        "export.remote_write",
        "A Prometheus remote write address, e.g. \"https://prometheus.example:9090/api/v1/write\"\n\
         (Prometheus started with --web.enable-remote-write-receiver, Grafana Cloud, Mimir,\n\
         VictoriaMetrics). Empty: nothing is pushed. An outage of the receiver loses nothing:\n\
         keepwatch remembers what it sent and catches up.\n\
         Extra headers: headers = { \"X-Scope-OrgID\" = \"shop\" } (values may be \"env:NAME\").",
    ),
    (
        "export.user",
        "User name if the receiver asks for one (Grafana Cloud: the instance number),\n\
         with password = \"env:REMOTE_WRITE_PASSWORD\" (or \"file:/path\", or the password itself).",
    ),
    (
        "hub",
        "Several servers (README: \"Watching several servers\"). On the main server (the hub)\n\
         nothing needs setting: `keepwatch agent add NAME` prints the command for each other\n\
         server. On another server, url and token make it an agent that sends the hub what it\n\
         measures and checks (`keepwatch init --hub URL --token TOKEN` writes them). The token,\n\
         from `keepwatch agent add NAME` on the hub, is written token = \"...\", \"env:NAME\" or\n\
         \"file:/path\".",
    ),
    (
        "hub.url",
        "The hub's address, e.g. \"https://hub.example.lan:8970\". Empty: this computer reports to no hub.",
    ),
    (
        "hub.ca_file",
        "For a hub whose certificate is self-signed: its certificate (PEM file, full path).",
    ),
    (
        "hub.send_every",
        "How often new measurements are sent. While the hub cannot be reached they are kept\n\
         here (within storage.max_size) and sent, oldest first, when it can.",
    ),
    (
        "hub.max_rate",
        "Most data sent per second while catching up after an outage, e.g. \"1MB\".",
    ),
    (
        "hub.silent_after",
        "On the hub: an agent not heard from for this long raises an alert.",
    ),
    (
        "update",
        "Updates (README: \"Updating\"). `keepwatch update --check` says whether a newer\n\
         release is published; `keepwatch update` installs it, keeping the old binary as\n\
         keepwatch.old and going back to it if the new one does not start.",
    ),
    (
        "update.source",
        "Where releases are published: a web address (\"https://example.com/keepwatch\") or a\n\
         folder (an offline shop copies releases there). Empty: keepwatch does not look.",
    ),
    (
        "update.public_key",
        "The minisign key release manifests must be signed with (the \"RW...\" line of its\n\
         minisign.pub). Empty: keepwatch's own release key, built in.",
    ),
    (
        "update.channel",
        "The release channel followed by `keepwatch update`, automatic updates and\n\
         `keepwatch doctor`: \"stable\", or another the publisher offers (\"beta\").",
    ),
    (
        "update.health_timeout",
        "How long a new version has, after the background service restarted on it, to show\n\
         that it runs; otherwise keepwatch goes back to the old binary.",
    ),
    (
        "update.automatic",
        "true: `keepwatch run` looks once a day at a random minute outside opening hours and\n\
         updates by itself (never during an open emergency).",
    ),
    ("log", "keepwatch's own messages."),
    (
        "log.level",
        "How much to say: \"error\", \"warn\", \"info\" or \"debug\".",
    ),
];

const HEADER: &str = "\
# keepwatch configuration.
#
# Every setting below shows its default; change what you need and delete the
# rest if you like. keepwatch checks this file when it starts and whenever you
# save it: a mistake is reported with its line number, and keepwatch keeps
# running on the last good version until you fix it.
";

/// Examples of services and alert rules, commented out; a test checks that they are valid.
const EXAMPLES: &str = r##"
# ---------------------------------------------------------------------------
# Services to check. Each [[service]] block below is one service: remove the
# "# " in front of a block's lines to switch it on, and adjust it. Then run
# `keepwatch check` to try them all once and see what keepwatch finds.
#
# Settings every service has: name, type, interval ("30s"; "4s" for a
# critical service, so its outage is noticed within seconds), timeout ("10s"),
# slow_after (answers slower than this count as degraded), retries (1: a failed
# check is retried at once before it counts), confirm_after (1: how many failed
# checks in a row change the state), critical, external, tags, depends_on
# (names of other services, or "internet"), and for reports: target
# ("99.9%"), cost_per_hour (what an hour down costs) or revenue_share (0.5:
# half of [business] revenue_per_hour is lost while it is down).
#
# [[service]]
# name = "Web shop"
# type = "http"
# url = "https://shop.example.com/"
# critical = true
# cost_per_hour = 250.0
# target = "99.9%"
# slow_after = "2s"
#
# [[service]]
# name = "Shop health"
# type = "http"
# url = "https://shop.example.com/health"
# json = { status = "ok" }
# depends_on = ["Web shop"]
#
# An intranet page behind your company's own certificate authority: ca_file
# is the PEM file of that authority; body_contains is text the page must show.
# Other http settings: method, headers, body, expect_status (200, "2xx"),
# body_regex, json, max_redirects, cert_expiry_warning ("14d"), basic_auth,
# bearer_token.
# [[service]]
# name = "Intranet"
# type = "http"
# url = "https://intranet.example.lan/"
# ca_file = "/etc/ssl/company-ca.pem"
# body_contains = "Welcome"
#
# [[service]]
# name = "Payment gateway"
# type = "http"
# url = "https://api.payments.example/health"
# external = true
# depends_on = ["internet"]
#
# [[service]]
# name = "Mail server"
# type = "tcp"
# host = "mail.example.com"
# port = 25
# expect_banner = "ESMTP"
#
# [[service]]
# name = "Shop domain"
# type = "dns"
# domain = "shop.example.com"
# record_type = "A"
#
# [[service]]
# name = "Router"
# type = "ping"
# host = "192.168.1.1"
# fallback_port = 443
#
# [[service]]
# name = "Shop database"
# type = "postgres"
# host = "127.0.0.1"
# user = "shop"
# password = "env:SHOP_DB_PASSWORD"
# database = "shop"
# query = true
#
# [[service]]
# name = "Orders database"
# type = "mysql"
# host = "127.0.0.1"
# user = "monitor"
# password = "file:/etc/keepwatch/mysql-password"
# database = "orders"
#
# [[service]]
# name = "Cache"
# type = "redis"
# host = "127.0.0.1"
#
# A job that reports to keepwatch instead of being checked: a backup, a
# cron job, a nightly export. It pings its URL (`keepwatch status` shows it)
# or runs `keepwatch ping "Nightly backup"` when done; keepwatch alerts when
# no report came within `every` plus `grace`, when the job reports a failure
# (`--fail`, `--exit CODE`), or when a run reported with `--start` takes
# longer than max_runtime (default: grace). Instead of `every`, `schedule`
# takes the job's crontab line ("0 2 * * *"), read in the business time zone.
# [[service]]
# name = "Nightly backup"
# type = "heartbeat"
# every = "1d"
# grace = "1h"
# max_runtime = "4h"
#
# Passwords and tokens can stay out of this file: "env:NAME" reads an
# environment variable, "file:/path" reads a file.
#
# ---------------------------------------------------------------------------
# Alert rules. A [[rule]] alerts when a metric stays above a threshold for
# the hold time ("for"); it clears only below clear_below (default: the lowest
# threshold), so a value hovering around a threshold does not flap. off_hours
# sets other thresholds for nights, weekends and holidays. Metrics include
# cpu.usage_percent, memory.used_percent, disk.used_percent (instance: the
# mount point), load.1, service.state (0 up, 1 degraded, 2 down; instance: the
# service's name) and service.response_ms. On a hub a rule watches every
# server that reports to it; a host line with a server's name ("web2")
# makes it watch only that one.
#
# [[rule]]
# name = "Disk filling up"
# metric = "disk.used_percent"
# instance = "/"
# above = { warning = 80.0, critical = 90.0 }
# off_hours = { warning = 90.0, critical = 95.0 }
# for = "5m"
# clear_below = 75.0
# emergency = true
#
# ---------------------------------------------------------------------------
# Where alerts go. Each [[channel]] is one way to reach someone; the steps in
# [alerting] name them ("log", keepwatch's own log, always exists). Check them
# with `keepwatch alert test`, which sends a test message through each.
#
# Email through your mail server (port: 587 for starttls, 465 for tls, 25 for
# plain; security: "starttls", "tls" or "plain", left out: what the port
# usually speaks). Leave out username and password if the server takes mail
# without a login (a mail relay on this computer or your network usually does):
# [[channel]]
# name = "admin-email"
# type = "email"
# server = "smtp.example.com"
# port = 587
# security = "starttls"
# username = "alerts@example.com"
# password = "env:SMTP_PASSWORD"
# from = "keepwatch <alerts@example.com>"
# to = ["admin@example.com"]
#
# SMS through Twilio (or provider "http" for another SMS gateway):
# [[channel]]
# name = "admin-sms"
# type = "sms"
# provider = "twilio"
# account_sid = "AC0123456789abcdef0123456789abcdef"
# auth_token = "env:TWILIO_AUTH_TOKEN"
# from = "+15005550006"
# to = ["+491701234567"]
#
# SMS through a phone company's email-to-SMS address:
# [[channel]]
# name = "owner-sms"
# type = "email"
# format = "sms"
# server = "smtp.example.com"
# username = "alerts@example.com"
# password = "env:SMTP_PASSWORD"
# from = "alerts@example.com"
# to = ["4917012345678@sms.example.net"]
#
# A chat room (type "slack", "teams" or "discord"; the address of its incoming webhook):
# [[channel]]
# name = "team-chat"
# type = "slack"
# url = "env:SLACK_WEBHOOK_URL"
#
# Another program (JSON, signed with the secret; see docs/webhooks.md):
# [[channel]]
# name = "ticket-system"
# type = "webhook"
# url = "https://tickets.example.com/hooks/keepwatch"
# secret = "env:WEBHOOK_SECRET"
#
# With these channels, the [alerting] steps could be:
#   business_hours = [{ after = "0m", notify = ["admin-email", "team-chat"] }, { after = "15m", notify = ["admin-sms"] }]
#   off_hours = [{ after = "0m", notify = ["admin-sms"] }, { after = "30m", notify = ["owner-sms"] }]
#
# ---------------------------------------------------------------------------
# Maintenance: while a window is in force, nothing it covers alerts (services
# and hosts list what it covers; without them, everything). For unplanned work:
# `keepwatch maintenance start --for 1h [--service NAME]`.
#
# [[maintenance]]
# name = "Sunday backups"
# every = "sunday"
# from = "02:00"
# until = "04:00"
# services = ["Shop database"]
#
# [[maintenance]]
# name = "Server move"
# start = "2026-12-05 22:00"
# end = "2026-12-06 02:00"
#
# ---------------------------------------------------------------------------
# Reports by email on a schedule: the HTML report with its charts, and the PDF
# attached. `keepwatch report test` sends them all now to try them.
# every: "monday 08:00", "friday 17:30", "month 1st 08:00", "day 18:00".
# to: addresses instead of the channel's own (with only one email channel,
# channel can be left out). A report missed while keepwatch was stopped is
# sent once when it starts.
#
# [[report]]
# every = "month 1st 08:00"
# channel = "admin-email"
# to = ["boss@example.com", "accounts@example.com"]
#
# [[report]]
# name = "Weekly for the admin"
# every = "monday 08:00"
# audience = "technical"
# channel = "admin-email"
"##;

/// The commented TOML text for `config`.
pub fn commented(config: &Config) -> String {
    commented_with(config, "")
}

/// The commented TOML text for `config`, with `services` (the `[[service]]`
/// blocks `init` found, with their comments) before the examples.
pub fn commented_with(config: &Config, services: &str) -> String {
    let values = values(config);
    let mut out = String::from(HEADER);
    let mut section = String::new();
    for line in values.lines().filter(|line| !line.trim().is_empty()) {
        let trimmed = line.trim();
        let path = if let Some(header) = table_header(trimmed) {
            out.push('\n');
            section = header.clone();
            Some(header)
        } else {
            trimmed
                .split_once('=')
                .map(|(key, _)| format!("{section}.{}", key.trim()))
        };
        if let Some(doc) = path.as_deref().and_then(doc_for) {
            for doc_line in doc.lines() {
                out.push_str("# ");
                out.push_str(doc_line);
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(services);
    out.push_str(EXAMPLES);
    out
}

/// `config` as TOML, with the escalation steps written as one line each
/// (`business_hours = [{ after = "0m", notify = ["log"] }]`) rather than as
/// `[[alerting.business_hours]]` tables: an admin edits that line in place,
/// where pasting the steps from the README as tables would clash with them.
fn values(config: &Config) -> String {
    let text = toml::to_string(config).unwrap_or_default();
    let step_table = |line: &str| {
        ["business_hours", "off_hours"]
            .iter()
            .any(|key| line.trim() == format!("[[alerting.{key}]]"))
    };
    let mut out = String::new();
    let mut in_steps = false;
    let mut steps_written = false;
    for line in text.lines() {
        if step_table(line) {
            in_steps = true;
            if !steps_written {
                steps_written = true;
                for (key, steps) in [
                    ("business_hours", &config.alerting.business_hours),
                    ("off_hours", &config.alerting.off_hours),
                ] {
                    out.push_str(&format!("{key} = [{}]\n", inline_steps(steps)));
                }
            }
            continue;
        }
        if in_steps && (line.trim().is_empty() || !line.trim_start().starts_with('[')) {
            // The step tables' own keys and the blank lines between them.
            continue;
        }
        in_steps = false;
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn inline_steps(steps: &[crate::alert::Step]) -> String {
    steps
        .iter()
        .map(|step| {
            let notify = toml::Value::Array(
                step.notify
                    .iter()
                    .map(|name| toml::Value::String(name.clone()))
                    .collect(),
            );
            format!("{{ after = \"{}\", notify = {notify} }}", step.delay())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn doc_for(path: &str) -> Option<&'static str> {
    DOCS.iter()
        .find(|(key, _)| *key == path)
        .map(|(_, doc)| *doc)
        .filter(|doc| !doc.is_empty())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse;

    #[test]
    fn group_wait_tells_how_long_an_emergency_waits() {
        let gather = crate::alert::engine::EMERGENCY_GATHER.std().as_secs_f64();
        let told = format!(
            "an emergency waits {} at most",
            crate::plain::duration(gather)
        );
        let (_, doc) = DOCS
            .iter()
            .find(|(key, _)| *key == "alerting.group_wait")
            .expect("group_wait is explained");
        assert!(doc.contains(&told), "{doc}");
    }

    #[test]
    fn the_settings_every_service_has_are_told_with_their_defaults() {
        let common = crate::checks::Common::default();
        let told = format!(
            "interval (\"{}\"; \"{}\" for a\n# critical service, so its outage is noticed within seconds), timeout (\"{}\"),",
            common.interval,
            crate::checks::Common::CRITICAL_INTERVAL,
            common.timeout
        );
        assert!(EXAMPLES.contains(&told), "{told}");
        assert!(EXAMPLES.contains(&format!("retries ({}: a failed", common.retries)));
        assert!(EXAMPLES.contains(&format!(
            "confirm_after ({}: how many",
            common.confirm_after
        )));
    }

    #[test]
    fn the_commented_defaults_read_back_as_the_defaults() {
        let text = commented(&Config::default());
        assert_eq!(
            parse(Path::new("k.toml"), &text).unwrap(),
            Config::default()
        );
        assert!(text.starts_with("# keepwatch configuration."));
        assert!(
            text.contains("# Processor use, in total and per core.\ncpu = \"10s\"\n"),
            "{text}"
        );
    }

    #[test]
    fn a_customised_config_round_trips() {
        let mut config = Config::default();
        config.business.name = "Müller \"Shop\" GmbH".to_owned();
        config.business.timezone = "Europe/Berlin".to_owned();
        config.business.hours.saturday = "10:00-14:00".to_owned();
        config.collect.disk = crate::units::Duration::from_mins(5);
        let text = commented(&config);
        assert_eq!(parse(Path::new("k.toml"), &text).unwrap(), config);
    }

    #[test]
    fn the_service_examples_are_valid_once_uncommented() {
        let uncommented: String = EXAMPLES
            .lines()
            .filter(|line| {
                line.starts_with("# [[") || line.starts_with("# ") && line.contains(" = ")
            })
            .filter(|line| !line.contains("Settings every service") && !line.starts_with("#  "))
            .map(|line| format!("{}\n", &line[2..]))
            .collect();
        let config = parse(Path::new("k.toml"), &uncommented).unwrap();
        let names: Vec<_> = config
            .services
            .iter()
            .map(|s| s.common.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Web shop",
                "Shop health",
                "Intranet",
                "Payment gateway",
                "Mail server",
                "Shop domain",
                "Router",
                "Shop database",
                "Orders database",
                "Cache",
                "Nightly backup"
            ]
        );
        // Keys a new user otherwise meets only in an error message.
        for key in ["ca_file", "body_contains", "port", "security"] {
            assert!(
                uncommented
                    .lines()
                    .any(|line| line.starts_with(&format!("{key} = "))),
                "no example of `{key}`"
            );
        }
        assert_eq!(config.rules.len(), 1);
        assert_eq!(config.rules[0].name, "Disk filling up");
        assert_eq!(config.rules[0].hold, crate::units::Duration::from_mins(5));
        let channels: Vec<_> = config.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            channels,
            [
                "admin-email",
                "admin-sms",
                "owner-sms",
                "team-chat",
                "ticket-system"
            ]
        );
        assert_eq!(config.maintenance.len(), 2);
        assert_eq!(config.reports.len(), 2);
        assert_eq!(config.reports[0].to.len(), 2);
        // The suggested steps name those channels and are valid with them.
        let steps: String = EXAMPLES
            .lines()
            .filter(|line| line.starts_with("#   "))
            .map(|line| format!("{}\n", line[4..].trim()))
            .collect();
        let with_steps = format!("[alerting]\n{steps}{uncommented}");
        let config = parse(Path::new("k.toml"), &with_steps).unwrap();
        assert_eq!(config.alerting.off_hours[1].notify, ["owner-sms"]);
    }

    #[test]
    fn rules_round_trip_through_the_commented_file() {
        let uncommented = "[[rule]]\nname = \"Disk\"\nmetric = \"disk.used_percent\"\n\
                           above = { warning = 80.0 }\noff_hours = { critical = 95.0 }\n";
        let mut config = parse(Path::new("k.toml"), uncommented).unwrap();
        assert_eq!(config.rules[0].off_hours.unwrap().critical, Some(95.0));
        config.rules[0].clear_below = Some(70.0);
        let text = commented(&config);
        assert!(text.contains("# An alert rule"), "{text}");
        assert_eq!(parse(Path::new("k.toml"), &text).unwrap(), config);
    }

    #[test]
    fn escalation_steps_are_one_line_each_and_round_trip() {
        let text = "[alerting]\n\
                    business_hours = [{ after = \"0m\", notify = [\"mail\"] }, { after = \"15m\", notify = [\"sms\", \"log\"] }]\n\
                    [[channel]]\nname = \"mail\"\ntype = \"log\"\n\
                    [[channel]]\nname = \"sms\"\ntype = \"log\"\n";
        let config = parse(Path::new("k.toml"), text).unwrap();
        let written = commented(&config);
        assert!(
            written.contains(
                "\nbusiness_hours = [{ after = \"0m\", notify = [\"mail\"] }, { after = \"15m\", notify = [\"sms\", \"log\"] }]\n"
            ),
            "{written}"
        );
        assert!(!written.contains("[[alerting."), "{written}");
        assert_eq!(parse(Path::new("k.toml"), &written).unwrap(), config);
    }

    #[test]
    fn every_setting_is_explained() {
        let values = values(&Config::default());
        let mut section = String::new();
        for line in values.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let path = match table_header(line) {
                Some(header) => {
                    section = header.clone();
                    header
                }
                None => format!("{section}.{}", line.split_once('=').unwrap().0.trim()),
            };
            assert!(
                DOCS.iter().any(|(key, _)| *key == path),
                "no explanation for `{path}` in DOCS"
            );
        }
        // `[[service]]` and `[[rule]]` tables appear only once configured.
        for (key, _) in DOCS.iter().filter(|(key, _)| {
            !["service", "rule", "channel", "maintenance", "report"]
                .contains(&key.split('.').next().unwrap_or(key))
        }) {
            assert!(
                values.contains(&format!("[{key}]"))
                    || values.contains(&format!("\n{} =", key.rsplit('.').next().unwrap())),
                "DOCS explains `{key}`, which the config no longer has"
            );
        }
    }
}
