//! Passwords and tokens in service definitions: written inline, or as a
//! reference to an environment variable (`env:NAME`) or a file (`file:/path`),
//! read each time a check runs so a rotated secret is picked up without a
//! restart. Never shown in `Debug`, logs or serialized config.

use std::fmt;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

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

/// The name of the file beside the config that holds the `env:` secrets.
///
/// A systemd user unit, a LaunchAgent, a scheduled task or a crontab line
/// does not inherit the shell where the admin typed `export`, so a password
/// that works in the terminal would be missing in the background. keepwatch
/// therefore reads this file itself whenever it starts, the same way on every
/// system (systemd's `EnvironmentFile` would serve Linux alone, and a
/// LaunchAgent's plist would hold the password in a file meant for settings).
pub const ENV_FILE_NAME: &str = "keepwatch.env";

/// The environment file for the config at `config`: [`ENV_FILE_NAME`] beside it.
pub fn env_file_path(config: &Path) -> PathBuf {
    config.with_file_name(ENV_FILE_NAME)
}

/// What an environment file holds: `NAME=value` lines, `#` comments and
/// blank lines (an `export ` in front and quotes around the value are
/// allowed, as pasted from a shell).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    /// The variables with a value, in the file's order.
    pub values: Vec<(String, String)>,
    /// Variables listed without a value yet (`NAME=`), as `init` leaves them.
    pub empty: Vec<String>,
    /// Each line that is not `NAME=value`, with its number.
    pub problems: Vec<String>,
}

impl EnvFile {
    /// Reads the file at `path`; `None` when there is none.
    pub fn read(path: &Path) -> io::Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(Self::parse(&text))),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Parses the text of an environment file.
    pub fn parse(text: &str) -> Self {
        let mut file = Self::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let assignment = line.strip_prefix("export ").unwrap_or(line);
            match assignment.split_once('=') {
                Some((name, value)) if is_variable_name(name.trim()) => {
                    let name = name.trim().to_owned();
                    match unquoted(value.trim()) {
                        "" => file.empty.push(name),
                        value => file.values.push((name, value.to_owned())),
                    }
                }
                _ => file
                    .problems
                    .push(format!("line {}: \"{line}\" is not NAME=value", number + 1)),
            }
        }
        file
    }

    /// Whether `name` is listed, with a value or not.
    fn lists(&self, name: &str) -> bool {
        self.empty.iter().any(|n| n == name) || self.values.iter().any(|(n, _)| n == name)
    }
}

/// Letters, digits and `_`, not starting with a digit: what a shell accepts.
pub fn is_variable_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| !c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn unquoted(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

/// Adds `NAME=` to the environment file at `path` for the admin to fill in,
/// creating the file (readable by this user only) when there is none; a
/// name already listed is left as it is. Whether it added the line.
pub fn list_in_env_file(path: &Path, name: &str) -> io::Result<bool> {
    let existing = EnvFile::read(path)?;
    if existing.as_ref().is_some_and(|file| file.lists(name)) {
        return Ok(false);
    }
    let header = match existing {
        Some(_) => "",
        None => {
            "# Passwords for the config beside this file (written there as \"env:NAME\"),\n\
                  # one NAME=value per line. keepwatch reads this file whenever it starts,\n\
                  # also in the background, where your shell's `export` does not reach.\n\
                  # Keep it readable by you alone (chmod 600).\n"
        }
    };
    let mut file = private_file(path, true)?;
    writeln!(file, "{header}{name}=")?;
    Ok(true)
}

/// Opens `path` for writing (appending when `append`, else from empty),
/// creating it and its folder, readable and writable by this user only.
pub fn private_file(path: &Path, append: bool) -> io::Result<std::fs::File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options
        .create(true)
        .append(append)
        .write(true)
        .truncate(!append);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Whether users other than the owner may read the file (always false
/// where the system has no such permission bits).
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
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

    #[test]
    fn an_environment_file_has_values_empty_names_and_problems_by_line() {
        let file = EnvFile::parse(
            "# comment\n\nSMTP_PASSWORD=s3cret=x\nexport DB_PASSWORD=\"two words\"\nTOKEN='t'\nLATER=\nnot a line\n1X=y\n",
        );
        assert_eq!(
            file.values,
            [
                ("SMTP_PASSWORD".to_owned(), "s3cret=x".to_owned()),
                ("DB_PASSWORD".to_owned(), "two words".to_owned()),
                ("TOKEN".to_owned(), "t".to_owned()),
            ]
        );
        assert_eq!(file.empty, ["LATER"]);
        assert_eq!(
            file.problems,
            [
                "line 7: \"not a line\" is not NAME=value",
                "line 8: \"1X=y\" is not NAME=value"
            ]
        );
    }

    #[test]
    fn a_name_is_listed_once_in_a_file_only_its_owner_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = env_file_path(&dir.path().join("conf/keepwatch.toml"));
        assert!(path.ends_with("conf/keepwatch.env"));
        assert_eq!(EnvFile::read(&path).unwrap(), None);
        assert!(list_in_env_file(&path, "SMTP_PASSWORD").unwrap());
        assert!(!list_in_env_file(&path, "SMTP_PASSWORD").unwrap());
        assert!(list_in_env_file(&path, "DB_PASSWORD").unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Passwords for the config"), "{text}");
        assert!(text.ends_with("\nSMTP_PASSWORD=\nDB_PASSWORD=\n"), "{text}");
        assert_eq!(text.matches("# Passwords").count(), 1);
        assert_eq!(
            EnvFile::parse(&text).empty,
            ["SMTP_PASSWORD", "DB_PASSWORD"]
        );
        #[cfg(unix)]
        {
            assert!(!readable_by_others(&path));
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(readable_by_others(&path));
        }
        assert!(EnvFile::read(dir.path()).is_err());
    }
}
