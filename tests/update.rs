//! `keepwatch update` for real: a copy of the built keepwatch updates itself
//! from a release made by `scripts/release.sh` and signed with minisign (a
//! key made here), served from a folder and from a loopback web server. Each
//! refusal leaves the installed binary byte for byte as it was.
//!
//! The "new release" is the built binary with its version string raised by
//! one in its last digit (same length, so the binary stays valid): a real
//! keepwatch that answers `--version` with the newer version.

// Unix permissions, shell scripts, tmpfs and the cron fallback.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keepwatch::store::Store;
use keepwatch::vocabulary::state_key;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn platform() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// `VERSION` with its last digit raised by one.
fn newer_version() -> String {
    let mut bytes = VERSION.as_bytes().to_vec();
    let last = bytes.last_mut().expect("a version");
    assert!(
        last.is_ascii_digit() && *last != b'9',
        "this test raises the last digit of {VERSION}; make it raise another part"
    );
    *last += 1;
    String::from_utf8(bytes).expect("ascii")
}

/// A copy of the built keepwatch whose version string says `version`.
fn keepwatch_saying(version: &str, to: &Path) {
    let mut bytes = std::fs::read(env!("CARGO_BIN_EXE_keepwatch")).expect("read keepwatch");
    let (from, into) = (VERSION.as_bytes(), version.as_bytes());
    assert_eq!(from.len(), into.len());
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(into);
            i += from.len();
        } else {
            i += 1;
        }
    }
    std::fs::write(to, bytes).expect("write binary");
    make_executable(to);
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn have_minisign() -> bool {
    let found = Command::new("minisign").arg("-v").output().is_ok();
    if !found {
        let why = "minisign is not installed (apt-get install minisign; scripts/test-services.sh does it)";
        if std::env::var("KEEPWATCH_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("KEEPWATCH_REQUIRE_SERVICES=1 and {why}");
        }
        eprintln!("SKIPPED: {why}");
    }
    found
}

/// A minisign key pair made for the test: the secret key file and the
/// public key's base64 line.
fn key_pair(dir: &Path, name: &str) -> (PathBuf, String) {
    let (secret, public) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    );
    let out = Command::new("minisign")
        .args(["-G", "-W", "-f", "-p"])
        .arg(&public)
        .arg("-s")
        .arg(&secret)
        .output()
        .expect("minisign -G");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&public).expect("public key");
    (secret, text.lines().nth(1).expect("key line").to_owned())
}

