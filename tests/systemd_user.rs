//! `keepwatch service` against a real systemd user instance: the unit is
//! written, enabled and started by `systemctl --user`, the agent runs in the
//! unit's own cgroup as an unprivileged user, survives a second install,
//! stops and starts, and `uninstall` removes the unit but keeps the config
//! and data.
//!
//! A container rarely has systemd as PID 1, and `systemd --user` refuses to
//! start where `/run/systemd/system` is missing ("the system has not been
//! booted with systemd") and needs a cgroup it may write. So, as root, the
//! test gives one user instance what it needs and nothing more: a private
//! mount namespace where a tmpfs over `/run/systemd` holds that folder
//! (the machine's `/run` is untouched), and a cgroup of its own delegated
//! to the user (`nobody`), removed at the end. Lingering needs logind on the
//! system bus, which such a machine does not have: install says so, as it
//! would to a user whose administrator forbids it.
//!
//! Where that cannot be done (not root, no systemd, no cgroup2, no
//! `unshare`), the test says SKIPPED and why.

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SYSTEMD: &str = "/lib/systemd/systemd";
/// The unprivileged user the instance and keepwatch run as.
const NOBODY: &str = "65534";

fn skip(why: &str) {
    eprintln!("SKIPPED: no real systemd user instance here: {why}");
}

/// Where the cgroup2 hierarchy is mounted (`/sys/fs/cgroup` or, on a
/// hybrid machine, `/sys/fs/cgroup/unified`).
fn cgroup2_root() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .map(|line| line.split(' ').collect::<Vec<_>>())
        .find(|fields| fields.len() > 2 && fields[2] == "cgroup2")
        .map(|fields| PathBuf::from(fields[1]))
}

fn ran(command: &mut Command) -> Output {
    command.output().expect("run a command")
}

/// A systemd user instance for `nobody`, with a home and a runtime folder
/// of its own; stopped and cleaned up on drop.
struct UserSystemd {
    home: tempfile::TempDir,
    run: PathBuf,
    cgroup: PathBuf,
    manager: Child,
}

