//! `init`'s email questions: from a mail server, a port, the security that
//! port suggests and an optional login, a working `[[channel]]` that the
//! escalation steps name, so alerts reach the admin from the first run.

use std::io::{BufRead, Write};

use super::prompt;
use crate::notify::{Channel, ChannelKind, EmailChannel, EmailFormat, EmailSecurity};
use crate::secret::Secret;

/// The channel `init` writes.
pub const CHANNEL_NAME: &str = "admin-email";

/// The environment variable suggested for the mail password.
const PASSWORD_VARIABLE: &str = "KEEPWATCH_SMTP_PASSWORD";

/// Asks how to reach the mail server, for alerts to `admin`. `None` when the
/// admin skips it (Enter at the first question).
pub(super) fn ask(
    admin: &str,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> std::io::Result<Option<Channel>> {
    writeln!(
        output,
        "\nTo email you alerts, keepwatch hands them to a mail server: your provider's (like smtp.gmail.com)\nor one on this computer or your network."
    )?;
    let server = prompt::ask(
        input,
        output,
        "Mail server (Enter to skip: alerts then only go to keepwatch's log)",
        "",
        |text| split_server(text).map(|_| ()),
    )?;
    if server.is_empty() {
        return Ok(None);
    }
    let (host, given_port) = split_server(&server).unwrap_or((server.clone(), None));
    let port_text = prompt::ask(
        input,
        output,
        "Port (587 is usual for providers, 465 for older ones, 25 for a server on your network)",
        &given_port.unwrap_or(587).to_string(),
        |text| parse_port(text).map(|_| ()),
    )?;
    let port = parse_port(&port_text).unwrap_or(587);
    let security = prompt::ask(
        input,
        output,
        "Security (starttls, tls or plain)",
        EmailSecurity::usual_for(port).name(),
        |text| parse_security(text).map(|_| ()),
    )?;
    let security = parse_security(&security).unwrap_or_else(|_| EmailSecurity::usual_for(port));
    let username = prompt::ask(
        input,
        output,
        "Login name on the mail server (Enter if it takes mail without a login)",
        "",
        |_| Ok(()),
    )?;
    let password = if username.is_empty() {
        None
    } else {
        let variable = prompt::ask(
            input,
            output,
            "The password stays out of the config file: it goes into keepwatch.env beside it, under the name",
            PASSWORD_VARIABLE,
            |name| {
                if crate::secret::is_variable_name(name) {
                    Ok(())
                } else {
                    Err(format!(
                        "\"{name}\" is not a variable name (letters, digits and _ only)"
                    ))
                }
            },
        )?;
        Some(Secret::Env(variable))
    };
    let from = prompt::ask(
        input,
        output,
        "Sender address of the alerts",
        admin,
        prompt::email_address,
    )?;
    Ok(Some(Channel {
        name: CHANNEL_NAME.to_owned(),
        max_per_hour: Channel::log().max_per_hour,
        kind: ChannelKind::Email(EmailChannel {
            server: host,
            port: Some(port),
            security: Some(security),
            username: (!username.is_empty()).then_some(username),
            password,
            from,
            to: vec![admin.to_owned()],
            format: EmailFormat::default(),
            timeout: EmailChannel::DEFAULT_TIMEOUT,
            ca_file: None,
        }),
    }))
}

/// `smtp.example.com` or `smtp.example.com:587`: the host, and the port if given.
fn split_server(text: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(parse_port(port)?)),
        _ => (text, None),
    };
    if host.is_empty() || host.contains([' ', '/', '@']) {
        return Err(format!(
            "\"{text}\" is not a server name; write it like smtp.example.com"
        ));
    }
    Ok((host.to_owned(), port))
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("\"{text}\" is not a port; write a number like 587")),
    }
}

