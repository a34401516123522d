//! The `keepwatch` command line: each subcommand is a thin call into the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use keepwatch::agent::{self, Agent, Ended, Hangup, RunOptions, Shutdown};
use keepwatch::api;
use keepwatch::calendar::Calendar;
use keepwatch::checks::heartbeat::Signal;
use keepwatch::checks::{CheckOutcome, CheckSpec, Checker, ServiceSpec, check_all, pings};
use keepwatch::clock::{Clock, SystemClock};
use keepwatch::collect::SystemSource;
use keepwatch::config::{self, Config, Origin};
use keepwatch::deploy::init::{self, InitOptions};
use keepwatch::deploy::update::automatic;
use keepwatch::deploy::update::health::Installed;
use keepwatch::deploy::{discover, doctor, service};
use keepwatch::logging::{LogFlush, LogPipe, LogTime};
use keepwatch::store::{AckError, Store};
use keepwatch::vocabulary::State;
use keepwatch::{printable, report, status};

/// Monitoring for small businesses: watches this computer and the services
/// your business depends on, and tells you in plain words how they are doing.
/// Prints a line to standard output. A reader that went away (`keepwatch
/// status | head`) is no reason to crash, so a failed write is ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Like [`say!`], without the line break.
macro_rules! say_part {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Debug, Parser)]
#[command(name = "keepwatch", version)]
struct Cli {
    /// The config file. Default: ./keepwatch.toml if there is one, else the
    /// per-user one (~/.config/keepwatch/keepwatch.toml on Linux).
    #[arg(
        long,
        short,
        global = true,
        env = "KEEPWATCH_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented config file, after a few questions.
    Init {
        /// Ask nothing; write the defaults.
        #[arg(long)]
        defaults: bool,
        /// Replace an existing file (a backup copy is kept beside it).
        #[arg(long)]
        force: bool,
        /// Also install keepwatch as a background service (see `keepwatch service install`).
        #[arg(long)]
        service: bool,
        /// Do not look for services on this computer (web servers, databases,
        /// Redis, mail, SSH on their usual ports).
        #[arg(long)]
        no_scan: bool,
        /// Make this computer an agent that reports to the hub at this address
        /// (as `keepwatch agent add` on the hub printed it); asks nothing.
        #[arg(long, value_name = "URL", requires = "token")]
        hub: Option<String>,
        /// This computer's agent token (with --hub).
        #[arg(long, value_name = "TOKEN", requires = "hub")]
        token: Option<String>,
    },
    /// Run keepwatch in the background at boot, as you, without administrator rights.
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Monitor in the foreground until Ctrl-C.
    Run,
    /// Check that this computer is ready to monitor and say how to fix what
    /// is not. Exit code: 0 all ok, 1 warnings, 2 problems.
    Doctor {
        /// Print the findings as JSON, for scripts.
        #[arg(long)]
        json: bool,
        /// Send a real test message through every channel (otherwise an
        /// email channel only connects and logs in).
        #[arg(long)]
        send: bool,
    },
    /// Install a newer signed release from [update] source, keeping the old
    /// binary as keepwatch.old (README: "Updating").
    Update {
        /// Only say whether a newer release is published.
        #[arg(long)]
        check: bool,
        /// The release channel: reads CHANNEL.toml and its signature
        /// (default: [update] channel, which is "stable" unless set).
        #[arg(long)]
        channel: Option<String>,
    },
    /// Show the latest state of this computer and of each service.
    Status,
    /// Check every service (or the one named) once now and say what was found.
    Check {
        /// Only the service with this name.
        name: Option<String>,
    },
    /// Acknowledge an alert: escalation and reminders stop; you still hear
    /// when it is resolved.
    Ack {
        /// The alert's number, as messages and `keepwatch status` show it.
        id: i64,
        /// Who acknowledges (shown in later messages).
        #[arg(long, env = "USER", default_value = "the admin")]
        by: String,
    },
    /// List the open alerts.
    Alerts,
    /// Work on alert channels.
    Alert {
        #[command(subcommand)]
        action: AlertAction,
    },
    /// Write a report on how the services did: for managers (plain words,
    /// cost) or, with `--audience technical`, for the admin.
    #[command(args_conflicts_with_subcommands = true)]
    Report {
        #[command(subcommand)]
        action: Option<ReportAction>,
        /// today, yesterday, this-week (the default), last-week, this-month,
        /// last-month or last-30-days, in the business time zone.
        #[arg(long)]
        period: Option<String>,
        /// First day to cover, e.g. 2026-11-01 (with --to).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Last day to cover, e.g. 2026-11-30 (with --from).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// executive (for managers) or technical (for the admin).
        #[arg(long, default_value = "executive")]
        audience: String,
        /// text, html (one file, ready to email) or pdf (needs --out).
        #[arg(long, default_value = "text")]
        format: String,
        /// Write to this file instead of the screen.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Hold back alerts during planned or unplanned work.
    Maintenance {
        #[command(subcommand)]
        action: MaintenanceAction,
    },
    /// Report from a script on this computer that a heartbeat's job ran:
    /// success, or its start, failure or exit code. Works whether or not
    /// `keepwatch run` is running (it picks the report up within seconds).
    Ping {
        /// The heartbeat's name, as in the config.
        name: String,
        /// The job starts now (it must then finish within `max_runtime`).
        #[arg(long, conflicts_with_all = ["fail", "exit"])]
        start: bool,
        /// The job failed.
        #[arg(long, conflicts_with = "exit")]
        fail: bool,
        /// The job's exit code: 0 is success, anything else a failure.
        #[arg(long, value_name = "CODE", allow_hyphen_values = true)]
        exit: Option<i32>,
        /// The job's output to keep with the report (at most 10,000 bytes),
        /// e.g. `--log "$(tail -n 20 backup.log)"`.
        #[arg(long, value_name = "TEXT")]
        log: Option<String>,
    },
    /// Tokens for the API that other tools (Grafana, scripts) use.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Other servers that report to this one (the hub).
    Agent {
        #[command(subcommand)]
        action: AgentAction,
    },
}

#[derive(Debug, Subcommand)]
enum AgentAction {
    /// Let another server report to this one: makes its token and prints
    /// the command to run there.
    Add {
        /// The other server's name, as reports and alerts will call it, e.g. "web2".
        name: String,
        /// The address the other server reaches this one at (default: this
        /// computer's name and the API's port).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// List the agents: when each last reported, how far behind it is.
    List,
    /// Stop an agent from reporting (its history stays here, and what it
    /// has not sent stays there until it is added again).
    Remove {
        /// The agent's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Make a token and print it once (keepwatch keeps only a fingerprint of it).
    Create {
        /// A name for it, e.g. "grafana" or "backup-script".
        name: String,
        /// `viewer` reads everything and changes nothing; `admin` may also
        /// acknowledge alerts and start or end maintenance.
        #[arg(long, value_parser = ["viewer", "admin"])]
        role: String,
    },
    /// List the tokens (names and roles; the tokens themselves are not kept).
    List,
    /// Stop a token from working.
    Revoke {
        /// The token's name.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum ServiceAction {
    /// Install and start the background service (safe to repeat).
    Install,
    /// Stop and remove the background service; your settings and data stay.
    Uninstall,
    /// Say whether it is installed and running.
    Status,
    /// Start the installed service.
    Start,
    /// Stop the installed service until the next start or boot.
    Stop,
    /// Show the last lines of its log.
    Logs,
}

#[derive(Debug, Subcommand)]
enum ReportAction {
    /// Send every [[report]] of the config (or one) now, and show for each
    /// whether the receiving server took it or the exact error.
    Test {
        /// Only the report with this name (or this `every`).
        name: Option<String>,
    },
    /// Makes one scheduled report for `keepwatch run`, which sends the job
    /// on standard input and reads the message from standard output: in a
    /// process of its own, the report's memory goes back to the system.
    #[command(hide = true)]
    MakeScheduled,
}

#[derive(Debug, Subcommand)]
enum AlertAction {
    /// Send a test message through every channel (or one) and report the
    /// result or the exact error.
    Test {
        /// Only this channel.
        channel: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum MaintenanceAction {
    /// Start a maintenance window now.
    Start {
        /// How long, e.g. "30m" or "2h".
        #[arg(long = "for", value_name = "DURATION")]
        length: String,
        /// Only alerts about this service (repeat for several); default: everything.
        #[arg(long = "service", value_name = "NAME")]
        services: Vec<String>,
        /// What the work is, for messages and `status`.
        #[arg(long, default_value = "unplanned work")]
        reason: String,
    },
    /// End a maintenance window early (all running ones without an ID).
    Stop {
        /// The window's number, as `keepwatch maintenance list` shows it.
        id: Option<i64>,
    },
    /// List the maintenance windows in force or planned.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let explicit = cli.config.is_some();
    let path = cli.config.unwrap_or_else(|| {
        let here = std::env::current_dir().unwrap_or_default();
        config::default_path(&here, dirs::config_dir().as_deref())
    });
    load_env_file(&path);
    if let Command::Doctor { json, send } = cli.command {
        return doctor(path, explicit, json, send);
    }
    let result = match cli.command {
        Command::Doctor { .. } => Ok(()),
        Command::Init {
            force,
            service,
            hub: Some(url),
            token: Some(token),
            no_scan,
            ..
        } => join_hub(path.clone(), &url, &token, force, !no_scan).and_then(|()| match service {
            true => manage_service(&path, ServiceAction::Install),
            false => Ok(()),
        }),
        Command::Init {
            defaults,
            force,
            service,
            no_scan,
            ..
        } => run_init(path.clone(), defaults, force, !no_scan, service).and_then(
            |()| match service {
                true => manage_service(&path, ServiceAction::Install),
                false => Ok(()),
            },
        ),
        Command::Service { action } => manage_service(&path, action),
        Command::Run => run_agent(&path, explicit).and_then(|ended| match ended {
            Ended::Stopped => Ok(()),
            Ended::DatabaseDamaged(_) => start_again(),
        }),
        Command::Update { check, channel } => update(&path, explicit, check, channel),
        Command::Status => show_status(&path, explicit),
        Command::Check { name } => check_services(&path, explicit, name.as_deref()),
        Command::Ack { id, by } => acknowledge(&path, explicit, id, &by),
        Command::Alerts => list_alerts(&path, explicit),
        Command::Alert {
            action: AlertAction::Test { channel },
        } => test_channels(&path, explicit, channel.as_deref()),
        Command::Maintenance { action } => maintenance(&path, explicit, action),
        Command::Token { action } => tokens(&path, explicit, action),
        Command::Agent { action } => agents(&path, explicit, action),
        Command::Ping {
            name,
            start,
            fail,
            exit,
            log,
        } => {
            let signal = match (start, fail, exit) {
                (true, _, _) => Signal::Start,
                (_, true, _) => Signal::Failure(None),
                (_, _, Some(code)) => Signal::exit(code),
                _ => Signal::Success,
            };
            ping(&path, explicit, &name, signal, log.as_deref())
        }
        Command::Report {
            action: Some(ReportAction::Test { name }),
            ..
        } => test_reports(&path, explicit, name.as_deref()),
        Command::Report {
            action: Some(ReportAction::MakeScheduled),
            ..
        } => report::child::serve(&mut std::io::stdin().lock(), &mut std::io::stdout().lock()),
        Command::Report {
            action: None,
            period,
            from,
            to,
            audience,
            format,
            out,
        } => {
            let request = ReportRequest {
                period,
                from,
                to,
                audience,
                format,
                out,
            };
            write_report(&path, explicit, &request)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Sets the variables of the environment file beside the config (see
/// `secret::ENV_FILE_NAME`: what `env:NAME` secrets read when keepwatch runs
/// in the background, where the admin's terminal is not), unless the
/// environment already has them, so `NAME=value keepwatch ...` still wins.
/// A file that cannot be read, or a line that is not `NAME=value`, is said
/// here and left to `keepwatch doctor` to explain.
fn load_env_file(config: &Path) {
    let path = keepwatch::secret::env_file_path(config);
    let file = match keepwatch::secret::EnvFile::read(&path) {
        Ok(Some(file)) => file,
        Ok(None) => return,
        Err(err) => {
            eprintln!("keepwatch: {} cannot be read: {err}", path.display());
            return;
        }
    };
    for problem in &file.problems {
        eprintln!("keepwatch: {}: {problem}", path.display());
    }
    for (name, value) in file.values {
        if std::env::var_os(&name).is_none() {
            // SAFETY: main calls this first, before it starts any thread,
            // so nothing reads the environment while it changes.
            unsafe { std::env::set_var(name, value) };
        }
    }
}

/// The services listening on this computer's usual ports, each probed.
fn find_services() -> Result<Vec<discover::Found>, String> {
    say!("Looking for services on this computer…");
    let checker = Arc::new(keepwatch::checks::Checker::new(Arc::new(SystemClock)));
    let find = discover::find(discover::CANDIDATES, "127.0.0.1", checker);
    Ok(agent::new_runtime()?.block_on(find))
}

/// `keepwatch init`; with `service`, the background service is installed
/// next, so the last line does not send the user to `keepwatch run`.
fn run_init(
    path: PathBuf,
    defaults: bool,
    force: bool,
    scan: bool,
    service: bool,
) -> Result<(), String> {
    if path.exists() && !force {
        return Err(init::InitError::Exists(path).to_string());
    }
    let found = if scan { Some(find_services()?) } else { None };
    let options = InitOptions {
        path,
        defaults,
        force,
        detected_timezone: jiff::tz::TimeZone::system().iana_name().map(str::to_owned),
        found,
    };
    let stdin = std::io::stdin();
    let test = |channel: &keepwatch::notify::Channel, business: &str| {
        let runtime = agent::new_runtime()?;
        let results = runtime.block_on(keepwatch::notify::test_channels(
            std::slice::from_ref(channel),
            business,
            Arc::new(SystemClock),
        ));
        match results.into_iter().next() {
            Some((_, result)) => result.map_err(|err| err.reason),
            None => Err("the test did not run".to_owned()),
        }
    };
    let written = init::run(
        &options,
        SystemClock.now(),
        &mut stdin.lock(),
        &mut std::io::stdout(),
        &test,
    )
    .map_err(|err| err.to_string())?;
    if let Some(backup) = &written.backup {
        say!("The previous file was kept as {}.", backup.display());
    }
    let watched: Vec<&str> = written.watched.iter().map(String::as_str).collect();
    if !watched.is_empty() {
        say!(
            "Watching what was found on this computer: {}.",
            watched.join(", ")
        );
    }
    let next = match service {
        true => "",
        false => {
            "; start monitoring with `keepwatch run`, or in the background with `keepwatch service install`"
        }
    };
    say!(
        "Wrote {}. Every setting in it is explained{next}.",
        written.path.display()
    );
    Ok(())
}

/// What the background service runs: this binary, with this config file.
fn service_context(path: &Path) -> Result<service::Context, String> {
    let config = std::path::absolute(path).map_err(|err| format!("{}: {err}", path.display()))?;
    let loaded = load(&config, true)?;
    let binary = std::env::current_exe()
        .and_then(|exe| exe.canonicalize())
        .map_err(|err| format!("cannot tell where the keepwatch program is: {err}"))?;
    let home = dirs::home_dir().ok_or("cannot tell where your home folder is")?;
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .or_else(|| {
            let out = std::process::Command::new("id").arg("-un").output().ok()?;
            let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            (out.status.success() && !name.is_empty()).then_some(name)
        })
        .ok_or("cannot tell your user name (USER is not set)")?;
    Ok(service::Context {
        binary,
        config,
        data: loaded.config.agent.database_path()?,
        uid: owner_id(&home),
        home,
        user,
    })
}

#[cfg(unix)]
fn owner_id(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).map(|meta| meta.uid()).unwrap_or(0)
}

#[cfg(not(unix))]
fn owner_id(_: &Path) -> u32 {
    0
}

fn manage_service(path: &Path, action: ServiceAction) -> Result<(), String> {
    if !path.exists() {
        return Err(format!(
            "There is no config file at {} yet; write one first with `keepwatch init` (or `keepwatch init --service`, which also installs the service).",
            path.display()
        ));
    }
    let context = service_context(path)?;
    let platform = service::this_platform();
    let runner = service::SystemRunner;
    let installing = matches!(action, ServiceAction::Install);
    let said = match action {
        ServiceAction::Install => platform.install(&context, &runner),
        ServiceAction::Uninstall => platform.uninstall(&context, &runner),
        ServiceAction::Status => platform.status(&context, &runner),
        ServiceAction::Start => platform.start(&context, &runner),
        ServiceAction::Stop => platform.stop(&context, &runner),
        ServiceAction::Logs => platform.logs(&context, &runner),
    }
    .map_err(|err| err.to_string())?;
    say!("{}", said.trim_end());
    // Only an install tells where the background service's secrets are read.
    let secrets = if installing {
        config::load_file(path).map_or_else(|_| Vec::new(), |config| config.env_secrets())
    } else {
        Vec::new()
    };
    if !secrets.is_empty() {
        say!(
            "In the background keepwatch reads {} from {}, not from your terminal; `keepwatch doctor` checks that each is there.",
            secrets.join(", "),
            keepwatch::secret::env_file_path(&context.config).display()
        );
    }
    Ok(())
}

fn doctor(config_path: PathBuf, explicit: bool, json: bool, send: bool) -> ExitCode {
    let runtime = match agent::new_runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let options = doctor::DoctorOptions {
        config_path,
        explicit,
        send,
        user_data: dirs::data_local_dir(),
    };
    let report = runtime.block_on(doctor::examine(&options, Arc::new(SystemClock)));
    if json {
        say!("{}", report.to_json());
    } else {
        say_part!("{}", report.render());
    }
    ExitCode::from(report.exit_code())
}

fn update(path: &Path, explicit: bool, check: bool, channel: Option<String>) -> Result<(), String> {
    let config = valid_config(path, explicit, "`keepwatch update` only runs with")?;
    let binary = std::env::current_exe()
        .and_then(|exe| exe.canonicalize())
        .map_err(|err| format!("keepwatch update: cannot tell where this keepwatch is: {err}"))?;
    let options = keepwatch::deploy::update::Options {
        binary,
        check,
        channel: channel.unwrap_or_else(|| config.update.channel.clone()),
        database: database_path(&config)?,
    };
    let context = service_context(path).ok();
    let platform = service::this_platform();
    let installed = context.as_ref().map(|context| Installed {
        platform: platform.as_ref(),
        context,
        runner: &service::SystemRunner,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("keepwatch update: {err}"))?;
    let said = runtime.block_on(keepwatch::deploy::update::run(
        &config.update,
        &options,
        installed
            .as_ref()
            .map(|s| s as &dyn keepwatch::deploy::update::health::Service),
        Arc::new(SystemClock),
    ))?;
    println!("{said}");
    Ok(())
}

/// Runs the agent until it is stopped, or until the daily integrity check
/// finds the database damaged (keepwatch must then start again).
fn run_agent(path: &Path, explicit: bool) -> Result<Ended, String> {
    let runtime = agent::new_runtime()?;
    let ended = runtime.block_on(async {
        // Before anything else: a signal during start-up must find its handler.
        let shutdown = Shutdown::listen().map_err(|err| format!("cannot listen for Ctrl-C: {err}"))?;
        let hangup = Hangup::listen();
        let _idle_code = tokio::spawn(let_go_of_idle_code());
        let loaded = load(path, explicit)?;
        let _log = init_logging(&loaded.config);
        if let Origin::LastGood(err) = &loaded.origin {
            tracing::error!(
                "{err}\nTHE CONFIG FILE IS BROKEN: keepwatch is running on the last good copy ({}) until you fix the problems above.",
                config::last_good_path(path).display()
            );
        }
        let config = loaded.config;
        let database = database_path(&config)?;
        // One keepwatch at a time, before a damaged file could be moved aside.
        Store::create_folder(&database).map_err(|err| err.to_string())?;
        let _lock = agent::claim(&database).map_err(|err| err.to_string())?;
        let (store, recovery) = Store::open_for_run(&database, &config.storage, SystemClock.now())
            .map_err(|err| err.to_string())?;
        tracing::info!("keeping history in {}", database.display());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let host = config.agent.host_name();
        let source = SystemSource::new().map_err(|err| err.to_string())?;
        let config_for_api = api::Settings {
            api: config.api.clone(),
            services: config.services.clone(),
            calendar: calendar(&config)?,
            alerter: config.alerter(),
            channels: config.channels.clone(),
            host: host.clone(),
            storage: config.storage.clone(),
            config: config.clone(),
        };
        let mut agent = Agent::new(config, host, clock.clone(), Box::new(source), store);
        if let Some(recovery) = &recovery {
            agent.database_recovered(recovery);
        }
        if let Origin::LastGood(err) = &loaded.origin {
            let first = err.problems.first().map(ToString::to_string).unwrap_or_default();
            agent.event(clock.now(), "config", &format!("started on the last good config; the file is broken: {first}"));
        }
        // Monitoring goes on without the API (a port taken by another program).
        let mut _api = api::spawn(&config_for_api, &database, clock.clone())
            .await
            .inspect_err(|err| tracing::error!("{err}; monitoring goes on without the API"));
        let (pings, deliveries) = match &mut _api {
            Ok(Some(running)) => (running.pings.clone(), running.deliveries.take()),
            _ => (Arc::default(), None),
        };
        let api_address = match &_api {
            Ok(Some(running)) => Some(format!(
                "{}://{}/api/v1",
                config_for_api.api.scheme(),
                running.addr
            )),
            _ => None,
        };
        let whereabouts = agent::Whereabouts {
            settings: path,
            origin: &loaded.origin,
            database: &database,
            api: api_address.as_deref(),
        };
        say_part!("{}", agent::start_summary(agent.config(), &config_for_api.host, whereabouts));
        // Scheduled reports are made beside the agent and follow its config.
        let wake = Arc::new(tokio::sync::Notify::new());
        let (configs, followed) = tokio::sync::watch::channel(agent.config().clone());
        // On an agent, what it records goes to its hub beside it.
        let _uplink = agent::uplink::spawn(&database, agent.config(), clock.clone(), followed.clone());
        // Each in a child process of this program, whose memory goes back to
        // the system when the report is made.
        let maker = std::env::current_exe()
            .map_or(report::child::Maker::InProcess, report::child::Maker::Child);
        let _reports = report::schedule::spawn(
            &database,
            maker,
            agent.config(),
            clock.clone(),
            followed,
            wake.clone(),
        );
        // So is remote write (`[export]`), which idles while it is not set.
        let _export = keepwatch::export::spawn(&database, clock.clone(), configs.subscribe());
        // `[update] automatic`: a daily look for a release outside opening
        // hours, following each reload of the config.
        let launch = automatic::Launch {
            binary: std::env::current_exe().map_err(|err| format!("cannot tell where this keepwatch is: {err}"))?,
            config: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            // systemd sets INVOCATION_ID for the processes of a unit.
            under_systemd: std::env::var_os("INVOCATION_ID").is_some(),
        };
        let _updates = automatic::spawn(configs.subscribe(), &database, launch, clock.clone());
        let options = RunOptions {
            config_path: path.to_path_buf(),
            watch_every: std::time::Duration::from_secs(5),
            configs: Some(Arc::new(configs)),
            wake,
            pings,
            deliveries,
        };
        let ended = agent::run(agent, clock, options, shutdown.requested(), hangup).await;
        if ended == Ended::Stopped {
            tracing::info!("stopped cleanly");
        }
        Ok::<_, String>(ended)
    })?;
    // Work on blocking threads (a report being made) is not waited for long:
    // a restart ends it with the process, as a kill would.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(ended)
}

/// How long after the start the code that only start-up ran is let go of:
/// by then every service has been checked once and every metric family
/// read once.
const START_UP: std::time::Duration = std::time::Duration::from_secs(30);

/// Lets go of the code that ran only at start-up once start-up is over, then
/// every hour, after the hourly chores (sealing, retention) and any reload:
/// what keeps running comes back at once, the rest stays out of memory; the
/// heap start-up freed goes back to the system too (`resident.rs`, issue 11).
async fn let_go_of_idle_code() {
    let first = tokio::time::Instant::now() + START_UP;
    let mut every = tokio::time::interval_at(first, std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        keepwatch::resident::let_go_of_idle_memory("start-up or the hourly chores");
    }
}

/// Starts `keepwatch run` again in this process, with the same arguments
/// and environment, after the daily integrity check found the database
/// damaged: `exec` closes every connection to the file, and the start's
/// recovery then moves it aside and copies what can be read (see
/// `agent::integrity` for why not in place). Where that is not possible,
/// the error says to start keepwatch again; a service manager does.
fn start_again() -> Result<(), String> {
    let advice = "start keepwatch again (a service manager does it by itself): at start it moves the damaged database aside, starts a new one and copies over what can still be read";
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let program = std::env::current_exe().map_err(|err| {
            format!("keepwatch cannot find its own program to start again ({err}); {advice}")
        })?;
        let err = std::process::Command::new(&program)
            .args(std::env::args_os().skip(1))
            .exec();
        Err(format!(
            "keepwatch could not start {} again ({err}); {advice}",
            program.display()
        ))
    }
    #[cfg(not(unix))]
    Err(format!("keepwatch's database is damaged; {advice}"))
}

fn show_status(path: &Path, explicit: bool) -> Result<(), String> {
    let loaded = load(path, explicit)?;
    let database = database_path(&loaded.config)?;
    if !database.exists() {
        say!(
            "keepwatch has not run yet on this computer (no data in {}).\nStart it with `keepwatch run`.",
            database.display()
        );
        return Ok(());
    }
    let mut store =
        Store::open(&database, &loaded.config.storage).map_err(|err| err.to_string())?;
    let now = SystemClock.now();
    // A heartbeat added since keepwatch last started gets its ping URL now.
    pings::keys(&mut store, &loaded.config.services, now).map_err(|err| err.to_string())?;
    let status = read_status(&loaded.config, &store, now)?;
    let tz = status_zone(&loaded.config)?;
    let settings = status::SettingsInUse {
        path: &loaded.path,
        origin: &loaded.origin,
    };
    say_part!("{}", status::render(&status, Some(settings), now, &tz));
    say_part!("{}", status::render_alerts(&status, now, &tz));
    Ok(())
}

/// The status of `config`'s host from `store`, as `status`, `alerts` and the API show it.
fn read_status(
    config: &Config,
    store: &Store,
    now: jiff::Timestamp,
) -> Result<status::StatusView, String> {
    let host = config.agent.host_name();
    let calendar = calendar(config)?;
    let alerter = config.alerter();
    let sources = status::Sources {
        host: &host,
        services: &config.services,
        calendar: &calendar,
        alerter: &alerter,
        channels: &config.channels,
    };
    let mut status =
        status::StatusView::read(store, sources, now).map_err(|err| err.to_string())?;
    status::add_ping_urls(
        &mut status.services,
        store,
        &config.services,
        &config.api,
        &host,
    )
    .map_err(|err| err.to_string())?;
    Ok(status)
}

/// The business time zone, in which every time is shown.
fn status_zone(config: &Config) -> Result<jiff::tz::TimeZone, String> {
    Ok(calendar(config)?.time_zone().clone())
}

/// The store of an existing database, for commands that act on what `run` recorded.
fn existing_store(config: &Config) -> Result<Store, String> {
    let database = database_path(config)?;
    if !database.exists() {
        return Err(format!(
            "keepwatch has not run yet on this computer (no data in {}). Start it with `keepwatch run`.",
            database.display()
        ));
    }
    Store::open(&database, &config.storage).map_err(|err| err.to_string())
}

fn acknowledge(path: &Path, explicit: bool, id: i64, by: &str) -> Result<(), String> {
    let loaded = load(path, explicit)?;
    let mut store = existing_store(&loaded.config)?;
    let zone = calendar(&loaded.config)?.time_zone().clone();
    let alert = store
        .acknowledge(id, by, SystemClock.now())
        .map_err(|err| match err {
            // People read times in the business time zone.
            AckError::Already { id, title, by, at } => format!(
                "alert {id} ({}) was already acknowledged by {} on {}",
                printable::name(&title),
                printable::name(&by),
                at.to_zoned_datetime(zone).strftime("%a %d %b at %H:%M")
            ),
            other => other.to_string(),
        })?;
    say!(
        "Alert {id} ({}) is acknowledged by {by}: keepwatch stops escalating and reminding. You still hear when it is resolved.",
        alert.title
    );
    Ok(())
}

fn list_alerts(path: &Path, explicit: bool) -> Result<(), String> {
    let loaded = load(path, explicit)?;
    let store = existing_store(&loaded.config)?;
    let now = SystemClock.now();
    let status = read_status(&loaded.config, &store, now)?;
    let tz = status_zone(&loaded.config)?;
    say_part!("{}", status::render_alerts(&status, now, &tz));
    Ok(())
}

fn test_channels(path: &Path, explicit: bool, only: Option<&str>) -> Result<(), String> {
    let config = valid_config(path, explicit, "`keepwatch alert test` only tests")?;
    let mut channels = config.channels.clone();
    channels.push(keepwatch::notify::Channel::log());
    let known: Vec<String> = channels.iter().map(|c| c.name.clone()).collect();
    channels.retain(|c| only.is_none_or(|name| c.name == name));
    if channels.is_empty() {
        return Err(format!(
            "No channel is named \"{}\". The channels are: {}.",
            only.unwrap_or_default(),
            known.join(", ")
        ));
    }
    let runtime = agent::new_runtime()?;
    let _log = init_logging(&config);
    let results = runtime.block_on(keepwatch::notify::test_channels(
        &channels,
        &config.business.name,
        Arc::new(SystemClock),
    ));
    let mut failed = 0;
    for (name, result) in &results {
        match result {
            Ok(()) => say!("{name}: sent (the receiving server accepted it)"),
            Err(err) => {
                failed += 1;
                say!("{name}: FAILED: {}", err.reason);
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {} channels failed.", results.len()));
    }
    Ok(())
}

fn test_reports(path: &Path, explicit: bool, only: Option<&str>) -> Result<(), String> {
    let config = valid_config(path, explicit, "`keepwatch report test` only sends")?;
    let store = existing_store(&config)?;
    let calendar = calendar(&config)?;
    let _log = init_logging(&config);
    let made = report::schedule::make_now(&store, &config, &calendar, only, SystemClock.now())?;
    let mut failed = 0;
    let mut sends = Vec::new();
    let mut sent_for = Vec::new();
    for (table, result) in &made {
        match result {
            Ok((channel, message)) => {
                sent_for.push((table.title(), report::schedule::recipients(table, channel)));
                sends.push((channel.clone(), message.clone()));
            }
            Err(err) => {
                failed += 1;
                say!("{}: FAILED: {err}", table.title());
            }
        }
    }
    let runtime = agent::new_runtime()?;
    let results = runtime.block_on(keepwatch::notify::send_each(sends, Arc::new(SystemClock)));
    for ((title, to), result) in sent_for.iter().zip(&results) {
        match result {
            Ok(()) => say!("{title} to {to}: sent (the receiving server accepted it)"),
            Err(err) => {
                failed += 1;
                say!("{title} to {to}: FAILED: {}", err.reason);
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {} reports failed.", made.len()));
    }
    Ok(())
}

fn maintenance(path: &Path, explicit: bool, action: MaintenanceAction) -> Result<(), String> {
    let loaded = load(path, explicit)?;
    let config = loaded.config;
    let mut store = existing_store(&config)?;
    let now = SystemClock.now();
    let calendar = calendar(&config)?;
    let local = |at: jiff::Timestamp| {
        at.to_zoned_datetime(calendar.time_zone().clone())
            .strftime("%a %d %b %H:%M")
            .to_string()
    };
    match action {
        MaintenanceAction::Start {
            length,
            services,
            reason,
        } => {
            let request = status::WindowRequest {
                length: length.clone(),
                start: now,
                services,
                reason,
            };
            let window = status::start_window(&mut store, &config.services, request).map_err(
                |refusal| match refusal {
                    status::Refusal::Length(err) => format!(
                        "--for {length}: {err}. Write a length like \"30m\" or \"2h\"."
                    ),
                    status::Refusal::OutOfRange => {
                        "--for needs a length above zero and at most 400 days, like \"30m\" or \"2h\"."
                            .to_owned()
                    }
                    status::Refusal::UnknownService { name, known } => format!(
                        "No service is named \"{name}\". The services are: {}.",
                        known.join(", ")
                    ),
                    other => other.to_string(),
                },
            )?;
            let what = if window.services.is_empty() {
                "everything".to_owned()
            } else {
                window.services.join(", ")
            };
            say!(
                "Maintenance {} started: alerts about {what} are held back until {}. End it early with `keepwatch maintenance stop {}`.",
                window.id,
                local(window.end),
                window.id
            );
        }
        MaintenanceAction::Stop { id } => {
            let ended = store
                .end_maintenance(id, now)
                .map_err(|err| err.to_string())?;
            match (ended, id) {
                (0, Some(id)) => {
                    return Err(format!(
                        "Maintenance {id} is not running (see `keepwatch maintenance list`)."
                    ));
                }
                (0, None) => say!("No maintenance window is running."),
                (n, _) => say!("Ended {n} maintenance window(s); alerts flow again."),
            }
        }
        MaintenanceAction::List => {
            let tz = calendar.time_zone();
            let listed = status::list_windows(&config.maintenance, &store, now, tz)
                .map_err(|err| err.to_string())?;
            say_part!("{}", status::render_windows(&listed, tz));
        }
    }
    Ok(())
}

/// What `keepwatch report` was asked for.
struct ReportRequest {
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
    audience: String,
    format: String,
    out: Option<PathBuf>,
}

fn write_report(path: &Path, explicit: bool, request: &ReportRequest) -> Result<(), String> {
    let audience: report::Audience = request
        .audience
        .parse()
        .map_err(|err| format!("--audience: {err}"))?;
    let format: report::Format = request.format.parse()?;
    if format == report::Format::Pdf && request.out.is_none() {
        return Err("A PDF needs a file to go to: add --out report.pdf".to_owned());
    }
    let loaded = load(path, explicit)?;
    let config = loaded.config;
    let store = existing_store(&config)?;
    let calendar = calendar(&config)?;
    let now = SystemClock.now();
    let tz = calendar.time_zone();
    let period = report::period_for(
        request.period.as_deref(),
        request.from.as_deref(),
        request.to.as_deref(),
        now,
        tz,
    )?;
    let previous = period.previous(tz).ok();
    let inputs = report::Inputs {
        store: &store,
        config: &config,
        calendar: &calendar,
        period,
        previous,
        now,
        audience,
    };
    let model = report::build(&inputs).map_err(|err| err.to_string())?;
    let bytes = report::render(&model, format)?;
    match &request.out {
        Some(file) => {
            std::fs::write(file, bytes)
                .map_err(|err| format!("cannot write the report to {}: {err}", file.display()))?;
            say!("Wrote the report to {}.", file.display());
        }
        None => say_part!("{}", String::from_utf8_lossy(&bytes)),
    }
    Ok(())
}

fn tokens(path: &Path, explicit: bool, action: TokenAction) -> Result<(), String> {
    let config = valid_config(path, explicit, "tokens are kept in the database named by")?;
    let database = database_path(&config)?;
    let mut store = Store::open(&database, &config.storage).map_err(|err| err.to_string())?;
    match action {
        TokenAction::Create { name, role } => {
            let role = api::Role::parse(&role).unwrap_or(api::Role::Viewer);
            let token = api::create_token(&mut store, &name, role, SystemClock.now())
                .map_err(|err| err.to_string())?;
            say!(
                "Token {name:?} ({}):\n\n    {token}\n\nCopy it now: keepwatch keeps only a fingerprint of it and cannot show it again.\nUse it as the header `Authorization: Bearer <token>`; `keepwatch token revoke {name}` stops it.",
                role.as_str()
            );
        }
        TokenAction::List => {
            let list = store.tokens().map_err(|err| err.to_string())?;
            if list.is_empty() {
                say!("No tokens yet. `keepwatch token create NAME --role viewer` makes one.");
            }
            for token in list {
                say!(
                    "{:<24} {:<7} {:<18} created {}",
                    token.name,
                    token.role,
                    token.shown,
                    token.created.strftime("%Y-%m-%d %H:%M UTC")
                );
            }
        }
        TokenAction::Revoke { name } => {
            if !store.revoke_token(&name).map_err(|err| err.to_string())? {
                return Err(format!(
                    "There is no token named {name:?}; `keepwatch token list` shows them."
                ));
            }
            say!("Token {name:?} no longer works.");
        }
    }
    Ok(())
}

fn agents(path: &Path, explicit: bool, action: AgentAction) -> Result<(), String> {
    let config = valid_config(path, explicit, "agents are kept in the database named by")?;
    let database = database_path(&config)?;
    let mut store = Store::open(&database, &config.storage).map_err(|err| err.to_string())?;
    match action {
        AgentAction::Add { name, url } => {
            if name.eq_ignore_ascii_case(&config.agent.host_name()) {
                return Err(format!(
                    "{name:?} is this computer's own name; give the other server a name of its own"
                ));
            }
            let token = api::create_token(&mut store, &name, api::Role::Agent, SystemClock.now())
                .map_err(|err| match err {
                    api::TokenError::Exists(_) => format!(
                        "there is already an agent or token named {name:?}; `keepwatch agent remove {name}` first to give it a new token"
                    ),
                    other => other.to_string(),
                })?;
            let machine =
                sysinfo::System::host_name().unwrap_or_else(|_| "this-computer".to_owned());
            let (guessed, warnings) = config::hub_url(&config.api, &machine);
            let url = url.unwrap_or(guessed);
            say!(
                "Agent {name:?} added. On {name}, install keepwatch, then run:\n\n    keepwatch init --hub {url} --token {token}\n\nand start it there with `keepwatch run` (or `keepwatch service install`). The token is shown only now."
            );
            for warning in warnings {
                say!("\nNote: {warning}");
            }
        }
        AgentAction::List => {
            let now = SystemClock.now();
            let statuses = store.service_statuses().map_err(|err| err.to_string())?;
            let views =
                status::agent_views(&store, &statuses, &[]).map_err(|err| err.to_string())?;
            say_part!(
                "{}",
                status::render_agents(&views, now, &status_zone(&config)?)
            );
        }
        AgentAction::Remove { name } => {
            let is_agent = store
                .tokens()
                .map_err(|err| err.to_string())?
                .iter()
                .any(|t| t.name == name && t.role == keepwatch::store::AGENT_ROLE);
            if !is_agent || !store.revoke_token(&name).map_err(|err| err.to_string())? {
                return Err(format!(
                    "There is no agent named {name:?}; `keepwatch agent list` shows them."
                ));
            }
            say!(
                "{name:?} can no longer send to this hub; its history stays here. What it has not sent yet stays on {name} until you add it again (`keepwatch agent add {name}`, then the new token in its [hub] section)."
            );
        }
    }
    Ok(())
}

fn join_hub(path: PathBuf, url: &str, token: &str, force: bool, scan: bool) -> Result<(), String> {
    if path.exists() && !force {
        return Err(init::InitError::Exists(path).to_string());
    }
    let options = InitOptions {
        path,
        defaults: true,
        force,
        detected_timezone: jiff::tz::TimeZone::system().iana_name().map(str::to_owned),
        found: if scan { Some(find_services()?) } else { None },
    };
    let written =
        init::join_hub(&options, url, token, SystemClock.now()).map_err(|err| err.to_string())?;
    if let Some(backup) = &written.backup {
        say!("The previous file was kept as {}.", backup.display());
    }
    say!(
        "Wrote {} (the token is in hub-token beside it).",
        written.path.display()
    );
    if !written.watched.is_empty() {
        say!(
            "It checks what it found here: {}.",
            written.watched.join(", ")
        );
    }
    let loaded = load(&written.path, true)?;
    let runtime = agent::new_runtime()?;
    match runtime.block_on(agent::uplink::hello(&loaded.config, Arc::new(SystemClock))) {
        Ok(ack) => say!(
            "The hub at {url} takes this computer's data: it knows it as {:?}. Start monitoring with `keepwatch run` (or `keepwatch service install`).",
            ack.host
        ),
        Err(why) => say!(
            "The hub could not be reached yet: {why}.\nkeepwatch keeps what it measures here and sends it once the hub answers; start it with `keepwatch run`."
        ),
    }
    Ok(())
}

/// Runs the checks once; fails (exit code 1) when any service is down, so a
/// script or the admin can tell at a glance.
fn check_services(path: &Path, explicit: bool, name: Option<&str>) -> Result<(), String> {
    let config = valid_config(path, explicit, "`keepwatch check` only checks")?;
    let services: Vec<_> = config
        .services
        .iter()
        .filter(|spec| name.is_none_or(|name| spec.common.name.eq_ignore_ascii_case(name)))
        .cloned()
        .collect();
    if config.services.is_empty() {
        return Err(format!(
            "There are no services in {} yet. Add a [[service]] block (the file has examples at its end).",
            path.display()
        ));
    }
    if services.is_empty() {
        let known: Vec<_> = config
            .services
            .iter()
            .map(|s| printable::name(&s.common.name))
            .collect();
        return Err(format!(
            "No service is named \"{}\". The services are: {}.",
            printable::name(name.unwrap_or_default()),
            known.join(", ")
        ));
    }
    let runtime = agent::new_runtime()?;
    let checker = Arc::new(Checker::new(Arc::new(SystemClock)));
    let (heartbeats, checked): (Vec<ServiceSpec>, Vec<ServiceSpec>) = services
        .iter()
        .cloned()
        .partition(|spec| matches!(spec.check, CheckSpec::Heartbeat(_)));
    let mut checked = runtime
        .block_on(check_all(checker, &checked, config.checks.max_concurrent))
        .into_iter();
    let (judged, urls): (Vec<CheckOutcome>, Vec<String>) = judge_heartbeats(&config, &heartbeats)?
        .into_iter()
        .zip(&heartbeats)
        .map(|((outcome, url), spec)| {
            (
                outcome,
                format!("  {}: {url}", printable::name(&spec.common.name)),
            )
        })
        .unzip();
    let mut judged = judged.into_iter();
    let outcomes: Vec<CheckOutcome> = services
        .iter()
        .filter_map(|spec| match spec.check {
            CheckSpec::Heartbeat(_) => judged.next(),
            _ => checked.next(),
        })
        .collect();
    say_part!("{}", status::render_checks(&services, &outcomes));
    if !urls.is_empty() && !config.api.enabled {
        say!(
            "\nThe API is switched off ([api] enabled = false), so heartbeats report with `keepwatch ping NAME` on this computer."
        );
    } else if !urls.is_empty() {
        say!(
            "\nHeartbeats report to (no token needed; `keepwatch ping NAME` does the same on this computer):\n{}",
            urls.join("\n")
        );
    }
    if outcomes
        .iter()
        .any(|o| o.was_run() && o.state == State::Down)
    {
        return Err("At least one service is down.".to_owned());
    }
    if outcomes.iter().any(|o| !o.was_run()) {
        return Err("At least one service could not be checked.".to_owned());
    }
    Ok(())
}

/// Each heartbeat's outcome now and ping URL, judged from the pings in the
/// store (made, with its key, if keepwatch has not run yet).
fn judge_heartbeats(
    config: &Config,
    heartbeats: &[ServiceSpec],
) -> Result<Vec<(CheckOutcome, String)>, String> {
    if heartbeats.is_empty() {
        return Ok(Vec::new());
    }
    let mut store =
        Store::open(&database_path(config)?, &config.storage).map_err(|err| err.to_string())?;
    let now = SystemClock.now();
    let zone = status_zone(config)?;
    let keys = pings::keys(&mut store, heartbeats, now).map_err(|err| err.to_string())?;
    heartbeats
        .iter()
        .zip(keys)
        .map(|(spec, key)| {
            let CheckSpec::Heartbeat(heartbeat) = &spec.check else {
                return Err(format!("{} is not a heartbeat", spec.common.name));
            };
            let reports = pings::reports(&store, &key).map_err(|err| err.to_string())?;
            let judged = heartbeat.judge(&spec.common.name, &reports, now, &zone);
            let url = status::ping_url(&config.api, &config.agent.host_name(), &key.key);
            Ok((judged.outcome, url))
        })
        .collect()
}

/// Records a report of the heartbeat `name`, for `keepwatch ping`.
fn ping(
    path: &Path,
    explicit: bool,
    name: &str,
    signal: Signal,
    log: Option<&str>,
) -> Result<(), String> {
    let config = load(path, explicit)?.config;
    let heartbeats: Vec<&ServiceSpec> = pings::heartbeats(&config.services).collect();
    let Some(spec) = heartbeats
        .iter()
        .find(|spec| spec.common.name == name)
        .or_else(|| {
            heartbeats
                .iter()
                .find(|spec| spec.common.name.eq_ignore_ascii_case(name))
        })
    else {
        if heartbeats.is_empty() {
            return Err(format!(
                "There is no heartbeat in {} yet. Add a [[service]] with type = \"heartbeat\" and every = \"1d\" (the file has an example at its end).",
                path.display()
            ));
        }
        let known: Vec<String> = heartbeats
            .iter()
            .map(|spec| printable::name(&spec.common.name).into_owned())
            .collect();
        return Err(format!(
            "No heartbeat is named \"{}\". The heartbeats are: {}.",
            printable::name(name),
            known.join(", ")
        ));
    };
    let name = spec.common.name.as_str();
    let mut store =
        Store::open(&database_path(&config)?, &config.storage).map_err(|err| err.to_string())?;
    let now = SystemClock.now();
    pings::keys(&mut store, &config.services, now).map_err(|err| err.to_string())?;
    pings::record(&mut store, name, signal, now, log, "keepwatch ping")
        .map_err(|err| err.to_string())?;
    let what = match signal {
        Signal::Success => "success".to_owned(),
        Signal::Start => "start".to_owned(),
        Signal::Failure(None) => "failure".to_owned(),
        Signal::Failure(Some(code)) => format!("failure (exit code {code})"),
    };
    say!("{}: {what} recorded.", printable::name(name));
    Ok(())
}

/// The config as `keepwatch run` would start with it (the last good copy if
/// the file is broken).
fn load(path: &Path, explicit: bool) -> Result<config::Loaded, String> {
    config::load_for_start(path, explicit).map_err(|err| err.to_string())
}

/// The config of the file itself, for commands that must not act on a last
/// good copy; `refusal` says what the command does only with a valid file.
fn valid_config(path: &Path, explicit: bool, refusal: &str) -> Result<Config, String> {
    let loaded = load(path, explicit)?;
    if let Origin::LastGood(err) = &loaded.origin {
        return Err(format!(
            "{err}\nFix these problems first; {refusal} a valid config."
        ));
    }
    Ok(loaded.config)
}

fn calendar(config: &Config) -> Result<Calendar, String> {
    Calendar::from_config(&config.business, jiff::tz::TimeZone::system())
}

fn database_path(config: &Config) -> Result<PathBuf, String> {
    config.agent.database_path()
}

/// Logs to standard error through a writer that never holds monitoring up;
/// keep what it returns until the command ends, so the last lines are written.
fn init_logging(config: &Config) -> LogFlush {
    let level = config
        .log
        .level
        .parse::<tracing_subscriber::filter::LevelFilter>()
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    let zone =
        calendar(config).map_or_else(|_| jiff::tz::TimeZone::system(), |c| c.time_zone().clone());
    let (pipe, flush) = LogPipe::new(std::io::stderr());
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_timer(LogTime::new(Arc::new(SystemClock), zone))
        .with_writer(pipe)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    flush
}