impl UserSystemd {
    /// Starts one, or says why it cannot.
    fn start() -> Result<Self, String> {
        let euid = String::from_utf8_lossy(&ran(Command::new("id").arg("-u")).stdout)
            .trim()
            .to_owned();
        if euid != "0" {
            return Err(format!(
                "the test prepares a mount namespace and a cgroup, which needs root (running as uid {euid})"
            ));
        }
        if !Path::new(SYSTEMD).exists() {
            return Err(format!("{SYSTEMD} is not installed"));
        }
        let root = cgroup2_root().ok_or("no cgroup2 hierarchy is mounted")?;
        let home = tempfile::tempdir().expect("temp dir");
        let run = home.path().join("run");
        let cgroup = root.join(format!("keepwatch-test-{}", std::process::id()));
        std::fs::create_dir(&cgroup)
            .map_err(|err| format!("cannot make a cgroup in {}: {err}", root.display()))?;
        std::fs::create_dir(&run).expect("runtime folder");
        for path in [home.path(), cgroup.as_path()] {
            let chown = ran(Command::new("chown")
                .args(["-R", &format!("{NOBODY}:{NOBODY}")])
                .arg(path));
            assert!(chown.status.success(), "chown {}", path.display());
        }
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod");
        // In a mount namespace of its own: the sign of a systemd machine,
        // then into the delegated cgroup, then the manager as nobody.
        let script = r#"set -e
mkdir -p /run/systemd
mount -t tmpfs tmpfs /run/systemd
mkdir /run/systemd/system
echo $$ > "$1/cgroup.procs"
exec setpriv --reuid="$2" --regid="$2" --clear-groups \
  env -i HOME="$3" USER=nobody XDG_RUNTIME_DIR="$4" PATH=/usr/bin:/bin \
  /lib/systemd/systemd --user"#;
        let log = home.path().join("systemd.log");
        let out = std::fs::File::create(&log).expect("log");
        let manager = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
            .arg(&cgroup)
            .arg(NOBODY)
            .arg(home.path())
            .arg(&run)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .map_err(|err| format!("cannot run unshare: {err}"))?;
        let mut instance = Self {
            home,
            run,
            cgroup,
            manager,
        };
        let started = Instant::now();
        while !instance.run.join("systemd/private").exists() {
            let ended = instance.manager.try_wait().ok().flatten();
            if ended.is_some() || started.elapsed() > Duration::from_secs(20) {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!(
                    "systemd --user did not come up ({ended:?}): {}",
                    said.trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(instance)
    }

    /// `program args` as nobody, in this instance's session.
    fn as_user(&self, program: &Path, args: &[&str]) -> Output {
        ran(Command::new("setpriv")
            .args([
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                "--clear-groups",
                "env",
                "-i",
            ])
            .arg(format!("HOME={}", self.home.path().display()))
            .arg("USER=nobody")
            .arg(format!("XDG_RUNTIME_DIR={}", self.run.display()))
            .arg("PATH=/usr/bin:/bin")
            .arg(program)
            .args(args)
            // Whatever it leaves in its working folder stays in the sandbox.
            .current_dir(self.home.path()))
    }

    fn systemctl(&self, args: &[&str]) -> String {
        let mut all = vec!["--user"];
        all.extend_from_slice(args);
        let out = self.as_user(Path::new("systemctl"), &all);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for UserSystemd {
    fn drop(&mut self) {
        // SIGTERM: the manager stops its units, then exits.
        let _ = Command::new("kill")
            .arg(self.manager.id().to_string())
            .status();
        let stopping = Instant::now();
        while self.manager.try_wait().ok().flatten().is_none() {
            if stopping.elapsed() > Duration::from_secs(20) {
                let _ = self.manager.kill();
                let _ = self.manager.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("find")
            .arg(&self.cgroup)
            .args(["-depth", "-type", "d", "-exec", "rmdir", "{}", ";"])
            .status();
    }
}

/// The keepwatch installed in nobody's home, with its config.
struct Keepwatch<'a> {
    systemd: &'a UserSystemd,
    binary: PathBuf,
    config: PathBuf,
}

impl Keepwatch<'_> {
    fn service(&self, action: &str) -> Output {
        let config = self.config.display().to_string();
        self.systemd
            .as_user(&self.binary, &["--config", &config, "service", action])
    }

    fn said(&self, action: &str) -> String {
        let out = self.service(action);
        assert!(
            out.status.success(),
            "service {action}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The agent's process, from its lock file, once it runs (up to 30 s).
    fn agent(&self) -> Option<String> {
        let lock = self.systemd.home.path().join("data/keepwatch.db.lock");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let pid = std::fs::read_to_string(&lock).unwrap_or_default();
            let pid = pid.trim();
            if !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists() {
                return Some(pid.to_owned());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

#[test]
fn keepwatch_runs_as_a_systemd_user_service_without_root() {
    let systemd = match UserSystemd::start() {
        Ok(systemd) => systemd,
        Err(why) => return skip(&why),
    };
    let home = systemd.home.path();
    let binary = home.join("keepwatch");
    std::fs::copy(env!("CARGO_BIN_EXE_keepwatch"), &binary).expect("copy keepwatch");
    let config = home.join("keepwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\nname = \"shop\"\ndata_dir = \"{}\"\n\n[api]\nenabled = false\n",
            home.join("data").display()
        ),
    )
    .expect("config");
    let chown = ran(Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(home));
    assert!(chown.status.success());
    let kw = Keepwatch {
        systemd: &systemd,
        binary,
        config,
    };
    let unit = home.join(".config/systemd/user/keepwatch.service");

    let said = kw.said("install");
    assert!(
        said.starts_with(&format!(
            "keepwatch runs in the background as nobody, from {}. ",
            unit.display()
        )),
        "{said}"
    );
    // No logind here: lingering cannot be turned on, and install says so
    // with the administrator's command.
    assert!(said.contains("loginctl enable-linger"), "{said}");
    assert_eq!(
        systemd.systemctl(&["is-enabled", "keepwatch.service"]),
        "enabled"
    );
    assert_eq!(
        systemd.systemctl(&["is-active", "keepwatch.service"]),
        "active"
    );
    let pid = kw.agent().expect("the agent runs");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("its cgroup");
    assert!(cgroup.contains("/keepwatch.service"), "{cgroup}");
    let owner = ran(Command::new("stat")
        .args(["-c", "%u"])
        .arg(format!("/proc/{pid}")));
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), NOBODY);
    assert_eq!(
        kw.said("status").trim(),
        format!("keepwatch is installed ({}) and running.", unit.display())
    );

    // A second install is safe: the same unit, running again.
    kw.said("install");
    assert_eq!(
        systemd.systemctl(&["is-active", "keepwatch.service"]),
        "active"
    );

    assert_eq!(kw.said("stop").trim(), "keepwatch stopped.");
    assert_eq!(
        systemd.systemctl(&["is-active", "keepwatch.service"]),
        "inactive"
    );
    assert!(
        kw.said("status")
            .contains("but not running (systemd says \"inactive\")")
    );
    assert_eq!(kw.said("start").trim(), "keepwatch started.");
    assert_eq!(
        systemd.systemctl(&["is-active", "keepwatch.service"]),
        "active"
    );
    assert!(kw.agent().is_some());

    let said = kw.said("uninstall");
    assert!(
        said.starts_with("keepwatch no longer runs in the background."),
        "{said}"
    );
    assert!(!unit.exists());
    assert_ne!(
        systemd.systemctl(&["is-active", "keepwatch.service"]),
        "active"
    );
    assert!(kw.config.exists());
    assert!(home.join("data/keepwatch.db").exists());
    let out = kw.service("status");
    assert!(!out.status.success());
}
