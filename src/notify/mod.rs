//! Notification channels: each delivers one composed [`Message`] (email, SMS,
//! webhook, chat, log). Which alerts go into a message, to which channel and
//! when is decided by the alert engine; the durable outbox retries a failed
//! delivery. A channel only sends.
//!
//! Adding a channel is one file with a settings struct that implements
//! [`Notifier`], plus a variant of [`ChannelKind`] (see docs/adding-a-channel.md).

mod chat;
mod email;
mod held;
pub(crate) mod http;
mod log;
pub mod outbox;
mod sms;
mod webhook;

pub use chat::{
    ChatChannel, ChatService, Discord, DiscordChannel, Slack, SlackChannel, Teams, TeamsChannel,
};
pub use email::{EmailChannel, EmailFormat, EmailProblem, EmailSecurity, SMS_SUBJECT};
pub use held::{Attempt, HELD_CAPACITY, Held, HeldMessage};
pub use log::LogChannel;
pub use outbox::{Channels, Outbox, channels};
pub use sms::{BodyFormat, SmsChannel, SmsMethod, SmsProvider};
pub use webhook::{WebhookChannel, signature as webhook_signature};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::message::Message;

/// Why a channel could not deliver a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SendError {
    /// What went wrong, in words that name the server or setting to fix.
    pub reason: String,
    /// Retrying cannot help until the config changes (a rejected password, a
    /// refused recipient); the outbox still retries, but less often.
    pub permanent: bool,
}

impl SendError {
    /// A failure that may pass (a server down or slow).
    pub fn temporary(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            permanent: false,
        }
    }

    /// A failure that needs a config change.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            permanent: true,
        }
    }
}

/// A boxed future, so channels of different types sit behind one trait object.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Delivers a message through one channel. The seam tests use to stand in for
/// a provider that cannot run on the test machine.
pub trait Notifier: Send + Sync {
    /// Sends `message`; returns once the receiving server has accepted it.
    /// `clock` is the agent's: certificates are judged at its time, and a
    /// webhook's timestamp is read from it.
    fn send<'a>(&'a self, message: &'a Message, clock: &'a Arc<dyn Clock>) -> SendFuture<'a>;
}

/// One `[[channel]]` table: a name the escalation steps refer to, and the
/// channel type with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// How escalation steps name this channel, e.g. `"admin-email"`.
    pub name: String,
    /// At most this many messages an hour; more alerts wait and are sent
    /// together in the next message allowed.
    #[serde(default = "default_max_per_hour")]
    pub max_per_hour: u32,
    /// The channel type and its settings.
    #[serde(flatten)]
    pub kind: ChannelKind,
}

fn default_max_per_hour() -> u32 {
    20
}

/// The channel types, picked by `type = "..."`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ChannelKind {
    /// keepwatch's own log (standard output, or its log file).
    Log(LogChannel),
    /// JSON POSTed to an address, optionally signed (HMAC-SHA256).
    Webhook(WebhookChannel),
    /// A text message per number, through Twilio or an HTTP SMS gateway.
    Sms(SmsChannel),
    /// A Slack incoming webhook.
    Slack(SlackChannel),
    /// A Microsoft Teams incoming webhook (Workflows or connector).
    Teams(TeamsChannel),
    /// A Discord webhook.
    Discord(DiscordChannel),
    /// Email over SMTP, also to a carrier's email-to-SMS gateway.
    Email(EmailChannel),
}

impl ChannelKind {
    /// Every `type` name, as written in the config.
    pub const TYPES: &[&str] = &[
        "log", "email", "webhook", "sms", "slack", "teams", "discord",
    ];

    /// What is wrong with the settings, each naming the setting and the fix.
    pub fn problems(&self) -> Vec<String> {
        match self {
            Self::Log(_) => Vec::new(),
            Self::Email(channel) => channel.problems().iter().map(ToString::to_string).collect(),
            Self::Webhook(channel) => channel.problems(),
            Self::Sms(channel) => channel.problems(),
            Self::Slack(channel) => channel.problems(),
            Self::Teams(channel) => channel.problems(),
            Self::Discord(channel) => channel.problems(),
        }
    }

    /// The sender of this channel type.
    pub fn notifier(&self) -> &dyn Notifier {
        match self {
            Self::Log(channel) => channel,
            Self::Webhook(channel) => channel,
            Self::Sms(channel) => channel,
            Self::Slack(channel) => channel,
            Self::Teams(channel) => channel,
            Self::Discord(channel) => channel,
            Self::Email(channel) => channel,
        }
    }
}

impl Channel {
    /// The channel every config has without saying so: keepwatch's log.
    pub const LOG: &str = crate::message::LOG_CHANNEL;

