//! Human-friendly units used in the config file: durations such as `"30s"` or
//! `"5m"`, and sizes such as `"500MB"`.

use std::fmt;
use std::str::FromStr;

/// A length of time written like `"30s"`, `"5m"`, `"1h30m"`, `"30d"`; `"off"`
/// (or `"0s"`) means "never", for intervals that can be switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

impl Duration {
    /// A duration of whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    /// A duration of whole minutes.
    pub const fn from_mins(mins: u64) -> Self {
        Self::from_secs(mins * 60)
    }

    /// A duration of whole hours.
    pub const fn from_hours(hours: u64) -> Self {
        Self::from_secs(hours * 3600)
    }

    /// A duration of whole days (24 hours each).
    pub const fn from_days(days: u64) -> Self {
        Self::from_hours(days * 24)
    }

    /// `true` for `"off"`.
    pub fn is_off(self) -> bool {
        self.0.is_zero()
    }

    /// The standard library duration.
    pub const fn std(self) -> std::time::Duration {
        self.0
    }

    /// The same length as a jiff duration, for timestamp arithmetic.
    pub fn signed(self) -> jiff::SignedDuration {
        jiff::SignedDuration::try_from(self.0).unwrap_or(jiff::SignedDuration::MAX)
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self(d)
    }
}

const UNITS: [(&str, u64); 6] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
    ("w", 7 * 86_400_000),
];

impl FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(Self::default());
        }
        let hint =
            "write a number followed by a unit, e.g. \"30s\", \"5m\", \"2h\", \"30d\" (or \"off\")";
        if text.is_empty() {
            return Err(format!("empty duration: {hint}"));
        }
        let mut total_ms: u64 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(format!("\"{text}\" is not a duration: {hint}"));
            }
            let number: u64 = rest[..digits]
                .parse()
                .map_err(|_| format!("\"{text}\" is too large: {hint}"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = rest[..unit_len].trim();
            let factor = UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, ms)| *ms)
                .ok_or_else(|| {
                    if unit.is_empty() {
                        format!("\"{text}\" has no unit: {hint}")
                    } else {
                        format!("\"{text}\" has an unknown unit \"{unit}\": {hint}")
                    }
                })?;
            total_ms = number
                .checked_mul(factor)
                .and_then(|ms| total_ms.checked_add(ms))
                .ok_or_else(|| format!("\"{text}\" is too large: {hint}"))?;
            rest = &rest[unit_len..];
        }
        Ok(Self(std::time::Duration::from_millis(total_ms)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("off");
        }
        for (name, factor) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ] {
            if ms >= factor {
                write!(f, "{}{name}", ms / factor)?;
                ms %= factor;
            }
        }
        Ok(())
    }
}

/// An amount of storage written like `"500MB"`, `"2GB"` or `"750KiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const SIZE_UNITS: [(&str, u64); 9] = [
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("KIB", 1 << 10),
    ("MIB", 1 << 20),
    ("GIB", 1 << 30),
    ("TIB", 1 << 40),
];

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let hint = "write a number followed by a unit, e.g. \"500MB\" or \"2GB\"";
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| format!("\"{text}\" is not a size: {hint}"))?;
        let unit = unit.trim().to_ascii_uppercase();
        let factor = SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, f)| *f)
            .ok_or_else(|| format!("\"{text}\" has an unknown unit \"{unit}\": {hint}"))?;
        Ok(Self((number * factor as f64).round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, factor) in [
            ("TB", 1_000_000_000_000),
            ("GB", 1_000_000_000),
            ("MB", 1_000_000),
            ("KB", 1_000),
        ] {
            if self.0 >= factor && self.0.is_multiple_of(factor) {
                return write!(f, "{}{name}", self.0 / factor);
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// Serialises a type as its `Display` text and reads it back through
/// `FromStr`, so the config shows `"30s"` and a bad value gets the type's own
/// explanation. `$expecting` describes the value for type errors.
macro_rules! string_serde {
    ($ty:ty, $expecting:literal) => {
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                struct Visitor;
                impl ::serde::de::Visitor<'_> for Visitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(Visitor)
            }
        }
    };
}
pub(crate) use string_serde;

string_serde!(Duration, "a duration in quotes, e.g. \"30s\" or \"5m\"");
string_serde!(ByteSize, "a size in quotes, e.g. \"500MB\"");

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[test]
    fn durations_parse_and_print_round_trip() {
        for (text, secs) in [
            ("30s", 30),
            ("5m", 300),
            ("1h30m", 5400),
            ("30d", 2_592_000),
            ("2w", 1_209_600),
        ] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.std().as_secs(), secs, "{text}");
            assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        }
        assert_eq!("1h30m".parse::<Duration>().unwrap().to_string(), "1h30m");
        assert_eq!("250ms".parse::<Duration>().unwrap().std().as_millis(), 250);
        assert!("off".parse::<Duration>().unwrap().is_off());
        assert_eq!(Duration::default().to_string(), "off");
        assert_eq!(
            Duration::from_days(1).signed(),
            jiff::SignedDuration::from_hours(24)
        );
    }

    #[test]
    fn bad_durations_explain_the_format() {
        for bad in ["", "5", "m", "5 minutes", "99999999999999999999s", "5x"] {
            let err = bad.parse::<Duration>().unwrap_err();
            assert!(err.contains("\"30s\""), "{bad}: {err}");
        }
    }

    #[test]
    fn sizes_parse_with_decimal_and_binary_units() {
        assert_eq!("500MB".parse::<ByteSize>().unwrap().0, 500_000_000);
        assert_eq!("1.5 GB".parse::<ByteSize>().unwrap().0, 1_500_000_000);
        assert_eq!("2KiB".parse::<ByteSize>().unwrap().0, 2048);
        assert_eq!("500MB".parse::<ByteSize>().unwrap().to_string(), "500MB");
        assert_eq!(ByteSize(1234).to_string(), "1234B");
        assert!("lots".parse::<ByteSize>().unwrap_err().contains("500MB"));
        assert!("5 parsecs".parse::<ByteSize>().is_err());
    }

    #[test]
    fn units_read_from_toml_strings() {
        #[derive(Deserialize, Serialize)]
        struct T {
            every: Duration,
            cap: ByteSize,
        }
        let t: T = toml::from_str("every = \"10s\"\ncap = \"1GB\"").unwrap();
        assert_eq!(t.every, Duration::from_secs(10));
        assert_eq!(t.cap, ByteSize(1_000_000_000));
        let err = toml::from_str::<T>("every = 10\ncap = \"1GB\"")
            .err()
            .unwrap();
        assert!(err.to_string().contains("a duration in quotes"), "{err}");
        assert_eq!(
            toml::to_string(&t).unwrap(),
            "every = \"10s\"\ncap = \"1GB\"\n"
        );
    }
}
