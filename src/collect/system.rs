//! The real host, read through `sysinfo`.
//!
//! Footprint is the point here: keepwatch aims at well under 0.1% of a core, so
//! each call refreshes only what its family needs, and the process table is
//! never walked — only keepwatch's own process is refreshed, for
//! [`MetricsSource::own_cpu_percent`]. The turning of raw counters into
//! readings is done by small pure functions at the bottom, tested with plain
//! numbers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sysinfo::{
    DiskRefreshKind, Disks, MemoryRefreshKind, Networks, Pid, ProcessRefreshKind,
    ProcessesToUpdate, System,
};

use super::{CollectError, Detail, Family, MetricsSource, Reading, os_name, percent};
use crate::vocabulary::metric;

/// Host metrics of the machine keepwatch runs on.
pub struct SystemSource {
    /// CPU and memory. Never used for processes: on Linux a process refresh
    /// also moves the host CPU counters, which would shorten the window the
    /// next `cpu.usage_percent` is measured over.
    host: System,
    /// Only keepwatch's own process, for its own CPU use.
    own_process: System,
    pid: Option<Pid>,
    disks: Disks,
    networks: Networks,
    cpu_count: usize,
    /// When the CPU counters were first read; CPU use is a difference, so
    /// nothing is reported until a second reading far enough apart.
    cpu_primed_at: Instant,
    cpu_ready: bool,
    net_previous: Option<(Instant, HashMap<String, NetCounters>)>,
    own: OwnCpuWindow,
}

impl std::fmt::Debug for SystemSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemSource")
            .field("pid", &self.pid)
            .field("cpu_count", &self.cpu_count)
            .field("cpu_ready", &self.cpu_ready)
            .finish_non_exhaustive()
    }
}

impl SystemSource {
    /// Prepares reading this host and takes the first CPU, network and
    /// own-process readings, so the first real collection (one interval later)
    /// already has something to compare with.
    pub fn new() -> Result<Self, CollectError> {
        let init = |e: sysinfo::Error| CollectError::Init {
            os: os_name(),
            reason: e.to_string(),
        };
        let mut host = System::new().map_err(init)?;
        let own_process = System::new().map_err(init)?;
        let disks = Disks::new().map_err(init)?;
        let networks = Networks::new().map_err(init)?;
        // An unknown pid only costs us the own-CPU figure, not host metrics.
        let pid = sysinfo::get_current_pid().ok();

        host.refresh_cpu_usage();
        let cpu_primed_at = Instant::now();
        let cpu_count = match host.cpus().len() {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };

        let mut source = Self {
            host,
            own_process,
            pid,
            disks,
            networks,
            cpu_count,
            cpu_primed_at,
            cpu_ready: false,
            net_previous: None,
            own: OwnCpuWindow::default(),
        };
        source.read_network();
        source.own_cpu_percent();
        Ok(source)
    }

    fn read_cpu(&mut self, detail: Detail) -> Vec<Reading> {
        self.host.refresh_cpu_usage();
        if !self.cpu_ready {
            // sysinfo ignores refreshes closer together than this, so the first
            // real difference exists only once it has passed since priming.
            if self.cpu_primed_at.elapsed() < sysinfo::MINIMUM_CPU_UPDATE_INTERVAL {
                return Vec::new();
            }
            self.cpu_ready = true;
        }
        let cores: Vec<f32> = match detail {
            Detail::Full => self.host.cpus().iter().map(|c| c.usage()).collect(),
            Detail::Essential => Vec::new(),
        };
        cpu_readings(self.host.global_cpu_usage(), &cores)
    }

    fn read_memory(&mut self) -> Vec<Reading> {
        self.host
            .refresh_memory_specifics(MemoryRefreshKind::everything());
        memory_readings(&MemoryInfo {
            total: self.host.total_memory(),
            available: self.host.available_memory(),
            used: self.host.used_memory(),
            swap_total: self.host.total_swap(),
            swap_used: self.host.used_swap(),
        })
    }

    fn read_disks(&mut self) -> Vec<Reading> {
        // Re-listing picks up mounts that came or went; only space is read,
        // not I/O statistics or the drive kind.
        self.disks
            .refresh_specifics(true, DiskRefreshKind::nothing().with_storage());
        let mounts: Vec<MountInfo> = self
            .disks
            .iter()
            .map(|d| MountInfo {
                mount_point: d.mount_point().to_string_lossy().into_owned(),
                file_system: d.file_system().to_string_lossy().into_owned(),
                device: d.name().to_string_lossy().into_owned(),
                total: d.total_space(),
                available: d.available_space(),
            })
            .collect();
        disk_readings(&mounts)
    }

