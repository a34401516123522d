//! serde's and toml's messages in the words of the config file: `invalid
//! type: string "25", expected u16` becomes "`port` must be a whole number
//! like 25, without quotes". What a value was expected to be is said the way
//! the file writes it (quotes, brackets, true/false), never as a Rust type.

use crate::printable;

/// How many characters of a value written in the file a message repeats: a
/// 1 MB string is named by its start, not echoed.
const VALUE_CHARS: usize = 60;

/// The plain-words message for `message` about `key` (the key as written, or
/// empty when the problem is not about one key), or `None` when the message
/// is already one of ours or not one this knows.
pub(crate) fn explain(key: &str, message: &str) -> Option<String> {
    let subject = if key.is_empty() {
        "this value".to_owned()
    } else {
        format!("`{}`", printable::name(key))
    };
    if let Some((written, expected)) = mismatch_parts(message) {
        return Some(mismatch(&subject, &Written::parse(written), expected));
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let mut quoted = rest.split('`').skip(1).step_by(2);
        let written = quoted.next()?;
        let choices: Vec<&str> = quoted.collect();
        return Some(format!(
            "{subject} cannot be \"{}\"; write one of: {}",
            printable::cut(written, VALUE_CHARS),
            choices.join(", ")
        ));
    }
    if let Some(missing) = missing_field(message) {
        return Some(format!(
            "`{missing}` is missing here and has no default; add it"
        ));
    }
    if message.starts_with("invalid basic string") {
        return Some(
            "this text in double quotes is not closed: end it with \" on the same line".to_owned(),
        );
    }
    if message.starts_with("invalid literal string") {
        return Some(
            "this text in single quotes is not closed: end it with ' on the same line".to_owned(),
        );
    }
    if message.starts_with("string values must be quoted") {
        return Some(format!(
            "{subject} is a word without quotes: write text in double quotes (\"like this\"), and yes or no as true or false"
        ));
    }
    if message.starts_with("integer number overflowed") {
        return Some(format!("{subject} is a number too large for any setting"));
    }
    None
}

/// serde's "invalid type: string \"25\", expected u16" (or "invalid value: …")
/// split into what was written and what was expected.
fn mismatch_parts(message: &str) -> Option<(&str, &str)> {
    message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))?
        .rsplit_once(", expected ")
}

/// The key of serde's "missing field `x`".
pub(crate) fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field ")
        .map(|rest| rest.trim().trim_matches('`'))
}

/// The value serde quotes in "invalid type: string \"25\", expected u16" or
/// "unknown variant `emial`", as the file writes it (`"25"`, `70000`,
/// `true`), to find the line that holds it.
pub(crate) fn written_literal(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        return rest
            .split('`')
            .nth(1)
            .map(|variant| format!("\"{variant}\""));
    }
    let (written, _) = mismatch_parts(message)?;
    if let Some(quoted) = written.strip_prefix("string ") {
        return Some(quoted.to_owned());
    }
    let inner = written.split('`').nth(1)?;
    inner.split_whitespace().next().map(str::to_owned)
}

/// What the file held where something else was expected, from serde's
/// "string \"25\"", "integer `70000`", "integer `1` as i128", "boolean `true`".
#[derive(Debug, PartialEq)]
enum Written {
    Text(String),
    Integer(i128),
    Fraction,
    Boolean,
    List,
    Table,
    Other,
}

