//! Storage benchmark: 30 days of full-resolution history, simulated.
//!
//! 5 hosts × 20 metrics every 10 s, plus 25 services × 2 series (response
//! time in ms, state 0/1/2) every 30 s, about 30 million samples, written
//! through the real [`Store`] one batch per 10 s tick as the agent does, with
//! `maintain` every simulated hour. Time is simulated: nothing sleeps.
//!
//! Values are generated deterministically (xorshift) to look like real ones:
//! CPU that follows business hours with noise, nearly constant memory in
//! kilobyte units, slowly filling disks in 4 KiB blocks with a nightly log
//! rotation, bursty network rates computed from byte counters over a slightly
//! jittered interval, load averages with two decimals, response times around a
//! mean with occasional spikes, services mostly up. Timestamps carry the
//! millisecond jitter of a real timer (`KEEPWATCH_BENCH_JITTER_MS`, default
//! 10; 0 for perfectly regular ticks).
//!
//! Run: `cargo bench --bench storage` (30 days), or shorter with
//! `KEEPWATCH_BENCH_DAYS=3 cargo bench --bench storage`. The database is
//! written to a temporary folder (`KEEPWATCH_BENCH_DIR` to choose another) and
//! deleted afterwards unless `KEEPWATCH_BENCH_KEEP=1`.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use keepwatch::observation::{Sample, SeriesKey};
use keepwatch::store::StorageConfig;
use keepwatch::store::Store;

const HOSTS: usize = 5;
const SERVICES: usize = 25;
const CORES: usize = 4;
const TICK_SECS: i64 = 10;
const SERVICE_EVERY_TICKS: i64 = 3;
const TICKS_PER_HOUR: i64 = 3600 / TICK_SECS;