    fn read_network(&mut self) -> Vec<Reading> {
        self.networks.refresh(true);
        let now = Instant::now();
        let current: HashMap<String, NetCounters> = self
            .networks
            .iter()
            .map(|(name, data)| {
                (
                    name.to_string_lossy().into_owned(),
                    NetCounters {
                        rx_bytes: data.total_received(),
                        tx_bytes: data.total_transmitted(),
                        rx_errors: data.total_errors_on_received(),
                        tx_errors: data.total_errors_on_transmitted(),
                    },
                )
            })
            .collect();
        let readings = match &self.net_previous {
            Some((then, previous)) => {
                network_readings(previous, &current, now.saturating_duration_since(*then))
            }
            None => Vec::new(),
        };
        self.net_previous = Some((now, current));
        readings
    }

    fn read_uptime() -> Result<Vec<Reading>, CollectError> {
        let secs = System::uptime().map_err(|e| unavailable(Family::Uptime, e))?;
        Ok(vec![Reading::host(
            metric::HOST_UPTIME_SECONDS,
            secs as f64,
        )])
    }
}

#[cfg(target_os = "windows")]
fn read_load() -> Result<Vec<Reading>, CollectError> {
    Err(CollectError::Unsupported {
        family: Family::Load,
        os: os_name(),
    })
}

#[cfg(not(target_os = "windows"))]
fn read_load() -> Result<Vec<Reading>, CollectError> {
    match System::load_average() {
        Ok(load) => Ok(load_readings(load.one, load.five, load.fifteen)),
        Err(sysinfo::Error::Unsupported) => Err(CollectError::Unsupported {
            family: Family::Load,
            os: os_name(),
        }),
        Err(e) => Err(unavailable(Family::Load, e)),
    }
}

fn unavailable(family: Family, e: sysinfo::Error) -> CollectError {
    CollectError::Unavailable {
        family,
        reason: e.to_string(),
    }
}

impl MetricsSource for SystemSource {
    fn collect(&mut self, family: Family, detail: Detail) -> Result<Vec<Reading>, CollectError> {
        match family {
            Family::Cpu => Ok(self.read_cpu(detail)),
            Family::Memory => Ok(self.read_memory()),
            Family::Disk => Ok(self.read_disks()),
            Family::Network => Ok(self.read_network()),
            Family::Load => read_load(),
            Family::Uptime => Self::read_uptime(),
        }
    }

    fn own_cpu_percent(&mut self) -> Option<f64> {
        let pid = self.pid?;
        self.own_process.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing().with_cpu().without_tasks(),
        );
        let cpu_ms = self.own_process.process(pid)?.accumulated_cpu_time();
        self.own.observe(Instant::now(), cpu_ms)
    }

    fn restart_own_cpu(&mut self) {
        self.own = OwnCpuWindow::default();
        self.own_cpu_percent();
    }

    fn cpu_count(&self) -> usize {
        self.cpu_count
    }
}

// ---- Pure derivations, tested with plain numbers ----

/// Cumulative counters of one network interface since it came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct NetCounters {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
}

/// Memory figures in bytes, as the OS reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemoryInfo {
    pub total: u64,
    pub available: u64,
    pub used: u64,
    pub swap_total: u64,
    pub swap_used: u64,
}

/// One mounted file system, as the OS lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountInfo {
    pub mount_point: String,
    pub file_system: String,
    pub device: String,
    pub total: u64,
    pub available: u64,
}

/// How much a cumulative counter grew. `None` when it went backwards: the
/// interface was re-created, the driver reloaded or a 32-bit counter wrapped.
/// The true amount is then unknown, so that one sample is skipped rather than
/// recorded as a huge or negative spike that would fire an alert.
pub(crate) fn counter_delta(previous: u64, current: u64) -> Option<u64> {
    current.checked_sub(previous)
}

/// Growth of a counter per second over `elapsed`; `None` when the counter
/// went backwards or no time passed.
pub(crate) fn rate_per_sec(previous: u64, current: u64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return None;
    }
    Some(counter_delta(previous, current)? as f64 / secs)
}

