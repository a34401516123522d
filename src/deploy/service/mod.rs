//! `keepwatch service install | uninstall | status | start | stop | logs`:
//! keepwatch in the background at boot, as the current user, without root.
//!
//! Each operating system has its own way, behind the [`Platform`] trait:
//! a systemd user unit with lingering on Linux (a crontab `@reboot` line
//! where there is no systemd), a LaunchAgent on macOS, a scheduled task at
//! logon on Windows. The files are generated text and the commands are run
//! through a [`Runner`], so every platform's files and exact commands are
//! tested on any machine; [`SystemRunner`] runs them for real.
//!
//! Install is safe to repeat (the file is rewritten, the service restarted);
//! a file of the same name that keepwatch did not write is left alone and
//! reported. Uninstall removes only what install made, and says where the
//! config and the data stay.

mod linux;
mod macos;
mod windows;

use std::io;
use std::path::{Path, PathBuf};

pub use linux::{Linux, UNIT_NAME};
pub use macos::{LABEL, MacOs};
pub use windows::{TASK_NAME, Windows};

/// The first line of every file keepwatch writes for a service, so a
/// re-install knows the file is its own and never overwrites a stranger's.
pub const MARKER: &str = "Written by `keepwatch service install`";

/// What the generated files refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The keepwatch binary to start.
    pub binary: PathBuf,
    /// The config file it starts with.
    pub config: PathBuf,
    /// Where its database lives (only said, never touched).
    pub data: PathBuf,
    /// The user's home folder.
    pub home: PathBuf,
    /// The user's login name.
    pub user: String,
    /// The user's numeric id (Unix), for `launchctl`'s `gui/<uid>`.
    pub uid: u32,
}

impl Context {
    /// Where keepwatch writes its log when the service manager keeps none.
    pub fn log_file(&self) -> PathBuf {
        self.data.with_file_name("keepwatch.log")
    }
}

/// What a command printed and whether it succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ran {
    /// It exited with status 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs system commands; tests use one that records the commands instead.
pub trait Runner {
    /// Runs `program` with `args`, feeding `stdin` if given.
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> io::Result<Ran>;

    /// Waits `how_long` before asking again whether a process has ended;
    /// the recording runner in tests does not wait, so a process that never
    /// ends is tested without the real wait.
    fn pause(&self, how_long: std::time::Duration) {
        std::thread::sleep(how_long);
    }
}

/// Runs commands on this machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> io::Result<Ran> {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let mut child = Command::new(program)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        Ok(Ran {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Why a service action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A command failed.
    #[error("`{command}` failed: {output}{hint}")]
    Command {
        /// The command line as typed.
        command: String,
        /// What it said.
        output: String,
        /// What to do about it, starting with "; ".
        hint: String,
    },
    /// A file of the service's name exists and keepwatch did not write it.
    #[error("{} exists and was not written by keepwatch; keepwatch left it alone. If it is an old copy you no longer need, remove it and run `keepwatch service install` again", .0.display())]
    Foreign(PathBuf),
    /// A file could not be written or removed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// keepwatch is not installed as a service.
    #[error(
        "keepwatch is not installed as a background service; `keepwatch service install` does that"
    )]
    NotInstalled,
}