    /// The built-in `log` channel.
    pub fn log() -> Self {
        Self {
            name: Self::LOG.to_owned(),
            max_per_hour: default_max_per_hour(),
            kind: ChannelKind::Log(LogChannel::default()),
        }
    }

    /// How and to whom it delivers, for a person: "by email to
    /// anna@example.com", "by SMS to +4915112345678", "to the webhook at
    /// https://hooks.example.com/…" (never a secret or a query string).
    pub fn reach(&self) -> String {
        let list = |to: &[String]| to.join(", ");
        match &self.kind {
            ChannelKind::Log(_) => "to keepwatch's log".to_owned(),
            ChannelKind::Email(email) if email.format == EmailFormat::Sms => {
                format!("by SMS through email to {}", list(&email.to))
            }
            ChannelKind::Email(email) => format!("by email to {}", list(&email.to)),
            ChannelKind::Sms(sms) => format!("by SMS to {}", list(&sms.to)),
            ChannelKind::Webhook(hook) => match reqwest::Url::parse(&hook.url) {
                Ok(url) => format!("to the webhook at {}", http::shown_url(&url, true)),
                Err(_) => "to a webhook".to_owned(),
            },
            ChannelKind::Slack(_) => format!("on Slack (\"{}\")", self.name),
            ChannelKind::Teams(_) => format!("on Teams (\"{}\")", self.name),
            ChannelKind::Discord(_) => format!("on Discord (\"{}\")", self.name),
        }
    }

    /// How the channel called `name` among `channels` delivers (see
    /// [`reach`](Self::reach)); `log` needs no `[[channel]]`.
    pub fn reach_of(name: &str, channels: &[Channel]) -> String {
        match channels.iter().find(|c| c.name == name) {
            Some(channel) => channel.reach(),
            None if name == Self::LOG => Self::log().reach(),
            None => format!("through \"{name}\" (no longer in the settings)"),
        }
    }
}

/// The message `keepwatch alert test` sends.
pub fn test_message(business: &str, channel: &str, now: jiff::Timestamp) -> Message {
    let text = format!(
        "This is a test message from keepwatch for {business}. If you read it, the channel \"{channel}\" works. Nothing is wrong."
    );
    Message {
        id: format!("test.{}.{channel}", now.as_millisecond()),
        subject: format!("[{business}] Test message from keepwatch"),
        html: format!("<html><body><p>{text}</p></body></html>"),
        short: format!("{business}: keepwatch test message for \"{channel}\". Nothing is wrong."),
        data: serde_json::json!({ "business": business, "test": true, "alerts": [] }),
        text,
        enclosure: None,
    }
}

/// Sends a test message through each of `channels` (all of them side by
/// side) and returns each channel's name with its result, in order.
pub async fn test_channels(
    channels: &[Channel],
    business: &str,
    clock: Arc<dyn Clock>,
) -> Vec<(String, Result<(), SendError>)> {
    let sends = channels
        .iter()
        .map(|channel| {
            let message = test_message(business, &channel.name, clock.now());
            (channel.clone(), message)
        })
        .collect();
    let results = send_each(sends, clock).await;
    channels
        .iter()
        .map(|channel| channel.name.clone())
        .zip(results)
        .collect()
}

/// Sends each message through its channel now, all side by side, without
/// the outbox (for `alert test` and `report test`, which show the result at
/// once), and returns the results in the same order.
pub async fn send_each(
    sends: Vec<(Channel, Message)>,
    clock: Arc<dyn Clock>,
) -> Vec<Result<(), SendError>> {
    let count = sends.len();
    let mut sending = tokio::task::JoinSet::new();
    for (index, (channel, message)) in sends.into_iter().enumerate() {
        let clock = clock.clone();
        sending.spawn(async move { (index, channel.kind.notifier().send(&message, &clock).await) });
    }
    let mut results: Vec<Result<(), SendError>> = (0..count)
        .map(|_| Err(SendError::temporary("the sending was cut short")))
        .collect();
    while let Some(joined) = sending.join_next().await {
        if let Ok((index, result)) = joined
            && let Some(slot) = results.get_mut(index)
        {
            *slot = result;
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_table_names_its_type_and_unknown_keys_are_refused() {
        let channel: Channel = toml::from_str("name = \"audit\"\ntype = \"log\"").unwrap();
        assert_eq!(channel.name, "audit");
        assert_eq!(channel.max_per_hour, 20);
        assert_eq!(channel.kind, ChannelKind::Log(LogChannel::default()));
        let err = toml::from_str::<Channel>("name = \"a\"\ntype = \"log\"\nloud = true")
            .unwrap_err()
            .to_string();
        assert!(err.contains("loud"), "{err}");
        let err = toml::from_str::<Channel>("name = \"a\"\ntype = \"pager\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pager"), "{err}");
    }
}
