//! The `keepwatch` command line: each subcommand is a thin call into the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use keepwatch::agent::{self, Agent, RunOptions, Shutdown};
use keepwatch::calendar::Calendar;
use keepwatch::checks::{Checker, State, check_all};
use keepwatch::clock::{Clock, SystemClock};
use keepwatch::collect::SystemSource;
use keepwatch::config::{self, Config, Origin};
use keepwatch::deploy::init::{self, InitOptions};
use keepwatch::status;
use keepwatch::store::Store;

/// Monitoring for small businesses: watches this computer and the services
/// your business depends on, and tells you in plain words how they are doing.
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
    },
    /// Monitor in the foreground until Ctrl-C.
    Run,
    /// Show the latest state of this computer and of each service.
    Status,
    /// Check every service (or the one named) once now and say what was found.
    Check {
        /// Only the service with this name.
        name: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let explicit = cli.config.is_some();
    let path = cli.config.unwrap_or_else(|| {
        let here = std::env::current_dir().unwrap_or_default();
        config::default_path(&here, dirs::config_dir().as_deref())
    });
    let result = match cli.command {
        Command::Init { defaults, force } => run_init(path, defaults, force),
        Command::Run => run_agent(&path, explicit),
        Command::Status => show_status(&path, explicit),
        Command::Check { name } => check_services(&path, explicit, name.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run_init(path: PathBuf, defaults: bool, force: bool) -> Result<(), String> {
    let options = InitOptions {
        path,
        defaults,
        force,
        detected_timezone: jiff::tz::TimeZone::system().iana_name().map(str::to_owned),
    };
    let stdin = std::io::stdin();
    let written = init::run(
        &options,
        SystemClock.now(),
        &mut stdin.lock(),
        &mut std::io::stdout(),
    )
    .map_err(|err| err.to_string())?;
    if let Some(backup) = &written.backup {
        println!("The previous file was kept as {}.", backup.display());
    }
    println!(
        "Wrote {}. Every setting in it is explained; start monitoring with `keepwatch run`.",
        written.path.display()
    );
    Ok(())
}

fn run_agent(path: &Path, explicit: bool) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start: {err}"))?;
    runtime.block_on(async {
        let shutdown = Shutdown::listen().map_err(|err| format!("cannot listen for Ctrl-C: {err}"))?;
        let loaded = config::load_for_start(path, explicit).map_err(|err| err.to_string())?;
        init_logging(&loaded.config);
        match &loaded.origin {
            Origin::Defaults => tracing::info!(
                "no config file at {}: watching this computer with the built-in defaults (`keepwatch init` writes one)",
                path.display()
            ),
            Origin::File => tracing::info!("using the config in {}", path.display()),
            Origin::LastGood(err) => tracing::error!(
                "{err}\nTHE CONFIG FILE IS BROKEN: keepwatch is running on the last good copy ({}) until you fix the problems above.",
                config::last_good_path(path).display()
            ),
        }
        let config = loaded.config;
        let database = database_path(&config)?;
        let store = Store::open(&database, &config.storage).map_err(|err| err.to_string())?;
        tracing::info!("keeping history in {}", database.display());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let host = host_name(&config);
        let source = SystemSource::new().map_err(|err| err.to_string())?;
        let mut agent = Agent::new(config, host, clock.clone(), Box::new(source), store);
        if let Origin::LastGood(err) = &loaded.origin {
            let first = err.problems.first().map(ToString::to_string).unwrap_or_default();
            agent.event(clock.now(), "config", &format!("started on the last good config; the file is broken: {first}"));
        }
        let options = RunOptions {
            config_path: path.to_path_buf(),
            watch_every: std::time::Duration::from_secs(5),
        };
        agent::run(agent, clock, options, shutdown.requested()).await;
        tracing::info!("stopped cleanly");
        Ok(())
    })
}

fn show_status(path: &Path, explicit: bool) -> Result<(), String> {
    let loaded = config::load_for_start(path, explicit).map_err(|err| err.to_string())?;
    let database = database_path(&loaded.config)?;
    if !database.exists() {
        println!(
            "keepwatch has not run yet on this computer (no data in {}).\nStart it with `keepwatch run`.",
            database.display()
        );
        return Ok(());
    }
    let store = Store::open(&database, &loaded.config.storage).map_err(|err| err.to_string())?;
    let now = SystemClock.now();
    let calendar = Calendar::from_config(&loaded.config.business, jiff::tz::TimeZone::system())?;
    let summary = status::summarize(&store, &database, now).map_err(|err| err.to_string())?;
    let latest = store.latest().map_err(|err| err.to_string())?;
    let states = store.service_statuses().map_err(|err| err.to_string())?;
    let month_ago = now
        .saturating_sub(jiff::SignedDuration::from_hours(24 * 30))
        .unwrap_or(now);
    let incidents = store
        .incidents(month_ago, now)
        .map_err(|err| err.to_string())?;
    let services = status::ServicesView {
        specs: &loaded.config.services,
        states: &states,
        incidents: &incidents,
    };
    print!(
        "{}",
        status::render(&summary, services, &latest, now, &calendar)
    );
    Ok(())
}

/// Runs the checks once; fails (exit code 1) when any service is down, so a
/// script or the admin can tell at a glance.
fn check_services(path: &Path, explicit: bool, name: Option<&str>) -> Result<(), String> {
    let loaded = config::load_for_start(path, explicit).map_err(|err| err.to_string())?;
    if let Origin::LastGood(err) = &loaded.origin {
        return Err(format!(
            "{err}\nFix these problems first; `keepwatch check` only checks a valid config."
        ));
    }
    let config = loaded.config;
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
            .map(|s| s.common.name.as_str())
            .collect();
        return Err(format!(
            "No service is named \"{}\". The services are: {}.",
            name.unwrap_or_default(),
            known.join(", ")
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start: {err}"))?;
    let checker = Arc::new(Checker::new(Arc::new(SystemClock)));
    let outcomes = runtime.block_on(check_all(checker, &services, config.checks.max_concurrent));
    print!("{}", status::render_checks(&services, &outcomes));
    if outcomes.iter().any(|o| o.state == State::Down) {
        return Err("At least one service is down.".to_owned());
    }
    Ok(())
}

/// The database file: in `[agent] data_dir`, else the per-user data folder.
fn database_path(config: &Config) -> Result<PathBuf, String> {
    let dir = if config.agent.data_dir.as_os_str().is_empty() {
        dirs::data_local_dir()
            .map(|dir| dir.join("keepwatch"))
            .ok_or(
                "cannot tell where this user's data folder is; set data_dir in the [agent] section",
            )?
    } else {
        config.agent.data_dir.clone()
    };
    Ok(dir.join("keepwatch.db"))
}

fn host_name(config: &Config) -> String {
    if config.agent.name.is_empty() {
        sysinfo::System::host_name().unwrap_or_else(|_| "this-computer".to_owned())
    } else {
        config.agent.name.clone()
    }
}

fn init_logging(config: &Config) {
    let level = config
        .log
        .level
        .parse::<tracing_subscriber::filter::LevelFilter>()
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
