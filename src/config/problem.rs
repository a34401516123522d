//! One thing wrong with a config file, and the helpers that pin a problem to
//! its line, column and field. Shared by loading (syntax and types) and
//! validation (meaning), so neither depends on the other for them.

use std::fmt;

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when the problem can be pinned to one.
    pub line: Option<usize>,
    /// 1-based column on that line.
    pub column: Option<usize>,
    /// Dotted path of the field, e.g. `collect.cpu`; empty for the whole file.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when keepwatch can tell.
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: ")?,
            (Some(line), None) => write!(f, "line {line}: ")?,
            _ => {}
        }
        if !self.field.is_empty() {
            write!(f, "`{}`: ", crate::printable::name(&self.field))?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// 1-based (line, column) of a byte offset.
pub(crate) fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

pub(crate) fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The expected key closest to what was written, if it is close enough to be a typo.
pub(crate) fn suggest(written: &str, expected: &[String]) -> Option<String> {
    expected
        .iter()
        .map(|candidate| (strsim::jaro_winkler(written, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate.clone())
}

/// The dotted field path at a 1-based line: the nearest table header above it
/// plus the key on the line.
pub(crate) fn field_at(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(current) = lines.get(line.saturating_sub(1)).map(|l| l.trim()) else {
        return String::new();
    };
    if let Some(header) = table_header(current) {
        return header;
    }
    let key = current
        .split_once('=')
        .map(|(key, _)| key.trim().trim_matches('"').to_owned())
        .unwrap_or_default();
    let section = lines[..line.saturating_sub(1)]
        .iter()
        .rev()
        .find_map(|l| table_header(l.trim()));
    match section {
        Some(section) if !key.is_empty() => format!("{section}.{key}"),
        Some(section) => section,
        None => key,
    }
}

/// `[a.b]` or `[[a]]` → `a.b` / `a`.
pub(crate) fn table_header(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    Some(inner[..end].trim().to_owned())
}
