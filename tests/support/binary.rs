//! The real keepwatch binary in a sandbox of its own: a home folder, a
//! config file, a data folder, the log of `keepwatch run`, signals, and tiny
//! servers on 127.0.0.1 for it to watch.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A sandbox with its own home, config file and data folder.
pub struct Keepwatch {
    dir: tempfile::TempDir,
    /// `[agent] name`: the host's name in its history and messages.
    name: String,
}

impl Keepwatch {
    pub fn new() -> Self {
        Self::named("testhost")
    }

    /// A sandbox whose keepwatch calls its computer `name`.
    pub fn named(name: &str) -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            name: name.to_owned(),
        }
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// The database `keepwatch run` keeps its history in.
    pub fn database(&self) -> PathBuf {
        self.home().join("data").join("keepwatch.db")
    }

    pub fn config_path(&self) -> PathBuf {
        self.home().join("keepwatch.toml")
    }

    /// Writes `keepwatch.toml`; the data folder is always inside the sandbox.
    /// Unless `text` has an `[api]` section of its own, the API is switched
    /// off (after `text`, so line numbers in errors stay where they were):
    /// its default port is fixed, and tests running side by side would
    /// take it from each other.
    pub fn config(&self, text: &str) -> &Self {
        let data = self.home().join("data");
        let api = if text.contains("[api]") {
            ""
        } else {
            "\n[api]\nenabled = false\n"
        };
        let full = format!(
            "[agent]\nname = \"{}\"\ndata_dir = \"{}\"\n{text}{api}",
            self.name,
            data.display()
        );
        std::fs::write(self.config_path(), full).expect("write config");
        self
    }

    /// Moves the data folder named in `keepwatch.toml` (written first) to
    /// `dir` (a small disk); the database's path there.
    pub fn move_data_to(&self, dir: &Path) -> PathBuf {
        let text = std::fs::read_to_string(self.config_path()).expect("read config");
        let text = text.replacen(
            &format!("data_dir = \"{}\"", self.home().join("data").display()),
            &format!("data_dir = \"{}\"", dir.display()),
            1,
        );
        std::fs::write(self.config_path(), text).expect("write config");
        dir.join("keepwatch.db")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_in(None, args)
    }

    /// The command run in the network namespace `netns` (`ip netns exec`,
    /// which becomes keepwatch itself: its process is keepwatch's).
    pub fn command_in(&self, netns: Option<&str>, args: &[&str]) -> Command {
        let binary = env!("CARGO_BIN_EXE_keepwatch");
        let mut command = match netns {
            Some(netns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", netns, binary]);
                command
            }
            None => Command::new(binary),
        };
        command
            .args(args)
            .current_dir(self.home())
            .env_clear()
            .env("HOME", self.home())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TZ", "UTC");
        // Under a coverage run the instrumented binary writes its counters
        // where this names; cleared, they would land in the sandbox and be
        // lost, and the code these tests drive would count as never run.
        if let Some(profile) = std::env::var_os("LLVM_PROFILE_FILE") {
            command.env("LLVM_PROFILE_FILE", profile);
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run keepwatch")
    }

    pub fn status(&self) -> String {
        let out = self.run(&["status"]);
        assert!(
            out.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `keepwatch run` with what it prints (its start summary) and
    /// its log going to `log.txt`, as a background service keeps both.
    pub fn start(&self) -> Running {
        self.start_in(None)
    }

    /// Starts `keepwatch run` in the network namespace `netns`.
    pub fn start_in(&self, netns: Option<&str>) -> Running {
        let log = self.home().join("log.txt");
        let file = std::fs::File::create(&log).expect("log file");
        let child = self
            .command_in(netns, &["run"])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("start keepwatch run");
        Running { child, log }
    }
}

pub struct Running {
    pub child: Child,
    pub log: PathBuf,
}

impl Running {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "could not send {name}");
    }

    /// Waits (polling, at most 30 s) until `check` holds.
    pub fn wait_for(&mut self, what: &str, check: impl FnMut(&mut Self) -> bool) {
        self.wait_within(what, Duration::from_secs(30), check);
    }

    /// Waits (polling, at most `within`) until `check` holds.
    pub fn wait_within(
        &mut self,
        what: &str,
        within: Duration,
        mut check: impl FnMut(&mut Self) -> bool,
    ) {
        let deadline = Instant::now() + within;
        while !check(self) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "keepwatch exited ({status}) while waiting for {what}; log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ends keepwatch with SIGKILL, as a power cut or the OOM killer
    /// would: nothing is saved.
    pub fn kill(mut self) -> String {
        self.signal("KILL");
        let _ = self.child.wait();
        self.log()
    }

    pub fn stop(mut self) -> String {
        self.signal("TERM");
        let status = self.child.wait().expect("wait");
        let log = self.log();
        assert!(
            status.success(),
            "keepwatch did not stop cleanly ({status}); log:\n{log}"
        );
        log
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny web server on 127.0.0.1 that answers every request with `200 ok`.
pub fn web_server() -> u16 {
    web_server_with(String::new())
}

/// Like [`web_server`], with extra header lines (each ending in `\r\n`) in every answer.
pub fn web_server_with(headers: String) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\n{headers}Content-Length: 2\r\nConnection: close\r\n\r\nok"
            );
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    port
}

/// A port on 127.0.0.1 where nothing listens.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Open around the clock, so a test's alerts go out whatever time it runs.
pub const ALWAYS_OPEN: &str = "[business.hours]\nmonday = \"00:00-24:00\"\ntuesday = \"00:00-24:00\"\n\
    wednesday = \"00:00-24:00\"\nthursday = \"00:00-24:00\"\nfriday = \"00:00-24:00\"\n\
    saturday = \"00:00-24:00\"\nsunday = \"00:00-24:00\"\n";
