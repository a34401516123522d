//! Text from outside (the config, the network, the database, the
//! environment) made safe to show: control characters — CR and LF above all —
//! are escaped, so a name cannot forge a log line or a mail header, and very
//! long text is cut, so a 65,536-character service name cannot break a table
//! or fill a screen. The original is kept wherever it is an identity (the
//! store, the config); only what people read goes through here.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;

/// How many characters of a name are shown: enough to tell names apart in a
/// table, short enough for a terminal line.
pub const NAME_CHARS: usize = 80;

/// How many characters of a line of text (a log field, a mail subject, an
/// explanation) are shown.
pub const LINE_CHARS: usize = 1_000;

/// Text made safe inside HTML or XML elements and double- or single-quoted
/// attribute values: mail bodies, reports, launchd and Task Scheduler files.
pub fn markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A name as tables and messages show it: control characters escaped, cut at
/// [`NAME_CHARS`] with "…".
pub fn name(text: &str) -> Cow<'_, str> {
    cut(text, NAME_CHARS)
}

/// A line of text as logs and mail headers show it: control characters
/// escaped, cut at [`LINE_CHARS`] with "…".
pub fn line(text: &str) -> Cow<'_, str> {
    cut(text, LINE_CHARS)
}

/// `text` with control characters escaped (`\n`, `\r`, `\t`, `\u{1b}`) and cut
/// after `limit` characters of the result.
pub fn cut(text: &str, limit: usize) -> Cow<'_, str> {
    let plain = !text.chars().any(char::is_control);
    if plain && text.chars().nth(limit).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    let mut count = 0;
    for c in text.chars() {
        let piece: Cow<str> = match c {
            '\n' => "\\n".into(),
            '\r' => "\\r".into(),
            '\t' => "\\t".into(),
            c if c.is_control() => c.escape_unicode().to_string().into(),
            c => c.encode_utf8(&mut [0; 4]).to_owned().into(),
        };
        let width = piece.chars().count();
        if count + width > limit {
            out.push('…');
            return Cow::Owned(out);
        }
        count += width;
        let _ = write!(out, "{piece}");
    }
    Cow::Owned(out)
}

/// Writes log records so that each record starts its own line and nothing
/// in it can look like another record: a line break inside a record is
/// followed by an indent (a forged "ERROR ..." line would not start at the
/// margin where records start), and CR and other control characters are
/// escaped. Colours (ESC) and tabs are left alone, for the terminal.
/// The log formatter hands over one whole record per write.
#[derive(Debug)]
pub struct LogRecords<W>(pub W);

/// What a line break inside a log record becomes.
const CONTINUATION: &str = "\n    ";

impl<W: io::Write> io::Write for LogRecords<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (&*text, ""),
        };
        if !body
            .chars()
            .any(|c| c.is_control() && c != '\u{1b}' && c != '\t')
        {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = String::with_capacity(buf.len() + 16);
        for c in body.chars() {
            match c {
                '\n' => out.push_str(CONTINUATION),
                '\u{1b}' | '\t' => out.push(c),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let _ = write!(out, "{}", c.escape_unicode());
                }
                c => out.push(c),
            }
        }
        out.push_str(end);
        self.0.write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_escapes_what_html_would_read_as_tags_or_quotes() {
        assert_eq!(
            markup("<b>Zoë's \"Café\" & co</b>"),
            "&lt;b&gt;Zoë&#39;s &quot;Café&quot; &amp; co&lt;/b&gt;"
        );
    }

    #[test]
    fn ordinary_names_are_shown_as_they_are() {
        assert!(matches!(
            name("shop website"),
            Cow::Borrowed("shop website")
        ));
        assert_eq!(name("Café ☕"), "Café ☕");
    }

    #[test]
    fn long_names_are_cut_with_an_ellipsis() {
        let long = "a".repeat(70_000);
        let shown = name(&long);
        assert_eq!(shown.chars().count(), NAME_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(name(&"é".repeat(NAME_CHARS)), "é".repeat(NAME_CHARS));
    }

    #[test]
    fn line_breaks_and_control_characters_are_escaped() {
        assert_eq!(
            line("web\r\nBcc: everyone@example.com"),
            "web\\r\\nBcc: everyone@example.com"
        );
        assert_eq!(line("a\tb\u{1b}[31mred\0"), "a\\tb\\u{1b}[31mred\\u{0}");
        assert!(!line("x\ny\u{85}z").chars().any(char::is_control));
    }

    fn logged(record: &str) -> String {
        use std::io::Write as _;
        let mut out = LogRecords(Vec::new());
        out.write_all(record.as_bytes()).unwrap();
        String::from_utf8(out.0).unwrap()
    }

    #[test]
    fn a_log_record_cannot_forge_another() {
        assert_eq!(
            logged("WARN web\nERROR forged is down\n"),
            "WARN web\n    ERROR forged is down\n"
        );
        assert_eq!(logged("WARN a\rb\u{7}\n"), "WARN a\\rb\\u{7}\n");
        assert_eq!(
            logged("INFO \u{1b}[1mplain\u{1b}[0m\n"),
            "INFO \u{1b}[1mplain\u{1b}[0m\n"
        );
    }

    #[test]
    fn an_escape_is_never_cut_in_half() {
        let text = format!("{}\n", "a".repeat(NAME_CHARS - 1));
        assert_eq!(name(&text), format!("{}…", "a".repeat(NAME_CHARS - 1)));
    }
}
