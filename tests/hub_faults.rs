//! Several servers on a bad day, on the real binary: a hub and an agent,
//! each `keepwatch run` in a network namespace of its own, joined by a veth
//! pair (tests/support/network.rs; loopback and a proxy, said loudly, where
//! namespaces cannot be made). The link is cut, the hub is killed with
//! SIGKILL while a backlog streams in, the agent is killed while sending,
//! the hub's disk fills up. After each, every sample the agent took up to
//! where the hub says it has it is on the hub exactly once (count, checksum
//! and every point compared with the agent's own store), and
//! `PRAGMA integrity_check` is ok on both files.
//!
//! Waiting for the real processes is polling with a deadline; the day
//! without the hub in simulated time is in tests/hub.rs.

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use keepwatch::checks::CheckOutcome;
use keepwatch::clock::SimClock;

#[path = "support/binary.rs"]
mod binary;
#[path = "support/disk.rs"]
mod disk;
#[path = "support/network.rs"]
mod network;
#[path = "support/remote.rs"]
mod remote;

use binary::{ALWAYS_OPEN, Keepwatch, Running};
use network::Network;
use remote::{Remote, history, integrity, summary};

/// The agent measures every second, so a cut of half a minute leaves a
/// backlog of hundreds of samples.
const AGENT_SETTINGS: &str = "[collect]\ncpu = \"1s\"\nmemory = \"1s\"\nload = \"1s\"\n\
    [throttle]\nenabled = false\n\
    [[service]]\nname = \"shop\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\ninterval = \"2s\"\n";

/// A hub and its agent `web2`, not started yet.
struct Servers {
    network: Network,
    hub: Keepwatch,
    agent: Keepwatch,
    /// The hub's database (on a small disk in one test).
    hub_database: PathBuf,
}

impl Servers {
    /// Sets both up: the hub's API on the link, `keepwatch agent add web2`
    /// on the hub (the real command), its token in the agent's `[hub]`.
    /// `hub_data` puts the hub's data folder there (a small disk).
    fn new(hub_data: Option<&Path>) -> Servers {
        let network = Network::new();
        let hub = Keepwatch::named("hub");
        hub.config(&format!(
            "{ALWAYS_OPEN}[api]\nlisten = \"{}\"\n[hub]\nsilent_after = \"30s\"\n[throttle]\nenabled = false\n",
            network.hub_listen()
        ));
        let hub_database = match hub_data {
            Some(dir) => hub.move_data_to(dir),
            None => hub.database(),
        };
        let added = hub.run(&["agent", "add", "web2", "--url", &network.hub_url()]);
        let said = String::from_utf8_lossy(&added.stdout).into_owned();
        assert!(added.status.success(), "{said}");
        let token = said
            .split_whitespace()
            .skip_while(|word| *word != "--token")
            .nth(1)
            .unwrap_or_else(|| panic!("no token in: {said}"))
            .to_owned();
        assert!(
            said.contains(&format!(
                "keepwatch init --hub {} --token",
                network.hub_url()
            )),
            "{said}"
        );
        let agent = Keepwatch::named("web2");
        agent.config(&format!(
            "[hub]\nurl = \"{}\"\ntoken = \"{token}\"\nsend_every = \"1s\"\n{AGENT_SETTINGS}",
            network.hub_url()
        ));
        Servers {
            network,
            hub,
            agent,
            hub_database,
        }
    }

    fn start_hub(&self) -> Running {
        let mut hub = self.hub.start_in(self.network.hub_netns());
        hub.wait_for("the hub's API", |r| r.log().contains("the API answers on"));
        hub
    }

    fn start_agent(&self) -> Running {
        self.agent.start_in(self.network.agent_netns())
    }

