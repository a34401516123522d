//! On a hub, the times an agent was out of reach: whether its data arrived
//! afterwards (only the link was cut: nothing is missing) or is missing
//! (the server, or keepwatch on it, was down). Missing data is neither up
//! nor down time: the report says "no data from web2" for it and leaves it
//! out of that agent's services' figures.

use jiff::{SignedDuration, Timestamp};

use crate::observation::SeriesKey;
use crate::store::{Store, StoreError};
use crate::vocabulary::metric;

/// A stretch without a single measurement of a host longer than this is
/// missing data (an agent measures every 10 s by default; a busy one
/// stretches that up to 8 times).
const NO_DATA_AFTER: SignedDuration = SignedDuration::from_mins(3);

/// A time the hub did not hear from an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The agent.
    pub host: String,
    /// From...
    pub from: Timestamp,
    /// ...to.
    pub to: Timestamp,
    /// Its measurements for this time arrived later (only the link was
    /// cut); `false`: there are none.
    pub filled: bool,
}

/// The gaps of `from..until`: for each silence of an agent, the stretches
/// without any of its measurements, or the silence itself, filled, when
/// there are none.
pub fn gaps(store: &Store, from: Timestamp, until: Timestamp) -> Result<Vec<Gap>, StoreError> {
    let mut gaps = Vec::new();
    for silence in store.silences(from, until)? {
        let start = silence.from.max(from);
        let end = silence.to.unwrap_or(until).min(until);
        if end <= start {
            continue;
        }
        let mut times: Vec<Timestamp> = Vec::new();
        for name in [metric::CPU_USAGE_PERCENT, metric::MEMORY_USED_PERCENT] {
            let key = SeriesKey::new(silence.host.as_str(), name, "");
            times.extend(store.range(&key, start, end)?.into_iter().map(|(at, _)| at));
        }
        times.sort();
        let mut missing = Vec::new();
        let mut last = start;
        for at in times.into_iter().chain(std::iter::once(end)) {
            if last.duration_until(at) > NO_DATA_AFTER {
                missing.push((last, at));
            }
            last = last.max(at);
        }
        if missing.is_empty() {
            gaps.push(Gap {
                host: silence.host,
                from: start,
                to: end,
                filled: true,
            });
        } else {
            gaps.extend(missing.into_iter().map(|(from, to)| Gap {
                host: silence.host.clone(),
                from,
                to,
                filled: false,
            }));
        }
    }
    Ok(gaps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::Sample;
    use crate::store::StorageConfig;

    fn at(minutes: i64) -> Timestamp {
        "2026-11-23T10:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
    }

    fn measured(store: &mut Store, minutes: impl Iterator<Item = i64>) {
        let samples: Vec<Sample> = minutes
            .map(|m| Sample {
                key: SeriesKey::new("web2", metric::CPU_USAGE_PERCENT, ""),
                at: at(m),
                value: 5.0,
            })
            .collect();
        store.write(&samples).unwrap();
    }

    #[test]
    fn a_cut_link_leaves_no_gap_and_a_server_that_was_off_does() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("k.db"), &StorageConfig::default()).unwrap();
        // Silent from 10:00 to 11:00, but everything arrived afterwards.
        store.silence_began("web2", at(0)).unwrap();
        measured(&mut store, 0..=60);
        store.silence_ended("web2", at(60)).unwrap();
        // Silent from 12:00 to 14:00; it was off from 12:30 to 13:30.
        store.silence_began("web2", at(120)).unwrap();
        measured(&mut store, (120..=150).chain(210..=240));
        store.silence_ended("web2", at(240)).unwrap();
        let found = gaps(&store, at(-60), at(300)).unwrap();
        assert_eq!(
            found,
            [
                Gap {
                    host: "web2".into(),
                    from: at(0),
                    to: at(60),
                    filled: true
                },
                Gap {
                    host: "web2".into(),
                    from: at(150),
                    to: at(210),
                    filled: false
                },
            ]
        );
        // A period that starts as the silence ends has no gap.
        assert_eq!(gaps(&store, at(60), at(100)).unwrap(), []);
        // Still silent, nothing since: no data up to the end of the period.
        store.silence_began("web2", at(280)).unwrap();
        let last = gaps(&store, at(250), at(300)).unwrap();
        assert_eq!(
            (last[0].from, last[0].to, last[0].filled),
            (at(280), at(300), false)
        );
    }
}
