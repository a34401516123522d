//! Linux: a systemd user unit in `~/.config/systemd/user`, enabled and
//! started, with lingering turned on (`loginctl enable-linger`, which a user
//! may do for themself) so it runs at boot while nobody is logged in. Where
//! there is no systemd user instance, a crontab `@reboot` line instead.

use std::path::PathBuf;

use super::{Context, Platform, Runner, ServiceError, kept, must, remove_files, tail, write_files};

/// The unit's name.
pub const UNIT_NAME: &str = "keepwatch.service";

/// Marks keepwatch's line in the crontab.
const CRON_TAG: &str = "# keepwatch service";

/// The Linux way.
#[derive(Debug, Clone, Copy, Default)]
pub struct Linux;

fn unit_path(context: &Context) -> PathBuf {
    context.home.join(".config/systemd/user").join(UNIT_NAME)
}

fn quoted(path: &std::path::Path) -> String {
    format!("\"{}\"", path.display())
}

/// The command line that runs keepwatch.
fn run_line(context: &Context) -> String {
    format!(
        "{} --config {} run",
        quoted(&context.binary),
        quoted(&context.config)
    )
}

/// Is there a systemd user instance to talk to?
fn has_systemd(runner: &dyn Runner) -> bool {
    runner
        .run("systemctl", &["--user", "show-environment"], None)
        .is_ok_and(|ran| ran.success)
}

/// The crontab without keepwatch's line.
fn crontab_without_ours(runner: &dyn Runner) -> String {
    let current = runner
        .run("crontab", &["-l"], None)
        .ok()
        .filter(|ran| ran.success)
        .map(|ran| ran.stdout)
        .unwrap_or_default();
    current
        .lines()
        .filter(|line| !line.contains(CRON_TAG))
        .map(|line| format!("{line}\n"))
        .collect()
}

fn write_crontab(runner: &dyn Runner, text: &str) -> Result<(), ServiceError> {
    match runner.run("crontab", &["-"], Some(text)) {
        Ok(ran) if ran.success => Ok(()),
        Ok(ran) => Err(ServiceError::Command {
            command: "crontab -".to_owned(),
            output: super::first_line(&ran.stderr, &ran.stdout),
            hint: "; is cron installed? Without systemd or cron, start keepwatch yourself with `keepwatch run`".to_owned(),
        }),
        Err(err) => Err(ServiceError::Command {
            command: "crontab -".to_owned(),
            output: err.to_string(),
            hint: "; neither systemd nor cron is available here: start keepwatch yourself with `keepwatch run`".to_owned(),
        }),
    }
}

/// Starts keepwatch now, apart from this terminal, logging to its log file.
fn start_detached(context: &Context, runner: &dyn Runner) -> Result<(), ServiceError> {
    let log = context.log_file();
    if let Some(folder) = log.parent() {
        std::fs::create_dir_all(folder).map_err(|source| ServiceError::Io {
            path: folder.to_path_buf(),
            source,
        })?;
    }
    let now = format!("nohup {} >> {} 2>&1 &", run_line(context), quoted(&log));
    must(runner, "sh", &["-c", &now], "").map(|_| ())
}

/// Asks the agent to stop, and waits (up to 10 s) until it has, so a
/// `start` right after does not find it still shutting down.
fn stop_process(context: &Context, runner: &dyn Runner, pid: &str) -> Result<String, ServiceError> {
    must(runner, "kill", &[pid], "")?;
    for _ in 0..50 {
        if running_pid(context, runner).is_none() {
            return Ok("keepwatch stopped.".to_owned());
        }
        runner.pause(std::time::Duration::from_millis(200));
    }
    Ok(format!(
        "keepwatch (process {pid}) was asked to stop and is still finishing."
    ))
}

/// The process id in the agent's lock file, when it is running.
fn running_pid(context: &Context, runner: &dyn Runner) -> Option<String> {
    let mut lock = context.data.as_os_str().to_owned();
    lock.push(".lock");
    let pid = std::fs::read_to_string(PathBuf::from(lock)).ok()?;
    let pid = pid.trim().to_owned();
    let alive = runner
        .run("kill", &["-0", &pid], None)
        .is_ok_and(|ran| ran.success);
    (!pid.is_empty() && alive).then_some(pid)
}

