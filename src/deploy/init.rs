//! `keepwatch init`: a few plain questions (or none, with `--defaults`), then a
//! commented `keepwatch.toml` generated from the typed defaults.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::discover::{self, Found};
use super::mail_setup;
use super::prompt::{ask, confirm, email_address};
use crate::calendar::DayHours;
use crate::config::{Config, ReportConfig, commented_with};
use crate::notify::Channel;

/// What `init` was asked to do.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Where to write the file.
    pub path: PathBuf,
    /// Ask nothing; use the defaults (and the detected time zone).
    pub defaults: bool,
    /// Replace an existing file (a backup copy is kept).
    pub force: bool,
    /// The time zone detected on this computer, offered as the answer.
    pub detected_timezone: Option<String>,
    /// The services found listening on this computer (`discover::find`),
    /// `None` when it was not looked at: those whose check passed are
    /// watched (with `defaults`) or offered, the others written commented
    /// out with what their check said.
    pub found: Option<Vec<Found>>,
}

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The file is there and `--force` was not given.
    #[error("{} already exists; keepwatch left it alone. To replace it (a backup copy is kept), run `keepwatch init --force`", .0.display())]
    Exists(PathBuf),
    /// Reading answers or writing files failed.
    #[error("could not write {}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// What `init` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The new config file.
    pub path: PathBuf,
    /// Where the previous file was moved, when one was replaced.
    pub backup: Option<PathBuf>,
    /// The services found on this computer that the file watches.
    pub watched: Vec<String>,
}

/// Sends a test message through a channel, for the named business: `Err`
/// says why it failed.
pub type ChannelTest<'a> = &'a dyn Fn(&Channel, &str) -> Result<(), String>;

/// Asks the questions on `input`/`output` (unless `defaults`), then writes
/// the file; when an email channel was set up, offers to try it with `test`.
pub fn run(
    options: &InitOptions,
    now: Timestamp,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    test: ChannelTest<'_>,
) -> Result<Written, InitError> {
    if options.path.exists() && !options.force {
        return Err(InitError::Exists(options.path.clone()));
    }
    let io_error = |source| InitError::Io {
        path: options.path.clone(),
        source,
    };
    let mut config = Config::default();
    config.business.timezone = options.detected_timezone.clone().unwrap_or_default();
    let looked = options.found.is_some();
    let mut chosen: Vec<(Found, bool)> = options
        .found
        .iter()
        .flatten()
        .map(|found| (found.clone(), found.works))
        .collect();
    if !options.defaults {
        ask_questions(&mut config, (looked, &mut chosen), input, output).map_err(io_error)?;
    }
    let text = commented_with(&config, &discover::config_text(&chosen));
    let mut written = write(&options.path, &text, now)?;
    written.watched = chosen
        .iter()
        .filter(|(_, watch)| *watch)
        .map(|(found, _)| found.name.clone())
        .collect();
    list_secrets(&config, &options.path, output)?;
    if let Some(channel) = config.channels.first() {
        let business = &config.business.name;
        offer_test(channel, business, &options.path, input, output, test).map_err(io_error)?;
    }
    Ok(written)
}

/// Lists each secret the config reads from the environment in the
/// environment file beside it, and says where its value goes: a background
/// service does not see what the admin exports in a terminal.
fn list_secrets(config: &Config, path: &Path, output: &mut dyn Write) -> Result<(), InitError> {
    let file = crate::secret::env_file_path(path);
    let io_error = |source| InitError::Io {
        path: file.clone(),
        source,
    };
    for name in config.env_secrets() {
        let added = crate::secret::list_in_env_file(&file, &name).map_err(io_error)?;
        let said = if added {
            format!(
                "\nWrite the password into {} after `{name}=`. Only you can read that file, and keepwatch reads it whenever it starts, also in the background, where what you `export` in a terminal does not reach.",
                file.display()
            )
        } else {
            format!(
                "\n{name} is already listed in {}, where keepwatch reads it.",
                file.display()
            )
        };
        writeln!(output, "{said}").map_err(io_error)?;
    }
    Ok(())
}

