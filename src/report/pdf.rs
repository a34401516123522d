//! The report as a PDF: A4 pages laid out from the same sentences as the
//! other formats, text in DejaVu Sans embedded in the binary (krilla keeps
//! only the glyphs used), charts drawn as coloured shapes.
//!
//! DejaVu Sans covers Latin, Greek and Cyrillic scripts; for characters it lacks
//! (Chinese, Japanese, Korean) a font of the operating system is used when
//! one is found ([`FALLBACK_FONTS`]), so "東京" prints as written rather than
//! as empty boxes.
//!
//! Layout first makes a list of pages of positioned pieces (pure, tested),
//! then draws them.

use std::sync::Arc;

use jiff::tz::TimeZone;
use krilla::Data;
use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::text::{Font, TextDirection};
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};

use super::chart;
use super::model::{Audience, Report};
use super::words;

static DEJAVU: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Fonts with Chinese, Japanese and Korean characters, looked for in this
/// order (Linux, macOS, Windows).
pub const FALLBACK_FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "C:\\Windows\\Fonts\\msyh.ttc",
    "C:\\Windows\\Fonts\\msgothic.ttc",
];

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 50.0;
const TEXT_W: f32 = PAGE_W - 2.0 * MARGIN;
const BODY: f32 = 10.5;

/// Why a PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The embedded font could not be read (a broken build).
    #[error("the report font could not be read")]
    Font,
    /// krilla refused the document.
    #[error("the PDF could not be written: {0}")]
    Write(String),
}

/// A face to draw with (krilla's), and to measure and check coverage with
/// (skrifa's view of the same bytes, read once).
struct Face<'d> {
    font: Font,
    metrics: skrifa::FontRef<'d>,
}

impl<'d> Face<'d> {
    fn new(data: Data, bytes: &'d [u8]) -> Option<Face<'d>> {
        let font = Font::new(data, 0)?;
        let metrics = skrifa::FontRef::from_index(bytes, 0).ok()?;
        Some(Face { font, metrics })
    }

    fn has(&self, c: char) -> bool {
        self.metrics.charmap().map(c).is_some()
    }

    /// Width of `text` at 1 pt.
    fn width(&self, text: &str) -> f32 {
        let charmap = self.metrics.charmap();
        let metrics = self
            .metrics
            .glyph_metrics(Size::new(1.0), LocationRef::default());
        text.chars()
            .map(|c| {
                charmap
                    .map(c)
                    .and_then(|g| metrics.advance_width(g))
                    .unwrap_or(0.6)
            })
            .sum()
    }
}

/// The first of [`FALLBACK_FONTS`] this computer has, as bytes.
fn fallback_file() -> Option<Arc<Vec<u8>>> {
    FALLBACK_FONTS
        .iter()
        .filter_map(|path| std::fs::read(path).ok())
        .find(|bytes| skrifa::FontRef::from_index(bytes, 0).is_ok())
        .map(Arc::new)
}

/// The fonts in use: DejaVu Sans, and a system fallback if there is one
/// (`'d`: the fallback's bytes, read by [`fallback_file`]).
struct Fonts<'d> {
    main: Face<'static>,
    fallback: Option<Face<'d>>,
}

impl<'d> Fonts<'d> {
    fn new(fallback: Option<&'d Arc<Vec<u8>>>) -> Result<Fonts<'d>, PdfError> {
        let main = Face::new(DEJAVU.into(), DEJAVU).ok_or(PdfError::Font)?;
        let fallback = fallback.and_then(|bytes| Face::new(bytes.clone().into(), bytes));
        Ok(Fonts { main, fallback })
    }

    /// Index 0 for the main face, 1 for the fallback.
    fn face_for(&self, c: char) -> usize {
        match &self.fallback {
            Some(fallback) if !self.main.has(c) && fallback.has(c) => 1,
            _ => 0,
        }
    }

    fn face(&self, index: usize) -> &Face<'d> {
        match (index, &self.fallback) {
            (1, Some(fallback)) => fallback,
            _ => &self.main,
        }
    }

    /// `text` split into runs of one face each.
    fn runs<'t>(&self, text: &'t str) -> Vec<(usize, &'t str)> {
        let mut runs: Vec<(usize, &str)> = Vec::new();
        let mut start = 0;
        let mut current = None;
        for (i, c) in text.char_indices() {
            let face = self.face_for(c);
            if current.is_some_and(|f| f != face) {
                runs.push((current.unwrap_or(0), &text[start..i]));
                start = i;
            }
            current = Some(face);
        }
        if start < text.len() {
            runs.push((current.unwrap_or(0), &text[start..]));
        }
        runs
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        self.runs(text)
            .iter()
            .map(|(face, run)| self.face(*face).width(run))
            .sum::<f32>()
            * size
    }
}

