//! Reading `keepwatch.toml`: every problem in the file is reported at once, each
//! with its line, column and field, and a suggestion where one is likely.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Config;
use super::expected;
use super::problem::{Problem, field_at, floor_char_boundary, position, suggest, table_header};
use super::validate;
use crate::printable;

/// Why a config file could not be used: the file and everything wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file that was read.
    pub path: PathBuf,
    /// Every problem found, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        write!(f, "{} has {count} {noun}:", self.path.display())?;
        for problem in &self.problems {
            write!(f, "\n  {}:{problem}", self.path.display())?;
        }
        Ok(())
    }
}

impl ConfigError {
    fn single(path: &Path, message: String, hint: Option<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            problems: vec![Problem {
                line: None,
                column: None,
                field: String::new(),
                message,
                hint,
            }],
        }
    }
}

/// Reads and checks the config file at `path`.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    parse(path, &read(path)?)
}

/// Parses the bytes of a config file, as [`load_file`] does once it has
/// read them: bytes that are not UTF-8 text are a problem on their line.
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Config, ConfigError> {
    parse(path, text_of(path, bytes)?)
}

/// `bytes` as text, or a problem at the first byte that is not UTF-8.
fn text_of<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, ConfigError> {
    let err = match std::str::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(err) => err,
    };
    let good = &bytes[..err.valid_up_to()];
    // The part before the bad byte is UTF-8, so its lines and characters count.
    let before = String::from_utf8_lossy(good);
    let (line, column) = position(&before, before.len());
    let bad = bytes.get(err.valid_up_to()).copied().unwrap_or_default();
    Err(ConfigError {
        path: path.to_path_buf(),
        problems: vec![Problem {
            line: Some(line),
            column: Some(column),
            field: field_at(&before, line),
            message: format!("the file is not UTF-8 text here (a byte 0x{bad:02X})"),
            hint: Some(
                "save the file as UTF-8 (most editors offer it under \"Save as\" or \"Encoding\")"
                    .to_owned(),
            ),
        }],
    })
}

/// The text of the file at `path`, or a problem saying why it cannot be read.
pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|err| {
        let hint = match err.kind() {
            std::io::ErrorKind::NotFound => "run `keepwatch init` to write one, or check the path",
            std::io::ErrorKind::PermissionDenied => {
                "make the file readable by the user running keepwatch"
            }
            _ => "check that the path names a readable text file",
        };
        ConfigError::single(
            path,
            format!("cannot read the file: {err}"),
            Some(hint.to_owned()),
        )
    })?;
    text_of(path, &bytes).map(str::to_owned)
}

/// Parses config text; `path` is only used to name the file in problems.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    // Each pass reports the first problem serde meets; blanking the line it is
    // on lets the next pass find the one after it. Blanked lines keep their
    // line breaks, so positions stay those of the original text.
    let mut remaining = text.to_owned();
    let mut parsed = None;
    // What was blanked, so a "missing field" it causes is not reported as a
    // second problem, and whether a whole table went (then checking the
    // meaning would report what is missing because of it).
    let mut blanked_keys: Vec<String> = Vec::new();
    let mut blanked_table = false;
    for _ in 0..100 {
        match toml::from_str::<Config>(&remaining) {
            Ok(config) => {
                parsed = Some(config);
                break;
            }
            Err(err) => {
                let Some(span) = err.span() else {
                    problems.push(unplaced(text, err.message()));
                    break;
                };
                let problem = describe(&remaining, span.start, err.message());
                let repeated = problems.last() == Some(&problem);
                let knock_on = expected::missing_field(err.message())
                    .is_some_and(|key| blanked_keys.contains(&joined(&problem.field, key)));
                if !repeated && !knock_on {
                    problems.push(problem.clone());
                }
                let at = match problem.line {
                    // A problem moved from a table's header to its key blanks that key only.
                    Some(line) if line != position(&remaining, span.start).0 => {
                        line_offset(&remaining, line)
                    }
                    _ => span.start,
                };
                if repeated {
                    break;
                }
                match blank_at(&mut remaining, at) {
                    Blanked::Nothing => break,
                    Blanked::Table => blanked_table = true,
                    Blanked::Line => {}
                }
                blanked_keys.push(problem.field);
            }
        }
    }
    if let Some(config) = parsed.as_ref().filter(|_| !blanked_table) {
        // With lines blanked, a problem of meaning that has no line of its
        // own (a rule without its metric) is one the blanking caused.
        let blanked = !problems.is_empty();
        let meaning = validate::check(config, text);
        problems.extend(meaning.into_iter().filter(|p| !blanked || p.line.is_some()));
    }
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    match parsed {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(ConfigError {
            path: path.to_path_buf(),
            problems,
        }),
    }
}