/// The shortest wall time keepwatch's own CPU use is measured over. The OS
/// counts a process's CPU time in scheduler ticks (10 ms on Linux), so over the
/// few milliseconds between start and the first collection a single tick reads
/// as hundreds of percent of a core — a false "keepwatch itself used 254%"
/// alarm at start. Over 5 s a tick is at most 0.2%, a tenth of the default
/// 2% limit.
pub(crate) const OWN_CPU_MIN_WINDOW: Duration = Duration::from_secs(5);

/// keepwatch's own CPU use, measured over windows of at least
/// [`OWN_CPU_MIN_WINDOW`]. Asked more often, it answers with the figure of the
/// latest complete window instead of one over a shorter, unreliable span.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct OwnCpuWindow {
    /// Where the current window started: when, and the CPU time then (ms).
    start: Option<(Instant, u64)>,
    /// The figure of the latest complete window.
    latest: Option<f64>,
}

impl OwnCpuWindow {
    /// Takes the process's total CPU time (ms, all cores) read at `now`;
    /// returns its use over the latest complete window, `None` until the
    /// first one is complete.
    pub(crate) fn observe(&mut self, now: Instant, cpu_ms: u64) -> Option<f64> {
        match self.start {
            Some((then, previous_ms)) => {
                let elapsed = now.saturating_duration_since(then);
                if elapsed >= OWN_CPU_MIN_WINDOW {
                    self.latest = percent_of_one_core(previous_ms, cpu_ms, elapsed);
                    self.start = Some((now, cpu_ms));
                } else if cpu_ms < previous_ms {
                    // A counter that went backwards: start a new window.
                    self.start = Some((now, cpu_ms));
                }
            }
            None => self.start = Some((now, cpu_ms)),
        }
        self.latest
    }
}

/// CPU time used (in milliseconds, across all cores) as a share of one core
/// over `elapsed` wall time. Above 100 means more than one core's worth.
pub(crate) fn percent_of_one_core(
    previous_ms: u64,
    current_ms: u64,
    elapsed: Duration,
) -> Option<f64> {
    let wall_ms = elapsed.as_secs_f64() * 1000.0;
    if wall_ms <= 0.0 {
        return None;
    }
    Some(counter_delta(previous_ms, current_ms)? as f64 / wall_ms * 100.0)
}

/// Total and per-core CPU readings. Values outside 0–100 (rounding, a core
/// that went offline) are clamped; non-numbers are dropped.
pub(crate) fn cpu_readings(total: f32, cores: &[f32]) -> Vec<Reading> {
    let clean = |v: f32| v.is_finite().then(|| f64::from(v).clamp(0.0, 100.0));
    let mut readings = Vec::with_capacity(1 + cores.len());
    if let Some(total) = clean(total) {
        readings.push(Reading::host(metric::CPU_USAGE_PERCENT, total));
    }
    for (index, usage) in cores.iter().enumerate() {
        if let Some(usage) = clean(*usage) {
            readings.push(Reading::new(
                metric::CPU_CORE_USAGE_PERCENT,
                index.to_string(),
                usage,
            ));
        }
    }
    readings
}

pub(crate) fn memory_readings(m: &MemoryInfo) -> Vec<Reading> {
    let mut readings = Vec::with_capacity(7);
    if let Some(p) = percent(m.used, m.total) {
        readings.push(Reading::host(metric::MEMORY_USED_PERCENT, p));
    }
    readings.push(Reading::host(metric::MEMORY_USED_BYTES, m.used as f64));
    readings.push(Reading::host(
        metric::MEMORY_AVAILABLE_BYTES,
        m.available as f64,
    ));
    readings.push(Reading::host(metric::MEMORY_TOTAL_BYTES, m.total as f64));
    if let Some(p) = percent(m.swap_used, m.swap_total) {
        readings.push(Reading::host(metric::SWAP_USED_PERCENT, p));
    }
    readings.push(Reading::host(metric::SWAP_USED_BYTES, m.swap_used as f64));
    readings.push(Reading::host(metric::SWAP_TOTAL_BYTES, m.swap_total as f64));
    readings
}

