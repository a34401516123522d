//! Checks of meaning that the file's syntax cannot express: a time zone that
//! exists, hours that parse, thresholds in a sensible order.

use super::Config;
use super::problem::{Problem, position, suggest, table_header};
use crate::calendar::{DayHours, Holiday, parse_special_date};
use crate::notify::Channel;
use crate::units::Duration;
use crate::vocabulary::metric_names;

/// Every semantic problem of `config`, located in `text` where possible.
pub(crate) fn check(config: &Config, text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut report = |section: &str, key: &str, message: String, hint: Option<String>| {
        let at = locate(text, section, key);
        problems.push(located(at, format!("{section}.{key}"), message, hint));
    };

    let business = &config.business;
    if !business.timezone.is_empty() && jiff::tz::TimeZone::get(&business.timezone).is_err() {
        let names: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.to_string())
            .collect();
        let hint = suggest(&business.timezone, &names)
            .map(|best| format!("did you mean `{best}`?"))
            .unwrap_or_else(|| {
                "use an IANA name such as `Europe/Berlin` or `America/New_York`".to_owned()
            });
        report(
            "business",
            "timezone",
            format!("unknown time zone `{}`", business.timezone),
            Some(hint),
        );
    }
    if !business.admin_email.is_empty() && !looks_like_email(&business.admin_email) {
        report(
            "business",
            "admin_email",
            format!("`{}` is not an email address", business.admin_email),
            Some("write it like `admin@example.com`".to_owned()),
        );
    }
    let hours = &business.hours;
    for (day, value) in [
        ("monday", &hours.monday),
        ("tuesday", &hours.tuesday),
        ("wednesday", &hours.wednesday),
        ("thursday", &hours.thursday),
        ("friday", &hours.friday),
        ("saturday", &hours.saturday),
        ("sunday", &hours.sunday),
    ] {
        if let Err(message) = value.parse::<DayHours>() {
            report(
                "business.hours",
                day,
                message,
                Some("or write \"closed\"".to_owned()),
            );
        }
    }

    for holiday in &business.holidays {
        if let Err(message) = holiday.parse::<Holiday>() {
            report("business", "holidays", message, None);
        }
    }
    for (date, hours) in &business.special_days {
        if let Err(message) =
            parse_special_date(date).and_then(|_| hours.parse::<DayHours>().map(|_| ()))
        {
            report("business.special_days", date, message, None);
        }
    }

    let collect = &config.collect;
    for (key, interval) in [
        ("cpu", collect.cpu),
        ("memory", collect.memory),
        ("disk", collect.disk),
        ("network", collect.network),
        ("load", collect.load),
        ("uptime", collect.uptime),
    ] {
        let written_zero = interval.is_off()
            && locate(text, "collect", key)
                .and_then(|(line, _)| text.lines().nth(line - 1))
                .and_then(|line| line.split_once('='))
                .is_some_and(|(_, value)| {
                    !value.trim().trim_matches('"').eq_ignore_ascii_case("off")
                });
        if written_zero {
            report(
                "collect",
                key,
                format!("\"0s\" does not mean all the time: it would stop collecting {key}"),
                Some(format!(
                    "write {key} = \"off\" to stop collecting it, or an interval such as \"10s\""
                )),
            );
        } else if !interval.is_off() && interval < Duration::from_secs(1) {
            report(
                "collect",
                key,
                format!("{interval} is too short"),
                Some("use at least \"1s\", or \"off\"".to_owned()),
            );
        }
    }

    let storage = &config.storage;
    if !storage.retention.is_off() && storage.retention < Duration::from_hours(1) {
        report(
            "storage",
            "retention",
            format!("{} would keep almost no history", storage.retention),
            Some("use at least \"1h\"; \"30d\" or more is usual".to_owned()),
        );
    }
    if storage.max_size.0 < 10_000_000 {
        report(
            "storage",
            "max_size",
            format!("{} is too small for any useful history", storage.max_size),
            Some("use at least \"10MB\"; \"500MB\" is usual".to_owned()),
        );
    }

    let every = storage.write_every;
    if every < Duration::from_secs(1) {
        let what = if every.is_off() {
            "cannot be off: measurements are written together, at least every 5 minutes".to_owned()
        } else {
            format!("{every} is too short")
        };
        report(
            "storage",
            "write_every",
            what,
            Some("use at least \"1s\"; \"2m\" is usual".to_owned()),
        );
    } else if every > Duration::from_mins(5) {
        report(
            "storage",
            "write_every",
            format!("{every} is too long: a power cut would lose that much history"),
            Some("use at most \"5m\"; \"2m\" is usual".to_owned()),
        );
    }

    let throttle = &config.throttle;
    let percent = |value: f64| value > 0.0 && value <= 100.0;
    if !percent(throttle.busy_cpu_percent) {
        report(
            "throttle",
            "busy_cpu_percent",
            "must be between 0 and 100".to_owned(),
            None,
        );
    }
    if !percent(throttle.calm_cpu_percent) || throttle.calm_cpu_percent >= throttle.busy_cpu_percent
    {
        report(
            "throttle",
            "calm_cpu_percent",
            format!(
                "must be above 0 and below busy_cpu_percent ({})",
                throttle.busy_cpu_percent
            ),
            Some("the gap between the two stops keepwatch switching back and forth".to_owned()),
        );
    }
    if throttle.busy_load_per_core.is_nan() || throttle.busy_load_per_core <= 0.0 {
        report(
            "throttle",
            "busy_load_per_core",
            "must be above 0".to_owned(),
            None,
        );
    }
    if !percent(throttle.max_own_cpu_percent) {
        report(
            "throttle",
            "max_own_cpu_percent",
            "must be between 0 and 100".to_owned(),
            None,
        );
    }
    if !(1..=64).contains(&throttle.max_stretch) {
        report(
            "throttle",
            "max_stretch",
            "must be between 1 and 64".to_owned(),
            None,
        );
    }

    if config.checks.max_concurrent == 0 {
        report(
            "checks",
            "max_concurrent",
            "must be at least 1".to_owned(),
            None,
        );
    }
    if !["error", "warn", "info", "debug", "trace"].contains(&config.log.level.as_str()) {
        report(
            "log",
            "level",
            format!("unknown log level `{}`", config.log.level),
            Some("use one of error, warn, info, debug".to_owned()),
        );
    }
    if let Err(problem) = config.api.tls() {
        report("api", problem.field, problem.message, Some(problem.hint));
    }
    for (key, message) in config.export.problems() {
        report("export", key, message, None);
    }
    for (key, message, hint) in config.hub.problems() {
        report("hub", key, message, Some(hint));
    }
    for (key, message, hint) in config.update.problems() {
        report("update", key, message, Some(hint));
    }
    check_services(config, text, &mut problems);
    check_rules(config, text, &mut problems);
    check_alerting(config, text, &mut problems);
    check_reports(config, text, &mut problems);
    problems
}