/// Sends a test message if the admin agrees, and says what to fix if it fails.
fn offer_test(
    channel: &Channel,
    business: &str,
    path: &Path,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    test: ChannelTest<'_>,
) -> std::io::Result<()> {
    if !confirm(input, output, "\nSend a test email now?", true)? {
        return writeln!(
            output,
            "Try it later with `keepwatch alert test {}`.",
            channel.name
        );
    }
    match test(channel, business) {
        Ok(()) => writeln!(
            output,
            "The mail server accepted the test message: look for it in your inbox (and the spam folder)."
        ),
        Err(why) => writeln!(
            output,
            "The test message could not be sent: {why}\nFix the [[channel]] named \"{}\" in {} (server, port, security, username, password), then try again with `keepwatch alert test {}`.",
            channel.name,
            path.display(),
            channel.name
        ),
    }
}

fn ask_questions(
    config: &mut Config,
    found: (bool, &mut [(Found, bool)]),
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        output,
        "A few questions to set keepwatch up. Press Enter to accept the answer in [brackets].\n"
    )?;
    let business = &mut config.business;
    business.name = ask(
        input,
        output,
        "Name of your business",
        &business.name,
        |_| Ok(()),
    )?;
    business.timezone = ask(
        input,
        output,
        "Time zone (like Europe/Berlin)",
        &business.timezone,
        |tz| {
            if tz.is_empty() || jiff::tz::TimeZone::get(tz).is_ok() {
                Ok(())
            } else {
                Err(format!(
                    "\"{tz}\" is not a time zone keepwatch knows; write it like Europe/Berlin or America/New_York"
                ))
            }
        },
    )?;
    let hours = |text: &str| text.parse::<DayHours>().map(|_| ());
    let weekdays = ask(
        input,
        output,
        "Opening hours Monday to Friday",
        &business.hours.monday,
        hours,
    )?;
    for day in [
        &mut business.hours.monday,
        &mut business.hours.tuesday,
        &mut business.hours.wednesday,
        &mut business.hours.thursday,
        &mut business.hours.friday,
    ] {
        day.clone_from(&weekdays);
    }
    business.hours.saturday = ask(
        input,
        output,
        "Opening hours on Saturday",
        &business.hours.saturday,
        hours,
    )?;
    business.hours.sunday = ask(
        input,
        output,
        "Opening hours on Sunday",
        &business.hours.sunday,
        hours,
    )?;
    if let (true, found) = found {
        choose_services(found, input, output)?;
    }
    business.admin_email = ask(
        input,
        output,
        "Your email address, for alerts",
        &business.admin_email,
        |email| match email {
            "" => Ok(()),
            _ => email_address(email),
        },
    )?;
    if !config.business.admin_email.is_empty()
        && let Some(channel) = mail_setup::ask(&config.business.admin_email, input, output)?
    {
        for steps in [
            &mut config.alerting.business_hours,
            &mut config.alerting.off_hours,
        ] {
            if let Some(first) = steps.first_mut() {
                first.notify.push(channel.name.clone());
            }
        }
        config.channels.push(channel);
    }
    ask_about_reports(config, input, output)
}

