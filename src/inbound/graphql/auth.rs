//! Who may use the admin API (CONTRACT §4): the bearer of `ADMIN_TOKEN`, or a
//! Kratos session whose identity is in `ADMIN_IDENTITY_IDS`.
//!
//! Tokens are compared as SHA-256 digests in constant time, so neither their
//! content nor their length leaks through timing. A session's positive answer
//! is cached for a short while under the digest of the session secret; the
//! secret itself is never stored or logged.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use identity_link_adapters::kratos_session::SESSION_COOKIE;
use identity_link_ports::{AuthId, SessionCredential, SessionError, SessionVerifier};
use poem::http::{header, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How long a session found to be an admin's is trusted without asking Kratos again.
pub const SESSION_CACHE_TTL: Duration = Duration::from_secs(30);
/// Most sessions remembered at once.
const SESSION_CACHE_CAPACITY: usize = 1024;
const SESSION_TOKEN_HEADER: &str = "x-session-token";

/// An authenticated admin; `actor` names them in the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// `admin-token`, or `kratos:<identity id>` for a session.
    pub actor: String,
}

/// Why a caller is not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No usable credentials: none, a wrong token, an unknown or expired session.
    #[error("{0}")]
    Unauthenticated(String),
    /// Known, but not an admin.
    #[error("{0}")]
    Forbidden(String),
    /// Kratos cannot tell who the session belongs to right now.
    #[error("the session cannot be checked now: {0}")]
    Unavailable(String),
}

/// What the caller presented, read from the request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    Nothing,
    Bearer(SecretPresented),
    /// An `Authorization` header of another scheme.
    UnsupportedScheme,
    Session(SessionCredential),
}

/// A presented bearer token; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretPresented(String);

impl std::fmt::Debug for SecretPresented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Presented {
    /// The bearer token wins over a session; a session token over the cookie.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let value = value.to_str().unwrap_or_default().trim();
            return match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Self::Bearer(SecretPresented(token.trim().to_owned()))
                }
                _ => Self::UnsupportedScheme,
            };
        }
        if let Some(token) = headers
            .get(SESSION_TOKEN_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|token| !token.is_empty())
        {
            return Self::Session(SessionCredential::Token(token.to_owned()));
        }
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|cookie| cookie.trim().split_once('='))
            .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
            .map_or(Self::Nothing, |(_, value)| {
                Self::Session(SessionCredential::Cookie(value.to_owned()))
            })
    }
}

struct Cached {
    identity: AuthId,
    until: Instant,
}

/// Decides whether a caller is an admin.
pub struct Authenticator {
    token: Option<[u8; 32]>,
    admins: HashSet<AuthId>,
    sessions: Option<Arc<dyn SessionVerifier>>,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

impl Authenticator {
    pub fn new(
        token: Option<&SecretString>,
        admins: &[AuthId],
        sessions: Option<Arc<dyn SessionVerifier>>,
    ) -> Self {
        Self {
            token: token.map(|token| digest(&[token.expose_secret().as_bytes()])),
            admins: admins.iter().copied().collect(),
            sessions,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Admits the caller or says why not.
    ///
    /// # Errors
    /// [`Denied`].
    pub async fn authenticate(&self, presented: &Presented) -> Result<Admin, Denied> {
        match presented {
            Presented::Nothing => Err(Denied::Unauthenticated(
                "admin credentials required: `Authorization: Bearer <ADMIN_TOKEN>`, \
                 an `X-Session-Token` or the `ory_kratos_session` cookie"
                    .into(),
            )),
            Presented::UnsupportedScheme => Err(Denied::Unauthenticated(
                "the Authorization header must use the Bearer scheme".into(),
            )),
            Presented::Bearer(SecretPresented(token)) => self.check_token(token),
            Presented::Session(credential) => self.check_session(credential).await,
        }
    }

    fn check_token(&self, token: &str) -> Result<Admin, Denied> {
        let presented = digest(&[token.as_bytes()]);
        match &self.token {
            Some(expected) if bool::from(presented.ct_eq(expected)) => Ok(Admin {
                actor: "admin-token".into(),
            }),
            _ => Err(Denied::Unauthenticated(
                "the bearer token is not valid".into(),
            )),
        }
    }

    async fn check_session(&self, credential: &SessionCredential) -> Result<Admin, Denied> {
        let Some(sessions) = &self.sessions else {
            return Err(Denied::Unauthenticated(
                "sessions cannot be checked: KRATOS_PUBLIC_URL is not configured".into(),
            ));
        };
        let key = digest(&[
            credential.kind().as_bytes(),
            b"\0",
            credential.secret().as_bytes(),
        ]);
        if let Some(identity) = self.cached(&key) {
            return Ok(session_admin(identity));
        }
        let session = sessions
            .whoami(credential)
            .await
            .map_err(|error| match error {
                SessionError::Invalid => Denied::Unauthenticated(format!(
                    "the {} is not a valid session",
                    credential.kind()
                )),
                SessionError::NeedsSecondFactor => Denied::Forbidden(
                    "the session needs a second factor before it can be used".into(),
                ),
                SessionError::Unavailable(reason) | SessionError::Malformed(reason) => {
                    tracing::warn!(%reason, "admin session check failed");
                    Denied::Unavailable(reason)
                }
            })?;
        if !self.admins.contains(&session.identity) {
            tracing::info!(identity = %session.identity, "admin access refused to a non-admin session");
            return Err(Denied::Forbidden(format!(
                "identity {} is not an admin",
                session.identity
            )));
        }
        let ttl = session
            .expires_at
            .and_then(|at| (at - chrono::Utc::now()).to_std().ok())
            .map_or(SESSION_CACHE_TTL, |left| left.min(SESSION_CACHE_TTL));
        self.remember(key, session.identity, ttl);
        Ok(session_admin(session.identity))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Cached>> {
        // Entries are inserted whole; a poisoned map is still consistent.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cached(&self, key: &[u8; 32]) -> Option<AuthId> {
        let now = Instant::now();
        let cache = self.lock();
        cache
            .get(key)
            .filter(|entry| entry.until > now)
            .map(|entry| entry.identity)
    }

    fn remember(&self, key: [u8; 32], identity: AuthId, ttl: Duration) {
        let now = Instant::now();
        let mut cache = self.lock();
        if cache.len() >= SESSION_CACHE_CAPACITY {
            cache.retain(|_, entry| entry.until > now);
            if cache.len() >= SESSION_CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Cached {
                identity,
                until: now + ttl,
            },
        );
    }
}

fn session_admin(identity: AuthId) -> Admin {
    Admin {
        actor: format!("kratos:{identity}"),
    }
}

#[cfg(test)]
mod tests;
