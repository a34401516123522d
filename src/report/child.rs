//! Scheduled reports made in a child process of keepwatch itself, so the
//! agent's memory does not grow by what a report needs (a month of history
//! decoded, fonts, the PDF and its charts): the child's memory is all given
//! back to the system when it exits. Measured with `scripts/report-memory.sh`
//! (BENCHMARKS.md): made in the agent's own process, a report left it 2.7 MB
//! larger for good, as the allocator keeps what was freed.
//!
//! The agent sends the child a [`Job`] as JSON on its standard input (the
//! config it runs on, the database, which report and for which scheduled
//! time) and reads the [`Message`] back as JSON from its standard output;
//! the child's errors come on its standard error, one line.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::email::message;
use crate::calendar::Calendar;
use crate::config::Config;
use crate::message::Message;
use crate::store::Store;

/// The command-line words that make keepwatch serve one [`Job`]:
/// `keepwatch report make-scheduled` (hidden from `--help`).
pub const ARGS: [&str; 2] = ["report", "make-scheduled"];

/// Where scheduled reports are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Maker {
    /// On the scheduler's own thread, in this process (tests, and when
    /// keepwatch cannot find its own program file).
    InProcess,
    /// In a child process running this program file with [`ARGS`].
    Child(PathBuf),
}

/// One report to make, as the agent sends it to the child.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The config the agent runs on (it may be a last good copy of a file
    /// that has since been broken, so the child does not read the file), as
    /// TOML: services are read through TOML values, which have no null.
    #[serde(with = "as_toml")]
    pub config: Config,
    /// The database.
    pub database: PathBuf,
    /// The `[[report]]`, by [`crate::config::ReportConfig::key`].
    pub report: String,
    /// Its scheduled time.
    pub due: Timestamp,
    /// Now, by the agent's clock.
    pub now: Timestamp,
}

impl Job {
    /// Makes the message here, with a connection of its own to the database.
    pub fn run(&self) -> Result<Message, String> {
        let table = self
            .config
            .reports
            .iter()
            .find(|table| table.key() == self.report)
            .ok_or_else(|| format!("no [[report]] is known as \"{}\"", self.report))?;
        let calendar = Calendar::from_config(&self.config.business, TimeZone::system())?;
        let store = Store::open(&self.database, &self.config.storage).map_err(|e| e.to_string())?;
        message(&store, &self.config, &calendar, table, self.due, self.now)
    }

    /// Makes the message in a child process running `program`.
    pub fn run_in(&self, program: &Path) -> Result<Message, String> {
        let failed = |err: std::io::Error| format!("cannot run {}: {err}", program.display());
        let mut child = Command::new(program)
            .args(ARGS)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(failed)?;
        let job = serde_json::to_vec(self).map_err(|err| err.to_string())?;
        if let Some(mut input) = child.stdin.take() {
            // A child that died at once says why on its standard error.
            let _ = input.write_all(&job);
        }
        let output = child.wait_with_output().map_err(failed)?;
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr);
            let said = said
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(format!(
                "the report process ended with {}: {said}",
                output.status
            ));
        }
        serde_json::from_slice(&output.stdout).map_err(|err| {
            format!("the report process answered something that is not a report: {err}")
        })
    }
}

/// A [`Config`] as its TOML text.
mod as_toml {
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::config::Config;

    pub fn serialize<S: Serializer>(config: &Config, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(&toml::to_string(config).map_err(S::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(from: D) -> Result<Config, D::Error> {
        toml::from_str(&String::deserialize(from)?).map_err(D::Error::custom)
    }
}

/// The child's side: reads a [`Job`] from `input`, makes its message and
/// writes it to `output`. Not generic: one copy of it in the binary.
pub fn serve(input: &mut dyn Read, output: &mut dyn Write) -> Result<(), String> {
    let job: Job = serde_json::from_reader(input).map_err(|err| {
        format!(
            "`keepwatch {}` reads what keepwatch run sends it: {err}",
            ARGS.join(" ")
        )
    })?;
    let message = job.run()?;
    serde_json::to_writer(output, &message).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests;