/// Each `[[report]]` needs a schedule that reads, a known period, and a
/// channel (or addresses and an email channel to send them through).
fn check_reports(config: &Config, text: &str, problems: &mut Vec<Problem>) {
    for (index, table) in config.reports.iter().enumerate() {
        let mut report = |message: String| {
            let key = leading_key(&message).unwrap_or("every").to_owned();
            let message = message
                .strip_prefix(&format!("{key}: "))
                .map(str::to_owned)
                .unwrap_or(message);
            let at = locate_in_array(text, "report", index, &key);
            problems.push(located(at, format!("report[{index}].{key}"), message, None));
        };
        if let Err(messages) = table.parse() {
            messages.into_iter().for_each(&mut report);
        }
        if let Err(message) = table.channel_in(&config.channels) {
            report(message);
        }
        for address in table.to.iter().filter(|a| !looks_like_email(a)) {
            report(format!(
                "to: \"{address}\" is not an email address: write it like \"boss@example.com\""
            ));
        }
    }
}

/// Channels need unique names and valid settings; escalation steps must name
/// channels that exist, in time order; maintenance windows must parse.
fn check_alerting(config: &Config, text: &str, problems: &mut Vec<Problem>) {
    let mut names: Vec<String> = vec![Channel::LOG.to_owned()];
    for (index, channel) in config.channels.iter().enumerate() {
        let mut report = |key: &str, message: String, hint: Option<String>| {
            let at = locate_in_array(text, "channel", index, key);
            problems.push(located(
                at,
                format!("channel[{index}].{key}"),
                message,
                hint,
            ));
        };
        if channel.name.trim().is_empty() {
            report(
                "name",
                "a channel needs a name".to_owned(),
                Some("e.g. name = \"admin-email\"; escalation steps refer to it".to_owned()),
            );
        } else if names.contains(&channel.name) {
            let message = if channel.name == Channel::LOG {
                "\"log\" is the built-in channel that writes to keepwatch's log".to_owned()
            } else {
                format!("there is already a channel named \"{}\"", channel.name)
            };
            report(
                "name",
                message,
                Some("give each channel its own name".to_owned()),
            );
        }
        names.push(channel.name.clone());
        if let Some(message) = hidden_characters(&channel.name) {
            report(
                "name",
                message,
                Some("retype the name with plain letters, digits and hyphens".to_owned()),
            );
        }
        for problem in channel.kind.problems() {
            // A problem that starts with a key it is about is placed on that
            // key's line, not on the table's header or `type`.
            let key = leading_key(&problem)
                .filter(|key| {
                    locate_in_array(text, "channel", index, key)
                        != locate_in_array(text, "channel", index, "\u{0}")
                })
                .unwrap_or("type")
                .to_owned();
            report(&key, problem, None);
        }
    }
    let alerting = &config.alerting;
    for (key, steps) in [
        ("business_hours", &alerting.business_hours),
        ("off_hours", &alerting.off_hours),
    ] {
        let mut report = |message: String, hint: Option<String>| {
            report_at(problems, text, "alerting", key, message, hint);
        };
        if steps.is_empty() {
            report(
                "no step: nobody would be told".to_owned(),
                Some("add e.g. { after = \"0m\", notify = [\"log\"] }".to_owned()),
            );
        }
        for pair in steps.windows(2) {
            if pair[1].after < pair[0].after {
                report(
                    format!(
                        "the step after {} comes before the step after {}",
                        pair[1].delay(),
                        pair[0].delay()
                    ),
                    Some("list the steps in time order".to_owned()),
                );
            }
        }
        for step in steps {
            if step.notify.is_empty() {
                report(
                    format!("the step after {} notifies nobody", step.delay()),
                    Some("name at least one channel in notify".to_owned()),
                );
            }
            for name in step.notify.iter().filter(|n| !names.contains(n)) {
                let hint = suggest(name, &names)
                    .map(|best| format!("did you mean \"{best}\"?"))
                    .unwrap_or_else(|| {
                        format!(
                            "add a [[channel]] named \"{name}\", or use one of {}",
                            names.join(", ")
                        )
                    });
                report(format!("\"{name}\" is not a channel"), Some(hint));
            }
        }
    }
    if alerting.flapping_changes > 0 && alerting.flapping_window.is_off() {
        report_at(
            problems,
            text,
            "alerting",
            "flapping_window",
            "flapping detection needs a window".to_owned(),
            Some("set e.g. \"30m\", or flapping_changes = 0 to turn it off".to_owned()),
        );
    }
    for (index, window) in config.maintenance.iter().enumerate() {
        if let Err(messages) = window.parse() {
            let at = locate_in_array(text, "maintenance", index, "name");
            for message in messages {
                problems.push(located(at, format!("maintenance[{index}]"), message, None));
            }
        }
    }
}

