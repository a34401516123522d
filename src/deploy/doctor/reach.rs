//! What doctor learns by reading the config and reaching out: the config
//! file, each alert channel, each service, and the running agent.

use std::path::Path;
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{Area, Finding};
use crate::checks::{CheckSpec, Checker, check_all};
use crate::clock::Clock;
use crate::config::{self, Config};
use crate::notify::{self, ChannelKind};
use crate::status::{self, Liveness};
use crate::store::Store;
use crate::vocabulary::State;

/// The config file's findings, and the config the other areas look at: the
/// file's, its last good copy, or the built-in defaults when there is no
/// file; none when keepwatch could not start with it.
pub(super) fn config(path: &Path, explicit: bool) -> (Vec<Finding>, Option<Config>) {
    let shown = path.display();
    if !path.exists() {
        let finding = if explicit {
            Finding::problem(Area::Config, format!("there is no config file at {shown}")).fix(
                format!("check the name, or write one with `keepwatch init --config {shown}`"),
            )
        } else {
            Finding::warning(
                Area::Config,
                format!("no config file at {shown}: keepwatch watches only this computer, with the built-in settings"),
            )
            .fix("`keepwatch init` writes one after a few questions")
        };
        return (vec![finding], Some(Config::default()));
    }
    match config::load_file(path) {
        Ok(config) => {
            let finding = Finding::ok(
                Area::Config,
                format!(
                    "{shown} is valid ({} {}, {} {})",
                    config.services.len(),
                    super::plural(config.services.len(), "service"),
                    config.channels.len(),
                    super::plural(config.channels.len(), "alert channel"),
                ),
            );
            (vec![finding], Some(config))
        }
        Err(err) => {
            let mut findings: Vec<Finding> = err
                .problems
                .iter()
                .map(|problem| Finding::problem(Area::Config, format!("{shown}:{problem}")))
                .collect();
            match config::load_for_start(path, false) {
                Ok(loaded) => {
                    findings.push(Finding::warning(
                        Area::Config,
                        format!(
                            "until the file is fixed, keepwatch runs on its last good copy ({}); the findings below are about that copy",
                            config::last_good_path(path).display()
                        ),
                    ));
                    (findings, Some(loaded.config))
                }
                Err(_) => {
                    findings.push(Finding::problem(
                        Area::Config,
                        "keepwatch cannot start until the file is fixed (there is no last good copy to fall back on); doctor looks at the rest once it loads",
                    ));
                    (findings, None)
                }
            }
        }
    }
}

/// Whether keepwatch is running, judged from what it last wrote.
pub(super) fn agent(database: &Path, now: Timestamp, zone: &TimeZone) -> Finding {
    let start =
        "start it with `keepwatch run` (keep the window open), or have it run in the background";
    if !database.exists() {
        return Finding::warning(Area::Agent, "keepwatch has not run yet on this computer")
            .fix(start);
    }
    let liveness = Store::open(database, &Default::default())
        .and_then(|store| status::summarize(&store, database, now))
        .map(|summary| summary.liveness);
    let local = |at: Timestamp| {
        at.to_zoned_datetime(zone.clone())
            .strftime("%a %d %b %H:%M")
            .to_string()
    };
    match liveness {
        Ok(Liveness::Running { last_seen }) => Finding::ok(
            Area::Agent,
            format!("keepwatch is running (it last wrote at {})", local(last_seen)),
        ),
        Ok(Liveness::Stopped { at }) => Finding::warning(
            Area::Agent,
            format!("keepwatch is not running: it was stopped at {}", local(at)),
        )
        .fix(start),
        Ok(Liveness::Stuck { last_seen }) => Finding::problem(
            Area::Agent,
            format!(
                "keepwatch is running but has not been able to write its database since {}: is the disk full? Alerts still go out meanwhile",
                local(last_seen)
            ),
        )
        .fix("free space on the disk holding keepwatch's data; keepwatch writes what it kept in memory as soon as it can"),
        Ok(Liveness::Silent { last_seen }) => Finding::problem(
            Area::Agent,
            format!(
                "keepwatch stopped writing at {} without stopping cleanly: it was killed, crashed, or the computer was off",
                local(last_seen)
            ),
        )
        .fix(format!("{start}; its log says why it ended")),
        Ok(Liveness::Never) => {
            Finding::warning(Area::Agent, "keepwatch has not run yet on this computer").fix(start)
        }
        Err(err) => Finding::problem(Area::Agent, err.to_string()),
    }
}

