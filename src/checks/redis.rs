//! `type = "redis"` (Valkey too): the server logs the client in when a
//! password is configured, opens the configured database, and answers a
//! command (`PING` unless told otherwise).
//!
//! keepwatch opens the TCP connection itself and sends each step as its own
//! command, so connecting, `AUTH`, `SELECT` and the command are timed (and
//! fail) separately.

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisConnectionInfo, RedisError, Value};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::db::{self, Attempt, Heard, Listening};
use super::net::Stage;
use super::wording::quote;
use super::{CheckOutcome, Common};
use crate::secret::Secret;
use crate::vocabulary::FailureKind;

/// Settings of a Redis check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSpec {
    /// Host name or IP address.
    pub host: String,
    /// Port the server listens on.
    #[serde(default = "default_port")]
    pub port: u16,
    /// An ACL user (Redis 6 and later); unset logs in as the default user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password (`requirepass`, or the ACL user's): inline, `env:NAME`
    /// or `file:/path`. Unset sends no `AUTH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The database number to `SELECT`; unset stays in database 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<u32>,
    /// The command to send, its words separated by spaces (no quoting):
    /// `PING` (the default), `GET health`, `EXISTS shop:session`.
    #[serde(default = "default_command", deserialize_with = "command")]
    pub command: String,
}

fn default_port() -> u16 {
    6379
}

fn default_command() -> String {
    "PING".to_owned()
}

fn command<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Err(de::Error::custom(
            "give a command such as \"PING\", or leave `command` out",
        ));
    }
    Ok(text)
}

impl RedisSpec {
    /// A `PING` to `host` on the default port, nothing else set.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: default_port(),
            username: None,
            password: None,
            database: None,
            command: default_command(),
        }
    }

    fn user(&self) -> &str {
        self.username.as_deref().unwrap_or("default")
    }
}

/// Connects, logs in, selects the database and sends the command within the
/// service's timeout.
pub(crate) async fn run(common: &Common, spec: &RedisSpec) -> CheckOutcome {
    let mut attempt = Attempt::start(common, &spec.host, spec.port);
    let password = match attempt.password(spec.password.as_ref()) {
        Ok(password) => password,
        Err(outcome) => return outcome,
    };
    let (stream, heard) = match attempt.connect(&spec.host, spec.port).await {
        Ok(stream) => Listening::new(stream),
        Err(outcome) => return outcome,
    };
    // No set-up commands (no `CLIENT SETINFO`, no `AUTH`): each step below
    // is sent, timed and judged on its own. The deadline is the check's.
    let info = RedisConnectionInfo::default().set_skip_set_lib_name();
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(None)
        .set_response_timeout(None);
    let (mut conn, driver) =
        match MultiplexedConnection::new_with_config(&info, stream, config).await {
            Ok(pair) => pair,
            Err(err) => return failure(&attempt, spec, &err, Step::Command),
        };
    // The driver moves the bytes; it ends when `conn` is dropped.
    let driver = tokio::spawn(driver);
    let outcome = talk(&mut attempt, &mut conn, &heard, spec, password).await;
    drop(conn);
    driver.abort();
    outcome
}

/// Which command was being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Auth,
    Select,
    Command,
}

async fn talk(
    attempt: &mut Attempt<'_>,
    conn: &mut MultiplexedConnection,
    heard: &Heard,
    spec: &RedisSpec,
    password: Option<String>,
) -> CheckOutcome {
    let mut done = Vec::new();
    let mut link = Link {
        conn,
        heard,
        answered: false,
    };
    if let Some(password) = password {
        let mut auth = redis::cmd("AUTH");
        if let Some(username) = &spec.username {
            auth.arg(username);
        }
        auth.arg(password);
        if let Err(outcome) = link.send(attempt, spec, &auth, Step::Auth).await {
            return outcome;
        }
        attempt.lap("auth");
        done.push(format!("logged in as `{}`", spec.user()));
    }
    if let Some(database) = spec.database {
        let select = redis::cmd("SELECT").arg(database).clone();
        if let Err(outcome) = link.send(attempt, spec, &select, Step::Select).await {
            return outcome;
        }
        attempt.lap("select");
        done.push(format!("opened database {database}"));
    }
    let mut words = spec.command.split_whitespace();
    let mut command = redis::cmd(words.next().unwrap_or("PING"));
    for word in words {
        command.arg(word);
    }
    let reply = match link.send(attempt, spec, &command, Step::Command).await {
        Ok(reply) => reply,
        Err(outcome) => return outcome,
    };
    attempt.lap("command");
    if spec.command.trim().eq_ignore_ascii_case("PING")
        && !matches!(&reply, Value::SimpleString(pong) if pong == "PONG")
    {
        return attempt.protocol_error("Redis", format!("PING was answered with {reply:?}"));
    }
    done.push(format!("answered {}", quote(&spec.command)));
    let last = done.pop().unwrap_or_default();
    let summary = if done.is_empty() {
        last
    } else {
        format!("{} and {last}", done.join(", "))
    };
    attempt.up(&summary)
}