/// A problem at `at` (line and column), if it could be found in the file.
fn located(
    at: Option<(usize, usize)>,
    field: String,
    message: String,
    hint: Option<String>,
) -> Problem {
    Problem {
        line: at.map(|(line, _)| line),
        column: at.map(|(_, column)| column),
        field,
        message,
        hint,
    }
}

fn report_at(
    problems: &mut Vec<Problem>,
    text: &str,
    section: &str,
    key: &str,
    message: String,
    hint: Option<String>,
) {
    let at = locate(text, section, key);
    problems.push(located(at, format!("{section}.{key}"), message, hint));
}

/// A rule needs a known metric, at least one threshold, warning below
/// critical, and a clearing level no higher than the lowest threshold (else an
/// alert would clear while still above its threshold).
fn check_rules(config: &Config, text: &str, problems: &mut Vec<Problem>) {
    let metrics: Vec<String> = metric_names().into_iter().map(str::to_owned).collect();
    for (index, rule) in config.rules.iter().enumerate() {
        let mut report = |key: &str, message: String, hint: Option<String>| {
            let at = locate_in_array(text, "rule", index, key);
            problems.push(located(at, format!("rule[{index}].{key}"), message, hint));
        };
        if !metrics.contains(&rule.metric) {
            let hint = suggest(&rule.metric, &metrics)
                .map(|best| format!("did you mean \"{best}\"?"))
                .unwrap_or_else(|| format!("use one of {}", metrics.join(", ")));
            report(
                "metric",
                format!("unknown metric \"{}\"", rule.metric),
                Some(hint),
            );
        }
        let schedules = [("above", true), ("off_hours", false)];
        let written = if rule.off_hours.is_some() { 2 } else { 1 };
        for (key, business_hours) in schedules.into_iter().take(written) {
            let thresholds = rule.thresholds(business_hours);
            if let (Some(warning), Some(critical)) = (thresholds.warning, thresholds.critical)
                && warning >= critical
            {
                report(
                    key,
                    format!("warning ({warning}) must be below critical ({critical})"),
                    None,
                );
            }
            if let (Some(clear), Some(lowest)) = (rule.clear_below, thresholds.lowest())
                && clear > lowest
            {
                report(
                    "clear_below",
                    format!("{clear} is above the threshold {lowest} of `{key}`"),
                    Some(
                        "an alert clears below clear_below; keep it at or under the warning"
                            .to_owned(),
                    ),
                );
            }
        }
        // Off-hours thresholds only add to the day's, so this covers both.
        if rule.thresholds(false).lowest().is_none() {
            report(
                "above",
                "the rule has no threshold".to_owned(),
                Some("write e.g. above = { warning = 80.0, critical = 90.0 }".to_owned()),
            );
        }
    }
}

