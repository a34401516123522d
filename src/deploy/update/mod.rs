//! `keepwatch update [--check]`: installs a newer release safely.
//!
//! The order is the safety: the manifest's minisign signature is checked
//! before a single field of it is believed ([`manifest`]); its version must
//! be newer than this one and its artefact built for this platform; the
//! artefact is streamed to a staging file beside the binary and refused
//! unless its size and SHA-256 match the signed manifest ([`fetch`]); the
//! staged binary must then answer `--version` with the manifest's version.
//! Only then is the binary swapped ([`install`]): the old one is kept as
//! `keepwatch.old` and the new one renamed into place in one step, so at
//! every moment the binary's path holds a whole keepwatch. Any refusal
//! before that leaves the binary untouched and removes the staging file.
//! Last, the installed background service is restarted on the new binary,
//! which must show that it runs within a minute, or the old binary goes
//! back ([`health`]). With `[update] automatic = true`, `run` does all this
//! by itself once a day outside opening hours ([`automatic`]).

pub mod automatic;
pub mod fetch;
pub mod health;
pub mod install;
pub mod manifest;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minisign_verify::PublicKey;

use crate::clock::Clock;
use crate::config::UpdateConfig;
use fetch::Source;
use manifest::{Artefact, Manifest, Version};

/// Why an update did not happen. Each says what was found and what to do.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// `[update] source` is empty.
    #[error(
        "no release source is set: add source = \"https://…\" (or a folder holding the release files) to the [update] section of keepwatch.toml"
    )]
    NoSource,
    /// `--channel` is not a plain name.
    #[error("\"{0}\" is not a release channel name (letters, digits and dashes, e.g. stable)")]
    BadChannel(String),
    /// `[update] public_key` is not a minisign key.
    #[error(
        "[update] public_key is not a minisign public key: copy the \"RW...\" line of the release key's minisign.pub, or leave it empty for keepwatch's own key"
    )]
    BadKey,
    /// A release file could not be read.
    #[error("cannot read {place}: {why}")]
    Unreachable {
        /// Its address or path.
        place: String,
        /// What went wrong.
        why: String,
    },
    /// There is no manifest.
    #[error("there is no release manifest at {0}: check [update] source (and --channel)")]
    NoManifest(String),
    /// The manifest has no signature beside it.
    #[error(
        "the release manifest {0} is not signed ({0}.minisig is missing): keepwatch installs only signed releases"
    )]
    Unsigned(String),
    /// The signature is not the release key's over this manifest.
    #[error("the release manifest {manifest} is refused: {why}")]
    BadSignature {
        /// Where the manifest is.
        manifest: String,
        /// What is wrong with its signature.
        why: String,
    },
    /// A signed manifest with a field missing or out of bounds.
    #[error("the release manifest {manifest} is refused: {why}")]
    BadManifest {
        /// Where the manifest is.
        manifest: String,
        /// The field and what is wrong with it.
        why: String,
    },
    /// The release is older than this keepwatch.
    #[error(
        "the published release is keepwatch {offered}, older than this one ({running}): keepwatch does not go back to an older version"
    )]
    Downgrade {
        /// The release's version.
        offered: Version,
        /// This keepwatch's.
        running: Version,
    },
    /// This keepwatch is too old to update to the release directly.
    #[error(
        "keepwatch {offered} updates only from {min} or newer, and this one is {running}: install {min} first"
    )]
    TooOld {
        /// The release's version.
        offered: Version,
        /// The oldest version it updates from.
        min: Version,
        /// This keepwatch's.
        running: Version,
    },
    /// The release has no binary for this platform.
    #[error("the release has no keepwatch for {platform} (it has: {})", .offered.join(", "))]
    NoArtefact {
        /// This machine's platform.
        platform: String,
        /// The platforms it has.
        offered: Vec<String>,
    },
    /// The download stopped before the end.
    #[error(
        "the download of {place} stopped after {got} of {size} bytes ({why}): run `keepwatch update` again"
    )]
    Interrupted {
        /// Its address or path.
        place: String,
        /// Bytes received.
        got: u64,
        /// Bytes the manifest says.
        size: u64,
        /// What happened.
        why: String,
    },
    /// The artefact is longer than the manifest says.
    #[error(
        "{place} is longer than the {size} bytes the signed manifest says: it is not the release that was signed"
    )]
    TooBig {
        /// Its address or path.
        place: String,
        /// Bytes the manifest says.
        size: u64,
    },
    /// The artefact's SHA-256 is not the manifest's.
    #[error(
        "{place} does not match the signed manifest's SHA-256 (expected {expected}, got {got}): it was changed or damaged on the way"
    )]
    Checksum {
        /// Its address or path.
        place: String,
        /// The manifest's.
        expected: String,
        /// The file's.
        got: String,
    },
    /// The disk filled up during the download.
    #[error("the disk holding {} is full: the new binary needs {needed} bytes there; free some space and run `keepwatch update` again", .folder.display())]
    DiskFull {
        /// The folder of the binary.
        folder: PathBuf,
        /// The artefact's size.
        needed: u64,
    },
    /// The staged binary does not start or says another version.
    #[error("the downloaded keepwatch does not pass its smoke test (`--version`): {0}")]
    Smoke(String),
    /// A file could not be read, written or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

