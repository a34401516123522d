//! The business calendar: opening hours of each weekday.
//!
//! keepwatch alerts and reports differently in and out of business hours; this
//! module owns how opening hours are written and what they mean.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Time;

/// The opening hours of one day: zero or more ranges. A range whose end is not
/// after its start runs past midnight into the next day (`"18:00-02:00"`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DayHours {
    /// The ranges, in the order written.
    pub ranges: Vec<(Time, Time)>,
}

impl DayHours {
    /// `true` when the business does not open that day.
    pub fn is_closed(&self) -> bool {
        self.ranges.is_empty()
    }
}

impl FromStr for DayHours {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("closed") || text.is_empty() {
            return Ok(Self::default());
        }
        let ranges = text
            .split(',')
            .map(|range| {
                let (start, end) = range.split_once('-').ok_or_else(|| {
                    format!(
                        "\"{}\" is not a range: write it like \"09:00-17:00\"",
                        range.trim()
                    )
                })?;
                Ok((parse_time(start)?, parse_time(end)?))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { ranges })
    }
}

impl fmt::Display for DayHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ranges.is_empty() {
            return f.write_str("closed");
        }
        for (i, (start, end)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}-{}", start.strftime("%H:%M"), end.strftime("%H:%M"))?;
        }
        Ok(())
    }
}

fn parse_time(text: &str) -> Result<Time, String> {
    let text = text.trim();
    let invalid = || {
        format!("\"{text}\" is not a time of day: write it as HH:MM, e.g. \"09:00\" or \"17:30\"")
    };
    let (hour, minute) = text.split_once(':').ok_or_else(invalid)?;
    let hour: i8 = hour.parse().map_err(|_| invalid())?;
    let minute: i8 = minute.parse().map_err(|_| invalid())?;
    if hour == 24 && minute == 0 {
        return Ok(Time::MAX);
    }
    Time::new(hour, minute, 0, 0).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_parse_single_split_overnight_and_closed() {
        let day: DayHours = "09:00-17:00".parse().unwrap();
        assert_eq!(
            day.ranges,
            vec![(Time::constant(9, 0, 0, 0), Time::constant(17, 0, 0, 0))]
        );
        let split: DayHours = "08:00-12:00, 13:30-18:00".parse().unwrap();
        assert_eq!(split.ranges.len(), 2);
        assert_eq!(split.to_string(), "08:00-12:00, 13:30-18:00");
        let night: DayHours = "18:00-02:00".parse().unwrap();
        assert!(night.ranges[0].1 < night.ranges[0].0);
        assert!("closed".parse::<DayHours>().unwrap().is_closed());
        assert_eq!(DayHours::default().to_string(), "closed");
        assert_eq!(
            "00:00-24:00".parse::<DayHours>().unwrap().ranges[0].1,
            Time::MAX
        );
    }

    #[test]
    fn bad_hours_say_how_to_write_them() {
        for bad in ["9 to 5", "09:00", "25:00-26:00", "09:60-10:00", "9h-17h"] {
            let err = bad.parse::<DayHours>().unwrap_err();
            assert!(err.contains("09:00"), "{bad}: {err}");
        }
    }
}
