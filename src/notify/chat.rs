//! `type = "slack" | "teams" | "discord"`: the message posted to a chat
//! channel through the service's incoming webhook.
//!
//! The three share one settings shape ([`ChatChannel`]: the webhook `url`
//! and a `timeout`), told apart by a marker type that knows the service's
//! JSON and length limit. The webhook address is itself the credential
//! (anyone who has it can post), so `url` is a [`Secret`]: it can live in
//! an environment variable or a file, and its path never shows in errors.
//!
//! ```toml
//! [[channel]]
//! name = "ops-slack"
//! type = "slack"
//! url = "env:SLACK_WEBHOOK_URL"
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use reqwest::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::http::{self, Target};
use super::{Message, Notifier, SendError, SendFuture};
use crate::clock::Clock;
use crate::secret::Secret;

/// A chat service's incoming webhook: its name and message JSON.
pub trait ChatService: fmt::Debug + Clone + PartialEq + Send + Sync + 'static {
    /// The service's name, as errors say it.
    const NAME: &str;
    /// The webhook body for `message`.
    fn payload(message: &Message) -> Json;
}

/// Slack: `{"text": ...}` in mrkdwn, the subject in bold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Slack;

/// Microsoft Teams: an Adaptive Card (title and text), the format both
/// Teams Workflows webhooks and the older connectors accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Teams;

/// Discord: `{"content": ...}`, at most 2000 characters, mentions off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Discord;

/// Slack shows up to 4000 characters of `text` in one message, then splits.
const SLACK_LIMIT: usize = 4000;
/// Teams refuses a message over about 28 KB; well under it.
const TEAMS_LIMIT: usize = 20_000;
/// Discord refuses `content` over 2000 characters.
const DISCORD_LIMIT: usize = 2000;

impl ChatService for Slack {
    const NAME: &str = "Slack";

    fn payload(message: &Message) -> Json {
        let text = format!(
            "*{}*\n{}",
            slack_escape(message.subject.trim()),
            slack_escape(message.text.trim())
        );
        json!({ "text": truncate(&text, SLACK_LIMIT, Self::NAME) })
    }
}

impl ChatService for Teams {
    const NAME: &str = "Teams";

    fn payload(message: &Message) -> Json {
        let text = truncate(message.text.trim(), TEAMS_LIMIT, Self::NAME);
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": message.subject.trim(),
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": true,
                        },
                        { "type": "TextBlock", "text": text, "wrap": true },
                    ],
                },
            }],
        })
    }
}

impl ChatService for Discord {
    const NAME: &str = "Discord";

    fn payload(message: &Message) -> Json {
        let content = format!("**{}**\n{}", message.subject.trim(), message.text.trim());
        json!({
            "content": truncate(&content, DISCORD_LIMIT, Self::NAME),
            // An alert quoting "@everyone" must not ping the whole server.
            "allowed_mentions": { "parse": [] },
        })
    }
}

/// Slack's three control characters, escaped as Slack asks, so text such as
/// `<!channel>` in an alert is shown rather than acted on.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `text` cut to at most `limit` characters, ending with a note saying it
/// was cut, so a reader knows to look in keepwatch for the rest.
fn truncate(text: &str, limit: usize, service: &str) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let note = format!("\n… (cut at {service}'s {limit}-character limit)");
    let keep = limit.saturating_sub(note.chars().count());
    let mut cut: String = text.chars().take(keep).collect();
    cut.truncate(cut.trim_end().len());
    cut.push_str(&note);
    cut
}

/// `type = "slack"`, `"teams"` or `"discord"` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatChannel<S: ChatService> {
    /// The incoming-webhook address the service gave: inline, `env:NAME`
    /// or `file:/path`. Never shown: it is the credential.
    pub url: Secret,
    /// How long one attempt may take.
    #[serde(default = "http::default_timeout")]
    pub timeout: crate::units::Duration,
    #[serde(skip)]
    service: PhantomData<S>,
}

/// `type = "slack"`.
pub type SlackChannel = ChatChannel<Slack>;
/// `type = "teams"`.
pub type TeamsChannel = ChatChannel<Teams>;
/// `type = "discord"`.
pub type DiscordChannel = ChatChannel<Discord>;

impl<S: ChatService> ChatChannel<S> {
    /// A channel posting to the webhook `url`, with the default timeout.
    pub fn new(url: Secret) -> Self {
        Self {
            url,
            timeout: http::default_timeout(),
            service: PhantomData,
        }
    }

