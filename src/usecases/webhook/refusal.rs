//! Why a webhook delivery is refused, and the message Kratos shows the user.
//!
//! Message ids are stable: UIs may translate by id. 4000001 is Kratos's own
//! generic validation message (its text is the `reason` in `context`); the
//! others sit in 4000901.. so as not to collide with Kratos's own ids.
//!
//! An email not verified yet is not a refusal but a deferral (see
//! [`deferred`]): Kratos runs hooks after saving an identity or a settings
//! change too, and a 4xx there would show the person an error for a change
//! Kratos already made, and skip the hooks after it (the session).

use crate::usecases::link::ResolveError;

/// A business refusal of a webhook delivery (never an outage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The email belongs to another user (linked to another identity).
    Duplicate,
    /// The identity's traits lack a usable email.
    TraitsMissing,
    /// The identity is not active in Kratos.
    Inactive,
    /// Kratos has no identity with the id the delivery names.
    IdentityNotFound,
}

const ALL: [Refusal; 4] = [
    Refusal::Duplicate,
    Refusal::TraitsMissing,
    Refusal::Inactive,
    Refusal::IdentityNotFound,
];

impl Refusal {
    /// The link rule's refusals; `None` for deferrals, outages and internal failures.
    pub fn from_resolve(error: &ResolveError) -> Option<Self> {
        Some(match error {
            ResolveError::IdentityDuplicate => Self::Duplicate,
            ResolveError::TraitsMissing(_) => Self::TraitsMissing,
            ResolveError::Inactive => Self::Inactive,
            ResolveError::IdentityNotFound => Self::IdentityNotFound,
            ResolveError::LinkUnverified
            | ResolveError::EmailUnverified
            | ResolveError::KratosUnavailable(_)
            | ResolveError::DatabaseUnavailable(_)
            | ResolveError::Internal(_) => return None,
        })
    }

    /// The stable code in the audit and metrics: the resolve endpoint's code for the same case.
    pub fn code(self) -> &'static str {
        match self {
            Self::Duplicate => "identity_duplicate",
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
            Self::TraitsMissing => 4_000_901,
            Self::Inactive => 4_000_902,
            Self::IdentityNotFound => 4_000_903,
        }
    }

    /// The message's text, for the person signing up (no internals).
    pub fn text(self) -> &'static str {
        match self {
            Self::Duplicate => "An account with this email address already exists.",
            Self::TraitsMissing => "A valid email address is required.",
            Self::Inactive => "This account is disabled.",
            Self::IdentityNotFound => "This account could not be found.",
        }
    }
}

/// The link rule's outcomes that wait for the email to be verified: the
/// delivery is accepted, the link is not made, and the verification hook (or a
/// later login, or resolve) makes it. `None` for every other error.
pub fn deferred(error: &ResolveError) -> Option<&'static str> {
    matches!(
        error,
        ResolveError::LinkUnverified | ResolveError::EmailUnverified
    )
    .then(|| error.code())
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

    #[test]
    fn an_email_not_verified_yet_defers_the_link_instead_of_refusing() {
        for error in [ResolveError::LinkUnverified, ResolveError::EmailUnverified] {
            assert_eq!(Refusal::from_resolve(&error), None);
            assert_eq!(deferred(&error), Some(error.code()));
        }
        assert_eq!(deferred(&ResolveError::IdentityDuplicate), None);
    }
}