/// Signs `file` again (after a test edited it on purpose).
fn sign(key: &Path, file: &Path) {
    let out = Command::new("minisign")
        .args(["-S", "-s"])
        .arg(key)
        .arg("-m")
        .arg(file)
        .output()
        .expect("minisign -S");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `scripts/release.sh` making a release of `version` in `out`.
fn release(key: &Path, out: &Path, version: &str, artefacts: &[(String, &Path)]) {
    let mut command = Command::new("bash");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/release.sh"))
        .arg("--key")
        .arg(key)
        .arg("--out")
        .arg(out)
        .args(["--version", version, "--min-version", "0.0.1"]);
    for (platform, file) in artefacts {
        command
            .arg("--artefact")
            .arg(format!("{platform}={}", file.display()));
    }
    let ran = command.output().expect("release.sh");
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
}

/// Stand-ins for the service managers, first on the PATH: no systemd (so
/// `keepwatch service install` takes its cron fallback, which starts the
/// agent itself, for real) and a `crontab` that keeps the table in the
/// sandbox instead of the machine's.
const SHIMS: [(&str, &str); 2] = [
    (
        "systemctl",
        "#!/bin/sh\necho 'no systemd here' >&2\nexit 1\n",
    ),
    (
        "crontab",
        "#!/bin/sh\ntable=\"$HOME/crontab.txt\"\ncase \"$1\" in\n  -l) [ -f \"$table\" ] && exec cat \"$table\"; echo 'no crontab' >&2; exit 1 ;;\n  -) exec cat > \"$table\" ;;\nesac\nexit 2\n",
    ),
];

/// A keepwatch installed in a folder of its own, with a config naming the
/// release source and key.
struct Installed {
    dir: tempfile::TempDir,
    binary: PathBuf,
    original: Vec<u8>,
}

impl Installed {
    fn new(source: &str, public_key: &str) -> Self {
        Self::in_folder(tempfile::tempdir().expect("temp dir"), source, public_key)
    }

    fn in_folder(dir: tempfile::TempDir, source: &str, public_key: &str) -> Self {
        let binary = dir.path().join("keepwatch");
        std::fs::copy(env!("CARGO_BIN_EXE_keepwatch"), &binary).expect("copy keepwatch");
        let installed = Self {
            original: std::fs::read(&binary).expect("read copy"),
            binary,
            dir,
        };
        installed.configure(source, public_key);
        let shims = installed.dir.path().join("shims");
        std::fs::create_dir_all(&shims).expect("shims folder");
        for (name, text) in SHIMS {
            std::fs::write(shims.join(name), text).expect("shim");
            make_executable(&shims.join(name));
        }
        installed
    }

    fn configure(&self, source: &str, public_key: &str) {
        let text = format!(
            "[agent]\nname = \"shop\"\ndata_dir = \"{}\"\n\n[api]\nenabled = false\n\n[update]\nsource = \"{source}\"\npublic_key = \"{public_key}\"\n",
            self.dir.path().join("data").display()
        );
        std::fs::write(self.dir.path().join("keepwatch.toml"), text).expect("config");
    }

    /// Replaces the stand-in for `name` on the PATH with `script`.
    fn shim(&self, name: &str, script: &str) {
        let path = self.dir.path().join("shims").join(name);
        std::fs::write(&path, script).expect("shim");
        make_executable(&path);
    }

    fn update(&self, args: &[&str]) -> Output {
        self.keepwatch("update", args)
    }

    /// `keepwatch COMMAND ARGS` with this folder's config, home and shims.
    fn keepwatch(&self, command: &str, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.path().join("shims").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(&self.binary)
            .arg("--config")
            .arg(self.dir.path().join("keepwatch.toml"))
            .arg(command)
            .args(args)
            .env("HOME", self.dir.path())
            .env("USER", "shop")
            .env("PATH", path)
            .output()
            .expect("run keepwatch")
    }

    /// Installs the background service (the cron fallback), which starts
    /// the agent now; it is stopped when the test ends.
    fn as_service(&self) -> Service<'_> {
        let said = stdout(&self.keepwatch("service", &["install"]));
        assert!(said.contains("added to your crontab"), "{said}");
        Service(self)
    }

    /// The version the agent last started as, from the store.
    fn agent_version(&self) -> Option<String> {
        let database = self.dir.path().join("data/keepwatch.db");
        let store = Store::open(&database, &Default::default()).ok()?;
        store.state(state_key::VERSION).ok().flatten()
    }

    /// Runs `update`, which must be refused saying `expected`, with the
    /// binary untouched and no staging file left.
    fn refused(&self, expected: &str) {
        let out = self.update(&[]);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "updated: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            said.contains(expected),
            "expected \"{expected}\" in: {said}"
        );
        assert!(said.contains("Nothing was replaced"), "{said}");
        assert!(
            std::fs::read(&self.binary).expect("binary") == self.original,
            "the binary changed after: {said}"
        );
        assert!(!self.dir.path().join("keepwatch.update").exists(), "{said}");
        assert!(!self.dir.path().join("keepwatch.old").exists(), "{said}");
    }
}

/// The background service of an [`Installed`] keepwatch, stopped on drop
/// (a failed test must not leave an agent running).
struct Service<'a>(&'a Installed);

