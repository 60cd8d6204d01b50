use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::text;

/// Declares a UUID-backed id type: `new`, `as_uuid`, `Display`, serde as the bare UUID.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            pub fn new(id: uuid::Uuid) -> Self {
                Self(id)
            }

            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}
pub(crate) use uuid_id;

uuid_id!(
    /// A Kratos identity id: the value stored in `users.auth_id`.
    AuthId
);

impl AuthId {
    /// Kratos sends the nil UUID for an identity it has not saved yet
    /// (registration hooks that run before persisting).
    pub fn is_unsaved(&self) -> bool {
        self.0.is_nil()
    }
}

uuid_id!(
    /// The application's user id.
    UserId
);

impl UserId {
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }
}

/// An email address, cleaned of control characters and trimmed, with the
/// normal form every comparison uses ([`text::email_key`]).
///
/// Validation is deliberately shallow (one `@`, a non-empty local part and a
/// domain with a dot, no whitespace, at most 254 characters): Kratos validated
/// the address already, and the application only needs to tell a usable
/// address from garbage.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email {
    display: String,
    normalized: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email is empty")]
    Empty,
    #[error("email is longer than 254 characters")]
    TooLong,
    #[error("email `{0}` is not of the form local@domain.tld")]
    Malformed(String),
}

impl Email {
    pub fn new(raw: &str) -> Result<Self, EmailError> {
        let cleaned = text::strip_controls(raw);
        let trimmed = cleaned.as_str();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        let malformed = || EmailError::Malformed(trimmed.to_owned());
        let (local, domain) = trimmed.rsplit_once('@').ok_or_else(malformed)?;
        let valid = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !trimmed.chars().any(char::is_whitespace);
        if !valid {
            return Err(malformed());
        }
        Ok(Self {
            normalized: text::email_key(trimmed),
            display: cleaned,
        })
    }

    /// The address as given, trimmed.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The normal form every comparison uses (stored as `users.email_normalized`).
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// True when both denote the same mailbox for this service (same normal form).
    pub fn matches(&self, other: &Email) -> bool {
        self.normalized == other.normalized
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

/// The profile fields the application keeps for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar_url: Option<String>,
}

impl Profile {
    /// The one way text from outside (Kratos traits, the webhook, import files)
    /// becomes a profile: control characters dropped and whitespace trimmed
    /// everywhere, names cut to [`text::NAME_MAX_CHARS`] characters and the
    /// avatar URL to [`text::AVATAR_MAX_CHARS`]; a field left empty is absent.
    ///
    /// # Errors
    /// [`EmailError`] when the email is not a usable address once cleaned.
    pub fn from_untrusted(
        email: &str,
        first_name: Option<&str>,
        last_name: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<Self, EmailError> {
        let name =
            |raw: Option<&str>| raw.and_then(|raw| text::clean_text(raw, text::NAME_MAX_CHARS));
        Ok(Self {
            email: Email::new(email)?,
            first_name: name(first_name),
            last_name: name(last_name),
            avatar_url: avatar_url.and_then(|raw| text::clean_text(raw, text::AVATAR_MAX_CHARS)),
        })
    }
}

/// A user of the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar_url: Option<String>,
    pub auth_id: Option<AuthId>,
    pub created_at: DateTime<Utc>,
    pub linked_at: Option<DateTime<Utc>>,
}

impl User {
    /// The profile this user should have when linked to an identity whose
    /// profile is `kratos` (the one profile-sync rule, for the webhook and
    /// reconcile alike): the email from Kratos; each name from Kratos when
    /// Kratos has one, else the user's own (imported names are not erased);
    /// the avatar is the user's, which the sync does not own.
    pub fn synced_with(&self, kratos: &Profile) -> Profile {
        Profile {
            email: kratos.email.clone(),
            first_name: kratos
                .first_name
                .clone()
                .or_else(|| self.first_name.clone()),
            last_name: kratos.last_name.clone().or_else(|| self.last_name.clone()),
            avatar_url: self.avatar_url.clone(),
        }
    }
}

/// A user to create; `auth_id` set when the user is created already linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub id: UserId,
    pub profile: Profile,
    pub auth_id: Option<AuthId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_compared_case_insensitively() {
        let a = Email::new("  Alice@Example.COM ").unwrap();
        let b = Email::new("alice@example.com").unwrap();
        assert_eq!(a.as_str(), "Alice@Example.COM");
        assert_eq!(a.normalized(), "alice@example.com");
        assert!(a.matches(&b));
    }

    #[test]
    fn malformed_emails_are_rejected_with_a_reason() {
        assert_eq!(Email::new("   "), Err(EmailError::Empty));
        assert!(matches!(
            Email::new("no-at-sign"),
            Err(EmailError::Malformed(_))
        ));
        assert!(matches!(
            Email::new("a@localhost"),
            Err(EmailError::Malformed(_))
        ));
        assert!(matches!(
            Email::new("a b@example.com"),
            Err(EmailError::Malformed(_))
        ));
        assert!(matches!(
            Email::new("@example.com"),
            Err(EmailError::Malformed(_))
        ));
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::new(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn emails_lose_control_characters_before_they_are_judged() {
        let email = Email::new("\u{0}Ada@Example.COM\u{7}\n").unwrap();
        assert_eq!(email.as_str(), "Ada@Example.COM");
        assert_eq!(email.normalized(), "ada@example.com");
        assert!(matches!(
            Email::new("ada\t@example.com"),
            Err(EmailError::Malformed(_))
        ));
        assert_eq!(Email::new("\u{0}\u{7}"), Err(EmailError::Empty));
    }

    #[test]
    fn emails_match_across_unicode_case() {
        let upper = Email::new("ÉLODIE.ÅSTRÖM@EXAMPLE.TEST").unwrap();
        let lower = Email::new("élodie.åström@example.test").unwrap();
        assert!(upper.matches(&lower));
        assert_eq!(upper.as_str(), "ÉLODIE.ÅSTRÖM@EXAMPLE.TEST");
    }

    #[test]
    fn profiles_from_outside_are_cleaned_and_capped() {
        let long = "x".repeat(20_000);
        let profile = Profile::from_untrusted(
            " ada@example.com ",
            Some("A\u{0}da\u{7}"),
            Some(&long),
            Some(&format!("https://example.com/{long}")),
        )
        .unwrap();
        assert_eq!(profile.email.as_str(), "ada@example.com");
        assert_eq!(profile.first_name.as_deref(), Some("Ada"));
        assert_eq!(profile.last_name.map(|n| n.chars().count()), Some(256));
        assert_eq!(profile.avatar_url.map(|a| a.chars().count()), Some(2048));
        let blank = Profile::from_untrusted("ada@example.com", Some("\u{0} "), None, Some(""));
        assert_eq!(blank.unwrap().first_name, None);
        assert!(Profile::from_untrusted("\u{0}", None, None, None).is_err());
    }

    #[test]
    fn the_nil_uuid_is_an_unsaved_identity() {
        assert!(AuthId::new(Uuid::nil()).is_unsaved());
        assert!(!AuthId::new(Uuid::new_v4()).is_unsaved());
    }
}