/// One positioned piece of a page.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    /// Text with its baseline at `y` (from the top).
    Text {
        x: f32,
        y: f32,
        size: f32,
        colour: [u8; 3],
        text: String,
    },
    /// A filled rectangle, top-left at (`x`, `y`).
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        colour: [u8; 3],
    },
}

/// Places pieces top to bottom, starting a new page when one is full.
struct Layout<'f> {
    fonts: &'f Fonts<'f>,
    pages: Vec<Vec<Piece>>,
    y: f32,
}

impl<'f> Layout<'f> {
    fn new(fonts: &'f Fonts<'f>) -> Self {
        Self {
            fonts,
            pages: vec![Vec::new()],
            y: MARGIN,
        }
    }

    fn room(&mut self, height: f32) {
        if self.y + height > PAGE_H - MARGIN {
            self.pages.push(Vec::new());
            self.y = MARGIN;
        }
    }

    fn push(&mut self, piece: Piece) {
        if let Some(page) = self.pages.last_mut() {
            page.push(piece);
        }
    }

    /// A paragraph wrapped to the text width, starting at `indent`.
    fn paragraph(&mut self, text: &str, size: f32, colour: [u8; 3], indent: f32) {
        let width = TEXT_W - indent;
        let mut line = String::new();
        let mut lines = Vec::new();
        for word in text.split(' ') {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if !line.is_empty() && self.fonts.width(&candidate, size) > width {
                lines.push(std::mem::replace(&mut line, word.to_owned()));
            } else {
                line = candidate;
            }
        }
        lines.push(line);
        for line in lines {
            let height = size * 1.4;
            self.room(height);
            self.y += height;
            self.push(Piece::Text {
                x: MARGIN + indent,
                y: self.y - size * 0.3,
                size,
                colour,
                text: line,
            });
        }
        self.y += size * 0.4;
    }

    fn heading(&mut self, text: &str) {
        self.room(40.0);
        self.y += 8.0;
        self.paragraph(text, 14.0, [0x22, 0x22, 0x22], 0.0);
        self.push(Piece::Rect {
            x: MARGIN,
            y: self.y - 4.0,
            w: TEXT_W,
            h: 0.8,
            colour: [0xcc, 0xcc, 0xcc],
        });
        self.y += 4.0;
    }

    /// A coloured label with white words, then the line beside and below it.
    fn labelled(&mut self, label: &str, colour: [u8; 3], text: &str) {
        let size = 8.5;
        let w = self.fonts.width(label, size) + 8.0;
        self.room(30.0);
        self.push(Piece::Rect {
            x: MARGIN,
            y: self.y + 2.0,
            w,
            h: 12.0,
            colour,
        });
        self.push(Piece::Text {
            x: MARGIN + 4.0,
            y: self.y + 11.0,
            size,
            colour: [0xff, 0xff, 0xff],
            text: label.to_owned(),
        });
        self.y += 14.0;
        self.paragraph(text, BODY, [0x22, 0x22, 0x22], 0.0);
    }

    fn stripes(&mut self, colours: &[[u8; 3]]) {
        let height = 12.0;
        self.room(height + 6.0);
        let days = colours.len().max(1) as f32;
        for (i, colour) in colours.iter().enumerate() {
            let left = MARGIN + i as f32 * TEXT_W / days;
            self.push(Piece::Rect {
                x: left,
                y: self.y,
                w: (TEXT_W / days - 1.5).max(0.5),
                h: height,
                colour: *colour,
            });
        }
        self.y += height + 8.0;
    }
}

/// The pages of the report, as positioned pieces.
fn lay_out(report: &Report, fonts: &Fonts<'_>) -> Vec<Vec<Piece>> {
    let tz = TimeZone::get(&report.time_zone).unwrap_or(TimeZone::UTC);
    let dark = [0x22, 0x22, 0x22];
    let grey = [0x55, 0x55, 0x55];
    let mut layout = Layout::new(fonts);
    let worst = report.services.iter().filter_map(|s| s.rating).max();
    layout.push(Piece::Rect {
        x: MARGIN,
        y: MARGIN - 14.0,
        w: TEXT_W,
        h: 5.0,
        colour: chart::rgb(worst.map_or("#777777", |r| r.colour())),
    });
    layout.paragraph(
        &format!(
            "{}: how our systems did, {}",
            report.business, report.period.label
        ),
        18.0,
        dark,
        0.0,
    );
    layout.paragraph(&words::verdict(report), 13.0, dark, 0.0);
    layout.heading("Services");
    for service in &report.services {
        let (colour, label) = match service.rating {
            Some(r) => (r.colour(), r.words()),
            None => ("#777777", "no records"),
        };
        layout.labelled(
            &label.to_uppercase(),
            chart::rgb(colour),
            &words::service_line(service, &tz),
        );
        if let Some(open) = service.open_availability {
            layout.paragraph(
                &format!("During opening hours: {} available.", words::percent(open)),
                9.5,
                grey,
                0.0,
            );
        }
        if service.watched.is_some() && !service.days.is_empty() {
            layout.stripes(&chart::day_colours(service));
        }
    }
    layout.heading("What went wrong");
    if report.stories.is_empty() {
        layout.paragraph("Nothing: no outages and no slow spells.", BODY, dark, 0.0);
    }
    for story in &report.stories {
        layout.paragraph(
            &format!("• {}", words::story(story, report, &tz)),
            BODY,
            dark,
            0.0,
        );
    }
    layout.heading("Cost");
    layout.paragraph(&words::cost_note(report), BODY, dark, 0.0);
    let outlook = words::outlook(report, &tz);
    if !outlook.is_empty() {
        layout.heading("Looking ahead");
        for line in &outlook {
            layout.paragraph(&format!("• {line}"), BODY, dark, 0.0);
        }
    }
    if report.audience == Audience::Technical {
        layout.heading("Numbers for the admin");
        for line in super::text::technical_text(report, &tz).lines() {
            layout.paragraph(line, 8.5, dark, 0.0);
        }
    }
    layout.y += 8.0;
    layout.paragraph(&words::method(report), 8.5, grey, 0.0);
    layout.pages
}

