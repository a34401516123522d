//! Heartbeat pings between the store and [`super::heartbeat`]: writing one
//! (the API's ping URLs and `keepwatch ping` both come here, so they are
//! recorded the same way), reading them back as [`Ping`]s, and the ping keys.

use jiff::Timestamp;
use ring::rand::{SecureRandom, SystemRandom};

use super::heartbeat::{Ping, Reports, Signal};
use super::{CheckSpec, ServiceSpec};
use crate::store::{HeartbeatKey, NewPing, Store, StoreError, StoredPing};

/// The most of a job's output kept with a ping, in bytes (Healthchecks
/// keeps as much): enough for the lines that say why it failed.
pub const LOG_LIMIT: usize = 10_000;

/// Why the ping keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The system's random source failed.
    #[error("this computer could not produce random bytes for a heartbeat's ping key")]
    Random,
    /// The database could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new ping key: 128 random bits as 32 hex digits, unguessable and safe
/// in a URL.
fn new_key() -> Result<String, KeyError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KeyError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `text` has the shape of a ping key, so a URL that cannot be one
/// is refused without a database lookup.
pub fn looks_like_key(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The heartbeats among `services`.
pub fn heartbeats(services: &[ServiceSpec]) -> impl Iterator<Item = &ServiceSpec> {
    services
        .iter()
        .filter(|spec| matches!(spec.check, CheckSpec::Heartbeat(_)))
}

/// The ping keys of the heartbeats among `services`, made now for those
/// that have none yet.
pub fn keys(
    store: &mut Store,
    services: &[ServiceSpec],
    now: Timestamp,
) -> Result<Vec<HeartbeatKey>, KeyError> {
    let wanted = heartbeats(services)
        .map(|spec| Ok((spec.common.name.as_str(), new_key()?)))
        .collect::<Result<Vec<_>, KeyError>>()?;
    Ok(store.heartbeat_keys(&wanted, now)?)
}

/// Records that `service` said `signal` at `at`, with the job's output
/// `log` (cut to [`LOG_LIMIT`]) and where it came from.
pub fn record(
    store: &mut Store,
    service: &str,
    signal: Signal,
    at: Timestamp,
    log: Option<&str>,
    source: &str,
) -> Result<i64, StoreError> {
    let (word, exit_code) = match signal {
        Signal::Success => ("success", None),
        Signal::Start => ("start", None),
        Signal::Failure(code) => ("fail", code),
    };
    let log = log
        .map(|text| {
            let mut end = text.len().min(LOG_LIMIT);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            &text[..end]
        })
        .filter(|text| !text.trim().is_empty());
    store.record_ping(&NewPing {
        service,
        at,
        signal: word,
        exit_code,
        log,
        source,
    })
}

/// A stored ping as the judgement reads it.
pub fn ping_of(stored: &StoredPing) -> Ping {
    let signal = match stored.signal.as_str() {
        "start" => Signal::Start,
        "fail" => Signal::Failure(stored.exit_code),
        _ => Signal::Success,
    };
    Ping {
        at: stored.at,
        signal,
        log: stored.log.clone(),
    }
}

/// What the kept pings of the heartbeat with `key` amount to.
pub fn reports(store: &Store, key: &HeartbeatKey) -> Result<Reports, StoreError> {
    let mut reports = Reports::new(key.since);
    for stored in store.pings_of(&key.service)? {
        reports.take(&ping_of(&stored));
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StorageConfig;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + secs).unwrap()
    }

    #[test]
    fn recorded_pings_read_back_as_the_signals_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("kw.db"), &StorageConfig::default()).unwrap();
        let services = crate::config::parse(
            std::path::Path::new("k.toml"),
            "[[service]]\nname = \"Backup\"\ntype = \"heartbeat\"\nevery = \"1d\"\n\
             [[service]]\nname = \"Web\"\ntype = \"tcp\"\nhost = \"h\"\nport = 1\n",
        )
        .unwrap()
        .services;
        let keys = keys(&mut store, &services, t(0)).unwrap();
        assert_eq!(keys.len(), 1, "only heartbeats have keys");
        assert!(looks_like_key(&keys[0].key), "{}", keys[0].key);
        assert!(!looks_like_key("../../etc/passwd") && !looks_like_key(&"g".repeat(32)));
        let again = super::keys(&mut store, &services, t(9)).unwrap();
        assert_eq!(again, keys, "stable");

        // The limit falls inside an "é" (two bytes after one): cut before it.
        let long = format!("x{}", "é".repeat(LOG_LIMIT));
        for (signal, log) in [
            (Signal::Start, None),
            (Signal::Failure(Some(3)), Some(long.as_str())),
            (Signal::Failure(None), Some("  \n")),
            (Signal::Success, Some("done")),
        ] {
            record(&mut store, "Backup", signal, t(1), log, "test").unwrap();
        }
        let pings: Vec<Ping> = store
            .pings_of("Backup")
            .unwrap()
            .iter()
            .map(ping_of)
            .collect();
        let signals: Vec<Signal> = pings.iter().map(|p| p.signal).collect();
        assert_eq!(
            signals,
            [
                Signal::Start,
                Signal::Failure(Some(3)),
                Signal::Failure(None),
                Signal::Success
            ]
        );
        let kept = pings[1].log.as_deref().unwrap();
        assert_eq!(kept.len(), LOG_LIMIT - 1);
        assert_eq!(pings[2].log, None, "blank output is no log");
        let reports = reports(&store, &keys[0]).unwrap();
        assert_eq!((reports.last_success, reports.failure), (Some(t(1)), None));
        assert_eq!(reports.watched_since, t(0));
    }
}
