//! A real Prometheus server (Debian's `prometheus` package) in a child
//! process on 127.0.0.1, with a configuration and a data folder of its own,
//! asked through its HTTP query API.
//!
//! Include it with `#[path = "support/prometheus.rs"] mod prometheus;`.
//! Without the `prometheus` program the test is skipped, loudly; with
//! `KEEPWATCH_REQUIRE_SERVICES=1` (as in CI) it fails, saying how to install it.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running Prometheus; dropping it stops it.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    log: PathBuf,
    /// How it was started, to start it again on the same port and data.
    command: Vec<std::ffi::OsString>,
    port: u16,
    _dir: tempfile::TempDir,
}

/// The `prometheus` program, or `None` (after saying so) when the test
/// should be skipped.
pub fn program() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("prometheus"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        let how = "install it with `apt-get install prometheus` (scripts/test-services.sh does)";
        if std::env::var_os("KEEPWATCH_REQUIRE_SERVICES").is_some() {
            panic!("KEEPWATCH_REQUIRE_SERVICES is set and there is no `prometheus` on PATH: {how}");
        }
        eprintln!("SKIPPED: this test needs a real Prometheus and there is none on PATH; {how}");
    }
    found
}

impl Prometheus {
    /// Starts `program` with `config` (YAML) and extra `flags`, and waits until it is ready.
    pub fn start(program: &Path, config: &str, flags: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.path().join("prometheus.log");
        let mut command: Vec<std::ffi::OsString> = vec![
            program.into(),
            format!("--config.file={}", config_path.display()).into(),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()).into(),
            format!("--web.listen-address=127.0.0.1:{port}").into(),
        ];
        command.extend(flags.iter().map(Into::into));
        let child = spawn(&command, &log);
        let prometheus = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            command,
            port,
            _dir: dir,
        };
        prometheus.wait_until_listening();
        prometheus
    }

    /// Waits until `/-/ready` says 200: Prometheus listens before its
    /// database is open, and answers 503 until then.
    fn wait_until_listening(&self) {
        use std::io::{Read, Write};
        let port = self.port;
        self.wait_for("Prometheus to be ready", || {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            stream
                .write_all(b"GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .ok()?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).ok()?;
            (answer.split_whitespace().nth(1) == Some("200")).then_some(())
        });
    }

    /// Stops it as an admin would (SIGTERM: it writes what it holds and
    /// exits), keeping its data for [`Self::restart`].
    pub fn stop(&mut self) {
        // SAFETY: kill(2) on the child's own pid, which has not been reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }

    /// Starts it again after [`Self::stop`], on the same port with the same data.
    pub fn restart(&mut self) {
        self.child = spawn(&self.command, &self.log);
        self.wait_until_listening();
    }

    /// Prometheus's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `found` (at most 60 s) until it gives an answer.
    pub fn wait_for<T>(&self, what: &str, mut found: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(answer) = found() {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; Prometheus's log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The series an instant query of `promql` gives, evaluated now or at
    /// `time` (e.g. `"1700000000.5"`).
    async fn result(
        &self,
        client: &reqwest::Client,
        promql: &str,
        time: Option<String>,
    ) -> Vec<Value> {
        let at = time.map(|t| format!("&time={t}")).unwrap_or_default();
        let text = client
            .get(format!(
                "{}/api/v1/query?query={}{at}",
                self.base,
                encode(promql)
            ))
            .send()
            .await
            .expect("ask Prometheus")
            .text()
            .await
            .expect("Prometheus answers");
        let answer: Value = serde_json::from_str(&text).expect("Prometheus answers JSON");
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The result of an instant query: each series' labels and value.
    pub async fn query(&self, client: &reqwest::Client, promql: &str) -> Vec<(Value, f64)> {
        self.result(client, promql, None)
            .await
            .into_iter()
            .map(|series| (series["metric"].clone(), number(&series["value"][1])))
            .collect()
    }

    /// The raw samples of `selector` over the `range` (e.g. `4h`) before
    /// `at_ms`: each series' labels and its `(milliseconds, value)` pairs.
    pub async fn samples(
        &self,
        client: &reqwest::Client,
        selector: &str,
        range: &str,
        at_ms: i64,
    ) -> Vec<(Value, Vec<(i64, f64)>)> {
        let time = format!("{}.{:03}", at_ms.div_euclid(1000), at_ms.rem_euclid(1000));
        self.result(client, &format!("{selector}[{range}]"), Some(time))
            .await
            .into_iter()
            .map(|series| {
                let values = series["values"]
                    .as_array()
                    .map(|pairs| {
                        pairs
                            .iter()
                            .map(|pair| {
                                let seconds = pair[0].as_f64().unwrap_or(f64::NAN);
                                ((seconds * 1000.0).round() as i64, number(&pair[1]))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (series["metric"].clone(), values)
            })
            .collect()
    }

    /// Polls `promql` (at most 60 s) until it has exactly one series, and gives its value.
    pub async fn one(&self, client: &reqwest::Client, promql: &str) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let [(_, value)] = self.query(client, promql).await[..] {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for one series of {promql}; Prometheus's log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Runs `command` (the program and its arguments) with stderr appended to `log`.
fn spawn(command: &[std::ffi::OsString], log: &Path) -> Child {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start prometheus")
}

/// A sample value as Prometheus writes it (a string), or NaN.
fn number(value: &Value) -> f64 {
    value
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// `text` percent-encoded for a URL's query.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
