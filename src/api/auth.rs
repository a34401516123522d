//! Tokens and roles. A token is `kw_admin_`, `kw_view_` or `kw_agent_`
//! followed by 64 random hex digits, so a leaked one is recognisable at a
//! glance. An agent's token only delivers that agent's own data: it reads
//! nothing, and the hub files what it delivers under the token's name. The store
//! keeps only its SHA-256; a presented token is hashed and compared with every
//! stored hash in constant time, so neither timing nor the database reveals one.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jiff::Timestamp;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use super::ApiState;
use super::error::ApiError;
use crate::store::{Store, StoreError, StoredToken};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Also acknowledges alerts, starts and ends maintenance, and sends reports.
    Admin,
    /// A hub's agent: delivers its own data (`keepwatch agent add`), reads nothing.
    Agent,
}

impl Role {
    /// The word used in the store and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
            Role::Agent => crate::store::AGENT_ROLE,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Role::Viewer => "kw_view_",
            Role::Admin => "kw_admin_",
            Role::Agent => crate::config::AGENT_TOKEN_PREFIX,
        }
    }

    /// Reads `admin`, `viewer` or `agent`.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "admin" => Some(Role::Admin),
            crate::store::AGENT_ROLE => Some(Role::Agent),
            _ => None,
        }
    }
}

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The name is taken.
    #[error(
        "there is already a token named {0:?}; choose another name, or `keepwatch token revoke {0}` first"
    )]
    Exists(String),
    /// The name is empty or unusual.
    #[error(
        "a token name is 1 to 64 letters, digits, '-', '_' or '.' (e.g. \"grafana\" or \"backup-script\")"
    )]
    BadName,
    /// The system's random source failed.
    #[error("this computer could not produce random bytes for a token")]
    Random,
    /// The database could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a token named `name` and returns it; only its hash is kept.
pub fn create_token(
    store: &mut Store,
    name: &str,
    role: Role,
    now: Timestamp,
) -> Result<String, TokenError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(TokenError::BadName);
    }
    let mut secret = [0u8; 32];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| TokenError::Random)?;
    let mut token = role.prefix().to_owned();
    for byte in secret {
        token.push_str(&format!("{byte:02x}"));
    }
    let stored = StoredToken {
        name: name.to_owned(),
        role: role.as_str().to_owned(),
        hash: hash(&token),
        shown: format!("{}…", &token[..role.prefix().len() + 4]),
        created: now,
    };
    if !store.add_token(&stored)? {
        return Err(TokenError::Exists(name.to_owned()));
    }
    Ok(token)
}

fn hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// The stored token that `presented` is, if any. Every stored hash is
/// compared, each in constant time.
pub fn identify(tokens: &[StoredToken], presented: &str) -> Option<(String, Role)> {
    let presented = hash(presented);
    let mut found = None;
    for token in tokens {
        if bool::from(token.hash.ct_eq(&presented)) {
            found = Role::parse(&token.role).map(|role| (token.name.clone(), role));
        }
    }
    found
}

/// Requests per minute per token: a fixed one-minute window each.
#[derive(Debug, Default)]
pub(super) struct RateLimit {
    windows: Mutex<HashMap<String, (tokio::time::Instant, u32)>>,
}

impl RateLimit {
    /// Counts one request of `name`; `false` past `per_minute` in its window.
    pub(super) fn admit(&self, name: &str, per_minute: u32) -> bool {
        let now = tokio::time::Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window = windows.entry(name.to_owned()).or_insert((now, 0));
        if now.duration_since(window.0) >= std::time::Duration::from_secs(60) {
            *window = (now, 0);
        }
        window.1 += 1;
        window.1 <= per_minute
    }
}

/// A request with a valid token of any role.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// A request with a valid admin token.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The token's name (recorded as who acknowledged, for example).
    pub name: String,
}

/// A request with a valid agent token (`keepwatch agent add`).
#[derive(Debug, Clone)]
pub struct AgentToken {
    /// The agent's name: what it delivers is filed under it.
    pub name: String,
}

impl FromRequestParts<ApiState> for AgentToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let (name, role) = authenticate(parts, state).await?;
        match role {
            Role::Agent => Ok(AgentToken { name }),
            Role::Viewer | Role::Admin => Err(ApiError::forbidden_because(
                "this token is for reading the API, not for delivering an agent's data",
                "on the hub, `keepwatch agent add NAME` makes an agent token",
            )),
        }
    }
}

impl FromRequestParts<ApiState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let (name, role) = authenticate(parts, state).await?;
        if role == Role::Agent {
            return Err(ApiError::forbidden_because(
                "this is an agent's token: it only delivers that agent's data and reads nothing",
                "reading needs a viewer or admin token: `keepwatch token create NAME --role viewer`",
            ));
        }
        Ok(Viewer { name, role })
    }
}

/// The token's name and role, within its rate limit.
async fn authenticate(parts: &Parts, state: &ApiState) -> Result<(String, Role), ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("this needs a token"))?;
    let presented = header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("the Authorization header is not `Bearer <token>`"))?
        .to_owned();
    let tokens = state.read(|store| store.tokens()).await?;
    let (name, role) = identify(&tokens, &presented).ok_or_else(|| {
        ApiError::unauthorized("this token is not known here (mistyped or revoked)")
    })?;
    if !state.rates.admit(&name, state.config.rate_per_minute) {
        return Err(ApiError::too_many(
            format!(
                "more than {} requests in a minute with this token",
                state.config.rate_per_minute
            ),
            "wait a minute, ask less often, or raise `rate_per_minute` in [api]",
        ));
    }
    Ok((name, role))
}

impl FromRequestParts<ApiState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        match viewer.role {
            Role::Admin => Ok(Admin { name: viewer.name }),
            Role::Viewer | Role::Agent => Err(ApiError::forbidden()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StorageConfig;

    #[test]
    fn a_created_token_is_recognised_and_only_its_hash_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("kw.db"), &StorageConfig::default()).unwrap();
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let admin = create_token(&mut store, "ops", Role::Admin, now).unwrap();
        let viewer = create_token(&mut store, "grafana", Role::Viewer, now).unwrap();
        assert!(admin.starts_with("kw_admin_") && admin.len() == 9 + 64);
        assert!(viewer.starts_with("kw_view_"));
        let tokens = store.tokens().unwrap();
        assert!(tokens.iter().all(|t| !t.shown.contains(&admin[..20])));
        assert_eq!(identify(&tokens, &admin), Some(("ops".into(), Role::Admin)));
        assert_eq!(
            identify(&tokens, &viewer),
            Some(("grafana".into(), Role::Viewer))
        );
        assert_eq!(identify(&tokens, "kw_admin_00"), None);
        assert!(matches!(
            create_token(&mut store, "ops", Role::Viewer, now),
            Err(TokenError::Exists(_))
        ));
        assert!(matches!(
            create_token(&mut store, "two words", Role::Viewer, now),
            Err(TokenError::BadName)
        ));
    }
}