impl UpdateError {
    /// `place` (an address or a path) could not be read, and why.
    fn unreachable(place: &str, why: impl ToString) -> Self {
        Self::Unreachable {
            place: place.to_owned(),
            why: why.to_string(),
        }
    }
}

/// A verified release for this platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The signed manifest.
    pub manifest: Manifest,
    /// Its artefact for this platform.
    pub artefact: Artefact,
}

/// What the release source offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// Nothing newer than this version.
    Latest(Version),
    /// A newer release.
    Newer(Release),
}

/// Reads releases from one source, trusting one key.
pub struct Updater {
    source: Source,
    key: PublicKey,
    channel: String,
    client: reqwest::Client,
}

impl Updater {
    /// An updater for the `[update]` section and a release channel
    /// (`stable` reads `stable.toml` and `stable.toml.minisig`).
    pub fn new(
        config: &UpdateConfig,
        channel: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, UpdateError> {
        if !crate::config::is_channel_name(channel) {
            return Err(UpdateError::BadChannel(channel.to_owned()));
        }
        let source = Source::parse(&config.source)?;
        let key = manifest::public_key(&config.public_key)?;
        let client = crate::tls::outgoing_client_builder(clock)
            .and_then(|builder| {
                builder
                    .connect_timeout(std::time::Duration::from_secs(10))
                    .read_timeout(std::time::Duration::from_secs(30))
                    .build()
                    .map_err(|err| err.to_string())
            })
            .map_err(|why| UpdateError::unreachable(&config.source, why))?;
        Ok(Self {
            source,
            key,
            channel: channel.to_owned(),
            client,
        })
    }

    /// Reads and verifies the manifest and says whether it offers a newer
    /// release than `running` for this platform.
    pub async fn look(&self, running: Version) -> Result<Offer, UpdateError> {
        let name = format!("{}.toml", self.channel);
        let place = self.source.locate(&name);
        let text = self
            .source
            .read_small(&self.client, &name)
            .await?
            .ok_or_else(|| UpdateError::NoManifest(place.clone()))?;
        let signature = self
            .source
            .read_small(&self.client, &format!("{name}.minisig"))
            .await?
            .ok_or_else(|| UpdateError::Unsigned(place.clone()))?;
        let manifest = manifest::verify(&place, &text, &signature, &self.key)?;
        let offered = manifest.version;
        if offered < running {
            return Err(UpdateError::Downgrade { offered, running });
        }
        if offered == running {
            return Ok(Offer::Latest(running));
        }
        if running < manifest.min_version {
            return Err(UpdateError::TooOld {
                offered,
                min: manifest.min_version,
                running,
            });
        }
        let artefact = manifest.artefact_for(&manifest::this_platform())?.clone();
        Ok(Offer::Newer(Release { manifest, artefact }))
    }

    /// Downloads `release` beside `binary`, verifies it and runs its smoke
    /// test; the staged file's path. Nothing else is touched.
    pub async fn stage(&self, release: &Release, binary: &Path) -> Result<PathBuf, UpdateError> {
        let staging = install::staging_path(binary);
        self.source
            .download(&self.client, &release.artefact, &staging)
            .await?;
        if let Err(err) =
            install::smoke_test(&staging, release.manifest.version, install::SMOKE_TIMEOUT)
        {
            // Best effort: the staging file is ours and failed its test.
            let _ = std::fs::remove_file(&staging);
            return Err(err);
        }
        Ok(staging)
    }
}

/// What `keepwatch update` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The running keepwatch binary, which the update replaces.
    pub binary: PathBuf,
    /// Only say whether a newer release is published.
    pub check: bool,
    /// The release channel.
    pub channel: String,
    /// The database the agent writes, where a new version shows it runs.
    pub database: PathBuf,
}

