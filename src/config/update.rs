//! The `[update]` section: where `keepwatch update` finds releases, the key
//! their manifests must be signed with, and whether `run` updates by itself.
//! It lives here rather than with the updater because `deploy` sits above
//! `config` in the layers.

use serde::{Deserialize, Serialize};

use crate::units::Duration;

/// The `[update]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateConfig {
    /// Where releases are published: a web address (`https://…/releases`)
    /// or a local folder (an offline shop copies releases there). Empty: no
    /// source, so keepwatch cannot look for releases.
    pub source: String,
    /// The minisign public key that signs release manifests (the base64
    /// line of a `minisign.pub` file). Empty: keepwatch's own release key,
    /// built into the binary.
    pub public_key: String,
    /// The release channel followed by `keepwatch update`, automatic
    /// updates and `keepwatch doctor`: the manifest read is `CHANNEL.toml`
    /// (with its signature `CHANNEL.toml.minisig`). `keepwatch update
    /// --channel` reads another once.
    pub channel: String,
    /// `keepwatch run` looks once a day, outside opening hours, and updates
    /// by itself.
    pub automatic: bool,
    /// How long a new version has, once the background service restarted
    /// on it, to show that it runs before the old binary goes back.
    pub health_timeout: Duration,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        Self {
            source: String::new(),
            public_key: String::new(),
            channel: "stable".to_owned(),
            automatic: false,
            health_timeout: Duration::from_secs(60),
        }
    }
}

/// Whether `text` can name a release channel: letters, digits and dashes
/// only, so it stays a file name beside the manifest.
pub fn is_channel_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl UpdateConfig {
    /// Every mistake in the section: the key, what is wrong and how to fix it.
    pub fn problems(&self) -> Vec<(&'static str, String, String)> {
        let mut found = Vec::new();
        let source = self.source.trim();
        if source.contains("://")
            && !(source.starts_with("https://") || source.starts_with("http://"))
        {
            found.push((
                "source",
                format!("\"{source}\" is neither a web address nor a folder"),
                "write an address such as \"https://example.com/keepwatch/releases\" or a folder such as \"/srv/keepwatch-releases\"".to_owned(),
            ));
        }
        if !is_channel_name(&self.channel) {
            found.push((
                "channel",
                format!("\"{}\" is not a release channel name", self.channel),
                "use letters, digits and dashes only, such as \"stable\"".to_owned(),
            ));
        }
        if self.automatic && source.is_empty() {
            found.push((
                "automatic",
                "is true but no source is set, so there is nowhere to look for releases".to_owned(),
                "set source = \"https://…\" (or a folder) in [update], or automatic = false"
                    .to_owned(),
            ));
        }
        let key = self.public_key.trim();
        if !key.is_empty() && minisign_verify::PublicKey::from_base64(key).is_err() {
            found.push((
                "public_key",
                "is not a minisign public key".to_owned(),
                "copy the second line of the release key's minisign.pub file (it starts with \"RW\"), or leave it empty for keepwatch's own key".to_owned(),
            ));
        }
        if self.health_timeout.std() < std::time::Duration::from_secs(1) {
            found.push((
                "health_timeout",
                "is under a second: no keepwatch starts that fast, so every update would be undone"
                    .to_owned(),
                "leave it at \"60s\", or longer on a slow computer".to_owned(),
            ));
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_in_each_key_is_found_with_its_fix() {
        assert!(UpdateConfig::default().problems().is_empty());
        let bad = UpdateConfig {
            source: "ftp://example.com/r".to_owned(),
            public_key: "RWnot-a-key".to_owned(),
            automatic: true,
            ..UpdateConfig::default()
        };
        let bad = UpdateConfig {
            health_timeout: Duration::from_secs(0),
            channel: "../beta".to_owned(),
            ..bad
        };
        let keys: Vec<&str> = bad.problems().iter().map(|p| p.0).collect();
        assert_eq!(keys, ["source", "channel", "public_key", "health_timeout"]);
        let nowhere = UpdateConfig {
            automatic: true,
            ..UpdateConfig::default()
        };
        assert_eq!(nowhere.problems()[0].0, "automatic");
        let good = UpdateConfig {
            source: "/srv/releases".to_owned(),
            public_key: "RWSusB2uA5PmNgqAc95omt/+iWVAab6dOuhC2mfPhX9zfYBBtD78hI26".to_owned(),
            automatic: true,
            ..UpdateConfig::default()
        };
        assert!(good.problems().is_empty());
    }
}