    /// What is wrong with these settings, one sentence per problem naming
    /// the setting and the fix; empty when they can be used. A `url` read
    /// from the environment or a file is checked when sending.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Secret::Inline(url) = &self.url
            && let Err(problem) = http::parse_url("url", url)
        {
            // The problem text never quotes the address itself.
            problems.push(format!(
                "{problem} (copy the incoming-webhook address from {})",
                S::NAME
            ));
        }
        problems.extend(http::timeout_problems(self.timeout));
        problems
    }

    async fn deliver(&self, message: &Message, clock: &Arc<dyn Clock>) -> Result<(), SendError> {
        let address = self.url.reveal().map_err(|err| {
            SendError::permanent(format!("the {} webhook url cannot be read: {err}", S::NAME))
        })?;
        let url = http::parse_url("url", &address).map_err(|problem| {
            SendError::permanent(format!("the {} webhook's {problem}", S::NAME))
        })?;
        let mut target = Target {
            what: S::NAME.to_owned(),
            shown: http::shown_url(&url, true),
            secrets: vec![address.clone()],
        };
        // The path holds the token; a server may echo it normalized.
        if url.path().len() >= 16 {
            target.secrets.push(url.path().to_owned());
        }
        let body = S::payload(message).to_string();
        let request = http::client(self.timeout, clock)?
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        http::deliver(request, &target, self.timeout).await
    }
}

impl<S: ChatService> Notifier for ChatChannel<S> {
    fn send<'a>(&'a self, message: &'a Message, clock: &'a Arc<dyn Clock>) -> SendFuture<'a> {
        Box::pin(self.deliver(message, clock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> Message {
        Message {
            id: "m-1".into(),
            subject: "Shop is down".into(),
            text: text.into(),
            html: String::new(),
            short: "Shop down".into(),
            data: Json::Null,
            enclosure: None,
        }
    }

    #[test]
    fn slack_gets_mrkdwn_with_the_subject_bold_and_controls_escaped() {
        let payload = Slack::payload(&message("Since 10:00 <!channel> & more"));
        assert_eq!(
            payload,
            json!({"text": "*Shop is down*\nSince 10:00 &lt;!channel&gt; &amp; more"})
        );
    }

    #[test]
    fn teams_gets_an_adaptive_card_with_title_and_text() {
        let payload = Teams::payload(&message("Since 10:00."));
        assert_eq!(payload["type"], "message");
        let card = &payload["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        let body = &card["content"]["body"];
        assert_eq!(body[0]["text"], "Shop is down");
        assert_eq!(body[0]["weight"], "Bolder");
        assert_eq!(body[1]["text"], "Since 10:00.");
    }

    #[test]
    fn discord_gets_content_cut_to_2000_characters_with_a_note() {
        let short = Discord::payload(&message("Since 10:00 @everyone"));
        assert_eq!(
            short,
            json!({"content": "**Shop is down**\nSince 10:00 @everyone", "allowed_mentions": {"parse": []}})
        );
        let long = Discord::payload(&message(&"ü".repeat(5000)));
        let content = long["content"].as_str().unwrap();
        assert_eq!(content.chars().count(), 2000);
        assert!(content.starts_with("**Shop is down**\nüü"), "{content}");
        assert!(
            content.ends_with("\n… (cut at Discord's 2000-character limit)"),
            "{content}"
        );
    }

    #[test]
    fn settings_are_read_checked_and_never_show_the_address() {
        let slack: SlackChannel =
            toml::from_str("url = \"https://hooks.slack.com/services/T0/B0/sekrit\"").unwrap();
        assert!(slack.problems().is_empty(), "{:?}", slack.problems());
        assert_eq!(slack.timeout, crate::units::Duration::from_secs(10));
        assert!(!format!("{slack:?}").contains("sekrit"));
        let err = toml::from_str::<DiscordChannel>("url = \"https://x\"\nusername = \"bot\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("username"), "{err}");
        let teams = TeamsChannel::new(Secret::parse("outlook.office.com/webhook/sekrit"));
        let problems = teams.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("url is not a valid address"),
            "{problems:?}"
        );
        assert!(
            problems[0].ends_with("(copy the incoming-webhook address from Teams)"),
            "{problems:?}"
        );
        assert!(!problems[0].contains("sekrit"), "{problems:?}");
        assert!(
            TeamsChannel::new(Secret::parse("env:TEAMS_URL"))
                .problems()
                .is_empty()
        );
    }
}
