//! Passwords and tokens in service definitions: written inline, or as a
//! reference to an environment variable (`env:NAME`) or a file (`file:/path`),
//! read each time a check runs so a rotated secret is picked up without a
//! restart. Never shown in `Debug`, logs or serialized config.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Written in the config file itself.
    Inline(String),
    /// Read from this environment variable of the keepwatch process.
    Env(String),
    /// Read from this file; surrounding whitespace (a final newline) is dropped.
    File(PathBuf),
}

/// Why a secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set (or not valid Unicode).
    #[error("the environment variable {0} is not set")]
    MissingEnv(String),
    /// The file could not be read.
    #[error("the file {path} cannot be read: {reason}")]
    File {
        /// The file named in the config.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
}

impl Secret {
    /// Parses the config form: `env:NAME`, `file:/path`, or the secret itself.
    pub fn parse(text: &str) -> Self {
        if let Some(name) = text.strip_prefix("env:") {
            Self::Env(name.trim().to_owned())
        } else if let Some(path) = text.strip_prefix("file:") {
            Self::File(PathBuf::from(path.trim()))
        } else {
            Self::Inline(text.to_owned())
        }
    }

    /// The secret's value, read now.
    pub fn reveal(&self) -> Result<String, SecretError> {
        match self {
            Self::Inline(value) => Ok(value.clone()),
            Self::Env(name) => {
                std::env::var(name).map_err(|_| SecretError::MissingEnv(name.clone()))
            }
            Self::File(path) => std::fs::read_to_string(path)
                .map(|text| text.trim().to_owned())
                .map_err(|err| SecretError::File {
                    path: path.clone(),
                    reason: err.to_string(),
                }),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Secret(<redacted>)"),
            Self::Env(name) => write!(f, "Secret(env:{name})"),
            Self::File(path) => write!(f, "Secret(file:{})", path.display()),
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| Self::parse(&text))
    }
}

/// References are written back as they were; an inline secret is written as
/// `<redacted>` so that a serialized config (an API answer, a debug dump)
/// cannot leak it.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Inline(_) => serializer.serialize_str("<redacted>"),
            Self::Env(name) => serializer.serialize_str(&format!("env:{name}")),
            Self::File(path) => serializer.serialize_str(&format!("file:{}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_form_picks_the_source() {
        assert_eq!(
            Secret::parse("env:SHOP_TOKEN"),
            Secret::Env("SHOP_TOKEN".into())
        );
        assert_eq!(
            Secret::parse("file:/etc/keepwatch/token"),
            Secret::File("/etc/keepwatch/token".into())
        );
        assert_eq!(Secret::parse("hunter2"), Secret::Inline("hunter2".into()));
    }

    #[test]
    fn inline_secrets_never_show_in_debug_or_serialized_form() {
        let secret = Secret::parse("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&secret).unwrap().contains("hunter2"));
        assert_eq!(format!("{:?}", Secret::parse("env:X")), "Secret(env:X)");
        assert_eq!(
            serde_json::to_string(&Secret::parse("env:X")).unwrap(),
            "\"env:X\""
        );
    }

    #[test]
    fn secrets_are_read_from_the_environment_and_files() {
        let path = std::env::var("PATH").unwrap();
        assert_eq!(Secret::parse("env:PATH").reveal().unwrap(), path);
        let err = Secret::parse("env:KEEPWATCH_TEST_SURELY_UNSET")
            .reveal()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the environment variable KEEPWATCH_TEST_SURELY_UNSET is not set"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret\n").unwrap();
        let secret = Secret::parse(&format!("file:{}", file.display()));
        assert_eq!(secret.reveal().unwrap(), "s3cret");
        let missing = Secret::parse("file:/nonexistent/token")
            .reveal()
            .unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("the file /nonexistent/token cannot be read"),
            "{missing}"
        );
    }
}