/// One operating system's way of running keepwatch in the background.
pub trait Platform {
    /// The files install writes, with their text.
    fn files(&self, context: &Context) -> Vec<(PathBuf, String)>;
    /// Writes the files, registers and starts the service; what it did.
    fn install(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError>;
    /// Stops and unregisters the service and removes its files.
    fn uninstall(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError>;
    /// Starts the installed service.
    fn start(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError>;
    /// Stops the installed service (until the next start or boot).
    fn stop(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError>;
    /// Whether it is installed and running, in words.
    fn status(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError>;
    /// The last lines of its log.
    fn logs(&self, context: &Context, runner: &dyn Runner) -> Result<String, ServiceError>;
}

/// The platform keepwatch runs on.
pub fn this_platform() -> Box<dyn Platform> {
    #[cfg(target_os = "macos")]
    return Box::new(MacOs);
    #[cfg(windows)]
    return Box::new(Windows);
    #[cfg(not(any(target_os = "macos", windows)))]
    Box::new(Linux)
}

/// Runs a command that must succeed; `hint` says what to do if it does not.
pub(crate) fn must(
    runner: &dyn Runner,
    program: &str,
    args: &[&str],
    hint: &str,
) -> Result<Ran, ServiceError> {
    let command = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let hint = if hint.is_empty() {
        String::new()
    } else {
        format!("; {hint}")
    };
    match runner.run(program, args, None) {
        Ok(ran) if ran.success => Ok(ran),
        Ok(ran) => Err(ServiceError::Command {
            command,
            output: first_line(&ran.stderr, &ran.stdout),
            hint,
        }),
        Err(err) => Err(ServiceError::Command {
            command,
            output: err.to_string(),
            hint,
        }),
    }
}

fn first_line(stderr: &str, stdout: &str) -> String {
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    text.lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("it said nothing")
        .trim()
        .to_owned()
}

/// Writes the files install makes, after checking none is a stranger's.
pub(crate) fn write_files(files: &[(PathBuf, String)]) -> Result<(), ServiceError> {
    for (path, _) in files {
        if is_foreign(path) {
            return Err(ServiceError::Foreign(path.clone()));
        }
    }
    for (path, text) in files {
        let io = |source| ServiceError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(path, text).map_err(io)?;
    }
    Ok(())
}

/// Removes the files install made (only keepwatch's own).
pub(crate) fn remove_files(files: &[(PathBuf, String)]) -> Result<bool, ServiceError> {
    let mut removed = false;
    for (path, _) in files {
        if is_foreign(path) {
            return Err(ServiceError::Foreign(path.clone()));
        }
        match std::fs::remove_file(path) {
            Ok(()) => removed = true,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ServiceError::Io {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    Ok(removed)
}

/// There is a file at `path` that keepwatch did not write.
fn is_foreign(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| !text.contains(MARKER))
        || (path.exists() && std::fs::read_to_string(path).is_err())
}

/// What uninstall leaves, and where.
pub(crate) fn kept(context: &Context) -> String {
    format!(
        "Your settings ({}) and data ({}) are kept; `keepwatch run` still works in a terminal.",
        context.config.display(),
        context.data.display()
    )
}

/// The last lines of a log file keepwatch writes itself.
pub(crate) fn tail(path: &Path, lines: usize) -> Result<String, ServiceError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServiceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let all: Vec<&str> = text.lines().collect();
    Ok(all[all.len().saturating_sub(lines)..].join("\n"))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A runner that records each command and answers from a script, for
    //! the platforms' tests; [`SystemRunner`] is checked against the same
    //! expectations with real programs in `tests`.

    use std::cell::RefCell;

    use super::*;

    /// Records commands; answers each with the first scripted reply whose
    /// pattern the command line contains, else success with no output. A
    /// command matching one of `missing` cannot be started, as when its
    /// program is not installed. Pauses are counted, not waited.
    #[derive(Default)]
    pub struct Recorder {
        pub commands: RefCell<Vec<String>>,
        pub stdin: RefCell<Vec<String>>,
        pub replies: Vec<(String, Ran)>,
        pub missing: Vec<String>,
        pub pauses: RefCell<usize>,
    }

    impl Recorder {
        pub fn reply(mut self, pattern: &str, success: bool, stdout: &str, stderr: &str) -> Self {
            self.replies.push((
                pattern.to_owned(),
                Ran {
                    success,
                    stdout: stdout.to_owned(),
                    stderr: stderr.to_owned(),
                },
            ));
            self
        }

        /// Commands containing `pattern` fail to start, as the system
        /// says when there is no such program.
        pub fn cannot_start(mut self, pattern: &str) -> Self {
            self.missing.push(pattern.to_owned());
            self
        }

        pub fn commands(&self) -> Vec<String> {
            self.commands.borrow().clone()
        }
    }

    impl Runner for Recorder {
        fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> io::Result<Ran> {
            let line = std::iter::once(program)
                .chain(args.iter().copied())
                .collect::<Vec<_>>()
                .join(" ");
            self.commands.borrow_mut().push(line.clone());
            if let Some(text) = stdin {
                self.stdin.borrow_mut().push(text.to_owned());
            }
            if self
                .missing
                .iter()
                .any(|pattern| line.contains(pattern.as_str()))
            {
                return Err(io::Error::from_raw_os_error(2));
            }
            Ok(self
                .replies
                .iter()
                .find(|(pattern, _)| line.contains(pattern.as_str()))
                .map(|(_, ran)| ran.clone())
                .unwrap_or(Ran {
                    success: true,
                    ..Ran::default()
                }))
        }

        fn pause(&self, _: std::time::Duration) {
            *self.pauses.borrow_mut() += 1;
        }
    }

    pub fn context(home: &Path) -> Context {
        Context {
            binary: PathBuf::from("/home/anna/.cargo/bin/keepwatch"),
            config: home.join(".config/keepwatch/keepwatch.toml"),
            data: home.join(".local/share/keepwatch/keepwatch.db"),
            home: home.to_path_buf(),
            user: "anna".to_owned(),
            uid: 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn the_system_runner_runs_real_commands_with_input_and_reports_failure() {
        let ran = SystemRunner.run("cat", &[], Some("hello")).unwrap();
        assert!(ran.success);
        assert_eq!(ran.stdout, "hello");
        let failed = SystemRunner
            .run("sh", &["-c", "echo oops >&2; exit 3"], None)
            .unwrap();
        assert!(!failed.success);
        let err = must(
            &SystemRunner,
            "sh",
            &["-c", "echo oops >&2; exit 3"],
            "do this",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sh -c echo oops >&2; exit 3` failed: oops; do this"
        );
        let missing = must(&SystemRunner, "no-such-program-here", &[], "").unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("`no-such-program-here` failed: "),
            "{missing}"
        );
    }

    #[test]
    fn files_are_written_again_but_a_strangers_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/unit");
        let ours = vec![(path.clone(), format!("# {MARKER}\nA\n"))];
        write_files(&ours).unwrap();
        write_files(&ours).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("A\n"));
        assert!(remove_files(&ours).unwrap());
        assert!(!remove_files(&ours).unwrap());

        std::fs::write(&path, "[Unit]\nDescription=someone else's\n").unwrap();
        let err = write_files(&ours).unwrap_err();
        assert!(matches!(err, ServiceError::Foreign(_)), "{err}");
        assert!(err.to_string().contains("was not written by keepwatch"));
        assert!(remove_files(&ours).is_err());
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("someone else's")
        );
    }

    #[test]
    fn a_failed_command_that_printed_only_to_stdout_is_quoted_from_there() {
        let err = must(
            &SystemRunner,
            "sh",
            &[
                "-c",
                "echo; echo 'Unit keepwatch.service not loaded.'; exit 5",
            ],
            "",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sh -c echo; echo 'Unit keepwatch.service not loaded.'; exit 5` failed: Unit keepwatch.service not loaded."
        );
        let silent = must(&SystemRunner, "false", &[], "").unwrap_err();
        assert_eq!(silent.to_string(), "`false` failed: it said nothing");
    }

    #[test]
    fn a_file_that_cannot_be_written_or_removed_is_named_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        // Where the unit's folder should be there is a file, so the path
        // below it can be neither written nor removed.
        let blocker = dir.path().join("user");
        std::fs::write(&blocker, "not a folder").unwrap();
        let path = blocker.join("keepwatch.service");
        let files = [(path.clone(), format!("# {MARKER}\n"))];
        let err = write_files(&files).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot write {}: File exists (os error 17)", path.display())
        );
        let err = remove_files(&files).unwrap_err();
        assert!(
            matches!(&err, ServiceError::Io { path: p, .. } if *p == path),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "cannot write {}: Not a directory (os error 20)",
                path.display()
            )
        );
        assert_eq!(std::fs::read_to_string(&blocker).unwrap(), "not a folder");
    }

    #[test]
    fn the_tail_of_a_log_is_its_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("keepwatch.log");
        std::fs::write(&log, "1\n2\n3\n").unwrap();
        assert_eq!(tail(&log, 2).unwrap(), "2\n3");
        assert!(tail(&dir.path().join("none"), 2).is_err());
        let context = context(dir.path());
        assert!(kept(&context).contains(".config/keepwatch/keepwatch.toml"));
        assert!(
            context
                .log_file()
                .ends_with(".local/share/keepwatch/keepwatch.log")
        );
    }
}