impl Service<'_> {
    fn status(&self) -> String {
        stdout(&self.0.keepwatch("service", &["status"]))
    }
}

impl Drop for Service<'_> {
    fn drop(&mut self) {
        let _ = self.0.keepwatch("service", &["uninstall"]);
    }
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Serves the files of `dir` on 127.0.0.1; the file named `cut` is
/// announced whole but sent only half, then the connection closes.
fn serve(dir: &Path, cut: Option<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
                    break;
                }
            }
            let name = line
                .split(' ')
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let Ok(body) = std::fs::read(dir.join(name)) else {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                continue;
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let send = if cut == Some(name) {
                &body[..body.len() / 2]
            } else {
                &body[..]
            };
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(send);
        }
    });
    format!("http://127.0.0.1:{port}/releases")
}

#[test]
fn a_signed_release_from_a_folder_or_a_web_server_is_installed_and_the_old_binary_kept() {
    if !have_minisign() {
        return;
    }
    let shop = tempfile::tempdir().expect("temp dir");
    let (key, public) = key_pair(shop.path(), "release");
    let new = newer_version();
    let new_binary = shop.path().join("keepwatch-new");
    keepwatch_saying(&new, &new_binary);
    let releases = shop.path().join("releases");
    release(&key, &releases, &new, &[(platform(), &new_binary)]);
    let web = serve(shop.path(), None);

    for source in [releases.display().to_string(), web] {
        let installed = Installed::new(&source, &public);
        let check = stdout(&installed.update(&["--check"]));
        assert_eq!(
            check.trim(),
            format!(
                "keepwatch {new} is published (this one is {VERSION}): `keepwatch update` installs it."
            )
        );
        assert_eq!(
            std::fs::read(&installed.binary).unwrap(),
            installed.original
        );

        let said = stdout(&installed.update(&[]));
        assert!(
            said.starts_with(&format!("keepwatch {VERSION} → {new}: installed at ")),
            "{said}"
        );
        assert!(said.contains("the old binary is kept as "), "{said}");
        assert!(std::fs::read(&installed.binary).unwrap() == std::fs::read(&new_binary).unwrap());
        let old = installed.dir.path().join("keepwatch.old");
        assert!(std::fs::read(&old).unwrap() == installed.original);
        assert!(!installed.dir.path().join("keepwatch.update").exists());

        let again = stdout(&installed.update(&[]));
        assert_eq!(
            again.trim(),
            format!("keepwatch {new} is the latest stable release: nothing to do.")
        );
    }
}

/// A release folder with small stand-in artefacts (they are refused before
/// anything runs them) and the key that signed it.
struct Shop {
    dir: tempfile::TempDir,
    key: PathBuf,
    public: String,
}

impl Shop {
    fn new(version: &str, artefact: &[u8]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (key, public) = key_pair(dir.path(), "release");
        let file = dir.path().join("artefact");
        std::fs::write(&file, artefact).expect("artefact");
        release(
            &key,
            &dir.path().join("releases"),
            version,
            &[(platform(), &file)],
        );
        Self { dir, key, public }
    }

    fn releases(&self) -> PathBuf {
        self.dir.path().join("releases")
    }

    fn manifest(&self) -> PathBuf {
        self.releases().join("stable.toml")
    }

    fn artefact(&self) -> PathBuf {
        self.releases()
            .join(format!("keepwatch-{}-{}", newer_version(), platform()))
    }

    fn install(&self) -> Installed {
        Installed::new(&self.releases().display().to_string(), &self.public)
    }

    /// Rewrites the manifest with `edit` and signs it again.
    fn edit_signed(&self, edit: impl Fn(String) -> String) {
        let text = std::fs::read_to_string(self.manifest()).unwrap();
        std::fs::write(self.manifest(), edit(text)).unwrap();
        sign(&self.key, &self.manifest());
    }
}

