//! Which config file keepwatch uses, and the last good copy it falls back on
//! when that file is broken.

use std::path::{Path, PathBuf};

use super::Config;
use super::load::{ConfigError, parse, read};

/// Where the config in force came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// No file exists yet: the built-in defaults.
    Defaults,
    /// The config file itself.
    File,
    /// The file is broken; keepwatch runs on the last good copy of it.
    LastGood(ConfigError),
}

/// A config ready to use, and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The settings in force.
    pub config: Config,
    /// The config file (which may not exist yet).
    pub path: PathBuf,
    /// Whether the settings came from that file, its last good copy or the defaults.
    pub origin: Origin,
}

/// The config file keepwatch uses when none is named: `keepwatch.toml` in the
/// current folder if there is one, else the per-user config folder's
/// (`~/.config/keepwatch/keepwatch.toml` on Linux).
pub fn default_path(current_dir: &Path, user_config_dir: Option<&Path>) -> PathBuf {
    let local = current_dir.join("keepwatch.toml");
    match user_config_dir {
        Some(dir) if !local.exists() => dir.join("keepwatch").join("keepwatch.toml"),
        _ => local,
    }
}

/// Where the copy of the last config that loaded without problems is kept.
pub fn last_good_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".last-good");
    path.with_file_name(name)
}

/// Loads the config for `keepwatch run`: the file if it is good (remembering
/// it as the last good copy), else that last good copy, else the defaults if
/// there is no file and `required` is false.
pub fn load_for_start(path: &Path, required: bool) -> Result<Loaded, ConfigError> {
    if !path.exists() && !required {
        return Ok(Loaded {
            config: Config::default(),
            path: path.to_path_buf(),
            origin: Origin::Defaults,
        });
    }
    match load_and_remember(path) {
        Ok(config) => Ok(Loaded {
            config,
            path: path.to_path_buf(),
            origin: Origin::File,
        }),
        Err(problems) => {
            let backup = last_good_path(path);
            let text = std::fs::read_to_string(&backup).map_err(|_| problems.clone())?;
            let config = parse(&backup, &text).map_err(|_| problems.clone())?;
            Ok(Loaded {
                config,
                path: path.to_path_buf(),
                origin: Origin::LastGood(problems),
            })
        }
    }
}

/// Reads and checks the file; when it is good, keeps a copy as the last good
/// one (a failure to write that copy is not a reason to refuse the config).
pub fn load_and_remember(path: &Path) -> Result<Config, ConfigError> {
    let text = read(path)?;
    let config = parse(path, &text)?;
    let backup = last_good_path(path);
    if std::fs::read_to_string(&backup).ok().as_deref() != Some(text.as_str())
        && let Err(err) = std::fs::write(&backup, &text)
    {
        tracing::warn!(
            "could not keep a copy of the good config at {}: {err}",
            backup.display()
        );
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_file_wins_over_the_user_folder() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user");
        assert_eq!(
            default_path(dir.path(), Some(&user)),
            user.join("keepwatch/keepwatch.toml")
        );
        assert_eq!(
            default_path(dir.path(), None),
            dir.path().join("keepwatch.toml")
        );
        std::fs::write(dir.path().join("keepwatch.toml"), "").unwrap();
        assert_eq!(
            default_path(dir.path(), Some(&user)),
            dir.path().join("keepwatch.toml")
        );
    }

    #[test]
    fn no_file_means_defaults_unless_one_was_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepwatch.toml");
        let loaded = load_for_start(&path, false).unwrap();
        assert_eq!(loaded.origin, Origin::Defaults);
        assert_eq!(loaded.config, Config::default());
        let err = load_for_start(&path, true).unwrap_err();
        assert!(err.to_string().contains("keepwatch init"), "{err}");
    }

    #[test]
    fn a_broken_file_falls_back_on_the_last_good_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepwatch.toml");
        std::fs::write(&path, "[collect]\ncpu = \"5s\"\n").unwrap();
        let good = load_for_start(&path, true).unwrap();
        assert_eq!(good.origin, Origin::File);
        assert!(last_good_path(&path).ends_with("keepwatch.toml.last-good"));

        std::fs::write(&path, "[collect]\ncpu = \"5 seconds\"\n").unwrap();
        let fallback = load_for_start(&path, true).unwrap();
        assert_eq!(
            fallback.config.collect.cpu,
            crate::units::Duration::from_secs(5)
        );
        match fallback.origin {
            Origin::LastGood(err) => assert_eq!(err.problems[0].line, Some(2)),
            other => panic!("expected the last good copy, got {other:?}"),
        }
        // The broken file must not replace the good copy.
        let again = load_for_start(&path, true).unwrap();
        assert!(matches!(again.origin, Origin::LastGood(_)));
    }

    #[test]
    fn a_broken_file_without_a_good_copy_is_an_error_listing_its_problems() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepwatch.toml");
        std::fs::write(&path, "[collect]\ncpu = 1\nmemroy = \"1s\"\n").unwrap();
        let err = load_for_start(&path, true).unwrap_err();
        assert_eq!(err.problems.len(), 2);
    }
}