fn parse_security(text: &str) -> Result<EmailSecurity, String> {
    match text.to_ascii_lowercase().as_str() {
        "starttls" => Ok(EmailSecurity::StartTls),
        "tls" => Ok(EmailSecurity::Tls),
        "plain" | "none" => Ok(EmailSecurity::Plain),
        _ => Err(format!("\"{text}\" is not one of starttls, tls or plain")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(answers: &str) -> (Option<Channel>, String) {
        let mut out = Vec::new();
        let channel = ask("anna@example.com", &mut answers.as_bytes(), &mut out).unwrap();
        (channel, String::from_utf8(out).unwrap())
    }

    fn email(channel: Option<Channel>) -> EmailChannel {
        match channel.map(|c| c.kind) {
            Some(ChannelKind::Email(email)) => email,
            other => panic!("not an email channel: {other:?}"),
        }
    }

    #[test]
    fn enter_at_the_server_skips_the_channel() {
        assert_eq!(channel("\n").0, None);
    }

    #[test]
    fn a_provider_gets_starttls_on_587_and_the_password_from_the_environment() {
        let (channel, shown) = channel("smtp.example.com\n\n\nanna@example.com\n\n\n");
        assert!(
            shown.contains("Security (starttls, tls or plain) [starttls]"),
            "{shown}"
        );
        assert!(
            shown
                .contains("into keepwatch.env beside it, under the name [KEEPWATCH_SMTP_PASSWORD]"),
            "{shown}"
        );
        let email = email(channel);
        assert_eq!(email.server, "smtp.example.com");
        assert_eq!(email.port, Some(587));
        assert_eq!(email.security(), EmailSecurity::StartTls);
        assert_eq!(email.username.as_deref(), Some("anna@example.com"));
        assert_eq!(
            email.password,
            Some(Secret::Env(PASSWORD_VARIABLE.to_owned()))
        );
        assert_eq!(email.to, ["anna@example.com"]);
        assert!(email.problems().is_empty(), "{:?}", email.problems());
    }

    #[test]
    fn host_and_port_in_one_answer_are_split_and_the_port_suggests_the_security() {
        let (channel, shown) = channel("mail.local:25\n\n\n\n\n");
        assert!(shown.contains("[25]"), "{shown}");
        assert!(shown.contains("[plain]"), "{shown}");
        let email = email(channel);
        assert_eq!(
            (email.server.as_str(), email.port),
            ("mail.local", Some(25))
        );
        assert_eq!(email.security(), EmailSecurity::Plain);
        assert_eq!((email.username, email.password), (None, None));

        let email = self::email(channel_of("smtp.example.com\n465\n\n\n\n"));
        assert_eq!(email.security(), EmailSecurity::Tls);
    }

    fn channel_of(answers: &str) -> Option<Channel> {
        channel(answers).0
    }

    #[test]
    fn bad_answers_are_asked_again_with_the_reason() {
        let (channel, shown) = channel(
            "smtp example\nsmtp.example.com:99999\nsmtp.example.com\nport\n2525\nssl\nplain\n\nalerts\nalerts@example.com\n",
        );
        assert!(
            shown.contains("\"smtp example\" is not a server name"),
            "{shown}"
        );
        assert!(shown.contains("\"99999\" is not a port"), "{shown}");
        assert!(shown.contains("\"port\" is not a port"), "{shown}");
        assert!(
            shown.contains("\"ssl\" is not one of starttls, tls or plain"),
            "{shown}"
        );
        assert!(
            shown.contains("does not look like an email address"),
            "{shown}"
        );
        let email = email(channel);
        assert_eq!(email.port, Some(2525));
        assert_eq!(email.from, "alerts@example.com");
    }

    #[test]
    fn a_password_variable_must_be_a_name() {
        let (channel, shown) = channel("smtp.example.com\n\n\nanna\nmy password\nMAIL_PW\n\n");
        assert!(
            shown.contains("\"my password\" is not a variable name"),
            "{shown}"
        );
        assert_eq!(
            email(channel).password,
            Some(Secret::Env("MAIL_PW".to_owned()))
        );
    }
}
