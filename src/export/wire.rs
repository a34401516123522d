//! The body of a Prometheus remote write 1.0 request: a `WriteRequest`
//! protobuf message, compressed with snappy's block format.
//!
//! The message is small enough to write by hand rather than build a protobuf
//! code generator into keepwatch (from the spec's `remote.proto` and
//! `types.proto`):
//!
//! ```text
//! WriteRequest { repeated TimeSeries timeseries = 1; }
//! TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! Label        { string name = 1; string value = 2; }
//! Sample       { double value = 1; int64 timestamp = 2; }   // milliseconds
//! ```
//!
//! Each field is a key (`field number << 3 | wire type`) and its value:
//! wire type 0 is a varint, 1 eight little-endian bytes, 2 a varint length
//! and that many bytes (strings and embedded messages). Zero values are
//! written too, which protobuf allows and decoders read the same.

/// One series of a request: its labels (sorted by name, `__name__`
/// included) and its samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    /// `(name, value)`, sorted by name.
    pub labels: Vec<(String, String)>,
    /// `(milliseconds since 1970, value)`, in time order.
    pub samples: Vec<(i64, f64)>,
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH: u8 = 2;

fn key(out: &mut Vec<u8>, field: u8, wire: u8) {
    out.push(field << 3 | wire);
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn bytes(out: &mut Vec<u8>, field: u8, data: &[u8]) {
    key(out, field, LENGTH);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// `series` as a `WriteRequest` message.
pub fn write_request(series: &[TimeSeries]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut one = Vec::new();
    let mut part = Vec::new();
    for s in series {
        one.clear();
        for (name, value) in &s.labels {
            part.clear();
            bytes(&mut part, 1, name.as_bytes());
            bytes(&mut part, 2, value.as_bytes());
            bytes(&mut one, 1, &part);
        }
        for &(at_ms, value) in &s.samples {
            part.clear();
            key(&mut part, 1, FIXED64);
            part.extend_from_slice(&value.to_le_bytes());
            key(&mut part, 2, VARINT);
            // int64 is written as its two's complement, as protobuf does.
            varint(&mut part, at_ms as u64);
            bytes(&mut one, 2, &part);
        }
        bytes(&mut out, 1, &one);
    }
    out
}

/// The request body: `message` compressed with snappy (block format, as the
/// spec asks, not the framed stream format).
pub fn compress(message: &[u8]) -> Result<Vec<u8>, String> {
    snap::raw::Encoder::new()
        .compress_vec(message)
        .map_err(|err| format!("the request could not be compressed: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_groups_of_seven_bits() {
        let encoded = |value| {
            let mut out = Vec::new();
            varint(&mut out, value);
            out
        };
        assert_eq!(encoded(0), [0]);
        assert_eq!(encoded(1), [1]);
        assert_eq!(encoded(127), [0x7f]);
        assert_eq!(encoded(128), [0x80, 0x01]);
        assert_eq!(encoded(300), [0xac, 0x02]);
        // A negative int64 takes ten bytes.
        assert_eq!(encoded(-1i64 as u64).len(), 10);
    }

    #[test]
    fn a_request_is_encoded_field_by_field() {
        let request = write_request(&[TimeSeries {
            labels: vec![("__name__".into(), "up".into())],
            samples: vec![(1000, 1.0)],
        }]);
        let label = [&[0x0a, 8][..], b"__name__", &[0x12, 2], b"up"].concat();
        let sample = [
            &[0x09][..],
            &1.0f64.to_le_bytes(),
            &[0x10, 0xe8, 0x07], // 1000 as a varint
        ]
        .concat();
        let series = [
            &[0x0a, label.len() as u8][..],
            &label,
            &[0x12, sample.len() as u8],
            &sample,
        ]
        .concat();
        let expected = [&[0x0a, series.len() as u8][..], &series].concat();
        assert_eq!(request, expected);
        assert!(write_request(&[]).is_empty());
    }

    #[test]
    fn the_body_is_snappy_block_format() {
        let message = write_request(&[TimeSeries {
            labels: vec![("__name__".into(), "keepwatch_host_load1".into())],
            samples: (0..500)
                .map(|i| (1_700_000_000_000 + i * 10_000, 0.5))
                .collect(),
        }]);
        let body = compress(&message).unwrap();
        assert!(
            body.len() < message.len() / 2,
            "{} of {}",
            body.len(),
            message.len()
        );
        let back = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(back, message);
    }
}