/// Windows has no load average (see `read_load`).
#[cfg(not(target_os = "windows"))]
pub(crate) fn load_readings(one: f64, five: f64, fifteen: f64) -> Vec<Reading> {
    [
        (metric::LOAD_1, one),
        (metric::LOAD_5, five),
        (metric::LOAD_15, fifteen),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_finite() && *v >= 0.0)
    .map(|(name, v)| Reading::host(name, v))
    .collect()
}

/// File systems that hold no user data, or whose "fullness" means nothing
/// (read-only images are always 100% full and would page someone for nothing).
fn is_pseudo_file_system(file_system: &str, mount_point: &str) -> bool {
    const PSEUDO: [&str; 27] = [
        "tmpfs",
        "devtmpfs",
        "ramfs",
        "rootfs",
        "squashfs",
        "erofs",
        "iso9660",
        "udf",
        "proc",
        "sysfs",
        "devfs",
        "devpts",
        "autofs",
        "nsfs",
        "tracefs",
        "debugfs",
        "securityfs",
        "cgroup",
        "cgroup2",
        "efivarfs",
        "bpf",
        "configfs",
        "mqueue",
        "hugetlbfs",
        "pstore",
        "fusectl",
        "nullfs",
    ];
    let fs = file_system.to_ascii_lowercase();
    // Inside a container the overlay root is the disk the admin cares about;
    // elsewhere overlays are container layers repeating a real disk.
    (fs == "overlay" && mount_point != "/")
        || PSEUDO.contains(&fs.as_str())
        // FUSE user-space file systems (sshfs, lxcfs, snapfuse) are remote or
        // virtual; `fuseblk` (e.g. NTFS through ntfs-3g) is a real disk.
        || fs.starts_with("fuse.")
}

fn is_ignored_mount_point(mount_point: &str) -> bool {
    let under = |prefix: &str| {
        mount_point == prefix
            || mount_point
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    under("/proc")
        || under("/sys")
        || under("/dev")
        || under("/snap")
        || (under("/run") && !under("/run/media"))
        // macOS: the sealed system volume's helpers share the Data volume's
        // space; Data is the one that fills up.
        || (under("/System/Volumes") && mount_point != "/System/Volumes/Data")
        || under("/private/var/vm")
}

/// Disk readings per mount point, without pseudo file systems, empty mounts
/// and duplicates: a mount point listed twice counts once (the later mount
/// hides the earlier), and a device mounted at several places (bind mounts)
/// counts once, at its shortest mount point.
pub(crate) fn disk_readings(mounts: &[MountInfo]) -> Vec<Reading> {
    let mut by_mount: HashMap<&str, &MountInfo> = HashMap::new();
    for m in mounts {
        if m.total == 0
            || is_pseudo_file_system(&m.file_system, &m.mount_point)
            || is_ignored_mount_point(&m.mount_point)
        {
            continue;
        }
        by_mount.insert(m.mount_point.as_str(), m);
    }

    let mut by_device: HashMap<&str, &MountInfo> = HashMap::new();
    let mut kept: Vec<&MountInfo> = Vec::new();
    for m in by_mount.into_values() {
        // Only real device paths identify a disk; Windows volume labels and
        // the like may repeat across different disks.
        if !m.device.starts_with("/dev/") {
            kept.push(m);
            continue;
        }
        let shorter = |a: &MountInfo, b: &MountInfo| {
            (a.mount_point.len(), &a.mount_point) < (b.mount_point.len(), &b.mount_point)
        };
        by_device
            .entry(m.device.as_str())
            .and_modify(|seen| {
                if shorter(m, seen) {
                    *seen = m;
                }
            })
            .or_insert(m);
    }
    kept.extend(by_device.into_values());
    kept.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));

    let mut readings = Vec::with_capacity(kept.len() * 3);
    for m in kept {
        let available = m.available.min(m.total);
        if let Some(p) = percent(m.total - available, m.total) {
            readings.push(Reading::new(
                metric::DISK_USED_PERCENT,
                m.mount_point.clone(),
                p,
            ));
        }
        readings.push(Reading::new(
            metric::DISK_FREE_BYTES,
            m.mount_point.clone(),
            available as f64,
        ));
        readings.push(Reading::new(
            metric::DISK_TOTAL_BYTES,
            m.mount_point.clone(),
            m.total as f64,
        ));
    }
    readings
}

/// Loopback traffic never leaves the host; it says nothing about the network.
pub(crate) fn is_loopback(interface: &str) -> bool {
    interface == "lo" || interface == "lo0" || interface.starts_with("Loopback")
}

