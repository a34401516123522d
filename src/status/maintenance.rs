//! Maintenance windows as people start and list them, the same from the
//! command line and the API: what a request to start one must satisfy, and
//! which windows are in force or coming (the planned ones of the config and
//! those started by hand).

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::alert::MaintenanceConfig;
use crate::checks::ServiceSpec;
use crate::store::{Store, StoreError, StoredWindow};

/// The longest window one request may start.
const LONGEST: SignedDuration = SignedDuration::from_hours(24 * 400);

/// A maintenance window someone asks to start.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRequest {
    /// How long, as written: `"30m"`, `"2h"`.
    pub length: String,
    /// When it starts.
    pub start: Timestamp,
    /// Only these services; empty means everything.
    pub services: Vec<String>,
    /// What the work is.
    pub reason: String,
}

/// Why a window was not started. Each caller says it in its own terms (the
/// command line names its options, the API its fields).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The length does not read as one.
    #[error("{0}")]
    Length(String),
    /// The length is zero ("off") or over 400 days.
    #[error("the length must be above zero and at most 400 days")]
    OutOfRange,
    /// A service that is not configured.
    #[error("no service is named \"{name}\"")]
    UnknownService {
        /// The name asked for.
        name: String,
        /// The configured services.
        known: Vec<String>,
    },
    /// Start plus length is past the year 9999.
    #[error("the window would end after the year 9999")]
    EndsTooLate,
    /// The store did not take it.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts the window of `request` if it is sound for the configured
/// `services`, and returns it as stored.
pub fn start_window(
    store: &mut Store,
    services: &[ServiceSpec],
    request: WindowRequest,
) -> Result<StoredWindow, Refusal> {
    let length: crate::units::Duration = request.length.parse().map_err(Refusal::Length)?;
    if length.is_off() || length.signed() > LONGEST {
        return Err(Refusal::OutOfRange);
    }
    if let Some(unknown) = request
        .services
        .iter()
        .find(|name| !services.iter().any(|s| &s.common.name == *name))
    {
        return Err(Refusal::UnknownService {
            name: unknown.clone(),
            known: services.iter().map(|s| s.common.name.clone()).collect(),
        });
    }
    let end = request
        .start
        .checked_add(length.signed())
        .map_err(|_| Refusal::EndsTooLate)?;
    let id = store.add_maintenance(&request.reason, &request.services, request.start, end)?;
    Ok(StoredWindow {
        id,
        name: request.reason,
        services: request.services,
        start: request.start,
        end,
    })
}

/// Where a planned window of the config stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    /// In force now, until then.
    Until(Timestamp),
    /// Next in force from then.
    From(Timestamp),
    /// It will not come again.
    Over,
}

/// One window in force or coming.
#[derive(Debug, Clone, PartialEq)]
pub enum Listed {
    /// A `[[maintenance]]` block of the config, by its name.
    Planned {
        /// Its name.
        name: String,
        /// Where it stands.
        when: Planned,
    },
    /// A window started by hand (command line or API), not yet over.
    Started(StoredWindow),
}

/// The windows in force or coming at `now`: the config's planned ones
/// (those that do not parse were refused by validation and are left out),
/// then those started by hand; times of day in `tz`.
pub fn list_windows(
    planned: &[MaintenanceConfig],
    store: &Store,
    now: Timestamp,
    tz: &TimeZone,
) -> Result<Vec<Listed>, StoreError> {
    let mut listed: Vec<Listed> = planned
        .iter()
        .filter_map(|window| {
            let parsed = window.parse().ok()?;
            let when = match (parsed.active_until(now, tz), parsed.next_start(now, tz)) {
                (Some(until), _) => Planned::Until(until),
                (None, Some(start)) => Planned::From(start),
                (None, None) => Planned::Over,
            };
            Some(Listed::Planned {
                name: window.name.clone(),
                when,
            })
        })
        .collect();
    listed.extend(
        store
            .maintenance_windows(now)?
            .into_iter()
            .map(Listed::Started),
    );
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hours: i64) -> Timestamp {
        "2026-11-22T12:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_hours(hours)
    }

    fn setup() -> (tempfile::TempDir, Store, crate::config::Config) {
        let config = crate::config::parse(
            std::path::Path::new("k.toml"),
            "[business]\ntimezone = \"UTC\"\n\
             [[service]]\nname = \"Shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n\
             [[maintenance]]\nname = \"Sunday backups\"\nevery = \"sunday\"\nfrom = \"02:00\"\nuntil = \"04:00\"\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k.db"), &config.storage).unwrap();
        (dir, store, config)
    }

    fn request(length: &str, services: &[&str]) -> WindowRequest {
        WindowRequest {
            length: length.to_owned(),
            start: t(0),
            services: services.iter().map(|s| s.to_string()).collect(),
            reason: "new switch".to_owned(),
        }
    }

    #[test]
    fn a_sound_request_is_stored_and_unsound_ones_are_refused_with_the_reason() {
        let (_dir, mut store, config) = setup();
        let window = start_window(&mut store, &config.services, request("1h", &["Shop"])).unwrap();
        assert_eq!((window.start, window.end), (t(0), t(1)));
        assert_eq!(store.maintenance_windows(t(0)).unwrap(), [window]);
        let mut refused = |length, services: &[&str]| {
            start_window(&mut store, &config.services, request(length, services)).unwrap_err()
        };
        assert!(matches!(refused("soon", &[]), Refusal::Length(_)));
        assert!(matches!(refused("off", &[]), Refusal::OutOfRange));
        assert!(matches!(refused("401d", &[]), Refusal::OutOfRange));
        match refused("1h", &["Shp"]) {
            Refusal::UnknownService { name, known } => {
                assert_eq!((name.as_str(), known), ("Shp", vec!["Shop".to_owned()]))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            store.maintenance_windows(t(0)).unwrap().len(),
            1,
            "nothing refused was stored"
        );
    }

    #[test]
    fn planned_windows_say_where_they_stand_and_started_ones_follow() {
        let (_dir, mut store, config) = setup();
        let tz = TimeZone::UTC;
        // Sunday 22 November 12:00: the backups are next Sunday at 02:00.
        let listed = list_windows(&config.maintenance, &store, t(0), &tz).unwrap();
        assert_eq!(
            listed,
            [Listed::Planned {
                name: "Sunday backups".to_owned(),
                when: Planned::From("2026-11-29T02:00:00Z".parse().unwrap())
            }]
        );
        let during = "2026-11-29T03:00:00Z".parse().unwrap();
        let started = start_window(&mut store, &config.services, request("1h", &[])).unwrap();
        match &list_windows(&config.maintenance, &store, during, &tz).unwrap()[..] {
            [Listed::Planned { when, .. }] => {
                assert_eq!(
                    *when,
                    Planned::Until("2026-11-29T04:00:00Z".parse().unwrap())
                )
            }
            other => panic!("the hand-started window is over by then: {other:?}"),
        }
        assert_eq!(
            list_windows(&config.maintenance, &store, t(0), &tz).unwrap()[1],
            Listed::Started(started)
        );
    }
}
