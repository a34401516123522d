//! Reading `keepwatch.toml`: every problem in the file is reported at once, each
//! with its line, column and field, and a suggestion where one is likely.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Config;
use super::problem::{Problem, field_at, floor_char_boundary, position, suggest, table_header};
use super::validate;

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

/// The text of the file at `path`, or a problem saying why it cannot be read.
pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|err| {
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
    })
}

/// Parses config text; `path` is only used to name the file in problems.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    // Each pass reports the first problem serde meets; blanking the line it is
    // on lets the next pass find the one after it. Blanked lines keep their
    // line breaks, so positions stay those of the original text.
    let mut remaining = text.to_owned();
    let mut parsed = None;
    for _ in 0..100 {
        match toml::from_str::<Config>(&remaining) {
            Ok(config) => {
                parsed = Some(config);
                break;
            }
            Err(err) => {
                let Some(span) = err.span() else {
                    problems.push(Problem {
                        line: None,
                        column: None,
                        field: String::new(),
                        message: err.message().to_owned(),
                        hint: None,
                    });
                    break;
                };
                let problem = describe(&remaining, span.start, err.message());
                let repeated = problems.last() == Some(&problem);
                if !repeated {
                    problems.push(problem);
                }
                if repeated || !blank_at(&mut remaining, span.start) {
                    break;
                }
            }
        }
    }
    if let Some(config) = &parsed {
        problems.extend(validate::check(config, text));
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
    let (line, column) = position(text, offset);
    let field = field_at(text, line);
    let (message, hint) = match unknown_key(message) {
        Some((unknown, expected)) => {
            let hint = match suggest(&unknown, &expected) {
                Some(best) => format!("did you mean `{best}`?"),
                None if expected.is_empty() => "remove it".to_owned(),
                None => format!("known keys here: {}", expected.join(", ")),
            };
            (format!("unknown key `{unknown}`"), Some(hint))
        }
        None => (message.trim().to_owned(), None),
    };
    Problem {
        line: Some(line),
        column: Some(column),
        field,
        message,
        hint,
    }
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" into the
/// unknown key and the keys that were expected.
fn unknown_key(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field ")?;
    let mut quoted = rest.split('`').skip(1).step_by(2).map(str::to_owned);
    let unknown = quoted.next()?;
    Some((unknown, quoted.collect()))
}

/// Blanks the line holding `offset` (and, for a table header, the whole table)
/// keeping line breaks. Returns false when there was nothing left to blank.
fn blank_at(text: &mut String, offset: usize) -> bool {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = |from: usize| text[from..].find('\n').map_or(text.len(), |i| from + i);
    let mut end = line_end(start);
    if table_header(text[start..end].trim()).is_some() {
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
        return false;
    }
    let blanked: String = text[start..end].chars().filter(|c| *c == '\n').collect();
    text.replace_range(start..end, &blanked);
    true
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
            Some("known keys here: retention, max_size")
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
}