impl Platform for Linux {
    fn files(&self, context: &Context) -> Vec<(PathBuf, String)> {
        let unit = format!(
            "# {marker}\n\
             [Unit]\n\
             Description=keepwatch: monitoring for {user}\n\
             Wants=network-online.target\n\
             After=network-online.target\n\
             \n\
             [Service]\n\
             ExecStart={run}\n\
             Restart=on-failure\n\
             RestartSec=10\n\
             \n\
             [Install]\n\
             WantedBy=default.target\n",
            marker = super::MARKER,
            user = context.user,
            run = run_line(context),
        );
        vec![(unit_path(context), unit)]
    }

    fn install(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        if !has_systemd(runner) {
            let line = format!(
                "@reboot {} >> {} 2>&1 {CRON_TAG}\n",
                run_line(context),
                quoted(&context.log_file())
            );
            write_crontab(runner, &(crontab_without_ours(runner) + &line))?;
            if running_pid(context, runner).is_none() {
                start_detached(context, runner)?;
            }
            return Ok(format!(
                "This computer has no systemd user instance, so keepwatch was added to your crontab instead: it starts at every boot, and was started now. Its log is {}.",
                context.log_file().display()
            ));
        }
        write_files(&self.files(context))?;
        must(runner, "systemctl", &["--user", "daemon-reload"], "")?;
        must(runner, "systemctl", &["--user", "enable", UNIT_NAME], "")?;
        must(
            runner,
            "systemctl",
            &["--user", "restart", UNIT_NAME],
            &format!("see why with `journalctl --user -u {UNIT_NAME}`"),
        )?;
        let linger = must(
            runner,
            "loginctl",
            &["enable-linger", &context.user],
            "without it keepwatch runs only while you are logged in; an administrator can allow it with `sudo loginctl enable-linger` followed by your user name",
        )
        .and_then(|_| must(runner, "loginctl", &["show-user", &context.user, "--property=Linger"], ""));
        let linger_note = match linger {
            Ok(ran) if ran.stdout.trim() == "Linger=yes" => {
                "It starts at boot, also while nobody is logged in (lingering is on).".to_owned()
            }
            Ok(ran) => format!(
                "Lingering did not turn on (loginctl says \"{}\"): keepwatch runs only while you are logged in. An administrator can allow it with `sudo loginctl enable-linger {}`.",
                ran.stdout.trim(),
                context.user
            ),
            Err(err) => format!("{err}."),
        };
        Ok(format!(
            "keepwatch runs in the background as {}, from {}. {linger_note}",
            context.user,
            unit_path(context).display()
        ))
    }

    fn uninstall(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        if !has_systemd(runner) {
            write_crontab(runner, &crontab_without_ours(runner))?;
            if let Some(pid) = running_pid(context, runner) {
                stop_process(context, runner, &pid)?;
            }
            return Ok(format!(
                "keepwatch was removed from your crontab and stopped. {}",
                kept(context)
            ));
        }
        let files = self.files(context);
        if !unit_path(context).exists() {
            return Err(ServiceError::NotInstalled);
        }
        // Stopping a unit that is not running is not a reason to keep its file.
        let _ = runner.run(
            "systemctl",
            &["--user", "disable", "--now", UNIT_NAME],
            None,
        );
        remove_files(&files)?;
        must(runner, "systemctl", &["--user", "daemon-reload"], "")?;
        Ok(format!(
            "keepwatch no longer runs in the background. {}",
            kept(context)
        ))
    }

    fn start(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        self.control("start", context, runner)
    }

    fn stop(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        self.control("stop", context, runner)
    }

