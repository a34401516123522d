//! A small picture per service: one stripe per day, coloured by how that day
//! went against the service's target (green, amber, red; grey when it was
//! not watched), as a PNG that mail clients show, with a text alternative.
//!
//! The PNG is written here (an RGB image, one zlib stream, CRC-32 per chunk)
//! rather than through an imaging library: the picture is flat colour
//! rectangles, and miniz_oxide is already in the build.

use super::model::{Rating, ServiceReport};

/// Width of a chart in pixels: fits the 640 px email with its margins.
pub const WIDTH: u32 = 560;
/// Height of a chart in pixels.
pub const HEIGHT: u32 = 36;
const GAP: u32 = 2;
const GREY: [u8; 3] = [0xd0, 0xd0, 0xd0];

/// The colour of each day of `service`, in order: its rating's colour, or
/// grey for a day with nothing counted.
pub fn day_colours(service: &ServiceReport) -> Vec<[u8; 3]> {
    service
        .days
        .iter()
        .map(|day| match day.availability {
            Some(share) => rgb(Rating::of(share, service.target).colour()),
            None => GREY,
        })
        .collect()
}

/// `"#1a7f37"` → `[0x1a, 0x7f, 0x37]`.
pub fn rgb(hex: &str) -> [u8; 3] {
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
    [byte(1), byte(3), byte(5)]
}

/// What the chart shows, in words, for people who cannot see it.
pub fn alt_text(service: &ServiceReport) -> String {
    let watched = service
        .days
        .iter()
        .filter(|d| d.availability.is_some())
        .count();
    let bad: Vec<String> = service
        .days
        .iter()
        .filter(|d| d.availability.is_some_and(|a| a < 100.0))
        .map(|d| d.date.strftime("%-d %b").to_string())
        .collect();
    let mut text = format!(
        "Day by day: {} of {watched} days watched without an outage",
        watched - bad.len(),
    );
    if !bad.is_empty() {
        text.push_str(&format!("; outages on {}", bad.join(", ")));
    }
    text.push('.');
    text
}

/// The chart of `service` as PNG bytes.
pub fn png(service: &ServiceReport) -> Vec<u8> {
    let colours = day_colours(service);
    let days = colours.len().max(1) as u32;
    let mut pixels = vec![0xff_u8; (WIDTH * HEIGHT * 3) as usize];
    for (i, colour) in colours.iter().enumerate() {
        let i = i as u32;
        let left = i * WIDTH / days;
        let right = ((i + 1) * WIDTH / days).saturating_sub(GAP).max(left + 1);
        for y in 0..HEIGHT {
            for x in left..right.min(WIDTH) {
                let at = ((y * WIDTH + x) * 3) as usize;
                pixels[at..at + 3].copy_from_slice(colour);
            }
        }
    }
    encode(WIDTH, HEIGHT, &pixels)
}

/// An 8-bit RGB PNG of `pixels` (rows top to bottom).
fn encode(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    let row = (width * 3) as usize;
    let mut raw = Vec::with_capacity((row + 1) * height as usize);
    for line in pixels.chunks(row) {
        raw.push(0); // no filter
        raw.extend_from_slice(line);
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &header);
    chunk(
        &mut out,
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6),
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = 0xffff_ffff_u32;
    for &byte in kind.iter().chain(data) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    out.extend_from_slice(&(!crc).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_is_valid_and_its_chunks_check_out() {
        // The CRC-32 of "IEND" with no data is fixed by the PNG standard.
        let mut out = Vec::new();
        chunk(&mut out, b"IEND", &[]);
        assert_eq!(&out[8..], &[0xae, 0x42, 0x60, 0x82]);
        let png = encode(2, 1, &[255, 0, 0, 0, 0, 255]);
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
        let len = u32::from_be_bytes(png[idat - 4..idat].try_into().unwrap()) as usize;
        let raw =
            miniz_oxide::inflate::decompress_to_vec_zlib(&png[idat + 4..idat + 4 + len]).unwrap();
        assert_eq!(raw, vec![0, 255, 0, 0, 0, 0, 255]);
        assert_eq!(rgb("#1a7f37"), [0x1a, 0x7f, 0x37]);
    }
}
