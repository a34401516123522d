//! macOS: a LaunchAgent in `~/Library/LaunchAgents`, loaded with
//! `launchctl bootstrap gui/<uid>` (the legacy `load` fails on current
//! macOS). It runs while the user is logged in, and starts at their login.

use crate::printable::markup;
use std::path::PathBuf;

use super::{Context, Platform, Runner, ServiceError, kept, must, remove_files, tail, write_files};

/// The LaunchAgent's label.
pub const LABEL: &str = "com.keepwatch.agent";

/// The macOS way.
#[derive(Debug, Clone, Copy, Default)]
pub struct MacOs;

fn plist_path(context: &Context) -> PathBuf {
    context
        .home
        .join("Library/LaunchAgents")
        .join(format!("{LABEL}.plist"))
}

fn target(context: &Context) -> String {
    format!("gui/{}/{LABEL}", context.uid)
}

fn installed(context: &Context) -> Result<(), ServiceError> {
    if plist_path(context).exists() {
        Ok(())
    } else {
        Err(ServiceError::NotInstalled)
    }
}

impl Platform for MacOs {
    fn files(&self, context: &Context) -> Vec<(PathBuf, String)> {
        let log = markup(&context.log_file().display().to_string());
        let plist = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!-- {marker} -->\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\">\n<dict>\n\
             \t<key>Label</key>\n\t<string>{LABEL}</string>\n\
             \t<key>ProgramArguments</key>\n\t<array>\n\
             \t\t<string>{binary}</string>\n\t\t<string>--config</string>\n\t\t<string>{config}</string>\n\t\t<string>run</string>\n\
             \t</array>\n\
             \t<key>RunAtLoad</key>\n\t<true/>\n\
             \t<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>\n\t</dict>\n\
             \t<key>StandardOutPath</key>\n\t<string>{log}</string>\n\
             \t<key>StandardErrorPath</key>\n\t<string>{log}</string>\n\
             </dict>\n</plist>\n",
            marker = super::MARKER,
            binary = markup(&context.binary.display().to_string()),
            config = markup(&context.config.display().to_string()),
        );
        vec![(plist_path(context), plist)]
    }

    fn install(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        write_files(&self.files(context))?;
        // A second install replaces the loaded agent; none loaded is fine.
        let _ = runner.run("launchctl", &["bootout", &target(context)], None);
        let plist = plist_path(context).display().to_string();
        let domain = format!("gui/{}", context.uid);
        must(runner, "launchctl", &["bootstrap", &domain, &plist], "")?;
        Ok(format!(
            "keepwatch runs in the background from {plist}, and starts whenever you log in (macOS runs a LaunchAgent only while its user is logged in). Its log is {}.",
            context.log_file().display()
        ))
    }

    fn uninstall(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        installed(context)?;
        let _ = runner.run("launchctl", &["bootout", &target(context)], None);
        remove_files(&self.files(context))?;
        Ok(format!(
            "keepwatch no longer runs in the background. {}",
            kept(context)
        ))
    }

    fn start(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        installed(context)?;
        must(runner, "launchctl", &["kickstart", &target(context)], "")?;
        Ok("keepwatch started.".to_owned())
    }

    fn stop(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        installed(context)?;
        must(runner, "launchctl", &["kill", "TERM", &target(context)], "")?;
        Ok("keepwatch stopped.".to_owned())
    }

    fn status(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        installed(context)?;
        let printed = must(runner, "launchctl", &["print", &target(context)], "")?;
        let running = printed
            .stdout
            .lines()
            .any(|l| l.trim() == "state = running");
        Ok(if running {
            "keepwatch is installed and running.".to_owned()
        } else {
            "keepwatch is installed but not running; `keepwatch service start` starts it, `keepwatch service logs` says why it stopped.".to_owned()
        })
    }

    fn logs(&self, context: &Context, _runner: &dyn Runner) -> Result<String, ServiceError> {
        tail(&context.log_file(), 50)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Recorder, context};
    use super::*;

    #[test]
    fn the_plist_runs_this_binary_at_load_and_is_bootstrapped_in_the_gui_domain() {
        let dir = tempfile::tempdir().unwrap();
        let context = context(dir.path());
        let (path, plist) = &MacOs.files(&context)[0];
        assert!(path.ends_with("Library/LaunchAgents/com.keepwatch.agent.plist"));
        assert!(
            plist.contains(
                "<string>/home/anna/.cargo/bin/keepwatch</string>\n\t\t<string>--config</string>"
            ),
            "{plist}"
        );
        assert!(plist.contains("<key>RunAtLoad</key>\n\t<true/>"));
        let runner = Recorder::default().reply("launchctl print", true, "\tstate = running\n", "");
        let said = MacOs.install(&context, &runner).unwrap();
        assert!(said.contains("only while its user is logged in"), "{said}");
        MacOs.install(&context, &runner).unwrap();
        assert_eq!(
            MacOs.start(&context, &runner).unwrap(),
            "keepwatch started."
        );
        assert_eq!(MacOs.stop(&context, &runner).unwrap(), "keepwatch stopped.");
        assert!(
            MacOs
                .status(&context, &runner)
                .unwrap()
                .contains("and running")
        );
        let quiet = Recorder::default();
        assert!(
            MacOs
                .status(&context, &quiet)
                .unwrap()
                .contains("not running")
        );
        std::fs::create_dir_all(context.data.parent().unwrap()).unwrap();
        std::fs::write(context.log_file(), "started\n").unwrap();
        assert_eq!(MacOs.logs(&context, &runner).unwrap(), "started");
        assert!(
            MacOs
                .uninstall(&context, &runner)
                .unwrap()
                .contains("are kept")
        );
        assert!(matches!(
            MacOs.start(&context, &runner),
            Err(ServiceError::NotInstalled)
        ));
        let plist = path.display().to_string();
        assert_eq!(
            runner.commands(),
            [
                "launchctl bootout gui/1000/com.keepwatch.agent".to_owned(),
                format!("launchctl bootstrap gui/1000 {plist}"),
                "launchctl bootout gui/1000/com.keepwatch.agent".to_owned(),
                format!("launchctl bootstrap gui/1000 {plist}"),
                "launchctl kickstart gui/1000/com.keepwatch.agent".to_owned(),
                "launchctl kill TERM gui/1000/com.keepwatch.agent".to_owned(),
                "launchctl print gui/1000/com.keepwatch.agent".to_owned(),
                "launchctl bootout gui/1000/com.keepwatch.agent".to_owned(),
            ]
        );
        assert_eq!(markup("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
