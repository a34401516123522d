//! What doctor reads from the machine itself: the data folder and database,
//! permission to ping, and the clock.

use std::io;
use std::path::{Path, PathBuf};

use jiff::SignedDuration;

use super::{Area, Finding};
use crate::checks::ping::{PingMethod, Via};
use crate::checks::{CheckSpec, ServiceSpec};
use crate::store::StorageConfig;
use crate::store::Store;
use crate::units::ByteSize;

/// Below this much free space, writes can fail any minute.
const FREE_SPACE_PROBLEM: u64 = 50_000_000;

/// The database counts as near its cap from this share of `max_size` on.
const NEAR_CAP_PERCENT: u64 = 95;

/// The data folder: writable, room on its disk, the database sound and
/// within its cap. `free_space` tells the bytes free on the disk holding a
/// folder (the machine's disks in production, a fixed figure in tests); a
/// reference rather than a generic, so the function is compiled once and
/// coverage counts one copy of it.
pub(super) fn data_folder(
    database: &Path,
    storage: &StorageConfig,
    free_space: &dyn Fn(&Path) -> Option<u64>,
) -> Vec<Finding> {
    let folder = database.parent().unwrap_or(Path::new("."));
    let Some(existing) = folder.ancestors().find(|dir| dir.exists()) else {
        return vec![Finding::problem(
            Area::Data,
            format!("no part of the data folder {} exists", folder.display()),
        )];
    };
    if let Err(err) = probe_writable(existing) {
        return vec![
            Finding::problem(
                Area::Data,
                format!(
                    "keepwatch cannot write its data into {}: {err}",
                    existing.display()
                ),
            )
            .fix(format!(
                "make {} a folder this user can write to, or set `data_dir` in the [agent] section to one",
                folder.display()
            )),
        ];
    }
    let mut findings = vec![if existing == folder {
        Finding::ok(
            Area::Data,
            format!("the data folder {} is writable", folder.display()),
        )
    } else {
        Finding::ok(
            Area::Data,
            format!(
                "the data folder {} will be created at the first start (the place is writable)",
                folder.display()
            ),
        )
    }];
    let size = database_size(database);
    findings.push(disk_space(
        existing,
        free_space(existing),
        size,
        storage.max_size,
    ));
    if database.exists() {
        findings.push(integrity(database));
        findings.push(cap(size, storage.max_size));
    }
    findings
}

fn shown(bytes: u64) -> String {
    crate::plain::bytes(bytes as f64)
}

