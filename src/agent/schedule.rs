//! When each metric family is next due. Pure: the caller says what time it is.

use jiff::Timestamp;

use crate::collect::CollectConfig;
use crate::collect::Family;

/// The next due time of every family that is switched on.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    next: Vec<(Family, Timestamp)>,
}

impl Schedule {
    /// Every family that is not `"off"`, all due at `now`.
    pub fn new(config: &CollectConfig, now: Timestamp) -> Self {
        let next = Family::ALL
            .into_iter()
            .filter(|family| !family.interval(config).is_off())
            .map(|family| (family, now))
            .collect();
        Self { next }
    }

    /// The families due at `now`, in config order.
    pub fn due(&self, now: Timestamp) -> Vec<Family> {
        self.next
            .iter()
            .filter(|(_, at)| *at <= now)
            .map(|(family, _)| *family)
            .collect()
    }

    /// Records that `family` ran at `now`; it is next due one interval later,
    /// stretched `stretch` times while the host is busy.
    pub fn ran(&mut self, family: Family, now: Timestamp, config: &CollectConfig, stretch: u32) {
        let interval =
            family.interval(config).signed() * i32::try_from(stretch.max(1)).unwrap_or(i32::MAX);
        if let Some(entry) = self.next.iter_mut().find(|(f, _)| *f == family) {
            entry.1 = now.saturating_add(interval).unwrap_or(Timestamp::MAX);
        }
    }

    /// Stops scheduling `family` (the OS does not offer it).
    pub fn drop_family(&mut self, family: Family) {
        self.next.retain(|(f, _)| *f != family);
    }

    /// After a config change: new families start now, switched-off ones stop,
    /// and no family waits longer than its new interval.
    pub fn reconfigure(&mut self, config: &CollectConfig, now: Timestamp) {
        let mut fresh = Self::new(config, now);
        for (family, at) in &mut fresh.next {
            if let Some((_, old)) = self.next.iter().find(|(f, _)| f == family) {
                let latest = now
                    .saturating_add(family.interval(config).signed())
                    .unwrap_or(Timestamp::MAX);
                *at = (*old).min(latest);
            }
        }
        *self = fresh;
    }

    /// The earliest time anything is due; `None` when everything is off.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.next.iter().map(|(_, at)| *at).min()
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::units::Duration;

    fn t0() -> Timestamp {
        "2026-11-23T09:00:00Z".parse().unwrap()
    }

    fn secs(s: i64) -> SignedDuration {
        SignedDuration::from_secs(s)
    }

    #[test]
    fn everything_is_due_at_start_and_then_on_its_own_interval() {
        let config = CollectConfig::default();
        let mut schedule = Schedule::new(&config, t0());
        assert_eq!(schedule.due(t0()), Family::ALL.to_vec());
        for family in Family::ALL {
            schedule.ran(family, t0(), &config, 1);
        }
        assert_eq!(schedule.next_due(), Some(t0() + secs(10)));
        assert_eq!(
            schedule.due(t0() + secs(10)),
            vec![Family::Cpu, Family::Memory, Family::Network, Family::Load]
        );
        assert_eq!(schedule.due(t0() + secs(60)).len(), 5);
        assert_eq!(schedule.due(t0() + secs(300)).len(), 6);
    }

    #[test]
    fn a_stretch_multiplies_the_interval() {
        let config = CollectConfig::default();
        let mut schedule = Schedule::new(&config, t0());
        schedule.ran(Family::Cpu, t0(), &config, 4);
        assert!(!schedule.due(t0() + secs(39)).contains(&Family::Cpu));
        assert!(schedule.due(t0() + secs(40)).contains(&Family::Cpu));
    }

    #[test]
    fn off_and_dropped_families_are_never_due() {
        let config = CollectConfig {
            disk: Duration::default(),
            ..CollectConfig::default()
        };
        let mut schedule = Schedule::new(&config, t0());
        assert!(!schedule.due(t0()).contains(&Family::Disk));
        schedule.drop_family(Family::Load);
        assert!(!schedule.due(t0()).contains(&Family::Load));
        let all_off = CollectConfig {
            cpu: Duration::default(),
            memory: Duration::default(),
            disk: Duration::default(),
            network: Duration::default(),
            load: Duration::default(),
            uptime: Duration::default(),
            per_core: false,
        };
        assert_eq!(Schedule::new(&all_off, t0()).next_due(), None);
    }

    #[test]
    fn reconfiguring_keeps_earlier_due_times_and_caps_later_ones() {
        let config = CollectConfig::default();
        let mut schedule = Schedule::new(&config, t0());
        for family in Family::ALL {
            schedule.ran(family, t0(), &config, 8);
        }
        let faster = CollectConfig {
            cpu: Duration::from_secs(2),
            disk: Duration::default(),
            ..CollectConfig::default()
        };
        schedule.reconfigure(&faster, t0() + secs(1));
        assert_eq!(schedule.next_due(), Some(t0() + secs(3)));
        assert!(!schedule.due(t0() + secs(10_000)).contains(&Family::Disk));
        // Memory ran with a stretch of 8 (due at +80 s); the new cap is +11 s.
        assert!(schedule.due(t0() + secs(11)).contains(&Family::Memory));
    }
}