    /// Up to where (the agent's clock) the hub has web2's data: read from
    /// the hub's database while it runs.
    fn delivered_upto(&self) -> Option<Timestamp> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.hub_database,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .ok()?;
        let ms: i64 = conn
            .query_row(
                "SELECT upto_ms FROM remote_agents WHERE name = 'web2'",
                [],
                |row| row.get(0),
            )
            .ok()?;
        Timestamp::from_millisecond(ms).ok()
    }

    /// Waits until the hub has web2's data up to `at` (the agent's clock).
    fn wait_delivered(&self, at: Timestamp, within: Duration, running: &mut [&mut Running]) {
        wait(
            &format!("the hub to have web2's data up to {at}"),
            within,
            running,
            || self.delivered_upto().is_some_and(|upto| upto >= at),
        );
    }

    /// Freezes the hub (SIGSTOP) and waits until an agent's request lies
    /// unread on its socket (`ss`, in the hub's namespace): a batch on
    /// its way that the hub has not stored.
    fn batch_on_its_way(&self, hub: &mut Running, agent: &mut Running) {
        let port = self
            .network
            .hub_listen()
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let filter = format!("( sport = :{port} )");
        let args = ["-Htn", "state", "established", filter.as_str()];
        let unread = || {
            let mut ss = match self.network.hub_netns() {
                Some(netns) => {
                    let mut ss = Command::new("ip");
                    ss.args(["netns", "exec", netns, "ss"]);
                    ss
                }
                None => Command::new("ss"),
            };
            let out = ss.args(args).output().expect("run ss (iproute2)");
            // Each line: Recv-Q Send-Q Local Peer.
            String::from_utf8_lossy(&out.stdout).lines().any(|line| {
                line.split_whitespace()
                    .next()
                    .and_then(|queued| queued.parse::<u64>().ok())
                    .is_some_and(|queued| queued > 0)
            })
        };
        // The agent's next request lands unread within a moment, unless the
        // hub was frozen while it worked on one (the agent then waits for
        // its answer): let it go on for a moment and freeze it again.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            hub.signal("STOP");
            let moment = Instant::now() + Duration::from_secs(5);
            while Instant::now() < moment {
                if unread() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            assert!(
                Instant::now() < deadline,
                "no batch came to wait unread at the frozen hub in 60 s; agent's log:\n{}",
                agent.log()
            );
            hub.signal("CONT");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Both stopped: every sample the agent took up to where the hub has
    /// its data is on the hub once, and both files are sound. Returns
    /// the samples compared.
    fn check_exactly_once(&self) -> usize {
        let upto = self.delivered_upto().expect("the hub has web2's data");
        let on_agent = history(&self.agent.database(), "web2", upto);
        let on_hub = history(&self.hub_database, "web2", Timestamp::MAX);
        let (count, _) = summary(&on_agent);
        assert!(count > 0, "the agent recorded nothing");
        assert_eq!(
            summary(&on_hub),
            summary(&on_agent),
            "(count, checksum) of web2's samples on the hub and on web2 up to {upto}"
        );
        assert_eq!(on_hub, on_agent, "every point as web2 has it");
        for database in [&self.hub_database, &self.agent.database()] {
            assert_eq!(integrity(database), "ok", "{}", database.display());
        }
        count
    }
}

/// Polls `done` every 100 ms for at most `within`, failing with the logs of
/// `running` if one of them exits or time runs out.
fn wait(
    what: &str,
    within: Duration,
    running: &mut [&mut Running],
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    while !done() {
        for r in running.iter_mut() {
            if let Ok(Some(status)) = r.child.try_wait() {
                panic!(
                    "keepwatch exited ({status}) while waiting for {what}; log:\n{}",
                    r.log()
                );
            }
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = running.iter().map(|r| r.log()).collect();
            panic!(
                "timed out after {within:?} waiting for {what}; logs:\n{}",
                logs.join("\n----\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The longest stretch without a CPU sample of web2 on the hub between
/// `from` and `to`.
fn longest_gap(database: &Path, from: Timestamp, to: Timestamp) -> SignedDuration {
    let all = history(database, "web2", to);
    let (_, cpu) = all
        .iter()
        .find(|((metric, instance), _)| metric == "cpu.usage_percent" && instance.is_empty())
        .expect("web2's CPU on the hub");
    let times: Vec<i64> = cpu
        .iter()
        .map(|(at, _)| *at)
        .filter(|at| *at >= from.as_millisecond())
        .collect();
    let gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    SignedDuration::from_millis(gap)
}

#[test]
fn a_cut_link_raises_the_silence_alert_and_loses_or_doubles_nothing() {
    let servers = Servers::new(None);
    let mut hub = servers.start_hub();
    let mut agent = servers.start_agent();
    let began = Timestamp::now();
    servers.wait_delivered(
        began + SignedDuration::from_secs(3),
        Duration::from_secs(30),
        &mut [&mut hub, &mut agent],
    );
    let status = servers.hub.status();
    assert!(status.contains("web2 (agent): reporting"), "{status}");

    servers.network.cut();
    let cut = Timestamp::now();
    // The hub notices after silent_after (30 s).
    wait(
        "the hub's alert that web2 is silent",
        Duration::from_secs(60),
        &mut [&mut hub, &mut agent],
        || servers.hub.status().contains("web2 (agent): SILENT"),
    );
    servers.network.restore();
    let restored = Timestamp::now();
    // The agent tries again within its longest back-off (30 s).
    servers.wait_delivered(
        restored + SignedDuration::from_secs(2),
        Duration::from_secs(60),
        &mut [&mut hub, &mut agent],
    );
    wait(
        "the silence alert to end",
        Duration::from_secs(20),
        &mut [&mut hub, &mut agent],
        || servers.hub.status().contains("web2 (agent): reporting"),
    );
    // (The agent may not have logged a failure: a request on its way when
    // the link went down waits for it, up to its 60 s timeout, and TCP
    // delivers it once the link is back.)
    agent.stop();
    hub.stop();
    let samples = servers.check_exactly_once();
    // No gap where the link was cut: web2 measured every second throughout.
    let gap = longest_gap(&servers.hub_database, began, restored);
    assert!(
        gap <= SignedDuration::from_secs(5),
        "a gap of {gap:#} in web2's CPU on the hub (cut {cut}, restored {restored})"
    );
    let conn = rusqlite::Connection::open(&servers.hub_database).unwrap();
    let (alerts, resolved, title): (i64, i64, String) = conn
        .query_row(
            "SELECT count(*), count(resolved_ms), max(title) FROM alerts WHERE fingerprint = 'agent:web2:silent'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (alerts, resolved),
        (1, 1),
        "one silence alert, ended: {title}"
    );
    assert!(title.starts_with("web2 has not reported for"), "{title}");
    eprintln!(
        "cut for {:.1} s: {samples} samples of web2 on the hub once, no gap over {:.1} s",
        restored.duration_since(cut).as_secs_f64(),
        gap.as_secs_f64()
    );
}

/// Every check of the simulated backlog answers.
fn up(name: &str, _: Timestamp) -> CheckOutcome {
    CheckOutcome::up(format!("{name} answered")).with_response_time(Duration::from_millis(12))
}

/// Leaves `hours` of web2's history unsent in its database, ending now, as
/// an agent cut off from its hub for that long would have.
fn backlog(servers: &Servers, hours: i64) -> Timestamp {
    let from = Timestamp::now() - SignedDuration::from_hours(hours);
    let clock = SimClock::new(from);
    let mut remote = Remote::new(
        &clock,
        "web2",
        "http://10.77.0.1:9",
        "kw_agent_x",
        500_000_000,
    );
    remote.run_for(Timestamp::now().duration_since(from), up);
    remote.stop_into(&servers.agent.database());
    from
}

#[test]
fn the_hub_killed_mid_batch_and_the_agent_killed_mid_send_lose_or_double_nothing() {
    let servers = Servers::new(None);
    let from = backlog(&servers, 12);
    let mut hub = servers.start_hub();
    let mut agent = servers.start_agent();
    // The backlog streams in, an hour a batch. Once the first is stored,
    // the hub is frozen until the next batch waits unread on its socket,
    // and killed with SIGKILL.
    servers.wait_delivered(
        from + SignedDuration::from_mins(1),
        Duration::from_secs(60),
        &mut [&mut hub, &mut agent],
    );
    servers.batch_on_its_way(&mut hub, &mut agent);
    hub.kill();
    let hub_killed_at = servers.delivered_upto().expect("a batch stored");
    let mut hub = servers.start_hub();
    // The agent sends that batch again; once the next is on its way to a
    // frozen hub, the agent is killed with SIGKILL before the hub answers.
    servers.wait_delivered(
        hub_killed_at + SignedDuration::from_millis(1),
        Duration::from_secs(60),
        &mut [&mut hub, &mut agent],
    );
    servers.batch_on_its_way(&mut hub, &mut agent);
    let agent_log = agent.kill();
    hub.signal("CONT");
    let restarted = Timestamp::now();
    let mut agent = servers.start_agent();
    servers.wait_delivered(
        restarted + SignedDuration::from_secs(2),
        Duration::from_secs(90),
        &mut [&mut hub, &mut agent],
    );
    agent.stop();
    hub.stop();
    assert!(
        agent_log.contains("the hub does not take this computer's data now"),
        "the agent saw the hub go: {agent_log}"
    );
    let samples = servers.check_exactly_once();
    assert!(samples > 40_000, "12 hours of web2: {samples} samples");
    eprintln!(
        "hub killed with web2's data up to {hub_killed_at}: {samples} samples on the hub once"
    );
}

#[test]
fn a_full_disk_on_the_hub_delays_delivery_and_loses_or_doubles_nothing() {
    let Some(disk) = disk::SmallDisk::mount("24m") else {
        return;
    };
    let servers = Servers::new(Some(&disk.path().join("data")));
    let from = backlog(&servers, 2);
    let mut hub = servers.start_hub();
    let mut agent = servers.start_agent();
    servers.wait_delivered(
        from + SignedDuration::from_mins(1),
        Duration::from_secs(60),
        &mut [&mut hub, &mut agent],
    );
    let filler = disk.fill();
    let full = Timestamp::now();
    let hub_log = hub.log.clone();
    wait(
        "the hub to say it cannot store web2's batch",
        Duration::from_secs(60),
        &mut [&mut hub, &mut agent],
        || {
            std::fs::read_to_string(&hub_log)
                .unwrap_or_default()
                .contains("could not store a batch from web2")
        },
    );
    let agent_log = agent.log.clone();
    wait(
        "the agent to be told to send it again",
        Duration::from_secs(30),
        &mut [&mut hub, &mut agent],
        || {
            std::fs::read_to_string(&agent_log)
                .unwrap_or_default()
                .contains("the hub could not store the batch")
        },
    );
    // The hub kept running with a full disk; space comes back.
    std::fs::remove_file(&filler).unwrap();
    let freed = Timestamp::now();
    servers.wait_delivered(
        freed + SignedDuration::from_secs(2),
        Duration::from_secs(90),
        &mut [&mut hub, &mut agent],
    );
    agent.stop();
    hub.stop();
    let samples = servers.check_exactly_once();
    eprintln!(
        "the hub's disk full for {:.1} s: {samples} samples of web2 on the hub once",
        freed.duration_since(full).as_secs_f64()
    );
}
