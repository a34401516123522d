//! The release manifest: which version is published, and for each platform
//! the file to download with its size and SHA-256. The manifest is trusted
//! only once its minisign signature checks out against the release key, and
//! only then are its fields read; the artefact is trusted only once its
//! size and checksum match what the signed manifest says.
//!
//! ```toml
//! version = "0.2.0"
//! min_version = "0.1.0"      # oldest keepwatch that may update to it directly
//!
//! [[artefact]]
//! platform = "x86_64-linux"  # std's ARCH-OS
//! file = "keepwatch-0.2.0-x86_64-linux"   # beside the manifest, or a full address
//! size = 9123456
//! sha256 = "5f1c…"
//! ```

use std::fmt;

use minisign_verify::{PublicKey, Signature};
use serde::Deserialize;

use super::UpdateError;

/// keepwatch's own release key (minisign, key id 36E69303AE1DB0AE). Its
/// secret half is kept off the repository by whoever publishes releases.
pub const RELEASE_KEY: &str = "RWSusB2uA5PmNgqAc95omt/+iWVAab6dOuhC2mfPhX9zfYBBtD78hI26";

/// No keepwatch binary is anywhere near this big (a release is ~10 MB, a
/// debug build ~90 MB, the coverage build ~400 MB): a manifest saying more
/// is refused before anything is downloaded.
pub const MAX_ARTEFACT_SIZE: u64 = 1024 * 1024 * 1024;

/// A manifest or signature bigger than this is not one.
pub const MAX_MANIFEST_SIZE: u64 = 64 * 1024;

/// This machine's platform as manifests name it, e.g. `x86_64-linux`.
pub fn this_platform() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// A release version, `MAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u64, pub u64, pub u64);

impl Version {
    /// The running keepwatch's version.
    pub fn current() -> Self {
        Self::parse(env!("CARGO_PKG_VERSION")).unwrap_or(Self(0, 0, 0))
    }

    /// Reads `1.2.3`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u64>().ok());
        let version = Self(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// A verified manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The published version.
    pub version: Version,
    /// The oldest version that may update to it directly.
    pub min_version: Version,
    /// One file per platform.
    pub artefacts: Vec<Artefact>,
}

/// One platform's binary.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artefact {
    /// `ARCH-OS`, as [`this_platform`] says it.
    pub platform: String,
    /// A file name beside the manifest, or a full web address.
    pub file: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, in hex.
    pub sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    version: String,
    min_version: String,
    #[serde(rename = "artefact")]
    artefacts: Vec<Artefact>,
}

/// The key manifests must be signed with: `configured` (the `[update]
/// public_key`) if set, else keepwatch's own.
pub fn public_key(configured: &str) -> Result<PublicKey, UpdateError> {
    let text = match configured.trim() {
        "" => RELEASE_KEY,
        key => key,
    };
    PublicKey::from_base64(text).map_err(|_| UpdateError::BadKey)
}

/// Checks `signature` over `text` with `key`, then reads the manifest.
/// `name` is where it came from, for messages.
pub fn verify(
    name: &str,
    text: &[u8],
    signature: &[u8],
    key: &PublicKey,
) -> Result<Manifest, UpdateError> {
    let badly = |why: &str| UpdateError::BadSignature {
        manifest: name.to_owned(),
        why: why.to_owned(),
    };
    let signature = std::str::from_utf8(signature)
        .ok()
        .and_then(|text| Signature::decode(text).ok())
        .ok_or_else(|| badly("its signature file is not a minisign signature"))?;
    key.verify(text, &signature, false)
        .map_err(|err| match err {
            minisign_verify::Error::UnexpectedKeyId => {
                badly("it is signed with another key than the release key")
            }
            minisign_verify::Error::UnexpectedAlgorithm => badly(
                "it is signed in minisign's legacy mode; sign it again with a current minisign",
            ),
            _ => {
                badly("the signature does not match: the manifest was changed after it was signed")
            }
        })?;
    parse(name, text)
}