/// The position of `key` in the `index`-th `[[table]]` (its sub-tables
/// included), or of its header when the key is not written.
fn locate_in_array(text: &str, table: &str, index: usize, key: &str) -> Option<(usize, usize)> {
    let header = format!("[[{table}]]");
    let sub = format!("[{table}.");
    let mut seen = 0;
    let mut inside = false;
    let mut header_at = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let start = offset + line.len() - line.trim_start().len();
        if trimmed.starts_with('[') {
            let compact = compact_header(trimmed);
            if compact == header {
                seen += 1;
                if seen == index + 1 {
                    header_at = Some(position(text, start));
                }
            }
            inside = seen == index + 1 && (compact == header || compact.starts_with(&sub));
            if inside && compact == format!("{sub}{key}]") {
                return Some(position(text, start));
            }
        } else if inside
            && let Some((name, _)) = trimmed.split_once('=')
            && name.trim() == key
        {
            return Some(position(text, start));
        }
        offset += line.len();
    }
    header_at
}

/// Names must be unique (they identify a service in history, alerts and
/// reports) and `depends_on` must name a configured service or `"internet"`.
fn check_services(config: &Config, text: &str, problems: &mut Vec<Problem>) {
    let names: Vec<String> = config
        .services
        .iter()
        .map(|s| s.common.name.clone())
        .collect();
    for (index, service) in config.services.iter().enumerate() {
        let name = &service.common.name;
        if let Some(message) = hidden_characters(name) {
            problems.push(located(
                locate_in_array(text, "service", index, "name"),
                format!("service[{index}].name"),
                message,
                Some("retype the name with plain letters, digits and spaces".to_owned()),
            ));
        }
        for setting in service.problems() {
            let at = locate_in_array(text, "service", index, setting.key);
            problems.push(located(
                at,
                format!("service[{index}].{}", setting.key),
                setting.message,
                setting.hint,
            ));
        }
        // Found only for a problem: looking costs a pass over the file, and a
        // file of thousands of services would take a pass per service.
        let mut report = |message: String, hint: Option<String>| {
            let at = locate_service(text, name, index);
            problems.push(located(at, format!("service[{index}]"), message, hint));
        };
        if names[..index].contains(name) {
            report(
                format!("there is already a service named \"{name}\""),
                Some("give each service its own name".to_owned()),
            );
        }
        for parent in &service.common.depends_on {
            if parent == name {
                report(format!("\"{name}\" cannot depend on itself"), None);
            } else if parent != "internet" && !names.contains(parent) {
                let hint = suggest(parent, &names)
                    .map(|best| format!("did you mean \"{best}\"?"))
                    .unwrap_or_else(|| "name another [[service]], or \"internet\"".to_owned());
                report(
                    format!("depends_on names \"{parent}\", which is not a configured service"),
                    Some(hint),
                );
            }
        }
    }
}

