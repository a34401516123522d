//! A network between a hub and an agent that a test can cut: two network
//! namespaces joined by a veth pair (`ip netns`, `ip link`, from iproute2;
//! created here, removed when dropped), the hub at 10.77.0.1 and the agent
//! at 10.77.0.2. Where namespaces cannot be made (not root, no iproute2)
//! the test says so loudly and runs over loopback instead, through a proxy
//! in the test that can cut its connections; `KEEPWATCH_REQUIRE_SERVICES=1`
//! (as in CI) makes that a failure, and `KEEPWATCH_HUB_FAULTS_LOOPBACK=1`
//! chooses the proxy on purpose, to try that path on a machine that could
//! make namespaces.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// What each namespace's name starts with: names left behind by a test
/// process that was killed are removed by the next one.
const PREFIX: &str = "kwtest";
/// The hub's port in its namespace.
const HUB_PORT: u16 = 8970;

/// The link between a hub and an agent.
pub enum Network {
    /// Two namespaces and the veth between them.
    Namespaces {
        hub: String,
        agent: String,
        /// The hub's end of the veth pair.
        hub_end: String,
    },
    /// Both on 127.0.0.1, the agent sending through a proxy.
    Loopback { proxy: Proxy, hub_port: u16 },
}

impl Network {
    /// Namespaces where they can be made, else (said loudly) loopback.
    pub fn new() -> Network {
        let why = if std::env::var("KEEPWATCH_HUB_FAULTS_LOOPBACK").as_deref() == Ok("1") {
            "KEEPWATCH_HUB_FAULTS_LOOPBACK=1".to_owned()
        } else {
            match Self::namespaces() {
                Ok(network) => return network,
                Err(why) => why,
            }
        };
        assert!(
            std::env::var("KEEPWATCH_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "KEEPWATCH_REQUIRE_SERVICES=1 and this test needs network namespaces ({why}); run the tests as root with iproute2 installed"
        );
        eprintln!(
            "\n*** NO NETWORK NAMESPACES ({why}): this test runs over loopback, through a proxy that cuts connections, not over a real link; run the tests as root with iproute2 to cover that ***\n"
        );
        let hub_port = free_port();
        Network::Loopback {
            proxy: Proxy::start(hub_port),
            hub_port,
        }
    }

    fn namespaces() -> Result<Network, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        remove_stale();
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let hub = format!("{PREFIX}-{pid}-{n}-hub");
        let agent = format!("{PREFIX}-{pid}-{n}-agent");
        // Interface names have at most 15 characters.
        let hub_end = format!("kwh{}x{n}", pid % 1_000_000);
        let agent_end = format!("kwa{}x{n}", pid % 1_000_000);
        let network = Network::Namespaces {
            hub: hub.clone(),
            agent: agent.clone(),
            hub_end: hub_end.clone(),
        };
        // Dropping `network` on an error removes what was made.
        ip(&["netns", "add", &hub])?;
        ip(&["netns", "add", &agent])?;
        ip(&[
            "-n", &hub, "link", "add", &hub_end, "type", "veth", "peer", "name", &agent_end,
            "netns", &agent,
        ])?;
        for (ns, end, address) in [
            (&hub, &hub_end, "10.77.0.1/30"),
            (&agent, &agent_end, "10.77.0.2/30"),
        ] {
            ip(&["-n", ns, "addr", "add", address, "dev", end])?;
            ip(&["-n", ns, "link", "set", end, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(network)
    }

    /// Where the hub's API listens (`[api] listen`).
    pub fn hub_listen(&self) -> String {
        match self {
            Network::Namespaces { .. } => format!("10.77.0.1:{HUB_PORT}"),
            Network::Loopback { hub_port, .. } => format!("127.0.0.1:{hub_port}"),
        }
    }

    /// The hub's address as the agent reaches it (`[hub] url`).
    pub fn hub_url(&self) -> String {
        match self {
            Network::Namespaces { .. } => format!("http://10.77.0.1:{HUB_PORT}"),
            Network::Loopback { proxy, .. } => format!("http://127.0.0.1:{}", proxy.port),
        }
    }

    /// The namespace the hub runs in (`None` on loopback).
    pub fn hub_netns(&self) -> Option<&str> {
        match self {
            Network::Namespaces { hub, .. } => Some(hub),
            Network::Loopback { .. } => None,
        }
    }

    /// The namespace the agent runs in (`None` on loopback).
    pub fn agent_netns(&self) -> Option<&str> {
        match self {
            Network::Namespaces { agent, .. } => Some(agent),
            Network::Loopback { .. } => None,
        }
    }

    /// Cuts the link: the hub's end of the veth goes down (packets are
    /// dropped, nothing is refused), or the proxy drops every connection.
    pub fn cut(&self) {
        match self {
            Network::Namespaces { hub, hub_end, .. } => {
                ip(&["-n", hub, "link", "set", hub_end, "down"]).expect("cut the link")
            }
            Network::Loopback { proxy, .. } => proxy.cut(),
        }
    }

    /// Restores the link.
    pub fn restore(&self) {
        match self {
            Network::Namespaces { hub, hub_end, .. } => {
                ip(&["-n", hub, "link", "set", hub_end, "up"]).expect("restore the link")
            }
            Network::Loopback { proxy, .. } => proxy.restore(),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Network::Namespaces { hub, agent, .. } = self {
            // Removing a namespace removes its end of the veth, and so both.
            for ns in [hub, agent] {
                let _ = ip(&["netns", "delete", ns]);
            }
        }
    }
}

/// Runs `ip ARGS`; what it said on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("ip cannot be run: {err}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Removes the namespaces of test processes that no longer run.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = ip(&["netns", "delete", name]);
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A TCP proxy on 127.0.0.1 to the hub's port; while cut, it closes every
/// connection it has and each new one at once.
pub struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(to: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let cut = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (is_cut, all) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if is_cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(hub) = TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                if let Err(err) = pipe(client, hub, &all) {
                    eprintln!("proxy: {err}");
                }
            }
        });
        Proxy { port, cut, open }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// Copies both ways between `a` and `b` on threads of their own, keeping
/// both in `open` so a cut can close them.
fn pipe(a: TcpStream, b: TcpStream, open: &Mutex<Vec<TcpStream>>) -> io::Result<()> {
    open.lock()
        .unwrap()
        .extend([a.try_clone()?, b.try_clone()?]);
    for (mut from, mut to) in [(a.try_clone()?, b.try_clone()?), (b, a)] {
        std::thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        });
    }
    Ok(())
}