/// Reads a manifest's fields (after its signature was checked).
fn parse(name: &str, text: &[u8]) -> Result<Manifest, UpdateError> {
    let invalid = |why: String| UpdateError::BadManifest {
        manifest: name.to_owned(),
        why,
    };
    let text = std::str::from_utf8(text).map_err(|_| invalid("it is not text".to_owned()))?;
    let raw: Raw = toml::from_str(text).map_err(|err| invalid(err.message().to_owned()))?;
    let version = |field: &str, text: &str| {
        Version::parse(text).ok_or_else(|| {
            invalid(format!(
                "{field} \"{text}\" is not a version like \"1.2.3\""
            ))
        })
    };
    let manifest = Manifest {
        version: version("version", &raw.version)?,
        min_version: version("min_version", &raw.min_version)?,
        artefacts: raw.artefacts,
    };
    for artefact in &manifest.artefacts {
        let field = |what: &str| format!("the {} artefact's {what}", artefact.platform);
        if artefact.size == 0 || artefact.size > MAX_ARTEFACT_SIZE {
            return Err(invalid(format!(
                "{} is {} bytes; a keepwatch binary is between 1 byte and {MAX_ARTEFACT_SIZE}",
                field("size"),
                artefact.size
            )));
        }
        let hex =
            artefact.sha256.len() == 64 && artefact.sha256.chars().all(|c| c.is_ascii_hexdigit());
        if !hex {
            return Err(invalid(format!(
                "{} is not a SHA-256 (64 hex digits)",
                field("sha256")
            )));
        }
        let plain_name = !artefact.file.contains("://")
            && (artefact.file.is_empty()
                || artefact.file.contains(['/', '\\'])
                || artefact.file.starts_with('.'));
        if plain_name {
            return Err(invalid(format!(
                "{} \"{}\" is neither a file name beside the manifest nor a web address",
                field("file"),
                artefact.file
            )));
        }
    }
    Ok(manifest)
}

impl Manifest {
    /// The artefact for `platform`, or why there is none.
    pub fn artefact_for(&self, platform: &str) -> Result<&Artefact, UpdateError> {
        self.artefacts
            .iter()
            .find(|a| a.platform == platform)
            .ok_or_else(|| UpdateError::NoArtefact {
                platform: platform.to_owned(),
                offered: self.artefacts.iter().map(|a| a.platform.clone()).collect(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "version = \"0.2.0\"\nmin_version = \"0.1.0\"\n\n[[artefact]]\nplatform = \"x86_64-linux\"\nfile = \"keepwatch-0.2.0\"\nsize = 10\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n";

    fn manifest(text: &str) -> Result<Manifest, UpdateError> {
        parse("stable.toml", text.as_bytes())
    }

    #[test]
    fn versions_are_three_numbers_compared_in_order() {
        assert_eq!(Version::parse("1.2.3"), Some(Version(1, 2, 3)));
        assert!(Version::parse("1.10.0") > Version::parse("1.9.9"));
        for bad in ["1.2", "1.2.3.4", "v1.2.3", "1.x.3", ""] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
        assert_eq!(Version(0, 2, 0).to_string(), "0.2.0");
        assert_eq!(Version::current().to_string(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn a_good_manifest_is_read_and_its_platform_found() {
        let m = manifest(TEXT).unwrap();
        assert_eq!(m.version, Version(0, 2, 0));
        assert_eq!(m.min_version, Version(0, 1, 0));
        assert_eq!(m.artefact_for("x86_64-linux").unwrap().size, 10);
        let err = m.artefact_for("aarch64-macos").unwrap_err().to_string();
        assert!(err.contains("no keepwatch for aarch64-macos"), "{err}");
        assert!(err.contains("x86_64-linux"), "{err}");
    }

    #[test]
    fn missing_fields_huge_sizes_and_odd_files_are_refused() {
        let cases = [
            (TEXT.replace("min_version = \"0.1.0\"\n", ""), "min_version"),
            (
                TEXT.replace("size = 10", "size = 99999999999999"),
                "is 99999999999999 bytes",
            ),
            (TEXT.replace("size = 10", "size = 0"), "is 0 bytes"),
            (
                TEXT.replace("sha256 = \"0000", "sha256 = \"zz00"),
                "not a SHA-256",
            ),
            (
                TEXT.replace("keepwatch-0.2.0", "../../bin/sh"),
                "neither a file name",
            ),
            (
                TEXT.replace("version = \"0.2.0\"", "version = \"two\""),
                "\"two\" is not a version",
            ),
            (
                TEXT.replace("min_version = \"0.1.0\"", "min_version = \"1\""),
                "min_version \"1\"",
            ),
            (TEXT.replace("[[artefact]]", "[[artefacts]]"), "artefact"),
        ];
        for (text, expected) in cases {
            let err = manifest(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
            assert!(err.starts_with("the release manifest stable.toml"), "{err}");
        }
        let not_text = parse("stable.toml", &[0xff, 0xfe]).unwrap_err().to_string();
        assert!(not_text.contains("it is not text"), "{not_text}");
    }

    #[test]
    fn the_built_in_key_is_used_unless_one_is_configured() {
        assert_eq!(
            public_key("").unwrap(),
            PublicKey::from_base64(RELEASE_KEY).unwrap()
        );
        assert!(matches!(public_key("RWxyz"), Err(UpdateError::BadKey)));
    }

    #[test]
    fn a_signature_that_is_no_signature_is_refused() {
        let key = public_key("").unwrap();
        let err = verify("stable.toml", TEXT.as_bytes(), b"hello", &key)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a minisign signature"), "{err}");
        assert!(verify("stable.toml", TEXT.as_bytes(), &[0xff], &key).is_err());
    }
}
