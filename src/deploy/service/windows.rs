//! Windows: a scheduled task that starts at the user's logon, under the
//! user's own account, which needs no administrator. The limitation, said
//! plainly at install: it runs while that user is logged in (a task that
//! runs without a logon needs the user's stored password or an administrator).

use crate::printable::markup;
use std::path::PathBuf;

use super::{Context, Platform, Runner, ServiceError, kept, must, remove_files, tail, write_files};

/// The task's name in Task Scheduler.
pub const TASK_NAME: &str = "keepwatch";

/// The Windows way.
#[derive(Debug, Clone, Copy, Default)]
pub struct Windows;

fn xml_path(context: &Context) -> PathBuf {
    context.data.with_file_name("keepwatch-task.xml")
}

fn installed(context: &Context) -> Result<(), ServiceError> {
    if xml_path(context).exists() {
        Ok(())
    } else {
        Err(ServiceError::NotInstalled)
    }
}

impl Platform for Windows {
    fn files(&self, context: &Context) -> Vec<(PathBuf, String)> {
        let task = format!(
            "<?xml version=\"1.0\"?>\n\
             <!-- {marker} -->\n\
             <Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\n\
             \x20 <Triggers>\n    <LogonTrigger>\n      <UserId>{user}</UserId>\n    </LogonTrigger>\n  </Triggers>\n\
             \x20 <Principals>\n    <Principal id=\"Author\">\n      <UserId>{user}</UserId>\n      <LogonType>InteractiveToken</LogonType>\n      <RunLevel>LeastPrivilege</RunLevel>\n    </Principal>\n  </Principals>\n\
             \x20 <Settings>\n    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>\n    <RestartOnFailure>\n      <Interval>PT1M</Interval>\n      <Count>999</Count>\n    </RestartOnFailure>\n  </Settings>\n\
             \x20 <Actions Context=\"Author\">\n    <Exec>\n      <Command>{binary}</Command>\n      <Arguments>--config &quot;{config}&quot; run</Arguments>\n    </Exec>\n  </Actions>\n\
             </Task>\n",
            marker = super::MARKER,
            user = markup(&context.user),
            binary = markup(&context.binary.display().to_string()),
            config = markup(&context.config.display().to_string()),
        );
        vec![(xml_path(context), task)]
    }

    fn install(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        write_files(&self.files(context))?;
        let file = xml_path(context).display().to_string();
        must(
            runner,
            "schtasks",
            &["/Create", "/TN", TASK_NAME, "/XML", &file, "/F"],
            "",
        )?;
        // Started now too, not only at the next logon; already running is fine.
        let _ = runner.run("schtasks", &["/Run", "/TN", TASK_NAME], None);
        Ok("keepwatch runs in the background and starts whenever you log on to Windows. Windows runs such a task only while you are logged on: after a restart, nothing is watched until you log on (running it without a logon needs an administrator).".to_owned())
    }

    fn uninstall(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        installed(context)?;
        let _ = runner.run("schtasks", &["/End", "/TN", TASK_NAME], None);
        must(runner, "schtasks", &["/Delete", "/TN", TASK_NAME, "/F"], "")?;
        remove_files(&self.files(context))?;
        Ok(format!(
            "keepwatch no longer runs in the background. {}",
            kept(context)
        ))
    }

    fn start(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        installed(context)?;
        must(runner, "schtasks", &["/Run", "/TN", TASK_NAME], "")?;
        Ok("keepwatch started.".to_owned())
    }

    fn stop(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        installed(context)?;
        must(runner, "schtasks", &["/End", "/TN", TASK_NAME], "")?;
        Ok("keepwatch stopped.".to_owned())
    }

    fn status(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError> {
        installed(context)?;
        let queried = must(
            runner,
            "schtasks",
            &["/Query", "/TN", TASK_NAME, "/FO", "LIST"],
            "",
        )?;
        Ok(if queried.stdout.contains("Running") {
            "keepwatch is installed and running.".to_owned()
        } else {
            "keepwatch is installed but not running; `keepwatch service start` starts it."
                .to_owned()
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
    fn the_task_starts_at_logon_as_the_user_without_admin_and_says_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let context = context(dir.path());
        let (path, task) = &Windows.files(&context)[0];
        assert!(
            task.contains("<LogonTrigger>\n      <UserId>anna</UserId>"),
            "{task}"
        );
        assert!(task.contains("<RunLevel>LeastPrivilege</RunLevel>"));
        assert!(task.contains("<Command>/home/anna/.cargo/bin/keepwatch</Command>"));
        let runner = Recorder::default().reply("/Query", true, "Status: Running\n", "");
        let said = Windows.install(&context, &runner).unwrap();
        assert!(said.contains("only while you are logged on"), "{said}");
        assert_eq!(
            Windows.start(&context, &runner).unwrap(),
            "keepwatch started."
        );
        assert_eq!(
            Windows.stop(&context, &runner).unwrap(),
            "keepwatch stopped."
        );
        assert!(
            Windows
                .status(&context, &runner)
                .unwrap()
                .contains("and running")
        );
        assert!(
            Windows
                .status(&context, &Recorder::default())
                .unwrap()
                .contains("not running")
        );
        std::fs::write(context.log_file(), "a\nb\n").unwrap();
        assert_eq!(Windows.logs(&context, &runner).unwrap(), "a\nb");
        assert!(
            Windows
                .uninstall(&context, &runner)
                .unwrap()
                .contains("are kept")
        );
        assert!(matches!(
            Windows.stop(&context, &runner),
            Err(ServiceError::NotInstalled)
        ));
        let file = path.display().to_string();
        assert_eq!(
            runner.commands(),
            [
                format!("schtasks /Create /TN keepwatch /XML {file} /F"),
                "schtasks /Run /TN keepwatch".to_owned(),
                "schtasks /Run /TN keepwatch".to_owned(),
                "schtasks /End /TN keepwatch".to_owned(),
                "schtasks /Query /TN keepwatch /FO LIST".to_owned(),
                "schtasks /End /TN keepwatch".to_owned(),
                "schtasks /Delete /TN keepwatch /F".to_owned(),
            ]
        );
    }
}
