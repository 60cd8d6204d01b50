//! An identity as Kratos holds it, and what the service reads from it: the
//! profile through configured trait pointers, whether an address is verified,
//! and the addresses it can be matched by.

use serde_json::Value;

use crate::text;
use crate::types::{AuthId, Email, EmailError, Profile};

/// Kratos's identity state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityState {
    Active,
    Inactive,
    /// A state this version does not know; treated as not active.
    Other(String),
}

/// One `verifiable_addresses` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiableAddress {
    pub value: String,
    pub verified: bool,
    pub via: String,
}

/// An identity as Kratos holds it, reduced to what the service reads.
#[derive(Debug, Clone, PartialEq)]
pub struct KratosIdentity {
    pub id: AuthId,
    pub state: IdentityState,
    pub traits: Value,
    pub verifiable_addresses: Vec<VerifiableAddress>,
    /// Every credentials identifier (email, username…) over all credential types.
    pub credential_identifiers: Vec<String>,
    pub external_id: Option<String>,
}

/// Where in `traits` the profile fields live (JSON pointers, RFC 6901).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraitPointers {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub avatar: String,
}

impl Default for TraitPointers {
    fn default() -> Self {
        Self {
            email: "/email".into(),
            first_name: "/name/first".into(),
            last_name: "/name/last".into(),
            avatar: "/picture".into(),
        }
    }
}

/// Why an identity's traits do not yield a profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("the identity has no email trait at `{0}`")]
    EmailMissing(String),
    #[error("the identity's email trait is not a usable address: {0}")]
    EmailInvalid(EmailError),
}

impl KratosIdentity {
    pub fn is_active(&self) -> bool {
        self.state == IdentityState::Active
    }

    /// The profile the application keeps, read from `traits` by `pointers`.
    ///
    /// # Errors
    /// [`ProfileError`] when the email trait is missing, not a string or not an address.
    /// Missing or non-string name and avatar traits are simply absent.
    pub fn profile(&self, pointers: &TraitPointers) -> Result<Profile, ProfileError> {
        let email = self
            .traits
            .pointer(&pointers.email)
            .and_then(Value::as_str)
            .ok_or_else(|| ProfileError::EmailMissing(pointers.email.clone()))?;
        let text = |pointer: &str| self.traits.pointer(pointer).and_then(Value::as_str);
        Profile::from_untrusted(
            email,
            text(&pointers.first_name),
            text(&pointers.last_name),
            text(&pointers.avatar),
        )
        .map_err(ProfileError::EmailInvalid)
    }

    /// True when a `verifiable_addresses` entry holds `email` and is verified.
    pub fn is_verified(&self, email: &Email) -> bool {
        self.verifiable_addresses.iter().any(|address| {
            address.verified && text::email_key(&address.value) == email.normalized()
        })
    }

    /// The normal forms of the addresses this identity can be matched by: the email trait
    /// and every `verifiable_addresses` entry. Credentials identifiers are left out: one
    /// may be a username anyone could pick, so it never matches a user.
    pub fn match_keys(&self, pointers: &TraitPointers) -> Vec<String> {
        let mut keys: Vec<String> = self
            .traits
            .pointer(&pointers.email)
            .and_then(Value::as_str)
            .into_iter()
            .chain(
                self.verifiable_addresses
                    .iter()
                    .map(|address| address.value.as_str()),
            )
            .filter_map(|raw| Email::new(raw).ok())
            .map(|email| email.normalized().to_owned())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn identity(traits: Value, verified: bool) -> KratosIdentity {
        KratosIdentity {
            id: AuthId::new(Uuid::new_v4()),
            state: IdentityState::Active,
            traits,
            verifiable_addresses: vec![VerifiableAddress {
                value: "ada@example.com".into(),
                verified,
                via: "email".into(),
            }],
            credential_identifiers: vec!["ADA@example.com".into(), "ada".into()],
            external_id: None,
        }
    }

    #[test]
    fn profile_is_read_through_the_configured_pointers() {
        let id = identity(
            json!({"email": " Ada@Example.com", "name": {"first": "Ada", "last": "Lovelace"}}),
            true,
        );
        let profile = id.profile(&TraitPointers::default()).unwrap();
        assert_eq!(profile.email.as_str(), "Ada@Example.com");
        assert_eq!(profile.first_name.as_deref(), Some("Ada"));
        assert_eq!(profile.last_name.as_deref(), Some("Lovelace"));
        assert_eq!(profile.avatar_url, None);

        let custom = TraitPointers {
            email: "/contact/mail".into(),
            ..TraitPointers::default()
        };
        let id = identity(json!({"contact": {"mail": "x@example.org"}}), true);
        assert_eq!(id.profile(&custom).unwrap().email.as_str(), "x@example.org");
    }

    #[test]
    fn hostile_traits_are_cleaned_into_the_profile() {
        let long = "n".repeat(20_000);
        let id = identity(
            json!({"email": "ada@example.com\u{0}", "name": {"first": "\u{7}Ada\u{0}", "last": long}}),
            true,
        );
        let profile = id.profile(&TraitPointers::default()).unwrap();
        assert_eq!(profile.email.as_str(), "ada@example.com");
        assert_eq!(profile.first_name.as_deref(), Some("Ada"));
        assert_eq!(profile.last_name.map(|n| n.chars().count()), Some(256));
        assert!(id.is_verified(&profile.email));
    }

    #[test]
    fn a_missing_or_malformed_email_trait_is_an_error() {
        let pointers = TraitPointers::default();
        let missing = identity(json!({"name": {"first": "A"}}), true);
        assert!(matches!(
            missing.profile(&pointers),
            Err(ProfileError::EmailMissing(_))
        ));
        let number = identity(json!({"email": 42}), true);
        assert!(matches!(
            number.profile(&pointers),
            Err(ProfileError::EmailMissing(_))
        ));
        let garbage = identity(json!({"email": "not an address"}), true);
        assert!(matches!(
            garbage.profile(&pointers),
            Err(ProfileError::EmailInvalid(_))
        ));
    }

    #[test]
    fn verification_needs_a_verified_entry_for_that_exact_address() {
        let email = Email::new("ADA@example.com").unwrap();
        assert!(identity(json!({}), true).is_verified(&email));
        assert!(!identity(json!({}), false).is_verified(&email));
        let other = Email::new("eve@example.com").unwrap();
        assert!(!identity(json!({}), true).is_verified(&other));
    }

    #[test]
    fn match_keys_cover_the_trait_and_address_identifiers_once_each() {
        let id = identity(json!({"email": "ada@example.com"}), true);
        assert_eq!(
            id.match_keys(&TraitPointers::default()),
            vec!["ada@example.com"]
        );
    }
}