    fn status(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        if !has_systemd(runner) {
            let listed = crontab_without_ours(runner)
                != runner
                    .run("crontab", &["-l"], None)
                    .map(|r| r.stdout)
                    .unwrap_or_default();
            if !listed {
                return Err(ServiceError::NotInstalled);
            }
            return Ok(match running_pid(context, runner) {
                Some(pid) => format!("keepwatch is in your crontab (starts at boot) and running (process {pid})."),
                None => "keepwatch is in your crontab (starts at boot) but not running now; `keepwatch service start` starts it.".to_owned(),
            });
        }
        if !unit_path(context).exists() {
            return Err(ServiceError::NotInstalled);
        }
        let active = runner
            .run("systemctl", &["--user", "is-active", UNIT_NAME], None)
            .map(|ran| ran.stdout.trim().to_owned())
            .unwrap_or_default();
        Ok(match active.as_str() {
            "active" => format!(
                "keepwatch is installed ({}) and running.",
                unit_path(context).display()
            ),
            other => format!(
                "keepwatch is installed ({}) but not running (systemd says \"{other}\"); `keepwatch service start` starts it, `keepwatch service logs` says why it stopped.",
                unit_path(context).display()
            ),
        })
    }

    fn logs(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        if !has_systemd(runner) {
            return tail(&context.log_file(), 50);
        }
        must(
            runner,
            "journalctl",
            &["--user", "-u", UNIT_NAME, "-n", "50", "--no-pager"],
            "",
        )
        .map(|ran| ran.stdout)
    }
}