/// The connection, and what the server said so far.
struct Link<'a> {
    conn: &'a mut MultiplexedConnection,
    heard: &'a Heard,
    /// Whether a command has had its reply.
    answered: bool,
}

impl Link<'_> {
    /// Sends one command and waits, within the deadline, for its reply.
    async fn send(
        &mut self,
        attempt: &Attempt<'_>,
        spec: &RedisSpec,
        command: &redis::Cmd,
        step: Step,
    ) -> Result<Value, CheckOutcome> {
        match attempt
            .within(command.query_async::<Value>(self.conn))
            .await
        {
            None if !self.answered => Err(attempt.login_timeout_heard("Redis", self.heard)),
            None if step == Step::Command => Err(attempt.query_timeout("command", &spec.command)),
            None => Err(attempt.network(FailureKind::Timeout, Stage::Waiting)),
            Some(Err(err)) => Err(failure(attempt, spec, &err, step)),
            Some(Ok(reply)) => {
                self.answered = true;
                Ok(reply)
            }
        }
    }
}

/// The outcome for an error from the redis client during `step`.
fn failure(attempt: &Attempt<'_>, spec: &RedisSpec, err: &RedisError, step: Step) -> CheckOutcome {
    if let Some(code) = err.code() {
        let message = match err.detail() {
            Some(detail) => format!("{code} {detail}"),
            None => code.to_owned(),
        };
        return server_error(attempt, spec, code, &message, step);
    }
    if let Some(io_err) = db::io_cause(err) {
        return attempt.io(io_err, Stage::Waiting);
    }
    if err.is_connection_dropped() {
        return attempt.network(FailureKind::ConnectionClosed, Stage::Waiting);
    }
    if err.kind() == redis::ErrorKind::Parse {
        return attempt.protocol_error("Redis", err);
    }
    attempt.other(err)
}

/// The outcome for an error reply (`code` is its first word: `ERR`,
/// `WRONGPASS`, `NOAUTH` ...) to the command sent at `step`.
fn server_error(
    attempt: &Attempt<'_>,
    spec: &RedisSpec,
    code: &str,
    message: &str,
    step: Step,
) -> CheckOutcome {
    let user = spec.user();
    match (code, step) {
        ("NOAUTH", _) => attempt.auth_failed(
            user,
            message,
            "the server requires a password: set `password` (and `username` for an ACL user)",
        ),
        (_, Step::Auth) if message.contains("without any password configured") => attempt
            .auth_failed(
                user,
                message,
                "the server has no password, so applications that send one fail too: remove `password`, or set one on the server (requirepass)",
            ),
        (_, Step::Auth) => attempt.auth_failed(
            user,
            message,
            "check `password` (and `username` for an ACL user) against the server's requirepass or ACL",
        ),
        ("NOPERM", _) => attempt.auth_failed(
            user,
            message,
            "the user may not run this command: allow it in the user's ACL, or change `command`",
        ),
        (_, Step::Select) if message.contains("out of range") => attempt.database_missing(
            &spec.database.unwrap_or_default().to_string(),
            message,
            "use a number below the server's `databases` setting, or fix `database`",
        ),
        ("LOADING", _) => attempt.server_trouble(
            message,
            "the server is loading its data after a restart; if this lasts, read its log",
        ),
        (_, Step::Command) => attempt.query_failed("command", &spec.command, message),
        _ => attempt.other(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::{assert_explains, named};

    #[test]
    fn error_replies_have_their_own_words() {
        let common = named("Cache");
        let attempt = Attempt::start(&common, "cache", 6379);
        let mut spec = RedisSpec::new("cache");
        spec.database = Some(40);
        let cases = [
            (
                "NOAUTH",
                Step::Command,
                FailureKind::AuthFailed,
                "requires a password",
            ),
            (
                "WRONGPASS",
                Step::Auth,
                FailureKind::AuthFailed,
                "check `password`",
            ),
            (
                "NOPERM",
                Step::Command,
                FailureKind::AuthFailed,
                "allow it in the user's ACL",
            ),
            (
                "ERR",
                Step::Select,
                FailureKind::Other,
                "could not be checked",
            ),
            (
                "LOADING",
                Step::Command,
                FailureKind::Other,
                "loading its data",
            ),
            (
                "ERR",
                Step::Command,
                FailureKind::QueryFailed,
                "could not run the command \"PING\"",
            ),
        ];
        for (code, step, kind, expected) in cases {
            let outcome = server_error(&attempt, &spec, code, &format!("{code} something"), step);
            assert_explains(&outcome, kind, "Cache ", expected);
        }
    }

    #[test]
    fn an_empty_command_is_refused_when_read() {
        let err = toml::from_str::<RedisSpec>("host = \"h\"\ncommand = \" \"").unwrap_err();
        assert!(err.message().contains("leave `command` out"), "{err}");
        let spec: RedisSpec = toml::from_str("host = \"h\"").unwrap();
        assert_eq!(spec, RedisSpec::new("h"));
    }
}