fn describe(text: &str, offset: usize, message: &str) -> Problem {
    let (mut line, mut column) = position(text, offset);
    // serde reports a problem inside a `[[channel]]` (a table read as a
    // whole) at its header; the key it is about is on a line below.
    if is_header(text, line)
        && let Some(key_line) = key_line_in_table(text, line, message)
    {
        line = key_line;
        column = indentation(text, line) + 1;
    }
    let field = field_at(text, line);
    let key = if is_header(text, line) {
        ""
    } else {
        field.rsplit('.').next().unwrap_or_default()
    };
    let (message, hint) = if let Some((unknown, expected)) = unknown_key(message) {
        let hint = match suggest(&unknown, &expected) {
            Some(best) => format!("did you mean `{best}`?"),
            None if expected.is_empty() => "remove it".to_owned(),
            None => format!("known keys here: {}", expected.join(", ")),
        };
        (
            format!("unknown key `{}`", printable::name(&unknown)),
            Some(hint),
        )
    } else if message.trim() == "duplicate key" {
        duplicate(text, line, key)
    } else {
        let plain = expected::explain(key, message).unwrap_or_else(|| message.trim().to_owned());
        (plain, None)
    };
    Problem {
        line: Some(line),
        column: Some(column),
        field,
        message,
        hint,
    }
}

/// A problem toml reports without a place: too deep nesting is pinned to the
/// line nesting deepest.
fn unplaced(text: &str, message: &str) -> Problem {
    let deep = message.contains("recursion");
    let line = deep
        .then(|| {
            text.lines()
                .enumerate()
                .max_by_key(|(_, line)| nesting(line))
                .map(|(index, _)| index + 1)
        })
        .flatten();
    let (message, hint) = if deep {
        (
            "settings are nested too deeply here".to_owned(),
            Some(
                "no keepwatch setting has more than three levels, like business.hours.monday"
                    .to_owned(),
            ),
        )
    } else {
        (
            expected::explain("", message).unwrap_or_else(|| message.trim().to_owned()),
            None,
        )
    };
    Problem {
        line,
        column: line.map(|_| 1),
        field: line.map(|line| field_at(text, line)).unwrap_or_default(),
        message,
        hint,
    }
}

/// How deep a line nests: the dots of its key or header, the brackets of its value.
fn nesting(line: &str) -> usize {
    let line = line.trim();
    let key = if line.starts_with('[') {
        line
    } else {
        line.split_once('=').map_or(line, |(key, _)| key)
    };
    let dots = key.matches('.').count();
    let brackets = line.chars().filter(|c| matches!(c, '[' | '{')).count();
    dots.max(brackets)
}

/// "`port` is set twice", naming the line where it was first set.
fn duplicate(text: &str, line: usize, key: &str) -> (String, Option<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let current = lines.get(line.saturating_sub(1)).map_or("", |l| l.trim());
    let first = if key.is_empty() {
        // A table header written twice.
        lines[..line.saturating_sub(1)]
            .iter()
            .position(|l| l.trim() == current)
    } else {
        // The same key earlier in the same table.
        lines[..line.saturating_sub(1)]
            .iter()
            .enumerate()
            .rev()
            .take_while(|(_, l)| table_header(l.trim()).is_none())
            .find(|(_, l)| key_of(l) == Some(key))
            .map(|(index, _)| index)
    };
    let what = if key.is_empty() {
        format!("the table {} is written twice", printable::name(current))
    } else {
        format!("`{}` is set twice in this table", printable::name(key))
    };
    let verb = if key.is_empty() { "written" } else { "set" };
    match first {
        Some(index) => (
            format!("{what}; it was first {verb} on line {}", index + 1),
            Some("keep one of them".to_owned()),
        ),
        None => (what, Some("keep one of them".to_owned())),
    }
}

fn is_header(text: &str, line: usize) -> bool {
    text.lines()
        .nth(line.saturating_sub(1))
        .is_some_and(|l| table_header(l.trim()).is_some())
}

fn indentation(text: &str, line: usize) -> usize {
    text.lines()
        .nth(line.saturating_sub(1))
        .map_or(0, |l| l.chars().take_while(|c| c.is_whitespace()).count())
}

/// The key of a `key = value` line, unquoted.
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    Some(key.trim().trim_matches('"').trim_matches('\''))
}

