//! Configuration values that must never print: tokens and database URLs
//! (which may carry a password). They are read from flags or the environment
//! into these types, whose `Debug` says only that a value is there.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

/// A token from the command line or environment (`KRATOS_ADMIN_TOKEN`,
/// `ADMIN_TOKEN`, `WEBHOOK_SECRET`).
#[derive(Clone)]
pub struct SecretArg(SecretString);

impl SecretArg {
    /// The secret, or `None` when it was given empty (as unset).
    pub fn to_secret(&self) -> Option<SecretString> {
        (!self.0.expose_secret().is_empty()).then(|| self.0.clone())
    }
}

impl FromStr for SecretArg {
    type Err = Infallible;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(Self(SecretString::from(raw)))
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A Postgres URL or key=value connection string, which may hold a password.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    /// The URL itself; only for connecting.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<&str> for DatabaseUrl {
    fn from(raw: &str) -> Self {
        Self(SecretString::from(raw))
    }
}

impl FromStr for DatabaseUrl {
    type Err = Infallible;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(Self::from(raw))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_database_urls_never_print() {
        let token: SecretArg = "s3cret-token".parse().unwrap();
        let url: DatabaseUrl = "postgres://app:pa55word@db/app".parse().unwrap();
        let printed = format!("{token:?} {url:?} {:?}", token.to_secret());
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(!printed.contains("pa55word"), "{printed}");
        assert_eq!(url.expose(), "postgres://app:pa55word@db/app");
    }

    #[test]
    fn an_empty_secret_is_unset() {
        let empty: SecretArg = "".parse().unwrap();
        assert!(empty.to_secret().is_none());
        let set: SecretArg = "x".parse().unwrap();
        assert_eq!(
            set.to_secret().map(|s| s.expose_secret().to_owned()),
            Some("x".into())
        );
    }
}