#[test]
fn tampered_unsigned_or_foreign_releases_are_refused_with_the_binary_intact() {
    if !have_minisign() {
        return;
    }
    let new = newer_version();

    let shop = Shop::new(&new, b"stand-in");
    std::fs::remove_file(shop.releases().join("stable.toml.minisig")).unwrap();
    shop.install().refused("is not signed (");

    let shop = Shop::new(&new, b"stand-in");
    let text = std::fs::read_to_string(shop.manifest()).unwrap();
    std::fs::write(shop.manifest(), text.replace("size = 8", "size = 9")).unwrap();
    shop.install()
        .refused("the manifest was changed after it was signed");

    let shop = Shop::new(&new, b"stand-in");
    let (_, other) = key_pair(shop.dir.path(), "other");
    Installed::new(&shop.releases().display().to_string(), &other)
        .refused("it is signed with another key than the release key");
    // No key configured: keepwatch's own release key, which did not sign it.
    Installed::new(&shop.releases().display().to_string(), "")
        .refused("it is signed with another key than the release key");
    std::fs::write(
        shop.releases().join("stable.toml.minisig"),
        "not a signature",
    )
    .unwrap();
    shop.install()
        .refused("its signature file is not a minisign signature");

    let shop = Shop::new(&new, b"stand-in");
    std::fs::write(shop.artefact(), b"stand-ix").unwrap();
    shop.install()
        .refused("does not match the signed manifest's SHA-256");
    std::fs::write(shop.artefact(), b"stand-in and more").unwrap();
    shop.install()
        .refused("is longer than the 8 bytes the signed manifest says");
    std::fs::write(shop.artefact(), b"stand").unwrap();
    shop.install()
        .refused("stopped after 5 of 8 bytes (the file ended early)");
    std::fs::remove_file(shop.artefact()).unwrap();
    shop.install().refused("cannot read ");

    let shop = Shop::new("0.0.1", b"stand-in");
    shop.install().refused(&format!(
        "the published release is keepwatch 0.0.1, older than this one ({VERSION})"
    ));

    let shop = Shop::new(&new, b"stand-in");
    shop.edit_signed(|text| {
        text.replace(
            "min_version = \"0.0.1\"",
            &format!("min_version = \"{new}\""),
        )
    });
    shop.install()
        .refused(&format!("updates only from {new} or newer"));

    let shop = Shop::new(&new, b"stand-in");
    shop.edit_signed(|text| text.replace("size = 8", "size = 99999999999999"));
    shop.install()
        .refused("is 99999999999999 bytes; a keepwatch binary is between");
    shop.edit_signed(|text| {
        text.lines()
            .filter(|line| !line.starts_with("sha256"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    shop.install().refused("missing field `sha256`");
    let shop = Shop::new(&new, b"stand-in");
    shop.edit_signed(|text| text.replace(&platform(), "sparc64-plan9"));
    shop.install().refused(&format!(
        "the release has no keepwatch for {} (it has: sparc64-plan9)",
        platform()
    ));

    // A binary for another platform under this platform's name: it cannot run here.
    let shop = Shop::new(&new, b"MZ\x90\x00 a Windows program");
    shop.install()
        .refused("does not pass its smoke test (`--version`): it does not run on this computer");
    // A program that runs but is not the release the manifest names.
    let shop = Shop::new(&new, b"#!/bin/sh\necho keepwatch 9.9.9\n");
    shop.install().refused(&format!(
        "it said \"keepwatch 9.9.9\" (exit status: 0) instead of \"keepwatch {new}\""
    ));

    let installed = Installed::new("", "");
    installed.refused("no release source is set");

    // Signed in minisign's legacy mode (not pre-hashed): refused.
    let shop = Shop::new(&new, b"stand-in");
    let legacy = Command::new("minisign")
        .args(["-S", "-l", "-s"])
        .arg(&shop.key)
        .arg("-m")
        .arg(shop.manifest())
        .output()
        .expect("minisign -S -l");
    assert!(legacy.status.success());
    shop.install()
        .refused("it is signed in minisign's legacy mode");
    // A manifest too big to be one, and a folder where the manifest should be.
    std::fs::write(shop.manifest(), vec![b'#'; 70_000]).unwrap();
    shop.install()
        .refused("it is over 65536 bytes, so it is not a release manifest");
    std::fs::remove_file(shop.manifest()).unwrap();
    std::fs::create_dir(shop.manifest()).unwrap();
    shop.install().refused("cannot read ");

    // A channel that is not a name.
    let shop = Shop::new(&new, b"stand-in");
    let installed = shop.install();
    let out = installed.update(&["--channel", "../etc"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("\"../etc\" is not a release channel name"),
        "{said}"
    );
    assert!(std::fs::read(&installed.binary).unwrap() == installed.original);
}

#[test]
fn an_interrupted_download_or_a_missing_manifest_is_refused() {
    if !have_minisign() {
        return;
    }
    let new = newer_version();
    let shop = Shop::new(&new, b"stand-in, long enough to be cut");
    let name = format!("releases/keepwatch-{new}-{}", platform());
    let cut: &'static str = Box::leak(name.into_boxed_str());
    let web = serve(shop.dir.path(), Some(cut));
    Installed::new(&web, &shop.public).refused("stopped after 15 of 31 bytes");
    let missing = serve(&shop.dir.path().join("nowhere"), None);
    Installed::new(&missing, &shop.public)
        .refused("there is no release manifest at http://127.0.0.1:");
    // The artefact gone from the web server, and a server that is not there.
    std::fs::remove_file(shop.artefact()).unwrap();
    let web = serve(shop.dir.path(), None);
    Installed::new(&web, &shop.public).refused("the server answered 404 Not Found");
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    Installed::new(&format!("http://127.0.0.1:{port}/releases"), &shop.public).refused(&format!(
        "cannot read http://127.0.0.1:{port}/releases/stable.toml: "
    ));
    // A manifest too big to be one, from the web.
    std::fs::write(shop.manifest(), vec![b'#'; 70_000]).unwrap();
    Installed::new(&web, &shop.public)
        .refused("it is over 65536 bytes, so it is not a release manifest");
}

#[test]
fn an_unreadable_source_or_artefact_is_refused_with_the_binary_intact() {
    if !have_minisign() {
        return;
    }
    let new = newer_version();
    let shop = Shop::new(&new, b"stand-in");
    // [update] source names a file, not the folder of releases.
    let file = shop.manifest().display().to_string();
    Installed::new(&file, &shop.public)
        .refused(&format!("cannot read {file}/stable.toml: Not a directory"));
    // A folder where the artefact should be.
    std::fs::remove_file(shop.artefact()).unwrap();
    std::fs::create_dir(shop.artefact()).unwrap();
    shop.install()
        .refused("stopped after 0 of 8 bytes (Is a directory");
    // The manifest names the artefact by a web address nobody answers at.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let address = format!("http://127.0.0.1:{port}/keepwatch");
    shop.edit_signed(|text| {
        text.replace(
            &format!("file = \"keepwatch-{new}-{}\"", platform()),
            &format!("file = \"{address}\""),
        )
    });
    shop.install().refused(&format!("cannot read {address}: "));
}

/// A tmpfs of `size` bytes mounted on a new folder, unmounted on drop.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(size: u64) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let ran = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .ok()?;
        ran.status.success().then_some(Self(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_during_the_download_is_refused_with_the_binary_intact() {
    if !have_minisign() {
        return;
    }
    let size = std::fs::metadata(env!("CARGO_BIN_EXE_keepwatch"))
        .unwrap()
        .len();
    let Some(disk) = SmallDisk::mount(size + 2 * 1024 * 1024) else {
        let why = "cannot mount a small tmpfs (needs root)";
        if std::env::var("KEEPWATCH_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("KEEPWATCH_REQUIRE_SERVICES=1 and {why}");
        }
        eprintln!("SKIPPED: {why}");
        return;
    };
    let new = newer_version();
    let shop = Shop::new(&new, &vec![7u8; 8 * 1024 * 1024]);
    let folder = tempfile::Builder::new().tempdir_in(disk.0.path()).unwrap();
    let installed =
        Installed::in_folder(folder, &shop.releases().display().to_string(), &shop.public);
    installed.refused("is full: the new binary needs 8388608 bytes there");
}

#[test]
fn a_binary_in_a_read_only_folder_is_left_alone() {
    if !have_minisign() {
        return;
    }
    let size = std::fs::metadata(env!("CARGO_BIN_EXE_keepwatch"))
        .unwrap()
        .len();
    let Some(disk) = SmallDisk::mount(size + 1024 * 1024) else {
        let why = "cannot mount a small tmpfs (needs root)";
        if std::env::var("KEEPWATCH_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("KEEPWATCH_REQUIRE_SERVICES=1 and {why}");
        }
        eprintln!("SKIPPED: {why}");
        return;
    };
    let shop = Shop::new(&newer_version(), b"stand-in");
    let folder = tempfile::Builder::new().tempdir_in(disk.0.path()).unwrap();
    let installed =
        Installed::in_folder(folder, &shop.releases().display().to_string(), &shop.public);
    let read_only = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(disk.0.path())
        .output()
        .unwrap();
    assert!(read_only.status.success(), "{read_only:?}");
    installed.refused("keepwatch.update: Read-only file system");
}

/// The blocks of `lang` in the README's "Updating" section.
fn readme_blocks(lang: &str) -> Vec<String> {
    let readme = include_str!("../README.md");
    let section = readme
        .split("\n## Updating\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has a section \"Updating\"");
    section
        .split(&format!("```{lang}\n"))
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_updating_section_says_what_the_binary_says() {
    if !have_minisign() {
        return;
    }
    let shop = tempfile::tempdir().expect("temp dir");
    let (key, public) = key_pair(shop.path(), "release");
    let new = newer_version();
    let new_binary = shop.path().join("keepwatch-new");
    keepwatch_saying(&new, &new_binary);
    let releases = shop.path().join("releases");
    release(&key, &releases, &new, &[(platform(), &new_binary)]);
    let web = serve(shop.path(), None);

    let installed = Installed::new("", "");
    let _service = installed.as_service();
    // The README's [update] block as written; its address becomes the test
    // server's and the test's key is added (the README relies on the built-in one).
    let block = &readme_blocks("toml")[0];
    let config = format!(
        "[agent]\ndata_dir = \"{}\"\n\n[api]\nenabled = false\n\n{}public_key = \"{public}\"\n",
        installed.dir.path().join("data").display(),
        block.replace("https://example.com/keepwatch", &web)
    );
    std::fs::write(installed.dir.path().join("keepwatch.toml"), config).unwrap();
    let as_here = |text: &str| {
        text.replace("0.1.1", "NEW")
            .replace("0.1.0", VERSION)
            .replace("NEW", &new)
            .replace("https://example.com/keepwatch", &web)
            .replace(
                "/home/anna/.local/bin",
                &installed.dir.path().display().to_string(),
            )
    };
    let commands = readme_blocks("sh");
    assert_eq!(
        commands,
        ["keepwatch update --check\n", "keepwatch update\n"]
    );
    let said = readme_blocks("text");

    // A tampered manifest first, so the binary is still the old one.
    let manifest = releases.join("stable.toml");
    let signed = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        signed.replace("min_version = \"0.0.1\"", "min_version = \"0.0.0\""),
    )
    .unwrap();
    let out = installed.update(&[]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), as_here(&said[2]));
    std::fs::write(&manifest, signed).unwrap();

    assert_eq!(stdout(&installed.update(&["--check"])), as_here(&said[0]));
    assert_eq!(stdout(&installed.update(&[])), as_here(&said[1]));
}

/// A new keepwatch that answers `--version` as the manifest says but
/// cannot run: it never shows that it runs.
fn broken_keepwatch(version: &str, to: &Path) {
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'keepwatch {version}'; exit 0; fi\necho 'broken on purpose' >&2\nexit 1\n"
    );
    std::fs::write(to, script).expect("write script");
    make_executable(to);
}

#[test]
fn the_service_restarts_on_the_new_version_or_goes_back_to_the_old_one() {
    if !have_minisign() {
        return;
    }
    let shop = tempfile::tempdir().expect("temp dir");
    let (key, public) = key_pair(shop.path(), "release");
    let new = newer_version();
    let (good, broken) = (shop.path().join("good"), shop.path().join("broken"));
    keepwatch_saying(&new, &good);
    broken_keepwatch(&new, &broken);
    let (fine, bad) = (shop.path().join("fine"), shop.path().join("bad"));
    release(&key, &fine, &new, &[(platform(), &good)]);
    release(&key, &bad, &new, &[(platform(), &broken)]);

    let installed = Installed::new(&fine.display().to_string(), &public);
    let service = installed.as_service();
    let said = stdout(&installed.update(&[]));
    assert!(
        said.ends_with(&format!(
            "\nThe background service was restarted and runs keepwatch {new}.\n"
        )),
        "{said}"
    );
    assert_eq!(installed.agent_version(), Some(new.clone()));
    assert!(service.status().contains("and running (process "));
    drop(service);

    let installed = Installed::new(&bad.display().to_string(), &public);
    let config = installed.dir.path().join("keepwatch.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}health_timeout = \"2s\"\n")).unwrap();
    let service = installed.as_service();
    let out = installed.update(&[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.starts_with(&format!("keepwatch update went back: keepwatch {new} was installed but it did not show that it runs within 2 s of the background service's restart.\n")),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "is keepwatch {VERSION} again and the service was restarted on it."
        )),
        "{said}"
    );
    assert!(std::fs::read(&installed.binary).unwrap() == installed.original);
    assert!(!installed.dir.path().join("keepwatch.old").exists());
    assert!(
        service.status().contains("and running (process "),
        "{}",
        service.status()
    );
    assert_eq!(installed.agent_version(), Some(VERSION.to_owned()));
}

/// What `keepwatch doctor --json` says about releases: level and text.
fn doctor_on_releases(installed: &Installed) -> (String, String) {
    let out = installed.keepwatch("doctor", &["--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor --json");
    let found = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["area"] == "update")
        .cloned()
        .expect("an update finding");
    (
        found["level"].as_str().unwrap_or_default().to_owned(),
        found["text"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn doctor_says_this_keepwatch_is_the_latest_when_the_release_is_this_version() {
    if !have_minisign() {
        return;
    }
    let shop = Shop::new(VERSION, b"stand-in");
    let installed = shop.install();
    assert_eq!(
        doctor_on_releases(&installed),
        (
            "ok".to_owned(),
            format!("keepwatch {VERSION} is the latest stable release")
        )
    );
}

#[test]
fn doctor_says_whether_a_newer_release_is_published_and_refuses_a_tampered_one() {
    if !have_minisign() {
        return;
    }
    let new = newer_version();
    let shop = Shop::new(&new, b"stand-in");
    let installed = shop.install();
    let update_finding = || doctor_on_releases(&installed);
    let published = (
        "warning".to_owned(),
        format!("keepwatch {new} is published (this one is {VERSION})"),
    );
    assert_eq!(update_finding(), published);
    // The release moves to the beta channel: doctor reads the channel
    // [update] names, as `keepwatch update` does.
    let beta = shop.releases().join("beta.toml");
    std::fs::rename(shop.manifest(), &beta).unwrap();
    std::fs::rename(
        shop.releases().join("stable.toml.minisig"),
        shop.releases().join("beta.toml.minisig"),
    )
    .unwrap();
    let (level, said) = update_finding();
    assert_eq!(level, "warning");
    assert!(
        said.starts_with(
            "cannot tell whether a newer release exists: there is no release manifest at "
        ) && said.contains("stable.toml"),
        "{said}"
    );
    let config = installed.dir.path().join("keepwatch.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}channel = \"beta\"\n")).unwrap();
    assert_eq!(update_finding(), published);
    assert_eq!(
        stdout(&installed.update(&["--check"])).trim(),
        format!(
            "keepwatch {new} is published (this one is {VERSION}): `keepwatch update` installs it."
        )
    );
    // `--channel` reads another channel once.
    let out = installed.update(&["--check", "--channel", "stable"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(said.contains("there is no release manifest at "), "{said}");
    assert!(said.contains("stable.toml"), "{said}");
    let text = std::fs::read_to_string(&beta).unwrap();
    std::fs::write(&beta, text.replace("size = 8", "size = 9")).unwrap();
    let (level, said) = update_finding();
    assert_eq!(level, "problem");
    assert!(
        said.contains("the manifest was changed after it was signed"),
        "{said}"
    );
    installed.configure("", "");
    assert_eq!(update_finding().0, "ok");
}

/// A systemd whose user instance answers but cannot start keepwatch's unit
/// (a unit broken since it was installed); `also` runs first at each start.
fn systemd_failing_to_start(also: &str) -> String {
    format!(
        "#!/bin/sh\ncase \"$*\" in\n  *--user\\ start*) {also}\n    echo 'Job for keepwatch.service failed because the control process exited with error code.' >&2; exit 1 ;;\nesac\nexit 0\n"
    )
}

#[test]
fn a_service_that_does_not_start_sends_the_update_back_and_says_what_to_do() {
    if !have_minisign() {
        return;
    }
    let shop = tempfile::tempdir().expect("temp dir");
    let (key, public) = key_pair(shop.path(), "release");
    let new = newer_version();
    let good = shop.path().join("good");
    keepwatch_saying(&new, &good);
    let releases = shop.path().join("releases");
    release(&key, &releases, &new, &[(platform(), &good)]);

    let installed = Installed::new(&releases.display().to_string(), &public);
    let units = installed.dir.path().join(".config/systemd/user");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(units.join("keepwatch.service"), "[Service]\n").unwrap();
    installed.shim("systemctl", &systemd_failing_to_start(""));
    let out = installed.update(&[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.starts_with(&format!(
            "keepwatch update went back: keepwatch {new} was installed but the background service did not start on it (`systemctl --user start keepwatch.service` failed: Job for keepwatch.service failed"
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!("is keepwatch {VERSION} again and restarting the service failed (`systemctl --user start keepwatch.service` failed: Job for keepwatch.service failed")),
        "{said}"
    );
    assert!(
        said.contains("): `keepwatch service start` starts it."),
        "{said}"
    );
    assert!(std::fs::read(&installed.binary).unwrap() == installed.original);

    // keepwatch.old is gone by the time it is needed: the update says so,
    // and how to finish by hand.
    let old = installed.dir.path().join("keepwatch.old");
    installed.shim(
        "systemctl",
        &systemd_failing_to_start(&format!("rm -f '{}';", old.display())),
    );
    let out = installed.update(&[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains(&format!(
            ", and putting keepwatch {VERSION} back failed: {}: No such file or directory",
            old.display()
        )),
        "{said}"
    );
    assert!(
        said.ends_with(&format!(
            "Put {} back in place of {} by hand, then `keepwatch service start`.\n",
            old.display(),
            installed.binary.display()
        )),
        "{said}"
    );
    assert!(std::fs::read(&installed.binary).unwrap() == std::fs::read(&good).unwrap());
}