/// The setting a channel's problem names first: `` `port`: … `` or `url …`.
fn leading_key(problem: &str) -> Option<&str> {
    let word = problem.split([' ', ':']).next()?.trim_matches('`');
    (!word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c == '_')).then_some(word)
}

/// What is wrong with a name that has characters people cannot see or type
/// (a zero-width space or a direction mark pasted from a web page): it would
/// show blank or garbled in messages, and two names that look the same would
/// differ.
fn hidden_characters(name: &str) -> Option<String> {
    // Control characters (a newline) are left to safe printing, which shows
    // them escaped everywhere; these are invisible even when escaped.
    let hidden = |c: char| {
        matches!(
            c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
        )
    };
    let found = name.chars().find(|c| hidden(*c))?;
    Some(format!(
        "the name \"{}\" has an invisible character in it (U+{:04X})",
        name.chars().filter(|c| !hidden(*c)).collect::<String>(),
        u32::from(found)
    ))
}

/// The position of the `name = "..."` line of the `index`-th `[[service]]`.
/// A table header line as the locators compare it: without its spaces and
/// without a comment after it (`[[service]] # the shop` is `[[service]]`).
fn compact_header(trimmed: &str) -> String {
    trimmed
        .split('#')
        .next()
        .unwrap_or_default()
        .replace([' ', '\t'], "")
}

fn locate_service(text: &str, name: &str, index: usize) -> Option<(usize, usize)> {
    let mut seen = 0;
    let mut in_service = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_service = compact_header(trimmed) == "[[service]]";
            if in_service {
                seen += 1;
            }
        } else if in_service
            && seen == index + 1
            && let Some((key, value)) = trimmed.split_once('=')
            && key.trim() == "name"
            && value.trim().trim_matches('"') == name
        {
            return Some(position(
                text,
                offset + line.len() - line.trim_start().len(),
            ));
        }
        offset += line.len();
    }
    None
}

fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// 1-based (line, column of the value) of `key` inside table `[section]`.
fn locate(text: &str, section: &str, key: &str) -> Option<(usize, usize)> {
    let mut current = String::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(header) = table_header(trimmed) {
            current = header;
        } else if current == section
            && let Some((name, _)) = trimmed.split_once('=')
            && name.trim().trim_matches('"') == key
        {
            let value_at = line.find('=').map_or(0, |i| i + 1);
            let value_at = value_at + line[value_at..].len() - line[value_at..].trim_start().len();
            return Some(position(text, offset + value_at));
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::load::parse;

    fn problems(text: &str) -> Vec<super::Problem> {
        parse(Path::new("k.toml"), text).unwrap_err().problems
    }

    #[test]
    fn a_misspelt_time_zone_gets_the_right_name_suggested() {
        let found = problems("[business]\ntimezone = \"Europe/Berlni\"\n");
        assert_eq!(found[0].field, "business.timezone");
        assert_eq!((found[0].line, found[0].column), (Some(2), Some(12)));
        assert_eq!(
            found[0].hint.as_deref(),
            Some("did you mean `Europe/Berlin`?")
        );
        assert!(
            parse(
                Path::new("k.toml"),
                "[business]\ntimezone = \"America/New_York\"\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn bad_hours_emails_levels_and_intervals_are_all_reported_with_lines() {
        let text = "[business]\nadmin_email = \"bob\"\n[business.hours]\nmonday = \"9 to 5\"\n\
                    [collect]\ncpu = \"100ms\"\n[log]\nlevel = \"loud\"\n";
        let found = problems(text);
        let fields: Vec<_> = found.iter().map(|p| (p.field.as_str(), p.line)).collect();
        assert_eq!(
            fields,
            vec![
                ("business.admin_email", Some(2)),
                ("business.hours.monday", Some(4)),
                ("collect.cpu", Some(6)),
                ("log.level", Some(8)),
            ]
        );
    }

    #[test]
    fn how_long_measurements_wait_for_the_disk_is_bounded_both_ways() {
        for (every, said) in [
            ("0s", "cannot be off"),
            ("500ms", "500ms is too short"),
            (
                "6m",
                "6m is too long: a power cut would lose that much history",
            ),
        ] {
            let found = problems(&format!("[storage]\nwrite_every = \"{every}\"\n"));
            assert_eq!(found.len(), 1, "{every}: {found:?}");
            assert_eq!(found[0].field, "storage.write_every");
            assert_eq!(found[0].line, Some(2));
            assert!(found[0].message.starts_with(said), "{}", found[0].message);
        }
        for every in ["1s", "30s", "5m"] {
            let text = format!("[storage]\nwrite_every = \"{every}\"\n");
            assert!(parse(Path::new("k.toml"), &text).is_ok(), "{every}");
        }
    }

    #[test]
    fn storage_and_throttle_limits_are_checked() {
        let text = "[storage]\nretention = \"5m\"\nmax_size = \"1MB\"\n[throttle]\nbusy_cpu_percent = 150\n\
                    calm_cpu_percent = 90\nbusy_load_per_core = 0\nmax_own_cpu_percent = 0\nmax_stretch = 0\n";
        let found = problems(text);
        assert_eq!(found.len(), 6, "{found:#?}");
        assert!(found.iter().all(|p| p.line.is_some()));
    }

    #[test]
    fn a_problem_of_a_default_value_has_no_line_but_names_the_field() {
        // calm (60) above busy (50): the calm value is not in the file.
        let found = problems("[throttle]\nbusy_cpu_percent = 50\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, "throttle.calm_cpu_percent");
        assert_eq!(found[0].line, None);
        assert!(
            found[0]
                .to_string()
                .starts_with("`throttle.calm_cpu_percent`")
        );
    }

    #[test]
    fn services_need_unique_names_and_known_dependencies() {
        let text = "[[service]]\nname = \"Shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 80\n\
                    depends_on = [\"Databse\", \"internet\"]\n\
                    [[service]]\nname = \"Database\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 5432\n\
                    [[service]]\nname = \"Shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 81\n\
                    depends_on = [\"Shop\"]\n[checks]\nmax_concurrent = 0\n";
        let found = problems(text);
        let summary: Vec<_> = found
            .iter()
            .map(|p| (p.line, p.message.as_str(), p.hint.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    Some(2),
                    "depends_on names \"Databse\", which is not a configured service",
                    Some("did you mean \"Database\"?")
                ),
                (
                    Some(13),
                    "there is already a service named \"Shop\"",
                    Some("give each service its own name")
                ),
                (Some(13), "\"Shop\" cannot depend on itself", None),
                (Some(19), "must be at least 1", None),
            ]
        );
    }

    /// Found by the mutated-config fault test: a comment after a service's
    /// table header hid the service from the locator, so its duplicate name
    /// was reported without a line.
    #[test]
    fn a_comment_after_a_table_header_does_not_hide_the_service() {
        let service = "name = \"a\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n";
        let text = format!("[[service]] # the first\n{service}[[service]]#\n{service}");
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, Some(7));
        assert!(found[0].message.contains("already a service named"));
    }

    #[test]
    fn heartbeat_timing_mistakes_are_refused_at_load_on_their_own_line() {
        let text = "[[service]]\nname = \"Backup\"\ntype = \"heartbeat\"\ngrace = \"1h\"\n\
                    [[service]]\nname = \"Export\"\ntype = \"heartbeat\"\nevery = \"1d\"\nschedule = \"0 2 * * *\"\n\
                    [[service]]\nname = \"Sync\"\ntype = \"heartbeat\"\nschedule = \"0 0 30 2 *\"\nmax_runtime = \"0s\"\n";
        let found = problems(text);
        let summary: Vec<_> = found.iter().map(|p| (p.field.as_str(), p.line)).collect();
        assert_eq!(
            summary,
            [
                ("service[0].type", Some(3)),
                ("service[1].schedule", Some(9)),
                ("service[2].schedule", Some(13)),
                ("service[2].max_runtime", Some(14)),
            ],
            "{found:#?}"
        );
        assert!(
            found[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("schedule = \"0 2 * * *\"")
        );
    }

    #[test]
    fn holidays_and_special_days_are_checked() {
        let text = "[business]\nholidays = [\"12-25\", \"xmas\"]\n[business.special_days]\n\"2026-12-24\" = \"8 to 12\"\n\"24.12.\" = \"08:00-12:00\"\n";
        let found = problems(text);
        let fields: Vec<_> = found.iter().map(|p| (p.field.as_str(), p.line)).collect();
        assert_eq!(
            fields,
            vec![
                ("business.holidays", Some(2)),
                ("business.special_days.2026-12-24", Some(4)),
                ("business.special_days.24.12.", Some(5)),
            ],
            "{found:#?}"
        );
        assert!(
            parse(
                Path::new("k.toml"),
                "[business.special_days]\n\"2026-12-24\" = \"08:00-12:00\"\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn syntax_and_meaning_problems_come_together() {
        let found = problems("[collect]\nmemroy = \"1s\"\n[log]\nlevel = \"loud\"\n");
        assert_eq!(found.len(), 2);
    }

    /// Each problem as (field, line, message, hint), for comparing.
    #[test]
    fn typos_in_addresses_are_refused_at_load_on_their_own_line() {
        let text = "[[service]]\nname = \"Web shop\"\ntype = \"http\"\nurl = \"127.0.0.1:8080/\"\n\
                    [[service]]\nname = \"B\"\ntype = \"http\"\nurl = \"not a url\"\ninterval = \"0s\"\n\
                    [[service]]\nname = \"C\"\ntype = \"tcp\"\nhost = \"\"\nport = 0\n\
                    [[service]]\nname = \"D\\u200b\"\ntype = \"ping\"\nhost = \"router\"\n\
                    [collect]\ncpu = \"0s\"\nmemory = \"off\"\n\
                    [[channel]]\nname = \"mail\"\ntype = \"email\"\nserver = \"127.0.0.1:25255\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n";
        let found = problems(text);
        let lines: Vec<_> = found.iter().map(|p| (p.field.as_str(), p.line)).collect();
        assert_eq!(
            lines,
            [
                ("service[0].url", Some(4)),
                ("service[1].url", Some(8)),
                ("service[1].interval", Some(9)),
                ("service[2].host", Some(13)),
                ("service[2].port", Some(14)),
                ("service[3].name", Some(16)),
                ("collect.cpu", Some(20)),
                ("channel[0].server", Some(25)),
            ],
            "{found:#?}"
        );
        assert_eq!(
            found[0].hint.as_deref(),
            Some("did you mean \"http://127.0.0.1:8080/\"?")
        );
        assert!(found[5].message.contains("U+200B"), "{}", found[5].message);
        assert!(
            found[6].hint.as_deref().unwrap_or("").contains("\"off\""),
            "{found:#?}"
        );
        assert!(found[7].message.contains("port = 25255"), "{found:#?}");
    }

    fn summarize(found: &[super::Problem]) -> Vec<(&str, Option<usize>, &str, Option<&str>)> {
        found
            .iter()
            .map(|p| {
                (
                    p.field.as_str(),
                    p.line,
                    p.message.as_str(),
                    p.hint.as_deref(),
                )
            })
            .collect()
    }

    #[test]
    fn alerting_needs_known_channels_in_time_order_and_valid_windows() {
        let text = "[alerting]\nflapping_window = \"off\"\n\
                    business_hours = [{ after = \"15m\", notify = [\"admin-emial\"] }, { after = \"0m\", notify = [] }]\n\
                    off_hours = []\n\
                    [[channel]]\nname = \"admin-email\"\ntype = \"log\"\n\
                    [[channel]]\nname = \"admin-email\"\ntype = \"log\"\n\
                    [[channel]]\nname = \"log\"\ntype = \"log\"\n\
                    [[channel]]\nname = \" \"\ntype = \"webhook\"\nurl = \"ftp://x\"\n\
                    [[maintenance]]\nname = \"backups\"\nevery = \"sundy\"\nfrom = \"02:00\"\nuntil = \"04:00\"\n";
        let found = problems(text);
        let summary = summarize(&found);
        let expect = [
            (
                "channel[1].name",
                Some(9),
                "there is already a channel named \"admin-email\"",
            ),
            (
                "channel[2].name",
                Some(12),
                "\"log\" is the built-in channel that writes to keepwatch's log",
            ),
            ("channel[3].name", Some(15), "a channel needs a name"),
            (
                "alerting.business_hours",
                Some(3),
                "the step after 0m comes before the step after 15m",
            ),
            (
                "alerting.business_hours",
                Some(3),
                "the step after 0m notifies nobody",
            ),
            (
                "alerting.business_hours",
                Some(3),
                "\"admin-emial\" is not a channel",
            ),
            (
                "alerting.off_hours",
                Some(4),
                "no step: nobody would be told",
            ),
            (
                "alerting.flapping_window",
                Some(2),
                "flapping detection needs a window",
            ),
        ];
        for (field, line, message) in expect {
            assert!(
                summary
                    .iter()
                    .any(|(f, l, m, _)| *f == field && *l == line && m.contains(message)),
                "{field} {line:?} {message}\nin {summary:#?}"
            );
        }
        assert!(
            summary
                .iter()
                .any(|(f, _, _, h)| *f == "alerting.business_hours"
                    && *h == Some("did you mean \"admin-email\"?"))
        );
        assert!(
            summary
                .iter()
                .any(|(f, _, m, _)| f.starts_with("channel[3]") && m.contains("url")),
            "{summary:#?}"
        );
        assert!(
            summary.iter().any(|(f, l, m, _)| *f == "maintenance[0]"
                && *l == Some(19)
                && m.contains("did you mean \"sunday\"")),
            "{summary:#?}"
        );
    }

    #[test]
    fn rules_need_known_metrics_ordered_thresholds_and_a_sane_clearing_level() {
        let text = "[[rule]]\nname = \"ok\"\nmetric = \"service.state\"\nabove = { warning = 0.5, critical = 1.5 }\n\
                    [[rule]]\nname = \"typo\"\nmetric = \"disk.used_percnt\"\nabove = { warning = 90.0, critical = 80.0 }\n\
                    [[rule]]\nname = \"night\"\nmetric = \"disk.used_percent\"\nclear_below = 85.0\n\
                    [rule.above]\nwarning = 80.0\n[rule.off_hours]\nwarning = 95.0\ncritical = 95.0\n\
                    [[rule]]\nname = \"empty\"\nmetric = \"nonsense\"\n";
        let found = problems(text);
        let summary = summarize(&found);
        assert_eq!(
            summary,
            vec![
                (
                    "rule[1].metric",
                    Some(7),
                    "unknown metric \"disk.used_percnt\"",
                    Some("did you mean \"disk.used_percent\"?")
                ),
                (
                    "rule[1].above",
                    Some(8),
                    "warning (90) must be below critical (80)",
                    None
                ),
                (
                    "rule[2].clear_below",
                    Some(12),
                    "85 is above the threshold 80 of `above`",
                    Some("an alert clears below clear_below; keep it at or under the warning")
                ),
                (
                    "rule[2].off_hours",
                    Some(15),
                    "warning (95) must be below critical (95)",
                    None
                ),
                (
                    "rule[3].above",
                    Some(18),
                    "the rule has no threshold",
                    Some("write e.g. above = { warning = 80.0, critical = 90.0 }")
                ),
                (
                    "rule[3].metric",
                    Some(20),
                    "unknown metric \"nonsense\"",
                    found[5].hint.as_deref()
                ),
            ],
            "{found:#?}"
        );
        assert!(
            found[5]
                .hint
                .as_deref()
                .unwrap()
                .contains("service.response_ms")
        );
    }

    #[test]
    fn a_remote_write_address_without_its_scheme_is_refused_on_its_line() {
        let found = problems(
            "[export]\nremote_write = \"prometheus:9090/api/v1/write\"\nuser = \"shop\"\n",
        );
        let lines: Vec<_> = found.iter().map(|p| (p.field.as_str(), p.line)).collect();
        assert_eq!(
            lines,
            [("export.remote_write", Some(2)), ("export.user", Some(3))],
            "{found:#?}"
        );
        assert!(found[0].message.contains("https://"), "{found:#?}");
    }
}
