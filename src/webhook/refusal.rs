//! Why a webhook delivery is refused, and the message Kratos shows the user.
//!
//! Message ids are stable: UIs may translate by id. 4000001 is Kratos's own
//! generic validation message (its text is the `reason` in `context`); the
//! others sit in 4000901.. so as not to collide with Kratos's own ids.

use crate::link::ResolveError;

/// A business refusal of a webhook delivery (never an outage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The email belongs to another user (linked to another identity).
    Duplicate,
    /// The email matches an existing unlinked user but is not verified (takeover guard).
    LinkUnverified,
    /// Provisioning needs a verified email and it is not.
    EmailUnverified,
    /// The identity's traits lack a usable email.
    TraitsMissing,
    /// The identity is not active in Kratos.
    Inactive,
    /// Kratos has no identity with the id the delivery names.
    IdentityNotFound,
}

const ALL: [Refusal; 6] = [
    Refusal::Duplicate,
    Refusal::LinkUnverified,
    Refusal::EmailUnverified,
    Refusal::TraitsMissing,
    Refusal::Inactive,
    Refusal::IdentityNotFound,
];

impl Refusal {
    /// The link rule's business errors; `None` for outages and internal failures.
    pub fn from_resolve(error: &ResolveError) -> Option<Self> {
        Some(match error {
            ResolveError::IdentityDuplicate => Self::Duplicate,
            ResolveError::LinkUnverified => Self::LinkUnverified,
            ResolveError::EmailUnverified => Self::EmailUnverified,
            ResolveError::TraitsMissing(_) => Self::TraitsMissing,
            ResolveError::Inactive => Self::Inactive,
            ResolveError::IdentityNotFound => Self::IdentityNotFound,
            ResolveError::KratosUnavailable(_)
            | ResolveError::DatabaseUnavailable(_)
            | ResolveError::Internal(_) => return None,
        })
    }

    /// The stable code in the audit and metrics: the resolve endpoint's code for the same case.
    pub fn code(self) -> &'static str {
        match self {
            Self::Duplicate => "identity_duplicate",
            Self::LinkUnverified => "identity_link_unverified",
            Self::EmailUnverified => "identity_email_unverified",
            Self::TraitsMissing => "identity_traits_missing",
            Self::Inactive => "identity_inactive",
            Self::IdentityNotFound => "identity_not_found",
        }
    }

    /// The refusal a stored code names (redeliveries).
    pub fn from_code(code: &str) -> Option<Self> {
        ALL.into_iter().find(|refusal| refusal.code() == code)
    }

    /// The id of the message Kratos shows.
    pub fn message_id(self) -> i64 {
        match self {
            Self::Duplicate => 4_000_001,
            Self::LinkUnverified => 4_000_901,
            Self::EmailUnverified => 4_000_902,
            Self::TraitsMissing => 4_000_903,
            Self::Inactive => 4_000_904,
            Self::IdentityNotFound => 4_000_905,
        }
    }

    /// The message's text, for the person signing up (no internals).
    pub fn text(self) -> &'static str {
        match self {
            Self::Duplicate => "An account with this email address already exists.",
            Self::LinkUnverified => {
                "Verify this email address to connect it to your existing account."
            }
            Self::EmailUnverified => "Verify your email address to continue.",
            Self::TraitsMissing => "A valid email address is required.",
            Self::Inactive => "This account is disabled.",
            Self::IdentityNotFound => "This account could not be found.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_refusal_has_its_own_stable_code_and_message_id() {
        let codes: HashSet<_> = ALL.iter().map(|r| r.code()).collect();
        let ids: HashSet<_> = ALL.iter().map(|r| r.message_id()).collect();
        assert_eq!(codes.len(), ALL.len());
        assert_eq!(ids.len(), ALL.len());
        for refusal in ALL {
            assert_eq!(Refusal::from_code(refusal.code()), Some(refusal));
            assert!((4_000_000..4_001_000).contains(&refusal.message_id()));
        }
        assert_eq!(Refusal::Duplicate.message_id(), 4_000_001);
        assert_eq!(Refusal::from_code("created"), None);
    }

    #[test]
    fn outages_are_not_refusals() {
        assert_eq!(
            Refusal::from_resolve(&ResolveError::KratosUnavailable("down".into())),
            None
        );
        assert_eq!(
            Refusal::from_resolve(&ResolveError::DatabaseUnavailable("down".into())),
            None
        );
        assert_eq!(
            Refusal::from_resolve(&ResolveError::IdentityDuplicate),
            Some(Refusal::Duplicate)
        );
    }
}