/// Each channel's settings, and whether its server can be reached: an email
/// channel connects, secures and logs in without sending; with `send`, every
/// channel sends a real test message.
pub(super) async fn channels(config: &Config, send: bool, clock: &Arc<dyn Clock>) -> Vec<Finding> {
    if config.channels.is_empty() {
        return vec![
            Finding::warning(
                Area::Channel,
                "no alert channel is set up: alerts only reach keepwatch's own log, and nobody is told",
            )
            .fix("add an email channel: `keepwatch init --force` asks for the mail server"),
        ];
    }
    // The config loaded, and loading refuses a channel with incomplete
    // settings, so every channel here is ready to be tried.
    if send {
        let results =
            notify::test_channels(&config.channels, &config.business.name, clock.clone()).await;
        return results
            .into_iter()
            .map(|(name, result)| match result {
                Ok(()) => Finding::ok(
                    Area::Channel,
                    format!("\"{name}\": a test message was sent and accepted"),
                ),
                Err(err) => Finding::problem(Area::Channel, format!("\"{name}\": {}", err.reason)),
            })
            .collect();
    }
    let mut findings = Vec::new();
    for channel in &config.channels {
        let name = &channel.name;
        findings.push(match &channel.kind {
            ChannelKind::Email(email) => match email.probe().await {
                Ok(()) => Finding::ok(
                    Area::Channel,
                    format!(
                        "\"{name}\": the mail server accepts keepwatch (connected and logged in; nothing sent)"
                    ),
                ),
                Err(err) => Finding::problem(Area::Channel, format!("\"{name}\": {}", err.reason)),
            },
            _ => Finding::ok(
                Area::Channel,
                format!("\"{name}\": its settings are complete (not sent)"),
            )
            .fix("`keepwatch doctor --send` sends a test message through every channel"),
        });
    }
    findings
}

/// What checking each service once found.
pub(super) struct Checked {
    /// A finding per service.
    pub findings: Vec<Finding>,
    /// The first web service that answered with its time: its name, and how
    /// far this computer's clock was ahead of it.
    pub clock: Option<(String, SignedDuration)>,
}