/// Offers each service found on this computer whose check passed; says
/// which others were found and why they are written commented out.
fn choose_services(
    found: &mut [(Found, bool)],
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> std::io::Result<()> {
    if found.is_empty() {
        return writeln!(
            output,
            "\nNo web server, database, Redis, mail or SSH server answered on this computer's usual ports; add services to the file later (see its end)."
        );
    }
    writeln!(output, "\nServices found on this computer:")?;
    for (one, watch) in found.iter_mut() {
        if one.works {
            writeln!(output, "{} on {}: {}", one.name, one.address, one.said)?;
            *watch = confirm(input, output, &format!("Watch {}?", one.name), true)?;
        } else {
            writeln!(
                output,
                "{} listens on {}, but its check did not pass: {}\n  It goes into the file commented out: fix its settings there to watch it.",
                one.name, one.address, one.said
            )?;
        }
    }
    Ok(())
}

/// The figures reports need: sales per open hour (for the cost of an
/// outage), and who gets the monthly report, which needs the mail server
/// that the email set-up just found.
fn ask_about_reports(
    config: &mut Config,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> std::io::Result<()> {
    let revenue = ask(
        input,
        output,
        "\nReports can estimate what an outage cost. Your sales per open hour, e.g. 400",
        "",
        |text| match text
            .trim_start_matches(&['€', '$', '£'][..])
            .replace(',', "")
            .parse::<f64>()
        {
            Ok(amount) if amount.is_finite() && amount >= 0.0 => Ok(()),
            _ => Err(format!(
                "\"{text}\" is not an amount; write a number like 400"
            )),
        },
    )?;
    if let Ok(amount) = revenue
        .trim_start_matches(&['€', '$', '£'][..])
        .replace(',', "")
        .parse::<f64>()
    {
        config.business.revenue_per_hour = amount;
    }
    let Some(mail) = config
        .channels
        .iter()
        .find(|c| matches!(c.kind, crate::notify::ChannelKind::Email(_)))
    else {
        return writeln!(
            output,
            "A monthly report by email needs the mail server set up; add a [[report]] to the file later (see its end)."
        );
    };
    let to = ask(
        input,
        output,
        "Who receives the monthly report by email? Addresses separated by commas",
        "",
        |text| {
            addresses(text)
                .iter()
                .try_for_each(|address| email_address(address))
        },
    )?;
    let to = addresses(&to);
    if !to.is_empty() {
        config.reports.push(ReportConfig {
            every: "month 1st 08:00".to_owned(),
            channel: Some(mail.name.clone()),
            to,
            ..ReportConfig::default()
        });
    }
    Ok(())
}

/// The addresses of a comma-separated answer.
fn addresses(text: &str) -> Vec<String> {
    text.split([',', ';'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `keepwatch init --hub URL --token TOKEN`: the config of an agent that
/// reports to the hub at `url` (its defaults otherwise: an agent needs no
/// channels, hours or rules of its own, the hub has them). The token goes
/// into a file of its own beside the config, readable by this user only,
/// which the config names (`file:`), so the config can be shown without it.
pub fn join_hub(
    options: &InitOptions,
    url: &str,
    token: &str,
    now: Timestamp,
) -> Result<Written, InitError> {
    if options.path.exists() && !options.force {
        return Err(InitError::Exists(options.path.clone()));
    }
    let token_path = options.path.with_file_name("hub-token");
    let io_error = |source| InitError::Io {
        path: token_path.clone(),
        source,
    };
    crate::secret::private_file(&token_path, false)
        .and_then(|mut f| writeln!(f, "{}", token.trim()))
        .map_err(io_error)?;
    let token_path = std::path::absolute(&token_path).unwrap_or(token_path);
    let mut config = Config::default();
    config.business.timezone = options.detected_timezone.clone().unwrap_or_default();
    config.hub.url = url.trim().to_owned();
    config.hub.token = Some(crate::secret::Secret::File(token_path));
    // The services found here are checked from here, as with --defaults.
    let chosen: Vec<(Found, bool)> = options
        .found
        .iter()
        .flatten()
        .map(|found| (found.clone(), found.works))
        .collect();
    let text = commented_with(&config, &discover::config_text(&chosen));
    let mut written = write(&options.path, &text, now)?;
    written.watched = chosen
        .into_iter()
        .filter(|(_, watch)| *watch)
        .map(|(found, _)| found.name)
        .collect();
    Ok(written)
}

fn write(path: &Path, text: &str, now: Timestamp) -> Result<Written, InitError> {
    let io_error = |source| InitError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_error)?;
    }
    let backup = if path.exists() {
        let mut name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(format!(".backup-{}", now.strftime("%Y%m%d-%H%M%S")));
        let backup = path.with_file_name(name);
        std::fs::copy(path, &backup).map_err(io_error)?;
        Some(backup)
    } else {
        None
    };
    // Write beside the target and rename, so a crash never leaves half a file.
    let partial = path.with_extension("toml.partial");
    std::fs::write(&partial, text).map_err(io_error)?;
    std::fs::rename(&partial, path).map_err(io_error)?;
    Ok(Written {
        path: path.to_path_buf(),
        backup,
        watched: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn options(dir: &Path) -> InitOptions {
        InitOptions {
            path: dir.join("conf").join("keepwatch.toml"),
            defaults: false,
            force: false,
            detected_timezone: Some("Europe/Berlin".to_owned()),
            found: None,
        }
    }

    fn untested(channel: &Channel, _: &str) -> Result<(), String> {
        panic!("no test was asked for, yet {} was tested", channel.name)
    }

    fn now() -> Timestamp {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn defaults_ask_nothing_and_write_a_config_that_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            defaults: true,
            ..options(dir.path())
        };
        let mut out = Vec::new();
        let written = run(&opts, now(), &mut "".as_bytes(), &mut out, &untested).unwrap();
        assert!(out.is_empty());
        let config = parse(
            &written.path,
            &std::fs::read_to_string(&written.path).unwrap(),
        )
        .unwrap();
        let mut expected = Config::default();
        expected.business.timezone = "Europe/Berlin".to_owned();
        assert_eq!(config, expected);
    }

    #[test]
    fn answers_end_up_in_the_file_and_bad_answers_are_asked_again() {
        let dir = tempfile::tempdir().unwrap();
        let answers = "Müller Shop\nMars/Olympus\nAmerica/New_York\n8 till 6\n08:00-18:00\n10:00-14:00\n\nbob\nbob@example.com\n";
        let mut out = Vec::new();
        let written = run(
            &options(dir.path()),
            now(),
            &mut answers.as_bytes(),
            &mut out,
            &untested,
        )
        .unwrap();
        let shown = String::from_utf8(out).unwrap();
        assert!(
            shown.contains("Time zone (like Europe/Berlin) [Europe/Berlin]: "),
            "{shown}"
        );
        assert!(
            shown.contains("\"Mars/Olympus\" is not a time zone"),
            "{shown}"
        );
        assert!(shown.contains("\"8 till 6\" is not a range"), "{shown}");
        assert!(
            shown.contains("\"bob\" does not look like an email address"),
            "{shown}"
        );
        let config = parse(
            &written.path,
            &std::fs::read_to_string(&written.path).unwrap(),
        )
        .unwrap();
        assert_eq!(config.business.name, "Müller Shop");
        assert_eq!(config.business.timezone, "America/New_York");
        assert_eq!(config.business.hours.wednesday, "08:00-18:00");
        assert_eq!(config.business.hours.saturday, "10:00-14:00");
        assert_eq!(config.business.hours.sunday, "closed");
        assert_eq!(config.business.admin_email, "bob@example.com");
    }

    #[test]
    fn an_email_address_leads_to_a_working_channel_that_the_steps_name_and_a_test() {
        let dir = tempfile::tempdir().unwrap();
        let answers = "Shop\n\n\n\n\nanna@example.com\nmail.local:25\n\n\n\n\n\n\nyes\n";
        let tested = std::cell::RefCell::new(Vec::new());
        let test = |channel: &Channel, business: &str| {
            tested
                .borrow_mut()
                .push((channel.name.clone(), business.to_owned()));
            Err("the mail server mail.local:25 refused the connection".to_owned())
        };
        let mut out = Vec::new();
        let written = run(
            &options(dir.path()),
            now(),
            &mut answers.as_bytes(),
            &mut out,
            &test,
        )
        .unwrap();
        let shown = String::from_utf8(out).unwrap();
        assert_eq!(
            *tested.borrow(),
            [("admin-email".to_owned(), "Shop".to_owned())]
        );
        assert!(
            shown.contains("could not be sent: the mail server mail.local:25 refused"),
            "{shown}"
        );
        assert!(
            shown.contains("Fix the [[channel]] named \"admin-email\" in"),
            "{shown}"
        );
        assert!(
            shown.contains("`keepwatch alert test admin-email`"),
            "{shown}"
        );
        let text = std::fs::read_to_string(&written.path).unwrap();
        let config = parse(&written.path, &text).unwrap();
        assert_eq!(config.channels.len(), 1);
        assert_eq!(
            config.alerting.business_hours[0].notify,
            ["log", "admin-email"]
        );
        assert_eq!(config.alerting.off_hours[0].notify, ["log", "admin-email"]);
    }

    #[test]
    fn a_login_s_password_is_listed_in_a_file_the_background_service_reads_too() {
        let dir = tempfile::tempdir().unwrap();
        let answers = "Shop\n\n\n\n\nanna@example.com\nsmtp.example.com\n\n\nanna\n\n\n\n\nno\n";
        let mut out = Vec::new();
        let written = run(
            &options(dir.path()),
            now(),
            &mut answers.as_bytes(),
            &mut out,
            &untested,
        )
        .unwrap();
        let env_file = written.path.with_file_name("keepwatch.env");
        let shown = String::from_utf8(out).unwrap();
        assert!(
            shown.contains(&format!(
                "Write the password into {} after `KEEPWATCH_SMTP_PASSWORD=`",
                env_file.display()
            )),
            "{shown}"
        );
        let listed = crate::secret::EnvFile::read(&env_file).unwrap().unwrap();
        assert_eq!(listed.empty, ["KEEPWATCH_SMTP_PASSWORD"]);
        assert!(!crate::secret::readable_by_others(&env_file));

        // The admin writes the password; a second init keeps it.
        std::fs::write(&env_file, "KEEPWATCH_SMTP_PASSWORD=s3cret\n").unwrap();
        let mut out = Vec::new();
        let opts = InitOptions {
            force: true,
            ..options(dir.path())
        };
        run(&opts, now(), &mut answers.as_bytes(), &mut out, &untested).unwrap();
        let shown = String::from_utf8(out).unwrap();
        assert!(
            shown.contains("KEEPWATCH_SMTP_PASSWORD is already listed in"),
            "{shown}"
        );
        assert_eq!(
            std::fs::read_to_string(&env_file).unwrap(),
            "KEEPWATCH_SMTP_PASSWORD=s3cret\n"
        );
    }

    #[test]
    fn answers_that_cannot_be_read_or_a_password_file_that_cannot_be_written_are_clear_errors() {
        struct Broken;
        impl std::io::Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("the terminal went away"))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        let mut input = std::io::BufReader::new(Broken);
        let err = run(&options(dir.path()), now(), &mut input, &mut out, &untested).unwrap_err();
        assert!(err.to_string().ends_with("the terminal went away"), "{err}");

        let opts = options(dir.path());
        std::fs::create_dir_all(opts.path.with_file_name("keepwatch.env")).unwrap();
        let answers = "Shop\n\n\n\n\nanna@example.com\nsmtp.example.com\n\n\nanna\n\n\n\n\nno\n";
        let err = run(&opts, now(), &mut answers.as_bytes(), &mut out, &untested).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "could not write {}",
                opts.path.with_file_name("keepwatch.env").display()
            )),
            "{err}"
        );
    }

    #[test]
    fn joining_a_hub_keeps_an_existing_file_and_says_where_the_token_cannot_go() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(dir.path());
        join_hub(&opts, "https://hub.example:8080", "kw_agent_1", now()).unwrap();
        let err = join_hub(&opts, "https://hub.example:8080", "kw_agent_1", now()).unwrap_err();
        assert!(matches!(err, InitError::Exists(_)), "{err}");

        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "").unwrap();
        let inside = InitOptions {
            path: blocker.join("keepwatch.toml"),
            ..options(dir.path())
        };
        let err = join_hub(&inside, "https://hub.example:8080", "kw_agent_1", now()).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "could not write {}",
                blocker.join("hub-token").display()
            )),
            "{err}"
        );
    }

    #[test]
    fn a_declined_test_says_how_to_try_later() {
        let dir = tempfile::tempdir().unwrap();
        let answers = "Shop\n\n\n\n\nanna@example.com\nmail.local\n25\n\n\n\n\n\nmaybe\nno\n";
        let mut out = Vec::new();
        run(
            &options(dir.path()),
            now(),
            &mut answers.as_bytes(),
            &mut out,
            &untested,
        )
        .unwrap();
        let shown = String::from_utf8(out).unwrap();
        assert!(shown.contains("\"maybe\" is neither yes nor no"), "{shown}");
        assert!(
            shown.contains("Try it later with `keepwatch alert test admin-email`"),
            "{shown}"
        );
    }

    #[test]
    fn sales_per_hour_and_the_monthly_report_readers_end_up_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let answers = "Shop\n\n\n\n\nanna@example.com\nmail.local\n25\n\n\n\nlots\n€1,200\nboss\nboss@example.com, cfo@example.com\nno\n";
        let mut out = Vec::new();
        let written = run(
            &options(dir.path()),
            now(),
            &mut answers.as_bytes(),
            &mut out,
            &untested,
        )
        .unwrap();
        let shown = String::from_utf8(out).unwrap();
        assert!(shown.contains("\"lots\" is not an amount"), "{shown}");
        assert!(
            shown.contains("\"boss\" does not look like an email address"),
            "{shown}"
        );
        let text = std::fs::read_to_string(&written.path).unwrap();
        let config = parse(&written.path, &text).unwrap();
        assert_eq!(config.business.revenue_per_hour, 1200.0);
        assert_eq!(config.reports.len(), 1, "{text}");
        let report = &config.reports[0];
        assert_eq!(report.every, "month 1st 08:00");
        assert_eq!(report.channel.as_deref(), Some("admin-email"));
        assert_eq!(report.to, ["boss@example.com", "cfo@example.com"]);
        assert!(
            text.contains("# When it is sent, in your time zone"),
            "{text}"
        );
    }

    #[test]
    fn without_a_mail_server_no_report_is_offered() {
        let dir = tempfile::tempdir().unwrap();
        // No address for alerts, so no email set-up; 400 an hour.
        let answers = "Shop\n\n\n\n\n\n400\n";
        let mut out = Vec::new();
        let written = run(
            &options(dir.path()),
            now(),
            &mut answers.as_bytes(),
            &mut out,
            &untested,
        )
        .unwrap();
        let shown = String::from_utf8(out).unwrap();
        assert!(shown.contains("needs the mail server set up"), "{shown}");
        let config = parse(
            &written.path,
            &std::fs::read_to_string(&written.path).unwrap(),
        )
        .unwrap();
        assert_eq!(config.business.revenue_per_hour, 400.0);
        assert!(config.reports.is_empty());
    }

    #[test]
    fn the_end_of_input_accepts_the_remaining_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        let written = run(
            &options(dir.path()),
            now(),
            &mut "Shop\n".as_bytes(),
            &mut out,
            &untested,
        )
        .unwrap();
        let config = parse(
            &written.path,
            &std::fs::read_to_string(&written.path).unwrap(),
        )
        .unwrap();
        assert_eq!(config.business.name, "Shop");
        assert_eq!(config.business.hours, Config::default().business.hours);
    }

    #[test]
    fn an_existing_file_is_kept_unless_forced_and_then_backed_up() {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            defaults: true,
            ..options(dir.path())
        };
        std::fs::create_dir_all(opts.path.parent().unwrap()).unwrap();
        std::fs::write(&opts.path, "# mine\n").unwrap();
        let err = run(&opts, now(), &mut "".as_bytes(), &mut Vec::new(), &untested).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(std::fs::read_to_string(&opts.path).unwrap(), "# mine\n");

        let forced = InitOptions {
            force: true,
            ..opts
        };
        let written = run(
            &forced,
            now(),
            &mut "".as_bytes(),
            &mut Vec::new(),
            &untested,
        )
        .unwrap();
        let backup = written.backup.unwrap();
        assert!(backup.ends_with("keepwatch.toml.backup-20261123-100000"));
        assert_eq!(std::fs::read_to_string(backup).unwrap(), "# mine\n");
        assert!(
            std::fs::read_to_string(&written.path)
                .unwrap()
                .starts_with("# keepwatch configuration.")
        );
    }

    #[test]
    fn an_unwritable_place_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let opts = InitOptions {
            path: blocker.join("keepwatch.toml"),
            defaults: true,
            ..options(dir.path())
        };
        let err = run(&opts, now(), &mut "".as_bytes(), &mut Vec::new(), &untested).unwrap_err();
        assert!(err.to_string().starts_with("could not write"), "{err}");
    }

    fn found(name: &str, works: bool) -> Found {
        Found {
            name: name.to_owned(),
            address: "127.0.0.1:6379".to_owned(),
            block: format!(
                "[[service]]\nname = \"{name}\"\ntype = \"redis\"\nhost = \"127.0.0.1\"\nport = 6379\n"
            ),
            works,
            said: format!("{name} said something"),
        }
    }

    fn watched(path: &Path) -> Vec<String> {
        let config = parse(path, &std::fs::read_to_string(path).unwrap()).unwrap();
        config.services.into_iter().map(|s| s.common.name).collect()
    }

    #[test]
    fn with_defaults_what_works_is_watched_and_the_rest_left_commented_out() {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            defaults: true,
            found: Some(vec![found("Cache", true), found("Queue", false)]),
            ..options(dir.path())
        };
        let written = run(&opts, now(), &mut "".as_bytes(), &mut Vec::new(), &untested).unwrap();
        assert_eq!(written.watched, ["Cache"]);
        assert_eq!(watched(&written.path), ["Cache"]);
        let text = std::fs::read_to_string(&written.path).unwrap();
        assert!(text.contains("# name = \"Queue\""), "{text}");
    }

    #[test]
    fn each_working_service_found_is_offered_and_may_be_declined() {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            found: Some(vec![
                found("Cache", true),
                found("Queue", false),
                found("Sessions", true),
            ]),
            ..options(dir.path())
        };
        // Name, zone, three hours; then Cache: perhaps, no; Sessions: Enter.
        let answers = "Shop\n\n\n\n\nperhaps\nno\n\n";
        let mut out = Vec::new();
        let written = run(&opts, now(), &mut answers.as_bytes(), &mut out, &untested).unwrap();
        let shown = String::from_utf8(out).unwrap();
        assert!(shown.contains("Services found on this computer:\nCache on 127.0.0.1:6379: Cache said something\nWatch Cache? (yes/no) [yes]: "), "{shown}");
        assert!(
            shown.contains("\"perhaps\" is neither yes nor no"),
            "{shown}"
        );
        assert!(
            shown.contains(
                "Queue listens on 127.0.0.1:6379, but its check did not pass: Queue said something"
            ),
            "{shown}"
        );
        assert_eq!(written.watched, ["Sessions"]);
        assert_eq!(watched(&written.path), ["Sessions"]);
    }

    #[test]
    fn when_nothing_is_found_the_wizard_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            found: Some(Vec::new()),
            ..options(dir.path())
        };
        let mut out = Vec::new();
        run(&opts, now(), &mut "Shop\n".as_bytes(), &mut out, &untested).unwrap();
        let shown = String::from_utf8(out).unwrap();
        assert!(
            shown.contains("No web server, database, Redis, mail or SSH server answered"),
            "{shown}"
        );
    }
}
