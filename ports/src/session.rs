use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::types::AuthId;

/// What a browser or client presents as proof of a Kratos login.
///
/// Its `Debug` never prints the secret, so it may sit in structs that are logged.
#[derive(Clone, PartialEq, Eq)]
pub enum SessionCredential {
    /// A session token (header `X-Session-Token`).
    Token(String),
    /// The value of the `ory_kratos_session` cookie.
    Cookie(String),
}

impl SessionCredential {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Token(_) => "session token",
            Self::Cookie(_) => "session cookie",
        }
    }

    /// The secret itself; only for sending it to Kratos or hashing it.
    pub fn secret(&self) -> &str {
        match self {
            Self::Token(value) | Self::Cookie(value) => value,
        }
    }
}

impl fmt::Debug for SessionCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}([redacted])", self.kind())
    }
}

/// An active Kratos session: whose it is and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub identity: AuthId,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a session was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No active session for these credentials (unknown, expired or revoked).
    #[error("the session is not valid")]
    Invalid,
    /// The session exists but needs a stronger login (a second factor) first.
    #[error("the session needs a higher authenticator assurance level")]
    NeedsSecondFactor,
    /// Kratos could not be reached, timed out or failed on its side.
    #[error("session check unavailable: {0}")]
    Unavailable(String),
    /// Kratos answered with something that is not a session.
    #[error("session check returned a malformed response: {0}")]
    Malformed(String),
}

/// Checks Kratos login sessions (Kratos's public `whoami`).
#[async_trait]
pub trait SessionVerifier: Send + Sync + 'static {
    /// The active session these credentials stand for.
    ///
    /// # Errors
    /// `Invalid` when there is no active session, `NeedsSecondFactor` when the session's
    /// assurance level is too low, `Unavailable` or `Malformed` when Kratos fails.
    async fn whoami(&self, credential: &SessionCredential) -> Result<Session, SessionError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_never_prints_its_secret() {
        let token = SessionCredential::Token("s3cr3t-token".into());
        let cookie = SessionCredential::Cookie("s3cr3t-cookie".into());
        assert!(!format!("{token:?} {cookie:?}").contains("s3cr3t"));
        assert_eq!(token.secret(), "s3cr3t-token");
    }
}