/// Each service checked once, as `keepwatch check` does.
pub(super) async fn services(config: &Config, clock: Arc<dyn Clock>) -> Checked {
    if config.services.is_empty() {
        return Checked {
            findings: vec![
                Finding::warning(Area::Service, "no services are watched yet, only this computer")
                    .fix("add a [[service]] block for your web shop, database or mail server (the config file has examples)"),
            ],
            clock: None,
        };
    }
    // A heartbeat is not checked: its job reports, and `keepwatch status`
    // says how that goes.
    let (heartbeats, checked): (Vec<_>, Vec<_>) = config
        .services
        .iter()
        .cloned()
        .partition(|spec| matches!(spec.check, CheckSpec::Heartbeat(_)));
    let checker = Arc::new(Checker::new(clock));
    let outcomes = check_all(checker, &checked, config.checks.max_concurrent).await;
    let clock = checked
        .iter()
        .zip(&outcomes)
        .find_map(|(spec, outcome)| Some((spec.common.name.clone(), outcome.clock_ahead?)));
    let mut findings: Vec<Finding> = outcomes
        .into_iter()
        .map(|outcome| match outcome.state {
            State::Up => Finding::ok(Area::Service, outcome.explanation),
            State::Degraded => Finding::warning(Area::Service, outcome.explanation),
            State::Down => Finding::problem(Area::Service, outcome.explanation),
        })
        .collect();
    findings.extend(heartbeats.iter().map(|spec| {
        Finding::ok(
            Area::Service,
            format!(
                "{} is a heartbeat: its job reports to keepwatch; `keepwatch status` shows its ping URL and how it is doing",
                crate::printable::name(&spec.common.name)
            ),
        )
    }));
    Checked { findings, clock }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::doctor::Level;
    use crate::vocabulary::state_key;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn clock() -> Arc<dyn Clock> {
        Arc::new(crate::clock::SystemClock)
    }

    fn parsed(text: &str) -> Config {
        crate::config::parse(Path::new("k.toml"), text).unwrap()
    }

    #[test]
    fn a_missing_file_is_a_problem_only_when_it_was_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepwatch.toml");
        let (named, named_config) = config(&path, true);
        assert_eq!(named[0].level, Level::Problem, "{named:?}");
        assert!(
            named[0]
                .fix
                .as_ref()
                .unwrap()
                .contains("keepwatch init --config")
        );
        assert_eq!(named_config, Some(Config::default()));
        let (found, _) = config(&path, false);
        assert_eq!(found[0].level, Level::Warning, "{found:?}");
        assert!(
            found[0].text.contains("with the built-in settings"),
            "{found:?}"
        );
    }

    #[test]
    fn a_broken_file_is_judged_on_its_last_good_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepwatch.toml");
        std::fs::write(
            &path,
            "[[service]]\nname = \"Shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n",
        )
        .unwrap();
        crate::config::load_and_remember(&path).unwrap();
        std::fs::write(&path, "[agent]\nnmae = \"x\"\n").unwrap();
        let (findings, loaded) = config(&path, true);
        let levels: Vec<Level> = findings.iter().map(|f| f.level).collect();
        assert_eq!(levels, [Level::Problem, Level::Warning], "{findings:?}");
        assert!(findings[0].text.contains("nmae"), "{findings:?}");
        assert!(
            findings[1].text.contains("runs on its last good copy"),
            "{findings:?}"
        );
        assert_eq!(loaded.unwrap().services[0].common.name, "Shop");
    }

    #[tokio::test]
    async fn without_channels_nobody_is_told_and_other_kinds_are_tried_only_when_sending() {
        let none = channels(&Config::default(), false, &clock()).await;
        assert_eq!(none[0].level, Level::Warning, "{none:?}");
        assert!(none[0].text.contains("nobody is told"), "{none:?}");

        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = parsed(&format!(
            "[[channel]]\nname = \"ops-hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:{closed}/\"\n\
             [[channel]]\nname = \"own-log\"\ntype = \"log\"\n"
        ));
        let unsent = channels(&config, false, &clock()).await;
        assert_eq!(unsent.len(), 2);
        assert!(unsent.iter().all(|f| f.level == Level::Ok), "{unsent:?}");
        assert_eq!(
            unsent[0].text,
            "\"ops-hook\": its settings are complete (not sent)"
        );
        assert!(unsent[0].fix.as_ref().unwrap().contains("doctor --send"));

        let sent = channels(&config, true, &clock()).await;
        let hook = sent
            .iter()
            .find(|f| f.text.starts_with("\"ops-hook\""))
            .unwrap();
        assert_eq!(hook.level, Level::Problem, "{sent:?}");
        let log = sent
            .iter()
            .find(|f| f.text.starts_with("\"own-log\""))
            .unwrap();
        assert_eq!(log.level, Level::Ok, "{sent:?}");
        assert!(
            log.text.ends_with("a test message was sent and accepted"),
            "{sent:?}"
        );
    }

    #[tokio::test]
    async fn a_heartbeat_is_named_but_not_checked() {
        let config = crate::config::parse(
            std::path::Path::new("k.toml"),
            "[[service]]\nname = \"Backup\"\ntype = \"heartbeat\"\nevery = \"1d\"\n",
        )
        .unwrap();
        let findings = services(&config, Arc::new(crate::clock::SystemClock))
            .await
            .findings;
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].level, Level::Ok, "{findings:?}");
        assert!(
            findings[0].text.starts_with("Backup is a heartbeat"),
            "{findings:?}"
        );
    }

    #[test]
    fn the_agent_is_judged_from_what_it_last_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("keepwatch.db");
        let zone = TimeZone::UTC;
        let never = agent(&database, at("2026-11-23T10:00:00Z"), &zone);
        assert_eq!(never.level, Level::Warning);
        assert!(never.text.contains("has not run yet"), "{never:?}");

        let mut store = Store::open(&database, &Default::default()).unwrap();
        store
            .set_states(&[
                (state_key::LAST_SEEN, "2026-11-23T10:00:00Z"),
                (state_key::NEXT_BY, "2026-11-23T10:00:10Z"),
            ])
            .unwrap();
        let running = agent(&database, at("2026-11-23T10:00:05Z"), &zone);
        assert_eq!(running.level, Level::Ok, "{running:?}");
        assert!(
            running.text.contains("last wrote at Mon 23 Nov 10:00"),
            "{running:?}"
        );

        let silent = agent(&database, at("2026-11-23T11:00:00Z"), &zone);
        assert_eq!(silent.level, Level::Problem, "{silent:?}");
        assert!(
            silent.text.contains("without stopping cleanly"),
            "{silent:?}"
        );

        store
            .set_state(state_key::STOPPED_AT, "2026-11-23T10:01:00Z")
            .unwrap();
        let stopped = agent(&database, at("2026-11-23T11:00:00Z"), &zone);
        assert_eq!(stopped.level, Level::Warning, "{stopped:?}");
        assert!(
            stopped.text.contains("stopped at Mon 23 Nov 10:01"),
            "{stopped:?}"
        );
        assert!(stopped.fix.unwrap().contains("keepwatch run"));
    }

    #[test]
    fn a_database_it_never_wrote_to_or_cannot_write_since_holding_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("keepwatch.db");
        let zone = TimeZone::UTC;
        let mut store = Store::open(&database, &Default::default()).unwrap();
        let never = agent(&database, at("2026-11-23T10:00:00Z"), &zone);
        assert_eq!(never.level, Level::Warning, "{never:?}");
        assert_eq!(never.text, "keepwatch has not run yet on this computer");

        store
            .set_states(&[
                (state_key::LAST_SEEN, "2026-11-23T10:00:00Z"),
                (state_key::NEXT_BY, "2026-11-23T10:00:10Z"),
            ])
            .unwrap();
        // A running agent holds this lock; it promised to write by 10:00:10
        // and at 11:00 has not (its disk is full).
        let lock = std::fs::File::create(Store::lock_path(&database)).unwrap();
        lock.lock().unwrap();
        let stuck = agent(&database, at("2026-11-23T11:00:00Z"), &zone);
        assert_eq!(stuck.level, Level::Problem, "{stuck:?}");
        assert!(
            stuck.text.starts_with(
                "keepwatch is running but has not been able to write its database since Mon 23 Nov 10:00: is the disk full?"
            ),
            "{stuck:?}"
        );
        assert!(stuck.fix.unwrap().starts_with("free space on the disk"));
    }

    /// A web server on 127.0.0.1 that answers every request with 200 after
    /// `delay`, with `headers` and without a `Date` unless they have one.
    async fn web_server(headers: &'static str, delay: std::time::Duration) -> u16 {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    tokio::time::sleep(delay).await;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\n{headers}Content-Length: 2\r\nConnection: close\r\n\r\nok"
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn a_slow_service_is_a_warning_and_the_clock_is_read_from_the_first_dated_answer() {
        let undated = web_server("", std::time::Duration::from_millis(300)).await;
        let dated = web_server(
            "Date: Mon, 23 Nov 2026 10:00:00 GMT\r\n",
            std::time::Duration::ZERO,
        )
        .await;
        let config = parsed(&format!(
            "[[service]]\nname = \"Shop\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{undated}/\"\nslow_after = \"100ms\"\n\
             [[service]]\nname = \"Blog\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{dated}/\"\n"
        ));
        let clock: Arc<dyn Clock> =
            Arc::new(crate::clock::SimClock::new(at("2026-11-23T10:03:00Z")));
        let checked = services(&config, clock).await;
        let levels: Vec<Level> = checked.findings.iter().map(|f| f.level).collect();
        assert_eq!(
            levels,
            [Level::Warning, Level::Ok],
            "{:?}",
            checked.findings
        );
        assert!(
            checked.findings[0].text.starts_with("Shop answered in ")
                && checked.findings[0]
                    .text
                    .ends_with(", over its 100 ms budget."),
            "{:?}",
            checked.findings
        );
        // Shop gave no time, so the clock is compared with Blog's.
        assert_eq!(
            checked.clock,
            Some(("Blog".to_owned(), jiff::SignedDuration::from_mins(3)))
        );
        let finding = crate::deploy::doctor::machine::clock(
            checked
                .clock
                .as_ref()
                .map(|(name, ahead)| (name.as_str(), *ahead)),
        );
        assert_eq!(finding.level, Level::Warning, "{finding:?}");
        assert!(
            finding
                .text
                .ends_with("3 minutes ahead of the time Blog gives"),
            "{finding:?}"
        );

        let only_undated = parsed(&format!(
            "[[service]]\nname = \"Shop\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{undated}/\"\n"
        ));
        let checked = services(&only_undated, self::clock()).await;
        assert_eq!(checked.clock, None);
    }

    #[test]
    fn a_database_of_another_program_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("keepwatch.db");
        std::fs::write(&database, "plain text, not SQLite ".repeat(100)).unwrap();
        let finding = agent(&database, at("2026-11-23T10:00:00Z"), &TimeZone::UTC);
        assert_eq!(finding.level, Level::Problem, "{finding:?}");
    }
}
