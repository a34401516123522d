//! The log channel: alerts written to keepwatch's own log (standard error, or
//! wherever the service manager sends it) as one line each, and optionally
//! appended to a file as JSON lines for another program to collect. Every
//! setup has it before email is configured.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Message, Notifier, SendError, SendFuture};
use crate::clock::Clock;

/// `type = "log"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogChannel {
    /// Also append each message to this file, one JSON object per line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

impl LogChannel {
    fn append(&self, message: &Message) -> Result<(), SendError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let line = serde_json::json!({
            "id": message.id,
            "subject": message.subject,
            "text": message.text,
            "alerts": message.data,
        });
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| writeln!(file, "{line}"))
            .map_err(|err| {
                SendError::temporary(format!(
                    "cannot append to the alert log {}: {err}; check that the folder exists and is writable",
                    path.display()
                ))
            })
    }
}

impl Notifier for LogChannel {
    fn send<'a>(&'a self, message: &'a Message, _clock: &'a Arc<dyn Clock>) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::warn!(
                target: "keepwatch::alert",
                message_id = %message.id,
                "{}",
                message.text.replace('\n', " | ")
            );
            self.append(message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::notify::test_message;

    fn clock() -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }

    #[tokio::test]
    async fn messages_are_appended_to_the_file_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        let channel = LogChannel {
            file: Some(path.clone()),
        };
        let now = "2026-11-23T09:00:00Z".parse().unwrap();
        for name in ["a", "b"] {
            channel
                .send(&test_message("Shop", name, now), &clock())
                .await
                .unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["subject"], "[Shop] Test message from keepwatch");
        assert_eq!(lines[1]["alerts"]["test"], true);
    }

    #[tokio::test]
    async fn an_unwritable_file_is_a_temporary_failure_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("alerts.jsonl");
        let channel = LogChannel {
            file: Some(path.clone()),
        };
        let now = "2026-11-23T09:00:00Z".parse().unwrap();
        let err = channel
            .send(&test_message("Shop", "log", now), &clock())
            .await
            .unwrap_err();
        assert!(!err.permanent);
        assert!(
            err.reason.contains(&path.display().to_string()),
            "{}",
            err.reason
        );
        assert!(
            LogChannel::default()
                .send(&test_message("Shop", "log", now), &clock())
                .await
                .is_ok()
        );
    }
}
