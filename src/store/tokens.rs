//! API tokens as the store keeps them: a name, a role and a hash. The token
//! itself is shown once when it is created and never stored.

use jiff::Timestamp;
use rusqlite::params;

use super::{Store, StoreError};

/// The role of the tokens of a hub's agents, which may only deliver their
/// own data (`keepwatch agent add`).
pub const AGENT_ROLE: &str = "agent";

/// One API token, without the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// The name the admin gave it (`keepwatch token create NAME`).
    pub name: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// SHA-256 of the token.
    pub hash: Vec<u8>,
    /// The token's first characters (its prefix and a few more), to recognise it.
    pub shown: String,
    /// When it was created.
    pub created: Timestamp,
}

impl Store {
    /// Adds a token; `false` if one with this name exists already.
    pub fn add_token(&mut self, token: &StoredToken) -> Result<bool, StoreError> {
        let changed = self
            .conn
            .execute(
                "INSERT INTO api_tokens (name, role, hash, shown, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO NOTHING",
                params![
                    token.name,
                    token.role,
                    token.hash,
                    token.shown,
                    token.created.as_millisecond()
                ],
            )
            .map_err(|source| StoreError::sqlite("saving an API token", &self.path, source))?;
        Ok(changed == 1)
    }

    /// Every token, by name.
    pub fn tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        let fail = |source| StoreError::sqlite("reading the API tokens", &self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, role, hash, shown, created_ms FROM api_tokens ORDER BY name",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(StoredToken {
                    name: row.get(0)?,
                    role: row.get(1)?,
                    hash: row.get(2)?,
                    shown: row.get(3)?,
                    created: Timestamp::from_millisecond(row.get(4)?)
                        .unwrap_or(Timestamp::UNIX_EPOCH),
                })
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)
    }

    /// Deletes a token so it no longer works; `false` if there was none by that name.
    pub fn revoke_token(&mut self, name: &str) -> Result<bool, StoreError> {
        let changed = self
            .conn
            .execute("DELETE FROM api_tokens WHERE name = ?1", [name])
            .map_err(|source| StoreError::sqlite("revoking an API token", &self.path, source))?;
        Ok(changed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StorageConfig;

    #[test]
    fn tokens_are_added_listed_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("kw.db"), &StorageConfig::default()).unwrap();
        let token = StoredToken {
            name: "grafana".into(),
            role: "viewer".into(),
            hash: vec![1, 2, 3],
            shown: "kw_view_ab12".into(),
            created: Timestamp::from_second(1_700_000_000).unwrap(),
        };
        assert!(store.add_token(&token).unwrap());
        assert!(
            !store.add_token(&token).unwrap(),
            "a second token of the same name is refused"
        );
        assert_eq!(store.tokens().unwrap(), vec![token]);
        assert!(store.revoke_token("grafana").unwrap());
        assert!(!store.revoke_token("grafana").unwrap());
        assert!(store.tokens().unwrap().is_empty());
    }
}
