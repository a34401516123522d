//! Where the config's `env:` secrets come from. keepwatch in the background
//! (a systemd user unit, a LaunchAgent, a scheduled task, a crontab line)
//! sees nothing the admin exported in a terminal, only the environment file
//! beside the config, which every keepwatch command reads when it starts. So
//! a password that works in the terminal can still be missing for the
//! service; this says which, and where to put it.

use std::path::Path;

use super::{Area, Finding};
use crate::secret::{EnvFile, env_file_path, readable_by_others};

/// The findings about the secrets `names` that the config at `config_path`
/// reads from the environment; `in_terminal` tells whether one is set in
/// the environment doctor was started from.
pub(super) fn secrets(
    config_path: &Path,
    names: &[String],
    in_terminal: &dyn Fn(&str) -> bool,
) -> Vec<Finding> {
    if names.is_empty() {
        return Vec::new();
    }
    let path = env_file_path(config_path);
    let shown = path.display();
    let file = match EnvFile::read(&path) {
        Ok(file) => file.unwrap_or_default(),
        Err(err) => {
            return vec![
                Finding::problem(Area::Secret, format!("{shown} cannot be read: {err}")).fix(
                    format!("make it a file this user can read: `chmod 600 {shown}`"),
                ),
            ];
        }
    };
    let mut findings: Vec<Finding> = file
        .problems
        .iter()
        .map(|problem| {
            Finding::problem(Area::Secret, format!("{shown}: {problem}"))
                .fix("write each secret on a line of its own, as NAME=value")
        })
        .collect();
    if readable_by_others(&path) {
        findings.push(
            Finding::warning(
                Area::Secret,
                format!("other users of this computer may read the passwords in {shown}"),
            )
            .fix(format!("`chmod 600 {shown}`")),
        );
    }
    let fix = |name: &str| {
        format!(
            "write the value after `{name}=` on a line of {shown}; keepwatch reads that file whenever it starts, also in the background"
        )
    };
    let mut ready = Vec::new();
    for name in names {
        if file.values.iter().any(|(listed, _)| listed == name) {
            ready.push(name.as_str());
        } else if in_terminal(name) {
            findings.push(
                Finding::warning(
                    Area::Secret,
                    format!(
                        "{name} is set in this terminal only: keepwatch in the background does not see it, so what reads \"env:{name}\" fails there"
                    ),
                )
                .fix(fix(name)),
            );
        } else {
            findings.push(
                Finding::problem(
                    Area::Secret,
                    format!(
                        "{name} is not set, and the config reads a secret from it (\"env:{name}\")"
                    ),
                )
                .fix(fix(name)),
            );
        }
    }
    if !ready.is_empty() {
        findings.push(Finding::ok(
            Area::Secret,
            format!(
                "{} in {shown}, for keepwatch in a terminal and in the background alike",
                ready.join(", ")
            ),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::doctor::Level;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    fn nowhere(_: &str) -> bool {
        false
    }

    #[test]
    fn a_config_without_env_secrets_has_nothing_to_say() {
        let dir = tempfile::tempdir().unwrap();
        assert!(secrets(&dir.path().join("keepwatch.toml"), &[], &nowhere).is_empty());
    }

    #[test]
    fn each_secret_is_found_in_the_file_only_in_the_terminal_or_nowhere() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("keepwatch.toml");
        let env = dir.path().join("keepwatch.env");
        crate::secret::private_file(&env, false).unwrap();
        std::fs::write(&env, "SMTP_PASSWORD=s3cret\nDB_PASSWORD=\noops\n").unwrap();
        let in_terminal = |name: &str| name == "TOKEN";
        let found = secrets(
            &config,
            &names(&["SMTP_PASSWORD", "TOKEN", "DB_PASSWORD"]),
            &in_terminal,
        );
        let levels: Vec<Level> = found.iter().map(|f| f.level).collect();
        assert_eq!(
            levels,
            [Level::Problem, Level::Warning, Level::Problem, Level::Ok],
            "{found:?}"
        );
        assert!(
            found[0]
                .text
                .ends_with("keepwatch.env: line 3: \"oops\" is not NAME=value")
        );
        assert!(
            found[1]
                .text
                .starts_with("TOKEN is set in this terminal only")
        );
        assert!(found[1].fix.as_ref().unwrap().starts_with(&format!(
            "write the value after `TOKEN=` on a line of {}",
            env.display()
        )));
        assert!(found[2].text.starts_with("DB_PASSWORD is not set"));
        assert!(found[3].text.starts_with("SMTP_PASSWORD in "), "{found:?}");
        let text = crate::deploy::doctor::Report { findings: found }.render();
        assert!(
            text.contains("\nok       Secrets: SMTP_PASSWORD in "),
            "{text}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_may_read_or_none_may_read_is_said() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("keepwatch.toml");
        let env = dir.path().join("keepwatch.env");
        std::fs::write(&env, "SMTP_PASSWORD=s3cret\n").unwrap();
        std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644)).unwrap();
        let found = secrets(&config, &names(&["SMTP_PASSWORD"]), &nowhere);
        assert_eq!(found[0].level, Level::Warning, "{found:?}");
        assert!(
            found[0]
                .text
                .starts_with("other users of this computer may read")
        );
        assert_eq!(
            found[0].fix.as_deref(),
            Some(&*format!("`chmod 600 {}`", env.display()))
        );

        std::fs::remove_file(&env).unwrap();
        std::fs::create_dir(&env).unwrap();
        let found = secrets(&config, &names(&["SMTP_PASSWORD"]), &nowhere);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].level, Level::Problem, "{found:?}");
        assert!(found[0].text.contains("cannot be read"), "{found:?}");
    }
}
