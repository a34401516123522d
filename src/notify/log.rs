//! The log channel: alerts written to keepwatch's own log as one structured
//! line each, for a machine whose log is collected elsewhere, and as the
//! channel every setup has before email is configured.

use serde::{Deserialize, Serialize};

use super::{Message, Notifier, SendFuture};

/// `type = "log"`: no settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogChannel {}

impl Notifier for LogChannel {
    fn send<'a>(&'a self, message: &'a Message) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::warn!(
                target: "keepwatch::alert",
                message_id = %message.id,
                "{}",
                message.text.replace('\n', " | ")
            );
            Ok(())
        })
    }
}