/// The 1-based line of the table starting at `header` that `message` is
/// about: the unknown key it names, or the value it quotes.
fn key_line_in_table(text: &str, header: usize, message: &str) -> Option<usize> {
    let wanted_key = unknown_key(message).map(|(key, _)| key);
    let literal = expected::written_literal(message);
    text.lines()
        .enumerate()
        .skip(header)
        .take_while(|(_, l)| table_header(l.trim()).is_none())
        .find(|(_, l)| {
            let Some((key, value)) = l.split_once('=') else {
                return false;
            };
            let key = key.trim().trim_matches('"');
            let value = value.split(" #").next().unwrap_or_default().trim();
            match (&wanted_key, &literal) {
                (Some(wanted), _) => key == wanted,
                (None, Some(literal)) => value == literal || value.replace('\'', "\"") == *literal,
                (None, None) => false,
            }
        })
        .map(|(index, _)| index + 1)
}

/// `key` in the table at `field` (`channel` + `port` → `channel.port`).
fn joined(field: &str, key: &str) -> String {
    if field.is_empty() {
        key.to_owned()
    } else {
        format!("{field}.{key}")
    }
}

/// The byte offset where 1-based `line` starts.
fn line_offset(text: &str, line: usize) -> usize {
    text.split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum()
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" into the
/// unknown key and the keys that were expected.
fn unknown_key(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field ")?;
    let mut quoted = rest.split('`').skip(1).step_by(2).map(str::to_owned);
    let unknown = quoted.next()?;
    Some((unknown, quoted.collect()))
}

/// What [`blank_at`] took out.
enum Blanked {
    /// Nothing was left to blank there.
    Nothing,
    /// One `key = value` line.
    Line,
    /// A table header and every key under it.
    Table,
}

/// Blanks the line holding `offset` (and, for a table header, the whole table)
/// keeping line breaks.
fn blank_at(text: &mut String, offset: usize) -> Blanked {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = |from: usize| text[from..].find('\n').map_or(text.len(), |i| from + i);
    let mut end = line_end(start);
    let table = table_header(text[start..end].trim()).is_some();
    if table {
        // The keys below an unusable header would otherwise land in the table above.
        while end < text.len() {
            let next_start = end + 1;
            let next_end = line_end(next_start);
            if table_header(text[next_start..next_end].trim()).is_some() {
                break;
            }
            end = next_end;
        }
    }
    if text[start..end].trim().is_empty() {
        return Blanked::Nothing;
    }
    let blanked: String = text[start..end].chars().filter(|c| *c == '\n').collect();
    text.replace_range(start..end, &blanked);
    if table { Blanked::Table } else { Blanked::Line }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<Problem> {
        parse(Path::new("keepwatch.toml"), text)
            .unwrap_err()
            .problems
    }

    #[test]
    fn yes_without_quotes_is_told_in_the_file_s_words() {
        let problems = problems(
            "[[service]]\nname = \"Shop\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\ncritical = yes\n",
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, Some(6));
        assert_eq!(
            problems[0].to_string(),
            "line 6, column 12: `service.critical`: `critical` is a word without quotes: write text in double quotes (\"like this\"), and yes or no as true or false"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_a_problem_on_their_line_and_column() {
        let err =
            parse_bytes(Path::new("k.toml"), b"[agent]\nname = \"\xc3\xa9t\xff\"\n").unwrap_err();
        let problem = &err.problems[..];
        assert_eq!(problem.len(), 1, "{err}");
        assert_eq!((problem[0].line, problem[0].column), (Some(2), Some(11)));
        assert_eq!(problem[0].field, "agent.name");
        assert!(
            problem[0]
                .message
                .contains("not UTF-8 text here (a byte 0xFF)"),
            "{err}"
        );
        assert!(parse_bytes(Path::new("k.toml"), b"[agent]\nname = \"\xc3\xa9\"\n").is_ok());
    }

    /// Found by cargo fuzz: the rule's broken line was blanked, and its
    /// missing metric was reported as a second problem, on no line.
    #[test]
    fn a_problem_caused_by_a_blanked_line_is_not_reported_without_a_line() {
        let text =
            "[[rule]]########itical = 90.0 }\nceeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeov e";
        let problems = problems(text);
        assert!(!problems.is_empty());
        assert!(problems.iter().all(|p| p.line.is_some()), "{problems:?}");
    }

    #[test]
    fn an_empty_file_is_the_default_config() {
        assert_eq!(parse(Path::new("k.toml"), "").unwrap(), Config::default());
    }

    #[test]
    fn values_override_defaults_and_the_rest_stays_default() {
        let config = parse(
            Path::new("k.toml"),
            "[collect]\ncpu = \"5s\"\n[storage]\nmax_size = \"2GB\"\n",
        )
        .unwrap();
        assert_eq!(config.collect.cpu, crate::units::Duration::from_secs(5));
        assert_eq!(config.storage.max_size.0, 2_000_000_000);
        assert_eq!(config.collect.memory, Config::default().collect.memory);
    }

    #[test]
    fn an_unknown_key_names_line_column_field_and_the_likely_key() {
        let found = problems("[collect]\ncpu = \"5s\"\nmemroy = \"10s\"\n");
        assert_eq!(found.len(), 1);
        let p = &found[0];
        assert_eq!((p.line, p.column), (Some(3), Some(1)));
        assert_eq!(p.field, "collect.memroy");
        assert_eq!(p.message, "unknown key `memroy`");
        assert_eq!(p.hint.as_deref(), Some("did you mean `memory`?"));
    }

    #[test]
    fn a_key_nothing_like_the_known_ones_lists_them() {
        let found = problems("[storage]\nbananas = 3\n");
        assert_eq!(
            found[0].hint.as_deref(),
            Some("known keys here: retention, max_size, write_every")
        );
    }

    #[test]
    fn an_unknown_section_is_reported_once_and_its_keys_do_not_leak() {
        let found = problems("[colect]\ncpu = \"5s\"\nmemory = \"1s\"\n[log]\nlevel = \"debug\"\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "colect");
        assert_eq!(found[0].hint.as_deref(), Some("did you mean `collect`?"));
    }

    #[test]
    fn every_problem_is_reported_at_once_in_file_order() {
        let text = "[collect]\ncpu = 10\ndisk = \"1 fortnight\"\n[throttle]\nmax_strech = 4\nenabled = \"yes\"\n";
        let found = problems(text);
        let lines: Vec<_> = found.iter().map(|p| p.line).collect();
        assert_eq!(
            lines,
            vec![Some(2), Some(3), Some(5), Some(6)],
            "{found:#?}"
        );
        assert!(
            found[0].message.contains("a duration in quotes"),
            "{}",
            found[0].message
        );
        assert_eq!(found[0].field, "collect.cpu");
        assert!(
            found[1].message.contains("unknown unit"),
            "{}",
            found[1].message
        );
        assert_eq!(
            found[2].hint.as_deref(),
            Some("did you mean `max_stretch`?")
        );
        assert_eq!(found[3].field, "throttle.enabled");
    }

    #[test]
    fn a_syntax_error_points_at_its_line() {
        let found = problems("[collect]\ncpu = \"5s\n");
        assert_eq!(found[0].line, Some(2));
    }

    #[test]
    fn the_error_message_names_the_file_and_each_problem() {
        let err = parse(Path::new("/etc/kw.toml"), "[collect]\nmemroy = \"1s\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("/etc/kw.toml has 1 problem:"), "{text}");
        assert!(text.contains("/etc/kw.toml:line 2, column 1: `collect.memroy`: unknown key `memroy` (did you mean `memory`?)"), "{text}");
    }

    #[test]
    fn a_missing_file_says_how_to_create_one() {
        let err = load_file(Path::new("/nonexistent/keepwatch.toml")).unwrap_err();
        assert!(err.to_string().contains("keepwatch init"), "{err}");
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(position("é = 1\nb", 7), (2, 1));
        assert_eq!(position("ab", 1), (1, 2));
        assert_eq!(position("ab", 99), (1, 3));
    }

    #[test]
    fn field_paths_come_from_the_nearest_header() {
        let text = "top = 1\n[[service]]\nname = \"x\"\n[business.hours]\nmonday = \"x\"\n";
        assert_eq!(field_at(text, 1), "top");
        assert_eq!(field_at(text, 3), "service.name");
        assert_eq!(field_at(text, 4), "business.hours");
        assert_eq!(field_at(text, 5), "business.hours.monday");
        assert_eq!(field_at(text, 99), "");
    }

    /// The only problem in `text`, as `line: message`.
    fn only(text: &str) -> String {
        let found = problems(text);
        assert_eq!(found.len(), 1, "{found:#?}");
        format!("{}: {}", found[0].line.unwrap_or(0), found[0].message)
    }

    #[test]
    fn a_quoted_port_is_one_problem_on_its_own_line_in_plain_words() {
        let channel = "[[channel]]\nname = \"mail\"\ntype = \"email\"\nserver = \"127.0.0.1\"\nport = \"25\"\nfrom = \"a@b.c\"\nto = [\"x@y.z\"]\n";
        assert_eq!(
            only(channel),
            "5: `port` must be a whole number like 25, without quotes"
        );
        let service = "[[service]]\nname = \"db\"\ntype = \"tcp\"\nhost = \"x\"\nport = \"5432\"\n";
        assert_eq!(
            only(service),
            "5: `port` must be a whole number like 5432, without quotes"
        );
    }

    #[test]
    fn an_unknown_key_in_a_channel_is_placed_on_its_line() {
        let text = "[[channel]]\nname = \"mail\"\ntype = \"email\"\nserver = \"x\"\nfrom = \"a@b.c\"\nto = [\"x@y.z\"]\nsecurty = \"tls\"\n";
        let found = problems(text);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].line, Some(7));
        assert_eq!(found[0].hint.as_deref(), Some("did you mean `security`?"));
    }

    #[test]
    fn an_unclosed_string_does_not_also_report_the_key_missing() {
        let text = "[[service]]\nname = \"web\"\ntype = \"http\"\nurl = \"http://x/\n";
        assert_eq!(
            only(text),
            "4: this text in double quotes is not closed: end it with \" on the same line"
        );
    }

    #[test]
    fn a_key_set_twice_names_where_it_was_first() {
        assert_eq!(
            only("[collect]\ncpu = \"5s\"\nmemory = \"5s\"\ncpu = \"6s\"\n"),
            "4: `cpu` is set twice in this table; it was first set on line 2"
        );
        assert_eq!(
            only("[business]\nname = \"x\"\n[business]\nname = \"y\"\n"),
            "3: the table [business] is written twice; it was first written on line 1"
        );
    }

    #[test]
    fn numbers_out_of_range_are_said_without_machine_limits() {
        assert_eq!(
            only("[api]\nmax_concurrent = 99999999999999999999999\n"),
            "2: `max_concurrent` is far too large: 99999999999999999999999"
        );
        assert_eq!(
            only("[api]\nmax_concurrent = -3\n"),
            "2: `max_concurrent` cannot be negative: -3"
        );
    }

    #[test]
    fn deep_nesting_is_pinned_to_its_line() {
        let deep = (0..200)
            .map(|i| format!("a{i}"))
            .collect::<Vec<_>>()
            .join(".");
        let found = problems(&format!("[agent]\nname = \"x\"\n{deep} = 1\n"));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].line, Some(3));
        assert_eq!(found[0].message, "settings are nested too deeply here");
    }

    #[test]
    fn a_huge_key_is_named_by_its_start_only() {
        let long = "k".repeat(1_000_000);
        let err = parse(Path::new("k.toml"), &format!("[agent]\n{long} = 1\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.len() < 1_000, "{} characters", text.len());
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn a_table_that_could_not_be_read_causes_no_second_problem() {
        // The channel is unusable; the rule naming it must not add "no such channel".
        let text = "[alerting]\nbusiness_hours = [{ after = \"0m\", notify = [\"mail\"] }]\n[[channel]]\nname = \"mail\"\ntype = \"emial\"\n";
        assert_eq!(
            only(text),
            "5: `type` cannot be \"emial\"; write one of: log, webhook, sms, slack, teams, discord, email"
        );
    }

    #[test]
    fn the_environment_variables_of_every_secret_are_listed_once() {
        let config = parse(
            Path::new("keepwatch.toml"),
            "[[service]]\nname = \"Shop DB\"\ntype = \"postgres\"\nhost = \"127.0.0.1\"\nuser = \"shop\"\npassword = \"env:DB_PASSWORD\"\n\
             [[service]]\nname = \"Cache\"\ntype = \"redis\"\nhost = \"127.0.0.1\"\npassword = \"env:DB_PASSWORD\"\n\
             [[channel]]\nname = \"mail\"\ntype = \"email\"\nserver = \"smtp.example.com\"\nusername = \"a\"\npassword = \"env:SMTP_PASSWORD\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n\
             [[channel]]\nname = \"inline\"\ntype = \"email\"\nserver = \"smtp.example.com\"\nusername = \"a\"\npassword = \"hunter2\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n",
        )
        .unwrap();
        let mut names = config.env_secrets();
        names.sort();
        assert_eq!(names, ["DB_PASSWORD", "SMTP_PASSWORD"]);
        assert!(Config::default().env_secrets().is_empty());
    }
}
