//! Report benchmark: 30 days of history of 25 services (response time and
//! state every 30 s, as the storage benchmark writes them) and one host's
//! CPU, memory and disk every 60 s, with incidents, written through the real
//! [`Store`] and sealed as the agent seals it; then the model, the HTML and
//! the PDF of the month, timed, with the peak memory (VmHWM, reset before each
//! step) of this process. Then the same for 1,000 services, checked every
//! 15 minutes (30 days at 30 s would be 170 million samples to generate).
//!
//! Run: `cargo bench --bench report`. `KEEPWATCH_BENCH_SERVICES=25` runs
//! only the 25 services (for a profiler: the 1,000 take minutes to write).

use std::time::Instant;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use keepwatch::calendar::Calendar;
use keepwatch::checks::ServiceSpec;
use keepwatch::config::Config;
use keepwatch::observation::{Sample, SeriesKey};
use keepwatch::report::{self, Audience, Format, Inputs, Period};
use keepwatch::store::StorageConfig;
use keepwatch::store::Store;
use keepwatch::vocabulary::service_metric;
use keepwatch::vocabulary::{FailureKind, State};

fn main() {
    let only: Option<usize> = std::env::var("KEEPWATCH_BENCH_SERVICES")
        .ok()
        .and_then(|n| n.parse().ok());
    for (services, every_secs) in [(25, 30), (1000, 900)] {
        if only.is_none_or(|n| n == services) {
            run(services, every_secs);
        }
    }
}

fn run(services: usize, every_secs: i64) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut store =
        Store::open(&dir.path().join("kw.db"), &StorageConfig::default()).expect("open");
    let tz = TimeZone::get("Europe/Berlin").expect("time zone");
    let period = Period::between("2026-11-01", "2026-11-30", &tz).expect("period");
    let mut config = Config::default();
    config.business.name = "Bench shop".to_owned();
    config.business.timezone = "Europe/Berlin".to_owned();
    config.business.revenue_per_hour = 400.0;
    config.services = (0..services)
        .map(|i| {
            toml::from_str::<ServiceSpec>(&format!(
                "name = \"Service {i}\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\ncritical = {}",
                i % 5 == 0
            ))
            .expect("a service")
        })
        .collect();
    let began = Instant::now();
    let mut written = 0usize;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let hours = period.from.duration_until(period.to).as_hours();
    for hour in 0..hours {
        let start = period.from + SignedDuration::from_hours(hour);
        let mut batch = Vec::new();
        for s in 0..services {
            let name = format!("Service {s}");
            let mut at = 0;
            while at < 3600 {
                let when = start + SignedDuration::from_secs(at + (s as i64 % every_secs));
                batch.push(Sample {
                    key: SeriesKey::new("web1", service_metric::STATE, name.as_str()),
                    at: when,
                    value: 0.0,
                });
                batch.push(Sample {
                    key: SeriesKey::new("web1", service_metric::RESPONSE_MS, name.as_str()),
                    at: when,
                    value: 80.0 + 40.0 * random(),
                });
                at += every_secs;
            }
        }
        for minute in 0..60 {
            let when = start + SignedDuration::from_mins(minute);
            for (metric, value) in [
                ("cpu.usage_percent", 20.0 + 30.0 * random()),
                ("memory.used_percent", 60.0 + 5.0 * random()),
                ("disk.used_percent", 40.0 + hour as f64 * 0.02),
            ] {
                let instance = if metric.starts_with("disk") { "/" } else { "" };
                batch.push(Sample {
                    key: SeriesKey::new("web1", metric, instance),
                    at: when,
                    value,
                });
            }
        }
        written += batch.len();
        store.write(&batch).expect("write");
        store
            .maintain(start + SignedDuration::from_hours(1))
            .expect("maintain");
    }
    // Three incidents per service, at random times, 5 to 65 minutes long.
    for s in 0..services {
        for _ in 0..3 {
            let at = period.from
                + SignedDuration::from_mins((random() * (hours as f64 - 2.0) * 60.0) as i64);
            let name = format!("Service {s}");
            store
                .record_transition(
                    &name,
                    at,
                    State::Down,
                    Some(FailureKind::Timeout),
                    "timed out",
                )
                .expect("incident");
            let back = at + SignedDuration::from_mins(5 + (random() * 60.0) as i64);
            store
                .record_transition(&name, back, State::Up, None, "fine")
                .expect("recovery");
        }
    }
    println!(
        "{services} services, 30 days, checks every {every_secs} s: {:.1} M samples written and sealed in {:.1} s",
        written as f64 / 1e6,
        began.elapsed().as_secs_f64()
    );
    let calendar = Calendar::from_config(&config.business, TimeZone::UTC).expect("calendar");
    let now: Timestamp = "2026-12-01T08:00:00Z".parse().expect("now");
    let inputs = Inputs {
        store: &store,
        config: &config,
        calendar: &calendar,
        previous: period.previous(&tz).ok(),
        period: period.clone(),
        now,
        audience: Audience::Executive,
    };
    for (label, format) in [("HTML", Format::Html), ("PDF", Format::Pdf)] {
        let mut best = f64::MAX;
        let mut size = 0;
        let mut peak = 0;
        for _ in 0..3 {
            reset_peak();
            let t = Instant::now();
            let model = report::build(&inputs).expect("the report model");
            let bytes = report::render(&model, format).expect("rendering");
            best = best.min(t.elapsed().as_secs_f64());
            size = bytes.len();
            peak = peak.max(peak_rss_kb());
        }
        println!(
            "  model + {label}: best of 3 {:.3} s, {:.0} KB, peak memory (VmHWM) {:.1} MB",
            best,
            size as f64 / 1024.0,
            peak as f64 / 1024.0
        );
    }
}

/// Resets the kernel's peak-RSS mark of this process (Linux).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since the last reset, in KB (Linux; 0 elsewhere).
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}