/// The report as PDF bytes.
pub fn render(report: &Report) -> Result<Vec<u8>, PdfError> {
    let fallback = fallback_file();
    let fonts = Fonts::new(fallback.as_ref())?;
    let pages = lay_out(report, &fonts);
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(format!("{}: {}", report.business, report.period.label))
            .creator("keepwatch".to_owned())
            .language("en".to_owned()),
    );
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or(PdfError::Font)?;
    for pieces in &pages {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        for piece in pieces {
            match piece {
                Piece::Rect { x, y, w, h, colour } => {
                    // Layout makes none without a size; one would be nothing to draw.
                    if let Some(path) = rectangle(*x, *y, *w, *h) {
                        surface.set_fill(Some(fill(*colour)));
                        surface.draw_path(&path);
                    }
                }
                Piece::Text {
                    x,
                    y,
                    size,
                    colour,
                    text,
                } => {
                    surface.set_fill(Some(fill(*colour)));
                    let mut at = *x;
                    for (face, run) in fonts.runs(text) {
                        let face = fonts.face(face);
                        surface.draw_text(
                            Point::from_xy(at, *y),
                            face.font.clone(),
                            *size,
                            run,
                            false,
                            TextDirection::Auto,
                        );
                        at += face.width(run) * size;
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|err| PdfError::Write(format!("{err:?}")))
}

/// The outline of a rectangle; `None` for a size below zero or not a number.
fn rectangle(x: f32, y: f32, w: f32, h: f32) -> Option<krilla::geom::Path> {
    let mut builder = PathBuilder::new();
    builder.push_rect(Rect::from_xywh(x, y, w, h)?);
    builder.finish()
}

fn fill(colour: [u8; 3]) -> Fill {
    Fill {
        paint: rgb::Color::new(colour[0], colour[1], colour[2]).into(),
        ..Fill::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_within_the_margins_and_pages_break() {
        let fallback = fallback_file();
        let fonts = Fonts::new(fallback.as_ref()).unwrap();
        let mut layout = Layout::new(&fonts);
        let long = "Zoë's Café in Łódź answered slowly again. ".repeat(400);
        layout.paragraph(&long, BODY, [0, 0, 0], 0.0);
        assert!(layout.pages.len() > 1);
        for page in &layout.pages {
            for piece in page {
                if let Piece::Text {
                    x, y, size, text, ..
                } = piece
                {
                    assert!(
                        x + fonts.width(text, *size) <= PAGE_W - MARGIN + 0.01,
                        "{text}"
                    );
                    assert!(*y <= PAGE_H - MARGIN && *y >= MARGIN, "{y}");
                }
            }
        }
    }

    #[test]
    fn a_file_that_is_not_a_font_and_a_rectangle_without_a_size_draw_nothing() {
        let junk = b"not a font at all";
        assert!(Face::new(junk.as_slice().into(), junk).is_none());
        assert!(rectangle(MARGIN, MARGIN, -1.0, 12.0).is_none());
        assert!(rectangle(MARGIN, MARGIN, f32::NAN, 12.0).is_none());
        assert!(rectangle(MARGIN, MARGIN, TEXT_W, 12.0).is_some());
    }

    #[test]
    fn characters_dejavu_lacks_go_to_the_fallback_font() {
        let fallback = fallback_file();
        let fonts = Fonts::new(fallback.as_ref()).unwrap();
        let Some(_) = &fonts.fallback else {
            eprintln!("SKIPPED: no CJK font on this system ({FALLBACK_FONTS:?})");
            assert!(
                std::env::var_os("KEEPWATCH_REQUIRE_SERVICES").is_none(),
                "CI installs fonts-droid-fallback"
            );
            return;
        };
        assert_eq!(
            fonts.runs("Łódź 東京 ok"),
            vec![(0, "Łódź "), (1, "東京"), (0, " ok")]
        );
    }
}