/// Creates and removes a file in `dir`: the only sure test of writing there.
fn probe_writable(dir: &Path) -> io::Result<()> {
    if !dir.is_dir() {
        return Err(io::Error::other("it is a file, not a folder"));
    }
    let probe = dir.join(format!(".keepwatch-doctor-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// The database with its write-ahead log, as the disk sees it.
fn database_size(database: &Path) -> u64 {
    let mut wal = database.as_os_str().to_owned();
    wal.push("-wal");
    [database.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|file| std::fs::metadata(file).ok())
        .map(|meta| meta.len())
        .sum()
}

fn disk_space(folder: &Path, free: Option<u64>, size: u64, max_size: ByteSize) -> Finding {
    let Some(free) = free else {
        return Finding::warning(
            Area::Data,
            format!(
                "cannot tell how much space is free on the disk of {}",
                folder.display()
            ),
        );
    };
    let room = max_size.0.saturating_sub(size);
    if free < FREE_SPACE_PROBLEM {
        Finding::problem(
            Area::Data,
            format!(
                "only {} free on the disk of {}: keepwatch's writes may fail soon",
                shown(free),
                folder.display()
            ),
        )
        .fix("free some space on that disk, or move `data_dir` to a disk with room")
    } else if free < room {
        Finding::warning(
            Area::Data,
            format!(
                "{} free on the disk of {}, less than the {} the database may still grow by (`max_size` = {})",
                shown(free),
                folder.display(),
                shown(room),
                max_size
            ),
        )
        .fix(format!(
            "lower `max_size` in [storage] to at most {}, or free space on that disk",
            ByteSize(free.saturating_add(size) / 2 / 1_000_000 * 1_000_000)
        ))
    } else {
        Finding::ok(
            Area::Data,
            format!("{} free on the disk of {}", shown(free), folder.display()),
        )
    }
}

fn integrity(database: &Path) -> Finding {
    match Store::quick_check(database) {
        Ok(errors) if errors.is_empty() => Finding::ok(
            Area::Data,
            format!(
                "the database {} passed its integrity check",
                database.display()
            ),
        ),
        Ok(errors) => Finding::problem(
            Area::Data,
            format!(
                "the database {} is damaged: {}",
                database.display(),
                errors.join("; ")
            ),
        )
        .fix("at its next start keepwatch moves the file aside and starts a new one, copying over what can still be read; restart it (`keepwatch run`), and check the disk, which may be failing (e.g. `smartctl -a`)"),
        Err(err) => Finding::problem(Area::Data, err.to_string()),
    }
}

fn cap(size: u64, max_size: ByteSize) -> Finding {
    let percent = size.saturating_mul(100) / max_size.0.max(1);
    let text = format!(
        "the database uses {} of its {} (`max_size`)",
        shown(size),
        max_size
    );
    if percent >= NEAR_CAP_PERCENT {
        Finding::warning(
            Area::Data,
            format!("{text}: the oldest history is being thinned out to stay under it"),
        )
        .fix("raise `max_size` in [storage] to keep more history, or lower `retention`")
    } else {
        Finding::ok(Area::Data, text)
    }
}

/// The bytes free on the disk holding `folder`: the mount with the longest
/// path that contains it.
pub(super) fn free_space(folder: &Path) -> Option<u64> {
    let folder = folder.canonicalize().ok()?;
    let disks = sysinfo::Disks::new_with_refreshed_list().ok()?;
    disks
        .iter()
        .filter(|disk| folder.starts_with(disk.mount_point()))
        .max_by_key(|disk| disk.mount_point().as_os_str().len())
        .map(sysinfo::Disk::available_space)
}

/// What the fix for ping permission depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PingContext {
    /// `net.ipv4.ping_group_range` as the kernel has it (Linux only).
    pub group_range: Option<String>,
    /// The group this process runs as (Unix only).
    pub group: Option<u32>,
    /// The keepwatch binary, for `setcap`.
    pub binary: Option<PathBuf>,
}

impl PingContext {
    /// This process on this machine.
    pub fn of_this_process() -> Self {
        Self {
            group_range: std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
                .ok()
                .map(|range| range.split_whitespace().collect::<Vec<_>>().join(" ")),
            group: process_group(),
            binary: std::env::current_exe().ok(),
        }
    }
}

#[cfg(unix)]
fn process_group() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").ok().map(|meta| meta.gid())
}

#[cfg(not(unix))]
fn process_group() -> Option<u32> {
    None
}

/// Whether ping checks can use ICMP, and if not, exactly what would allow it.
pub(super) fn ping(
    access: &io::Result<Via>,
    services: &[ServiceSpec],
    context: &PingContext,
) -> Finding {
    let pings: Vec<(&str, Option<u16>)> = services
        .iter()
        .filter_map(|spec| match &spec.check {
            CheckSpec::Ping(ping) if ping.method != PingMethod::Tcp => {
                Some((spec.common.name.as_str(), ping.fallback_port))
            }
            _ => None,
        })
        .collect();
    let refused = match access {
        Ok(via) => {
            return Finding::ok(Area::Ping, format!("this user may send pings ({via})"));
        }
        Err(err) => err,
    };
    let how = permission_fix(context);
    let stranded: Vec<&str> = pings
        .iter()
        .filter(|(_, fallback)| fallback.is_none())
        .map(|(name, _)| *name)
        .collect();
    if !stranded.is_empty() {
        Finding::problem(
            Area::Ping,
            format!(
                "this computer does not let keepwatch send pings ({refused}), so {} cannot be checked",
                stranded.join(", ")
            ),
        )
        .fix(format!(
            "{how}; or give each of them a `fallback_port` (e.g. 22 or 443) to check the host with a TCP connection"
        ))
    } else if pings.is_empty() {
        Finding::ok(
            Area::Ping,
            format!(
                "no ping checks are configured; this user may not send pings ({refused}), so a ping check would need this: {how}"
            ),
        )
    } else {
        Finding::warning(
            Area::Ping,
            format!(
                "this computer does not let keepwatch send pings ({refused}): the ping checks use their `fallback_port` (a TCP connection) instead"
            ),
        )
        .fix(how)
    }
}

/// The exact setting that lets this user ping, as the administrator types it.
fn permission_fix(context: &PingContext) -> String {
    let binary = context.binary.as_ref().map_or_else(
        || "the keepwatch binary".to_owned(),
        |b| b.display().to_string(),
    );
    match &context.group_range {
        Some(range) => {
            let group = context
                .group
                .map_or_else(String::new, |g| format!(" (keepwatch runs as group {g})"));
            format!(
                "the kernel allows unprivileged ping to groups \"{range}\"{group}; an administrator can allow it with `sudo sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` (and keep it after a restart with `echo 'net.ipv4.ping_group_range = 0 2147483647' | sudo tee /etc/sysctl.d/60-keepwatch-ping.conf`), or give keepwatch alone the right with `sudo setcap cap_net_raw+ep {binary}` (to repeat after each update)"
            )
        }
        None => format!(
            "this system refuses ICMP sockets to this user; an administrator would have to grant keepwatch ({binary}) the right to open raw sockets"
        ),
    }
}

/// How to have the clock set itself, on each system.
const SET_TIME: &str = "turn on automatic time (NTP) on this computer: `timedatectl set-ntp true` on Linux, \"Set time automatically\" on Windows and macOS";

/// Beyond this, times in messages and certificate checks go wrong enough to notice.
const CLOCK_WARNING: SignedDuration = SignedDuration::from_secs(60);
/// Beyond this, opening hours and certificate validity are judged wrongly.
const CLOCK_PROBLEM: SignedDuration = SignedDuration::from_mins(5);

/// This computer's clock against the first configured web service that
/// answered doctor's check with its time (`reading`: the service's name and
/// how far this clock was ahead of it).
pub(super) fn clock(reading: Option<(&str, SignedDuration)>) -> Finding {
    match reading {
        Some((service, ahead)) => clock_offset(service, ahead),
        None => Finding::ok(
            Area::Clock,
            "not compared: no configured web service answered with its time",
        ),
    }
}

fn clock_offset(service: &str, offset: SignedDuration) -> Finding {
    let words = crate::plain::duration(offset.abs().as_secs_f64());
    let direction = if offset.is_negative() {
        "behind"
    } else {
        "ahead of"
    };
    let text = format!("this computer's clock is {words} {direction} the time {service} gives");
    if offset.abs() > CLOCK_PROBLEM {
        Finding::problem(
            Area::Clock,
            format!(
                "{text}: opening hours, message times and certificate checks are off by as much"
            ),
        )
        .fix(SET_TIME)
    } else if offset.abs() > CLOCK_WARNING {
        Finding::warning(Area::Clock, text).fix(SET_TIME)
    } else {
        Finding::ok(
            Area::Clock,
            format!("this computer's clock agrees with {service} (within a minute)"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::ServiceSpec;
    use crate::config::Config;
    use crate::deploy::doctor::Level;

    fn services(toml: &str) -> Vec<ServiceSpec> {
        toml::from_str::<Config>(toml).unwrap().services
    }

    fn levels(findings: &[Finding]) -> Vec<Level> {
        findings.iter().map(|f| f.level).collect()
    }

    const PLENTY: Option<u64> = Some(100_000_000_000);

    #[test]
    fn a_missing_data_folder_in_a_writable_place_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("new").join("keepwatch.db");
        let findings = data_folder(&database, &StorageConfig::default(), &|_| PLENTY);
        assert_eq!(levels(&findings), [Level::Ok, Level::Ok]);
        assert!(findings[0].text.contains("will be created"), "{findings:?}");
    }

    #[test]
    fn a_data_folder_of_which_no_part_exists_is_a_problem() {
        let findings = data_folder(
            Path::new("no-such-folder-here/data/keepwatch.db"),
            &StorageConfig::default(),
            &|_| PLENTY,
        );
        assert_eq!(levels(&findings), [Level::Problem]);
        assert_eq!(
            findings[0].text,
            "no part of the data folder no-such-folder-here/data exists"
        );
    }

    #[test]
    fn a_data_folder_that_is_a_file_is_a_problem_with_the_setting_to_change() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("data");
        std::fs::write(&blocker, "").unwrap();
        let findings = data_folder(
            &blocker.join("keepwatch.db"),
            &StorageConfig::default(),
            &|_| PLENTY,
        );
        assert_eq!(levels(&findings), [Level::Problem]);
        assert!(findings[0].text.contains("it is a file"), "{findings:?}");
        assert!(findings[0].fix.as_ref().unwrap().contains("data_dir"));
    }

    #[test]
    fn little_free_space_is_a_problem_and_less_than_the_cap_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("keepwatch.db");
        let storage = StorageConfig::default();
        let tight = data_folder(&database, &storage, &|_| Some(10_000_000));
        assert_eq!(tight[1].level, Level::Problem, "{tight:?}");
        assert!(tight[1].text.contains("10 MB free"), "{tight:?}");
        let short = data_folder(&database, &storage, &|_| Some(200_000_000));
        assert_eq!(short[1].level, Level::Warning, "{short:?}");
        assert!(
            short[1].fix.as_ref().unwrap().contains("max_size"),
            "{short:?}"
        );
        let unknown = data_folder(&database, &storage, &|_| None);
        assert_eq!(unknown[1].level, Level::Warning);
    }

    #[test]
    fn the_real_free_space_of_a_folder_is_found() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_space(dir.path()).is_some_and(|free| free > 0));
        assert_eq!(free_space(&dir.path().join("missing")), None);
    }

    #[test]
    fn a_sound_database_passes_and_a_damaged_one_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("keepwatch.db");
        let storage = StorageConfig::default();
        let mut store = Store::open(&database, &storage).unwrap();
        for i in 0..2000 {
            store
                .record_event(
                    "2026-11-23T10:00:00Z".parse().unwrap(),
                    "test",
                    &format!("event {i} {}", "x".repeat(200)),
                )
                .unwrap();
        }
        drop(store);
        let findings = data_folder(&database, &storage, &|_| PLENTY);
        assert_eq!(levels(&findings), [Level::Ok; 4], "{findings:?}");
        assert!(findings[2].text.contains("passed its integrity check"));

        // Overwrite pages in the middle of the file, as a failing disk would.
        let mut bytes = std::fs::read(&database).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle..middle + 8192].fill(0x5a);
        std::fs::write(&database, bytes).unwrap();
        let findings = data_folder(&database, &storage, &|_| PLENTY);
        assert_eq!(findings[2].level, Level::Problem, "{findings:?}");
        assert!(findings[2].text.contains("is damaged"), "{findings:?}");
        assert!(
            findings[2]
                .fix
                .as_ref()
                .unwrap()
                .contains("moves the file aside")
        );
    }

    #[test]
    fn a_file_that_is_no_database_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("keepwatch.db");
        std::fs::write(&database, "not a database, just text ".repeat(100)).unwrap();
        let findings = data_folder(&database, &StorageConfig::default(), &|_| PLENTY);
        assert_eq!(findings[2].level, Level::Problem, "{findings:?}");
        assert!(findings[2].text.contains("not a"), "{findings:?}");
    }

    #[test]
    fn a_database_near_its_cap_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("keepwatch.db");
        let storage = StorageConfig {
            max_size: ByteSize(20_000),
            ..StorageConfig::default()
        };
        drop(Store::open(&database, &storage).unwrap());
        let findings = data_folder(&database, &storage, &|_| PLENTY);
        assert_eq!(findings[3].level, Level::Warning, "{findings:?}");
        assert!(findings[3].text.contains("of its 20KB"), "{findings:?}");
    }

    fn linux_context() -> PingContext {
        PingContext {
            group_range: Some("1 0".to_owned()),
            group: Some(1000),
            binary: Some(PathBuf::from("/home/me/.local/bin/keepwatch")),
        }
    }

    fn refused() -> io::Result<Via> {
        Err(io::Error::from(io::ErrorKind::PermissionDenied))
    }

    #[test]
    fn refused_ping_without_a_fallback_is_a_problem_with_the_exact_commands() {
        let specs = services(
            "[[service]]\nname = \"Router\"\ntype = \"ping\"\nhost = \"192.0.2.1\"\n[[service]]\nname = \"NAS\"\ntype = \"ping\"\nhost = \"192.0.2.2\"\nfallback_port = 22\n",
        );
        let finding = ping(&refused(), &specs, &linux_context());
        assert_eq!(finding.level, Level::Problem);
        assert!(
            finding.text.contains("so Router cannot be checked"),
            "{finding:?}"
        );
        let fix = finding.fix.unwrap();
        assert!(
            fix.contains("groups \"1 0\" (keepwatch runs as group 1000)"),
            "{fix}"
        );
        assert!(
            fix.contains("`sudo sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`"),
            "{fix}"
        );
        assert!(
            fix.contains("`sudo setcap cap_net_raw+ep /home/me/.local/bin/keepwatch`"),
            "{fix}"
        );
        assert!(fix.contains("fallback_port"), "{fix}");
    }

    #[test]
    fn refused_ping_with_fallbacks_is_a_warning_and_without_pings_fine() {
        let specs = services(
            "[[service]]\nname = \"NAS\"\ntype = \"ping\"\nhost = \"192.0.2.2\"\nfallback_port = 22\n",
        );
        let finding = ping(&refused(), &specs, &linux_context());
        assert_eq!(finding.level, Level::Warning, "{finding:?}");
        let none = ping(
            &refused(),
            &[],
            &PingContext {
                group_range: None,
                group: None,
                binary: None,
            },
        );
        assert_eq!(none.level, Level::Ok, "{none:?}");
        assert!(none.text.contains("the keepwatch binary"), "{none:?}");
    }

    #[test]
    fn ping_on_this_machine_is_judged_from_a_real_socket() {
        let finding = ping(
            &crate::checks::ping::icmp_access(),
            &services("[[service]]\nname = \"Router\"\ntype = \"ping\"\nhost = \"127.0.0.1\"\n"),
            &PingContext::of_this_process(),
        );
        match crate::checks::ping::icmp_access() {
            Ok(_) => assert_eq!(finding.level, Level::Ok, "{finding:?}"),
            Err(_) => assert_eq!(finding.level, Level::Problem, "{finding:?}"),
        }
    }

    #[test]
    fn the_clock_offset_is_judged_in_steps() {
        let ok = clock(Some(("Shop", SignedDuration::from_secs(20))));
        assert_eq!(ok.level, Level::Ok);
        assert_eq!(
            ok.text,
            "this computer's clock agrees with Shop (within a minute)"
        );
        let warning = clock(Some(("Shop", SignedDuration::from_mins(-2))));
        assert_eq!(warning.level, Level::Warning, "{warning:?}");
        assert!(
            warning
                .text
                .contains("2 minutes behind the time Shop gives"),
            "{warning:?}"
        );
        let problem = clock(Some(("Shop", SignedDuration::from_mins(10))));
        assert_eq!(problem.level, Level::Problem, "{problem:?}");
        assert!(problem.text.contains("10 minutes ahead of"), "{problem:?}");
        assert!(problem.fix.unwrap().contains("timedatectl set-ntp true"));
        let none = clock(None);
        assert_eq!(none.level, Level::Ok);
        assert!(none.text.starts_with("not compared"), "{none:?}");
    }
}