/// `keepwatch update [--check]`: what happened, in words; a refusal says
/// why and that the binary was left as it was.
pub async fn run(
    config: &UpdateConfig,
    options: &Options,
    service: Option<&dyn health::Service>,
    clock: Arc<dyn Clock>,
) -> Result<String, String> {
    let running = Version::current();
    let refused = |err: UpdateError| {
        format!(
            "keepwatch update refused: {err}.\nNothing was replaced: {} is still keepwatch {running}.",
            options.binary.display()
        )
    };
    let updater = Updater::new(config, &options.channel, clock.clone()).map_err(refused)?;
    let release = match updater.look(running).await.map_err(refused)? {
        Offer::Latest(version) => {
            return Ok(format!(
                "keepwatch {version} is the latest {} release: nothing to do.",
                options.channel
            ));
        }
        Offer::Newer(release) if options.check => {
            return Ok(format!(
                "keepwatch {} is published (this one is {running}): `keepwatch update` installs it.",
                release.manifest.version
            ));
        }
        Offer::Newer(release) => release,
    };
    let staged = updater
        .stage(&release, &options.binary)
        .await
        .map_err(refused)?;
    let old = install::swap(&options.binary, &staged).map_err(refused)?;
    let new = release.manifest.version;
    let binary = options.binary.display();
    let installed = format!(
        "keepwatch {running} → {new}: installed at {binary}; the old binary is kept as {}.",
        old.display()
    );
    let Some(service) = service.filter(|service| service.installed()) else {
        return Ok(format!(
            "{installed}\nkeepwatch is not installed as a background service: the new version runs from the next `keepwatch run`."
        ));
    };
    let since = clock.now();
    let started = service.restart();
    let within = config.health_timeout.std();
    let runs = || health::reports_running(&options.database, new, since);
    if started.is_ok() && health::wait_until(runs, within).await {
        return Ok(format!(
            "{installed}\nThe background service was restarted and runs keepwatch {new}."
        ));
    }
    let why = match started {
        Err(err) => format!("the background service did not start on it ({err})"),
        Ok(()) => format!(
            "it did not show that it runs within {} s of the background service's restart",
            within.as_secs()
        ),
    };
    install::roll_back(&options.binary).map_err(|err| {
        format!(
            "keepwatch {new} was installed but {why}, and putting keepwatch {running} back failed: {err}.\nPut {} back in place of {binary} by hand, then `keepwatch service start`.",
            old.display()
        )
    })?;
    let again = match service.restart() {
        Ok(()) => "the service was restarted on it".to_owned(),
        Err(err) => {
            format!("restarting the service failed ({err}): `keepwatch service start` starts it")
        }
    };
    Err(format!(
        "keepwatch update went back: keepwatch {new} was installed but {why}.\n{binary} is keepwatch {running} again and {again}. `keepwatch service logs` shows what the new version said."
    ))
}