impl Linux {
    fn control(
        &self,
        action: &str,
        context: &Context,
        runner: &dyn Runner,
    ) -> Result<String, ServiceError> {
        if !has_systemd(runner) {
            return match (action, running_pid(context, runner)) {
                ("stop", Some(pid)) => stop_process(context, runner, &pid),
                ("stop", None) => Ok("keepwatch was not running.".to_owned()),
                (_, Some(pid)) => Ok(format!("keepwatch is already running (process {pid}).")),
                _ => start_detached(context, runner).map(|()| "keepwatch started.".to_owned()),
            };
        }
        if !unit_path(context).exists() {
            return Err(ServiceError::NotInstalled);
        }
        must(
            runner,
            "systemctl",
            &["--user", action, UNIT_NAME],
            "see why with `keepwatch service logs`",
        )?;
        Ok(format!(
            "keepwatch {}.",
            if action == "stop" {
                "stopped"
            } else {
                "started"
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Recorder, context};
    use super::*;

    #[test]
    fn the_unit_runs_this_binary_with_this_config_and_restarts_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let files = Linux.files(&context(dir.path()));
        let (path, unit) = &files[0];
        assert!(path.ends_with(".config/systemd/user/keepwatch.service"));
        assert!(unit.starts_with("# Written by `keepwatch service install`\n[Unit]\n"));
        assert!(
            unit.contains(&format!(
                "ExecStart=\"/home/anna/.cargo/bin/keepwatch\" --config \"{}\" run\n",
                dir.path()
                    .join(".config/keepwatch/keepwatch.toml")
                    .display()
            )),
            "{unit}"
        );
        assert!(unit.contains("Restart=on-failure\n"));
        assert!(unit.contains("WantedBy=default.target\n"));
    }

    #[test]
    fn install_enables_starts_and_verifies_lingering_and_is_safe_to_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let context = context(dir.path());
        let runner = Recorder::default().reply("--property=Linger", true, "Linger=yes\n", "");
        let said = Linux.install(&context, &runner).unwrap();
        assert!(said.contains("also while nobody is logged in"), "{said}");
        assert_eq!(
            runner.commands(),
            [
                "systemctl --user show-environment",
                "systemctl --user daemon-reload",
                "systemctl --user enable keepwatch.service",
                "systemctl --user restart keepwatch.service",
                "loginctl enable-linger anna",
                "loginctl show-user anna --property=Linger",
            ]
        );
        assert!(unit_path(&context).exists());
        Linux.install(&context, &runner).unwrap();
    }

    #[test]
    fn lingering_refused_is_said_with_the_administrators_command() {
        let dir = tempfile::tempdir().unwrap();
        let runner = Recorder::default().reply("enable-linger", false, "", "Access denied\n");
        let said = Linux.install(&context(dir.path()), &runner).unwrap();
        assert!(said.contains("Access denied"), "{said}");
        assert!(said.contains("sudo loginctl enable-linger"), "{said}");
        let off = Recorder::default().reply("--property=Linger", true, "Linger=no\n", "");
        let said = Linux.install(&context(dir.path()), &off).unwrap();
        assert!(said.contains("runs only while you are logged in"), "{said}");
    }

    #[test]
    fn a_foreign_unit_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let context = context(dir.path());
        let path = unit_path(&context);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "[Service]\nExecStart=/usr/bin/other\n").unwrap();
        let err = Linux.install(&context, &Recorder::default()).unwrap_err();
        assert!(
            err.to_string().contains("was not written by keepwatch"),
            "{err}"
        );
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("/usr/bin/other")
        );
    }

    #[test]
    fn control_status_logs_and_uninstall_use_systemctl_and_keep_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let context = context(dir.path());
        let runner = Recorder::default()
            .reply("is-active", true, "active\n", "")
            .reply("journalctl", true, "line 1\nline 2\n", "");
        assert!(matches!(
            Linux.status(&context, &runner),
            Err(ServiceError::NotInstalled)
        ));
        assert!(matches!(
            Linux.start(&context, &runner),
            Err(ServiceError::NotInstalled)
        ));
        assert!(matches!(
            Linux.uninstall(&context, &runner),
            Err(ServiceError::NotInstalled)
        ));
        Linux.install(&context, &runner).unwrap();
        runner.commands.borrow_mut().clear();
        assert_eq!(Linux.stop(&context, &runner).unwrap(), "keepwatch stopped.");
        assert_eq!(
            Linux.start(&context, &runner).unwrap(),
            "keepwatch started."
        );
        assert!(
            Linux
                .status(&context, &runner)
                .unwrap()
                .contains("and running")
        );
        assert_eq!(Linux.logs(&context, &runner).unwrap(), "line 1\nline 2\n");
        let said = Linux.uninstall(&context, &runner).unwrap();
        assert!(
            said.contains("Your settings") && said.contains("are kept"),
            "{said}"
        );
        assert!(!unit_path(&context).exists());
        let commands = runner.commands();
        for expected in [
            "systemctl --user stop keepwatch.service",
            "systemctl --user start keepwatch.service",
            "systemctl --user is-active keepwatch.service",
            "journalctl --user -u keepwatch.service -n 50 --no-pager",
            "systemctl --user disable --now keepwatch.service",
        ] {
            assert!(
                commands.iter().any(|c| c == expected),
                "{expected} not in {commands:?}"
            );
        }
        let stopped = Recorder::default().reply("is-active", false, "inactive\n", "");
        Linux.install(&context, &stopped).unwrap();
        assert!(
            Linux
                .status(&context, &stopped)
                .unwrap()
                .contains("not running (systemd says \"inactive\")")
        );
    }

    #[test]
    fn without_systemd_a_crontab_line_replaces_the_unit() {
        let dir = tempfile::tempdir().unwrap();
        let context = context(dir.path());
        let runner = Recorder::default()
            .reply("show-environment", false, "", "Failed to connect to bus\n")
            .reply(
                "crontab -l",
                true,
                "MAILTO=anna\n@reboot old # keepwatch service\n",
                "",
            )
            .reply("kill -0", false, "", "");
        let said = Linux.install(&context, &runner).unwrap();
        assert!(said.contains("added to your crontab"), "{said}");
        let written = runner.stdin.borrow()[0].clone();
        assert!(
            written
                .starts_with("MAILTO=anna\n@reboot \"/home/anna/.cargo/bin/keepwatch\" --config"),
            "{written}"
        );
        assert_eq!(written.matches(CRON_TAG).count(), 1, "{written}");
        assert!(
            runner
                .commands()
                .iter()
                .any(|c| c.starts_with("sh -c nohup \"/home/anna/.cargo/bin/keepwatch\""))
        );
        assert!(!unit_path(&context).exists());
        let said = Linux.uninstall(&context, &runner).unwrap();
        assert!(said.contains("removed from your crontab"), "{said}");
        assert_eq!(runner.stdin.borrow()[1], "MAILTO=anna\n");

        let broken = Recorder::default()
            .reply("show-environment", false, "", "")
            .reply("crontab -", false, "", "crontab: not found\n");
        let err = Linux.install(&context, &broken).unwrap_err().to_string();
        assert!(err.contains("is cron installed?"), "{err}");
    }

    /// No systemd user instance, and keepwatch's crontab line in place.
    fn cron_only() -> Recorder {
        Recorder::default()
            .reply("show-environment", false, "", "Failed to connect to bus\n")
            .reply(
                "crontab -l",
                true,
                &format!("@reboot keepwatch run {CRON_TAG}\n"),
                "",
            )
    }

    fn lock_file(context: &Context, pid: &str) -> PathBuf {
        let lock = PathBuf::from(format!("{}.lock", context.data.display()));
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        std::fs::write(&lock, format!("{pid}\n")).unwrap();
        lock
    }

    #[test]
    fn without_systemd_or_cron_install_says_to_start_keepwatch_by_hand() {
        let dir = tempfile::tempdir().unwrap();
        let context = context(dir.path());
        let runner = Recorder::default()
            .reply("show-environment", false, "", "")
            .cannot_start("crontab");
        let err = Linux.install(&context, &runner).unwrap_err().to_string();
        assert!(
            err.starts_with("`crontab -` failed: No such file or directory"),
            "{err}"
        );
        assert!(
            err.ends_with("neither systemd nor cron is available here: start keepwatch yourself with `keepwatch run`"),
            "{err}"
        );
        assert!(!runner.commands().iter().any(|c| c.starts_with("sh -c")));
        assert!(matches!(
            Linux.status(&context, &runner),
            Err(ServiceError::NotInstalled)
        ));
    }

    #[test]
    fn a_log_folder_that_cannot_be_made_stops_the_crontab_install_before_starting() {
        let dir = tempfile::tempdir().unwrap();
        let mut context = context(dir.path());
        let blocker = dir.path().join("data");
        std::fs::write(&blocker, "a file where the data folder should be").unwrap();
        context.data = blocker.join("keepwatch.db");
        let runner = cron_only();
        let err = Linux.install(&context, &runner).unwrap_err();
        assert!(
            matches!(&err, ServiceError::Io { path, .. } if *path == blocker),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("cannot write {}: ", blocker.display())),
            "{err}"
        );
        assert!(!runner.commands().iter().any(|c| c.starts_with("sh -c")));
    }

    #[test]
    fn on_the_crontab_status_start_stop_and_logs_follow_the_agents_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let context = context(dir.path());
        let runner = cron_only();
        assert_eq!(
            Linux.status(&context, &runner).unwrap(),
            "keepwatch is in your crontab (starts at boot) but not running now; `keepwatch service start` starts it."
        );
        assert_eq!(
            Linux.stop(&context, &runner).unwrap(),
            "keepwatch was not running."
        );
        assert_eq!(
            Linux.start(&context, &runner).unwrap(),
            "keepwatch started."
        );
        assert!(
            runner
                .commands()
                .iter()
                .any(|c| c.starts_with("sh -c nohup") && c.ends_with("keepwatch.log\" 2>&1 &")),
            "{:?}",
            runner.commands()
        );

        lock_file(&context, "4242");
        assert_eq!(
            Linux.status(&context, &runner).unwrap(),
            "keepwatch is in your crontab (starts at boot) and running (process 4242)."
        );
        runner.commands.borrow_mut().clear();
        assert_eq!(
            Linux.start(&context, &runner).unwrap(),
            "keepwatch is already running (process 4242)."
        );
        assert!(!runner.commands().iter().any(|c| c.starts_with("sh -c")));
        // The process is asked to stop and is still there at every look.
        assert_eq!(
            Linux.stop(&context, &runner).unwrap(),
            "keepwatch (process 4242) was asked to stop and is still finishing."
        );
        assert!(runner.commands().contains(&"kill 4242".to_owned()));
        assert_eq!(*runner.pauses.borrow(), 50);

        std::fs::write(context.log_file(), "started\nchecked Shop\n").unwrap();
        assert_eq!(
            Linux.logs(&context, &runner).unwrap(),
            "started\nchecked Shop"
        );
    }
}
