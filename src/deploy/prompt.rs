//! Questions asked at the terminal (by `init` and its email set-up): a
//! default kept on Enter, and the question asked again after a bad answer.

use std::io::{BufRead, Write};

/// Accepts what looks like one email address.
pub(crate) fn email_address(email: &str) -> Result<(), String> {
    if email.contains('@') && !email.contains(' ') {
        Ok(())
    } else {
        Err(format!(
            "\"{email}\" does not look like an email address (like admin@example.com)"
        ))
    }
}

/// Asks until the answer is valid; Enter (or the end of input) keeps the default.
pub(crate) fn ask(
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    question: &str,
    default: &str,
    valid: impl Fn(&str) -> Result<(), String>,
) -> std::io::Result<String> {
    loop {
        let shown = if default.is_empty() { "none" } else { default };
        write!(output, "{question} [{shown}]: ")?;
        output.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            writeln!(output)?;
            return Ok(default.to_owned());
        }
        let answer = line.trim();
        if answer.is_empty() {
            return Ok(default.to_owned());
        }
        match valid(answer) {
            Ok(()) => return Ok(answer.to_owned()),
            Err(why) => writeln!(output, "  {why}. Please try again.")?,
        }
    }
}

/// Asks a yes/no question until answered; Enter keeps `default`.
pub(crate) fn confirm(
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    question: &str,
    default: bool,
) -> std::io::Result<bool> {
    let answer = ask(
        input,
        output,
        &format!("{question} (yes/no)"),
        if default { "yes" } else { "no" },
        |text| match text.to_ascii_lowercase().as_str() {
            "yes" | "y" | "no" | "n" => Ok(()),
            _ => Err(format!("\"{text}\" is neither yes nor no")),
        },
    )?;
    Ok(answer.to_ascii_lowercase().starts_with('y'))
}