fn main() {
    let days: f64 = env_or("KEEPWATCH_BENCH_DAYS", 30.0);
    let jitter_ms: u64 = env_or("KEEPWATCH_BENCH_JITTER_MS", 10);
    let base_dir = std::env::var_os("KEEPWATCH_BENCH_DIR").map(std::path::PathBuf::from);
    let dir = match &base_dir {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("a temporary folder for the database");
    let path = dir.path().join("keepwatch.db");
    let mut store = Store::open(&path, &StorageConfig::default()).expect("open the store");

    let start: Timestamp = "2026-03-02T00:00:00Z".parse().expect("a valid start");
    let ticks = (days * 86_400.0 / TICK_SECS as f64).round() as i64;
    let mut world = World::new(jitter_ms);
    println!(
        "keepwatch storage benchmark: {days} simulated days, {HOSTS} hosts × {} metrics every {TICK_SECS} s, \
         {SERVICES} services × 2 series every {} s, timer jitter up to {jitter_ms} ms",
        world.hosts[0].keys.len(),
        TICK_SECS * SERVICE_EVERY_TICKS
    );

    let mut samples = 0u64;
    let mut write_time = Duration::ZERO;
    let mut maintain_time = Duration::ZERO;
    let mut slowest_maintain = Duration::ZERO;
    let mut batch = Vec::with_capacity(200);
    let begun = Instant::now();
    for tick in 0..ticks {
        let now = start + SignedDuration::from_secs(tick * TICK_SECS);
        batch.clear();
        world.tick(tick, now, &mut batch);
        samples += batch.len() as u64;
        let t = Instant::now();
        store.write(&batch).expect("write a batch");
        write_time += t.elapsed();
        if (tick + 1) % TICKS_PER_HOUR == 0 {
            let t = Instant::now();
            store
                .maintain(now + SignedDuration::from_secs(TICK_SECS))
                .expect("maintain");
            let took = t.elapsed();
            maintain_time += took;
            slowest_maintain = slowest_maintain.max(took);
        }
        if (tick + 1) % (TICKS_PER_HOUR * 24 * 5) == 0 {
            println!(
                "  day {:>3}: {:>10} samples, {:>6.1} MB",
                (tick + 1) / (TICKS_PER_HOUR * 24),
                samples,
                mb(store.size_on_disk().expect("size"))
            );
        }
    }
    let end = start + SignedDuration::from_secs(ticks * TICK_SECS);
    let t = Instant::now();
    store.maintain(end).expect("final maintain");
    maintain_time += t.elapsed();
    let simulated = begun.elapsed();

    if std::env::var("KEEPWATCH_BENCH_KEEP").is_ok_and(|v| v == "1") {
        println!("keeping the database: {}", path.display());
        let _ = dir.keep();
    }
    let size = store.size_on_disk().expect("size");
    let files = file_bytes(&path);
    let host_key = world.hosts[0].keys[0].clone();
    let service_key = world.services[0].keys[0].clone();
    let (host_p50, host_p99, host_points) = query_latency(&store, &host_key, start, end);
    let (svc_p50, svc_p99, svc_points) = query_latency(&store, &service_key, start, end);
    // A dashboard's last day: mostly sealed chunks plus the unsealed part in
    // staging. Written 45 minutes into an hour so staging holds 45 minutes.
    let mut more = Vec::new();
    for extra in 0..270 {
        more.clear();
        let at = end + SignedDuration::from_secs(extra * TICK_SECS);
        world.tick(ticks + extra, at, &mut more);
        store.write(&more).expect("write a batch");
    }
    let recent_end = end + SignedDuration::from_secs(270 * TICK_SECS);
    let day_before = recent_end - SignedDuration::from_hours(24);
    let (day_p50, day_p99, day_points) = query_latency(&store, &host_key, day_before, recent_end);

    println!();
    println!("samples written        {samples}");
    println!(
        "series                 {}",
        store.series().expect("series").len()
    );
    println!(
        "database size          {:.1} MB ({size} bytes in use; files on disk incl. WAL: {:.1} MB)",
        mb(size),
        mb(files)
    );
    println!(
        "bytes per sample       {:.3} (files on disk: {:.3})",
        size as f64 / samples as f64,
        files as f64 / samples as f64
    );
    println!(
        "projected 30 days      {:.1} MB (goal: under 100 MB)",
        mb(size) * 30.0 / days
    );
    println!(
        "time taken             {:.1} s (writes {:.1} s = {:.0} µs per batch; maintain {:.1} s, slowest run {:.0} ms)",
        simulated.as_secs_f64(),
        write_time.as_secs_f64(),
        write_time.as_secs_f64() * 1e6 / ticks.max(1) as f64,
        maintain_time.as_secs_f64(),
        slowest_maintain.as_secs_f64() * 1e3
    );
    println!(
        "range query, {days} days of {host_key} ({host_points} points): p50 {:.2} ms, p99 {:.2} ms",
        host_p50, host_p99
    );
    println!(
        "range query, {days} days of {service_key} ({svc_points} points): p50 {:.2} ms, p99 {:.2} ms",
        svc_p50, svc_p99
    );
    println!(
        "range query, last 24 h of {host_key} with 45 min unsealed ({day_points} points): p50 {:.2} ms, p99 {:.2} ms",
        day_p50, day_p99
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Bytes of the database file and its WAL and shared-memory files.
fn file_bytes(path: &std::path::Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(name).ok().map(|m| m.len())
        })
        .sum()
}

/// p50 and p99 in milliseconds of reading the whole range of one series.
fn query_latency(
    store: &Store,
    key: &SeriesKey,
    from: Timestamp,
    to: Timestamp,
) -> (f64, f64, usize) {
    let mut times = Vec::new();
    let mut points = 0;
    for _ in 0..200 {
        let t = Instant::now();
        points = store.range(key, from, to).expect("range").len();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    (
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        points,
    )
}

/// xorshift64*: tiny, deterministic, good enough for plausible noise.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal, mean 0, standard deviation 1 (Irwin–Hall).
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.unit()).sum::<f64>() - 6.0
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// Activity of a business: higher on weekdays 8:00-18:00, a little in the evening.
fn business_load(at: Timestamp) -> f64 {
    let secs = at.as_second().rem_euclid(7 * 86_400);
    // 2026-03-02 is a Monday; days 5 and 6 of the week are the weekend.
    let day = secs / 86_400;
    let hour = (secs % 86_400) as f64 / 3600.0;
    let weekday = day < 5;
    let daytime = (-((hour - 13.0) / 3.5).powi(2)).exp();
    if weekday {
        0.15 + 0.85 * daytime
    } else {
        0.1 + 0.25 * daytime
    }
}

struct World {
    rng: Rng,
    jitter_ms: u64,
    hosts: Vec<Host>,
    services: Vec<Service>,
}

struct Host {
    keys: Vec<SeriesKey>,
    cpu_base: f64,
    cpu_walk: f64,
    mem_total: f64,
    mem_used: f64,
    mem_cache: f64,
    swap_used: f64,
    disks: [(f64, f64); 2],
    net_scale: f64,
    last_tick_ms: i64,
    load: [f64; 3],
}

struct Service {
    keys: [SeriesKey; 2],
    mean_ms: f64,
    offset_ms: i64,
    down_for: u32,
    state: f64,
}

impl World {
    fn new(jitter_ms: u64) -> Self {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let hosts = (0..HOSTS)
            .map(|h| {
                let name = format!("host{h}");
                let mut keys = vec![SeriesKey::new(&name, "cpu.usage_percent", "")];
                for core in 0..CORES {
                    keys.push(SeriesKey::new(
                        &name,
                        "cpu.core_usage_percent",
                        core.to_string(),
                    ));
                }
                for metric in [
                    "memory.used_percent",
                    "memory.used_bytes",
                    "memory.available_bytes",
                    "swap.used_bytes",
                ] {
                    keys.push(SeriesKey::new(&name, metric, ""));
                }
                for mount in ["/", "/var"] {
                    keys.push(SeriesKey::new(&name, "disk.used_percent", mount));
                    keys.push(SeriesKey::new(&name, "disk.free_bytes", mount));
                }
                for metric in [
                    "net.rx_bytes_per_sec",
                    "net.tx_bytes_per_sec",
                    "net.rx_errors",
                    "net.tx_errors",
                ] {
                    keys.push(SeriesKey::new(&name, metric, "eth0"));
                }
                for metric in ["load.1", "load.5", "load.15"] {
                    keys.push(SeriesKey::new(&name, metric, ""));
                }
                let gib = 1024.0 * 1024.0 * 1024.0;
                Host {
                    keys,
                    cpu_base: 5.0 + 30.0 * rng.unit(),
                    cpu_walk: 0.0,
                    mem_total: 16.0 * gib,
                    mem_used: (4.0 + 6.0 * rng.unit()) * gib,
                    mem_cache: 3.0 * gib,
                    swap_used: (rng.unit() * 512.0).round() * 1024.0 * 1024.0,
                    disks: [
                        (100.0 * gib, (20.0 + 50.0 * rng.unit()) * gib),
                        (500.0 * gib, (100.0 + 200.0 * rng.unit()) * gib),
                    ],
                    net_scale: 20_000.0 + 400_000.0 * rng.unit(),
                    last_tick_ms: -TICK_SECS * 1000,
                    load: [0.5; 3],
                }
            })
            .collect();
        let services = (0..SERVICES)
            .map(|s| {
                let host = format!("host{}", s % HOSTS);
                let name = format!("service{s}");
                Service {
                    keys: [
                        SeriesKey::new(&host, "service.response_ms", &name),
                        SeriesKey::new(&host, "service.state", &name),
                    ],
                    mean_ms: 15.0 + 300.0 * rng.unit().powi(2),
                    offset_ms: (rng.unit() * 30_000.0) as i64,
                    down_for: 0,
                    state: 0.0,
                }
            })
            .collect();
        World {
            rng,
            jitter_ms,
            hosts,
            services,
        }
    }

    fn jitter(&mut self) -> i64 {
        if self.jitter_ms == 0 {
            0
        } else {
            (self.rng.next() % (self.jitter_ms + 1)) as i64
        }
    }

    /// Everything observed during one 10 s tick starting at `now`.
    fn tick(&mut self, tick: i64, now: Timestamp, out: &mut Vec<Sample>) {
        let activity = business_load(now);
        for h in 0..self.hosts.len() {
            let jitter = self.jitter();
            let at = now + SignedDuration::from_millis(jitter);
            let values = self.host_values(h, at, activity);
            let host = &self.hosts[h];
            out.extend(host.keys.iter().zip(values).map(|(key, value)| Sample {
                key: key.clone(),
                at,
                value,
            }));
        }
        for s in 0..self.services.len() {
            // Each check runs every 30 s at its own offset within the cycle.
            let cycle_ms = SERVICE_EVERY_TICKS * TICK_SECS * 1000;
            let tick_ms = tick * TICK_SECS * 1000;
            let due = tick_ms.div_euclid(cycle_ms) * cycle_ms + self.services[s].offset_ms;
            if due < tick_ms || due >= tick_ms + TICK_SECS * 1000 {
                continue;
            }
            let jitter = self.jitter();
            let at = now + SignedDuration::from_millis(due - tick_ms + jitter);
            let (response, state) = self.service_values(s, activity);
            let service = &self.services[s];
            out.push(Sample {
                key: service.keys[0].clone(),
                at,
                value: response,
            });
            out.push(Sample {
                key: service.keys[1].clone(),
                at,
                value: state,
            });
        }
    }

    fn host_values(&mut self, h: usize, at: Timestamp, activity: f64) -> Vec<f64> {
        let rng = &mut self.rng;
        let host = &mut self.hosts[h];
        let mut v = Vec::with_capacity(host.keys.len());

        // CPU: business-hours shape, a slow random walk, and noise; sysinfo
        // reports f32.
        host.cpu_walk = 0.995 * host.cpu_walk + 0.4 * rng.normal();
        let cpu = (host.cpu_base * (0.4 + activity) + host.cpu_walk + 3.0 * rng.normal())
            .clamp(0.0, 100.0);
        v.push(f64::from(cpu as f32));
        for _ in 0..CORES {
            let core = (cpu + 8.0 * rng.normal()).clamp(0.0, 100.0);
            v.push(f64::from(core as f32));
        }

        // Memory: /proc/meminfo counts kilobytes.
        host.mem_used += 2.0e5 * rng.normal() + (6.0e9 - host.mem_used) * 0.001;
        if rng.chance(0.001) {
            host.mem_used += 4.0e8 * rng.normal();
        }
        host.mem_used = host.mem_used.clamp(1.0e9, host.mem_total - 1.0e9);
        host.mem_cache = (host.mem_cache + 5.0e4 * rng.normal()).clamp(0.0, 4.0e9);
        let kib = |bytes: f64| (bytes / 1024.0).round() * 1024.0;
        let used = kib(host.mem_used);
        v.push(used / host.mem_total * 100.0);
        v.push(used);
        v.push(kib(host.mem_total - host.mem_used - host.mem_cache));
        if rng.chance(0.0005) {
            host.swap_used = (host.swap_used + 4096.0 * (rng.normal() * 100.0).round()).max(0.0);
        }
        v.push(host.swap_used);

        // Disks: fill slowly in 4 KiB blocks; logs are rotated at 03:00.
        let rotate = at.as_second().rem_euclid(86_400) / 10 == 3 * 360;
        for (i, (total, used)) in host.disks.iter_mut().enumerate() {
            let blocks = (rng.unit() * (if i == 0 { 20.0 } else { 200.0 })).floor();
            *used += blocks * 4096.0;
            if rotate {
                *used -= 0.6 * 86_400.0 / 10.0 * (if i == 0 { 10.0 } else { 100.0 }) * 4096.0;
            }
            let free = ((*total - *used) * 0.95 / 4096.0).floor() * 4096.0;
            v.push((*used / *total) * 100.0);
            v.push(free);
        }

        // Network: rates from byte counters over the measured interval.
        let ms = at.as_millisecond();
        let elapsed = (ms - host.last_tick_ms) as f64 / 1000.0;
        host.last_tick_ms = ms;
        let burst = (0.6 * rng.normal()).exp();
        let rx = (host.net_scale * (0.2 + activity) * burst * elapsed).round() as u64;
        let tx = (host.net_scale
            * 0.3
            * (0.2 + activity)
            * burst
            * (0.3 * rng.normal()).exp()
            * elapsed)
            .round() as u64;
        v.push(rx as f64 / elapsed);
        v.push(tx as f64 / elapsed);
        v.push(if rng.chance(0.0002) { 1.0 } else { 0.0 });
        v.push(0.0);

        // Load averages: two decimals, as /proc/loadavg shows them.
        let runnable = (cpu / 100.0 * CORES as f64 + 0.3 * rng.normal()).max(0.0);
        for (avg, minutes) in host.load.iter_mut().zip([1.0, 5.0, 15.0]) {
            let decay = (-(TICK_SECS as f64) / (60.0 * minutes)).exp();
            *avg = *avg * decay + runnable * (1.0 - decay);
            v.push((*avg * 100.0).round() / 100.0);
        }
        v
    }

    fn service_values(&mut self, s: usize, activity: f64) -> (f64, f64) {
        let rng = &mut self.rng;
        let service = &mut self.services[s];
        if service.down_for > 0 {
            service.down_for -= 1;
        } else if rng.chance(0.00005) {
            service.down_for = 2 + (rng.unit() * 20.0) as u32;
            service.state = 2.0;
        } else if rng.chance(0.0002) {
            service.down_for = 1 + (rng.unit() * 5.0) as u32;
            service.state = 1.0;
        } else {
            service.state = 0.0;
        }
        let mut response = service.mean_ms * (1.0 + 0.3 * activity) * (0.15 * rng.normal()).exp();
        if rng.chance(0.01) {
            response *= 3.0 + 7.0 * rng.unit();
        }
        if service.state == 2.0 {
            // A failed check still reports how long it took to fail (a timeout).
            response = 10_000.0 + rng.unit();
        }
        // Measured with a monotonic clock: microsecond decimals.
        ((response * 1000.0).round() / 1000.0, service.state)
    }
}