/// Rates and error counts per interface since the previous reading.
/// Interfaces without a previous reading (new ones) are left out this time;
/// a counter that went backwards leaves out just that value.
pub(crate) fn network_readings(
    previous: &HashMap<String, NetCounters>,
    current: &HashMap<String, NetCounters>,
    elapsed: Duration,
) -> Vec<Reading> {
    let mut names: Vec<&String> = current.keys().filter(|n| !is_loopback(n)).collect();
    names.sort();
    let mut readings = Vec::with_capacity(names.len() * 4);
    for name in names {
        let (Some(then), Some(now)) = (previous.get(name), current.get(name)) else {
            continue;
        };
        let values = [
            (
                metric::NET_RX_BYTES_PER_SEC,
                rate_per_sec(then.rx_bytes, now.rx_bytes, elapsed),
            ),
            (
                metric::NET_TX_BYTES_PER_SEC,
                rate_per_sec(then.tx_bytes, now.tx_bytes, elapsed),
            ),
            (
                metric::NET_RX_ERRORS,
                counter_delta(then.rx_errors, now.rx_errors).map(|d| d as f64),
            ),
            (
                metric::NET_TX_ERRORS,
                counter_delta(then.tx_errors, now.tx_errors).map(|d| d as f64),
            ),
        ];
        for (metric, value) in values {
            if let Some(value) = value {
                readings.push(Reading::new(metric, name.clone(), value));
            }
        }
    }
    readings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(readings: &[Reading], metric: &str, instance: &str) -> Option<f64> {
        readings
            .iter()
            .find(|r| r.metric == metric && r.instance == instance)
            .map(|r| r.value)
    }

    #[test]
    fn counter_delta_handles_growth_standstill_and_reset() {
        assert_eq!(counter_delta(100, 150), Some(50));
        assert_eq!(counter_delta(100, 100), Some(0));
        assert_eq!(counter_delta(150, 100), None, "reset");
        assert_eq!(
            counter_delta(u64::from(u32::MAX) - 5, 10),
            None,
            "32-bit wrap"
        );
        assert_eq!(counter_delta(0, u64::MAX), Some(u64::MAX));
    }

    #[test]
    fn rate_per_sec_divides_by_elapsed_and_refuses_nonsense() {
        let ten = Duration::from_secs(10);
        assert_eq!(rate_per_sec(1_000, 11_000, ten), Some(1_000.0));
        assert_eq!(rate_per_sec(1_000, 1_000, ten), Some(0.0));
        assert_eq!(
            rate_per_sec(0, 500, Duration::from_millis(500)),
            Some(1_000.0)
        );
        assert_eq!(rate_per_sec(1_000, 11_000, Duration::ZERO), None);
        assert_eq!(rate_per_sec(11_000, 1_000, ten), None);
    }

    #[test]
    fn own_cpu_is_a_share_of_one_core() {
        let ten = Duration::from_secs(10);
        assert_eq!(percent_of_one_core(0, 10, ten), Some(0.1));
        assert_eq!(percent_of_one_core(500, 10_500, ten), Some(100.0));
        assert_eq!(percent_of_one_core(0, 20_000, ten), Some(200.0));
        assert_eq!(percent_of_one_core(10, 0, ten), None);
        assert_eq!(percent_of_one_core(0, 10, Duration::ZERO), None);
    }

    #[test]
    fn own_cpu_is_measured_over_a_window_long_enough_for_the_tick_size() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut own = OwnCpuWindow::default();
        assert_eq!(own.observe(at(0), 1_000), None, "nothing to compare with");
        // Start-up: one 10 ms tick 4 ms later is not 250% of a core.
        assert_eq!(own.observe(at(4), 1_010), None);
        assert_eq!(own.observe(at(3_000), 1_020), None);
        // The first complete window: 25 ms of CPU in 5 s.
        assert_eq!(own.observe(at(5_000), 1_025), Some(0.5));
        // Until the next window completes, the latest figure stands.
        assert_eq!(own.observe(at(5_010), 1_035), Some(0.5));
        assert_eq!(own.observe(at(10_000), 1_525), Some(10.0));
        // A counter that went backwards gives no figure and starts over.
        assert_eq!(own.observe(at(15_000), 10), None);
        assert_eq!(own.observe(at(20_000), 60), Some(1.0));
    }

    #[test]
    fn cpu_readings_clamp_and_drop_non_numbers() {
        let r = cpu_readings(42.5, &[10.0, 100.5, f32::NAN, -1.0]);
        assert_eq!(value(&r, metric::CPU_USAGE_PERCENT, ""), Some(42.5));
        assert_eq!(value(&r, metric::CPU_CORE_USAGE_PERCENT, "0"), Some(10.0));
        assert_eq!(value(&r, metric::CPU_CORE_USAGE_PERCENT, "1"), Some(100.0));
        assert_eq!(value(&r, metric::CPU_CORE_USAGE_PERCENT, "2"), None);
        assert_eq!(value(&r, metric::CPU_CORE_USAGE_PERCENT, "3"), Some(0.0));
        assert!(cpu_readings(f32::NAN, &[]).is_empty());
        assert_eq!(
            cpu_readings(5.0, &[]).len(),
            1,
            "no per-core without detail"
        );
    }

    #[test]
    fn memory_readings_without_swap_have_no_swap_percent() {
        let gib = 1 << 30;
        let r = memory_readings(&MemoryInfo {
            total: 8 * gib,
            available: 6 * gib,
            used: 2 * gib,
            swap_total: 0,
            swap_used: 0,
        });
        assert_eq!(value(&r, metric::MEMORY_USED_PERCENT, ""), Some(25.0));
        assert_eq!(
            value(&r, metric::MEMORY_AVAILABLE_BYTES, ""),
            Some((6 * gib) as f64)
        );
        assert_eq!(
            value(&r, metric::MEMORY_TOTAL_BYTES, ""),
            Some((8 * gib) as f64)
        );
        assert_eq!(
            value(&r, metric::MEMORY_USED_BYTES, ""),
            Some((2 * gib) as f64)
        );
        assert_eq!(value(&r, metric::SWAP_USED_PERCENT, ""), None);
        assert_eq!(value(&r, metric::SWAP_TOTAL_BYTES, ""), Some(0.0));
        assert_eq!(value(&r, metric::SWAP_USED_BYTES, ""), Some(0.0));

        let r = memory_readings(&MemoryInfo {
            total: 0,
            available: 0,
            used: 0,
            swap_total: 4 * gib,
            swap_used: gib,
        });
        assert_eq!(value(&r, metric::MEMORY_USED_PERCENT, ""), None);
        assert_eq!(value(&r, metric::SWAP_USED_PERCENT, ""), Some(25.0));
    }

    #[cfg(not(target_os = "windows"))]
    #[test]
    fn load_readings_drop_impossible_values() {
        let r = load_readings(0.5, f64::NAN, -1.0);
        assert_eq!(r, vec![Reading::host(metric::LOAD_1, 0.5)]);
        assert_eq!(load_readings(1.0, 2.0, 3.0).len(), 3);
    }

    fn mount(mount_point: &str, fs: &str, device: &str, total: u64, available: u64) -> MountInfo {
        MountInfo {
            mount_point: mount_point.to_owned(),
            file_system: fs.to_owned(),
            device: device.to_owned(),
            total,
            available,
        }
    }

    #[test]
    fn disk_readings_skip_pseudo_empty_and_duplicate_mounts() {
        let mounts = [
            mount("/", "ext4", "/dev/sda1", 1_000, 250),
            mount("/data", "xfs", "/dev/sdb1", 4_000, 4_000),
            mount("/dev/shm", "tmpfs", "tmpfs", 500, 500),
            mount("/snap/core/1", "squashfs", "/dev/loop0", 100, 0),
            mount(
                "/var/lib/docker/overlay2/x/merged",
                "overlay",
                "overlay",
                1_000,
                250,
            ),
            mount("/mnt/empty", "ext4", "/dev/sdc1", 0, 0),
            mount("/var/lib/lxcfs", "fuse.lxcfs", "lxcfs", 1, 1),
            // bind mount of the root disk: counted once, at "/"
            mount("/srv/www", "ext4", "/dev/sda1", 1_000, 250),
            // the same mount point mounted over: the later one wins
            mount("/backup", "ext4", "/dev/sdd1", 2_000, 1_000),
            mount("/backup", "ext4", "/dev/sde1", 8_000, 2_000),
            mount("/run/user/1000", "ext4", "/dev/sdf1", 10, 5),
            mount("/run/media/usb", "vfat", "/dev/sdg1", 100, 90),
            mount("/media/win", "fuseblk", "/dev/sdh1", 300, 30),
        ];
        let r = disk_readings(&mounts);
        let mut instances: Vec<&str> = r.iter().map(|r| r.instance.as_str()).collect();
        instances.dedup();
        assert_eq!(
            instances,
            ["/", "/backup", "/data", "/media/win", "/run/media/usb"]
        );
        assert_eq!(value(&r, metric::DISK_USED_PERCENT, "/"), Some(75.0));
        assert_eq!(value(&r, metric::DISK_FREE_BYTES, "/"), Some(250.0));
        assert_eq!(value(&r, metric::DISK_TOTAL_BYTES, "/"), Some(1_000.0));
        assert_eq!(value(&r, metric::DISK_USED_PERCENT, "/data"), Some(0.0));
        assert_eq!(
            value(&r, metric::DISK_TOTAL_BYTES, "/backup"),
            Some(8_000.0)
        );
        assert_eq!(value(&r, metric::DISK_USED_PERCENT, "/backup"), Some(75.0));
    }

    #[test]
    fn disk_readings_keep_container_root_and_windows_drives() {
        let mounts = [
            mount("/", "overlay", "overlay", 1_000, 500),
            mount("C:\\", "NTFS", "Local Disk", 2_000, 500),
            mount("D:\\", "NTFS", "Local Disk", 4_000, 4_000),
            // more free than total (quota oddities) must not underflow
            mount("/odd", "zfs", "tank/odd", 100, 150),
        ];
        let r = disk_readings(&mounts);
        assert_eq!(value(&r, metric::DISK_USED_PERCENT, "/"), Some(50.0));
        assert_eq!(value(&r, metric::DISK_USED_PERCENT, "C:\\"), Some(75.0));
        assert_eq!(value(&r, metric::DISK_USED_PERCENT, "D:\\"), Some(0.0));
        assert_eq!(value(&r, metric::DISK_USED_PERCENT, "/odd"), Some(0.0));
        assert_eq!(value(&r, metric::DISK_FREE_BYTES, "/odd"), Some(100.0));
    }

    #[test]
    fn macos_system_helper_volumes_are_skipped_but_data_is_kept() {
        let mounts = [
            mount("/", "apfs", "/dev/disk3s1s1", 1_000, 400),
            mount("/System/Volumes/Data", "apfs", "/dev/disk3s5", 1_000, 400),
            mount("/System/Volumes/VM", "apfs", "/dev/disk3s6", 1_000, 400),
            mount(
                "/System/Volumes/Preboot",
                "apfs",
                "/dev/disk3s2",
                1_000,
                400,
            ),
            mount("/dev", "devfs", "devfs", 1, 0),
        ];
        let r = disk_readings(&mounts);
        let mut instances: Vec<&str> = r.iter().map(|r| r.instance.as_str()).collect();
        instances.dedup();
        assert_eq!(instances, ["/", "/System/Volumes/Data"]);
    }

    #[test]
    fn loopback_interfaces_are_recognised() {
        assert!(is_loopback("lo"));
        assert!(is_loopback("lo0"));
        assert!(is_loopback("Loopback Pseudo-Interface 1"));
        assert!(!is_loopback("eth0"));
        assert!(!is_loopback("lower0"));
    }

    #[test]
    fn network_readings_are_rates_and_error_deltas() {
        let counters = |rx, tx, rxe, txe| NetCounters {
            rx_bytes: rx,
            tx_bytes: tx,
            rx_errors: rxe,
            tx_errors: txe,
        };
        let previous = HashMap::from([
            ("eth0".to_owned(), counters(1_000, 2_000, 3, 0)),
            ("lo".to_owned(), counters(0, 0, 0, 0)),
            ("wlan0".to_owned(), counters(9_000, 100, 0, 0)),
        ]);
        let current = HashMap::from([
            ("eth0".to_owned(), counters(21_000, 4_000, 5, 0)),
            ("lo".to_owned(), counters(1_000, 1_000, 0, 0)),
            // counters reset: received bytes went backwards
            ("wlan0".to_owned(), counters(10, 300, 0, 0)),
            // new interface: nothing to compare with yet
            ("docker0".to_owned(), counters(5, 5, 0, 0)),
        ]);
        let r = network_readings(&previous, &current, Duration::from_secs(10));
        assert_eq!(
            value(&r, metric::NET_RX_BYTES_PER_SEC, "eth0"),
            Some(2_000.0)
        );
        assert_eq!(value(&r, metric::NET_TX_BYTES_PER_SEC, "eth0"), Some(200.0));
        assert_eq!(value(&r, metric::NET_RX_ERRORS, "eth0"), Some(2.0));
        assert_eq!(value(&r, metric::NET_TX_ERRORS, "eth0"), Some(0.0));
        assert!(
            r.iter()
                .all(|r| r.instance != "lo" && r.instance != "docker0")
        );
        assert_eq!(value(&r, metric::NET_RX_BYTES_PER_SEC, "wlan0"), None);
        assert_eq!(value(&r, metric::NET_TX_BYTES_PER_SEC, "wlan0"), Some(20.0));
        assert!(
            network_readings(&previous, &current, Duration::ZERO)
                .iter()
                .all(|r| !r.metric.ends_with("per_sec"))
        );
    }

    /// The real host: values must be plausible, whatever this machine is doing.
    #[test]
    fn system_source_reads_this_host_plausibly() {
        let mut source = SystemSource::new().expect("host metrics readable");
        assert!(source.cpu_count() >= 1);

        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL + Duration::from_millis(100));
        let cpu = source.collect(Family::Cpu, Detail::Full).unwrap();
        let total = value(&cpu, metric::CPU_USAGE_PERCENT, "").expect("cpu after priming");
        assert!((0.0..=100.0).contains(&total), "cpu {total}");
        let cores = cpu
            .iter()
            .filter(|r| r.metric == metric::CPU_CORE_USAGE_PERCENT)
            .count();
        assert_eq!(cores, source.cpu_count());
        let essential = source.collect(Family::Cpu, Detail::Essential).unwrap();
        assert!(
            essential
                .iter()
                .all(|r| r.metric == metric::CPU_USAGE_PERCENT)
        );

        let mem = source.collect(Family::Memory, Detail::Full).unwrap();
        assert!(value(&mem, metric::MEMORY_TOTAL_BYTES, "").unwrap() > 0.0);
        let used = value(&mem, metric::MEMORY_USED_PERCENT, "").unwrap();
        assert!((0.0..=100.0).contains(&used));

        let disks = source.collect(Family::Disk, Detail::Full).unwrap();
        assert!(
            disks
                .iter()
                .any(|r| r.metric == metric::DISK_TOTAL_BYTES && r.value > 0.0),
            "at least one disk: {disks:?}"
        );

        let net = source.collect(Family::Network, Detail::Full).unwrap();
        assert!(net.iter().all(|r| r.value >= 0.0 && r.instance != "lo"));

        let uptime = source.collect(Family::Uptime, Detail::Full).unwrap();
        assert!(value(&uptime, metric::HOST_UPTIME_SECONDS, "").unwrap() > 0.0);

        match source.collect(Family::Load, Detail::Full) {
            Ok(load) => {
                assert_eq!(load.len(), 3);
                assert!(load.iter().all(|r| r.value >= 0.0));
            }
            Err(CollectError::Unsupported { family, os }) => {
                assert_eq!((family, os), (Family::Load, "Windows"));
            }
            Err(e) => panic!("load: {e}"),
        }
    }

    #[test]
    fn own_cpu_is_not_judged_over_a_short_window() {
        let mut source = SystemSource::new().expect("host metrics readable");
        // Burn CPU on two threads for 300 ms: over so short a window the tick
        // size makes any figure meaningless, so none is given.
        let burn = || {
            let start = Instant::now();
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(300) {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        };
        std::thread::scope(|s| {
            s.spawn(burn);
            burn();
        });
        assert_eq!(source.own_cpu_percent(), None);
    }

    #[test]
    fn restarting_own_cpu_forgets_the_figure_and_the_window_so_far() {
        let mut source = SystemSource::new().expect("host metrics readable");
        source.own = OwnCpuWindow {
            start: Some((Instant::now(), 0)),
            latest: Some(300.0),
        };
        assert!(source.own_cpu_percent().is_some());
        source.restart_own_cpu();
        assert_eq!(source.own_cpu_percent(), None, "a new window has begun");
    }
}