impl Written {
    fn parse(text: &str) -> Self {
        if let Some(quoted) = text.strip_prefix("string ") {
            return Self::Text(quoted.trim_matches('"').to_owned());
        }
        let inner = || {
            text.split('`')
                .nth(1)
                .unwrap_or_default()
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        match text.split_whitespace().next().unwrap_or_default() {
            "integer" => inner().parse().map_or(Self::Other, Self::Integer),
            "floating" => Self::Fraction,
            "boolean" => Self::Boolean,
            "sequence" => Self::List,
            "map" => Self::Table,
            _ => Self::Other,
        }
    }
}

/// The sentence for `subject` holding `written` where `expected` was wanted.
fn mismatch(subject: &str, written: &Written, expected: &str) -> String {
    if let Some((low, high)) = integer_range(expected) {
        // Limits like 4294967295 mean nothing to people.
        let huge = high > i128::from(u16::MAX);
        return match written {
            Written::Integer(n) if huge && *n < 0 => format!("{subject} cannot be negative: {n}"),
            Written::Integer(n) if huge => format!("{subject} is far too large: {n}"),
            Written::Integer(n) if *n < low => {
                format!("{subject} must be a whole number from {low} to {high}; {n} is too small")
            }
            Written::Integer(n) => {
                format!("{subject} must be a whole number from {low} to {high}; {n} is too large")
            }
            Written::Text(text) if text.trim().parse::<i128>().is_ok() => format!(
                "{subject} must be a whole number like {}, without quotes",
                text.trim()
            ),
            Written::Fraction => {
                format!("{subject} must be a whole number like 25, without a decimal point")
            }
            _ => format!("{subject} must be a whole number like 25, without quotes"),
        };
    }
    let wanted = match expected {
        "f32" | "f64" => "a number like 2.5, without quotes".to_owned(),
        "a boolean" | "bool" => "true or false, without quotes".to_owned(),
        "a string" | "string" | "a borrowed string" | "a character" | "char" => {
            "text in double quotes".to_owned()
        }
        "a sequence" | "a list" => "a list in square brackets, like [\"a\", \"b\"]".to_owned(),
        other if other.starts_with("struct ") || other == "a map" => {
            "a table of settings (key = value lines under a [section] header)".to_owned()
        }
        // Our own expectations are already in the file's words.
        other => other.to_owned(),
    };
    let found = match written {
        Written::Text(text) if wanted.contains("without quotes") => {
            format!(
                "; remove the quotes around \"{}\"",
                printable::cut(text, VALUE_CHARS)
            )
        }
        Written::Text(text) => format!(", not \"{}\"", printable::cut(text, VALUE_CHARS)),
        Written::Integer(n) => format!(", not the number {n}"),
        Written::Fraction => ", not a number".to_owned(),
        Written::Boolean => ", not true or false".to_owned(),
        Written::List => ", not a list".to_owned(),
        Written::Table => ", not a table".to_owned(),
        Written::Other => String::new(),
    };
    format!("{subject} must be {wanted}{found}")
}

/// The range of serde's integer type names.
fn integer_range(expected: &str) -> Option<(i128, i128)> {
    Some(match expected {
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, u64::MAX.into()),
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX.into()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(key: &str, message: &str) -> String {
        explain(key, message).unwrap_or_else(|| panic!("no words for {message:?}"))
    }

    #[test]
    fn a_quoted_number_is_asked_for_without_quotes() {
        assert_eq!(
            said("port", "invalid type: string \"25\", expected u16"),
            "`port` must be a whole number like 25, without quotes"
        );
        assert_eq!(
            said("port", "invalid type: string \"smtp\", expected u16"),
            "`port` must be a whole number like 25, without quotes"
        );
    }

    #[test]
    fn numbers_out_of_range_say_the_range_and_which_end() {
        assert_eq!(
            said("port", "invalid value: integer `70000`, expected u16"),
            "`port` must be a whole number from 0 to 65535; 70000 is too large"
        );
        assert_eq!(
            said("max_per_hour", "invalid value: integer `-5`, expected u32"),
            "`max_per_hour` cannot be negative: -5"
        );
        assert_eq!(
            said(
                "port",
                "invalid type: integer `99999999999999999999` as i128, expected u16"
            ),
            "`port` must be a whole number from 0 to 65535; 99999999999999999999 is too large"
        );
        assert_eq!(
            said("port", "invalid type: floating point `2.5`, expected u16"),
            "`port` must be a whole number like 25, without a decimal point"
        );
    }

    #[test]
    fn other_types_are_named_as_the_file_writes_them() {
        assert_eq!(
            said(
                "enabled",
                "invalid type: string \"yes\", expected a boolean"
            ),
            "`enabled` must be true or false, without quotes; remove the quotes around \"yes\""
        );
        assert_eq!(
            said("name", "invalid type: integer `3`, expected a string"),
            "`name` must be text in double quotes, not the number 3"
        );
        assert_eq!(
            said("to", "invalid type: string \"a@b.c\", expected a sequence"),
            "`to` must be a list in square brackets, like [\"a\", \"b\"], not \"a@b.c\""
        );
        assert_eq!(
            said(
                "business",
                "invalid type: string \"x\", expected struct BusinessConfig"
            ),
            "`business` must be a table of settings (key = value lines under a [section] header), not \"x\""
        );
        assert_eq!(
            said("weight", "invalid type: boolean `true`, expected f64"),
            "`weight` must be a number like 2.5, without quotes, not true or false"
        );
    }

    #[test]
    fn our_own_expectations_are_kept_with_what_was_written() {
        assert_eq!(
            said(
                "cpu",
                "invalid type: integer `10`, expected a duration in quotes, e.g. \"30s\" or \"5m\""
            ),
            "`cpu` must be a duration in quotes, e.g. \"30s\" or \"5m\", not the number 10"
        );
    }

    #[test]
    fn a_long_value_is_named_by_its_start() {
        let long = "x".repeat(1_000_000);
        let message = format!("invalid type: string \"{long}\", expected a sequence");
        let text = said(&long, &message);
        assert!(text.len() < 400, "{} characters", text.len());
        assert!(text.contains('…'), "{text}");
    }

    #[test]
    fn variants_missing_fields_and_open_strings_have_words() {
        assert_eq!(
            said(
                "type",
                "unknown variant `htp`, expected one of `http`, `tcp`"
            ),
            "`type` cannot be \"htp\"; write one of: http, tcp"
        );
        assert_eq!(
            said("", "missing field `url`"),
            "`url` is missing here and has no default; add it"
        );
        assert_eq!(
            said("url", "invalid basic string, expected `\"`"),
            "this text in double quotes is not closed: end it with \" on the same line"
        );
        assert_eq!(
            said(
                "critical",
                "string values must be quoted, expected literal string"
            ),
            "`critical` is a word without quotes: write text in double quotes (\"like this\"), and yes or no as true or false"
        );
        assert_eq!(
            said("", "integer number overflowed"),
            "this value is a number too large for any setting"
        );
    }

    #[test]
    fn messages_that_are_already_plain_are_left_alone() {
        assert_eq!(explain("x", "duplicate key"), None);
        assert_eq!(explain("x", "a duration in quotes, e.g. \"30s\""), None);
    }
}
