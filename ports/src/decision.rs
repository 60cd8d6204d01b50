//! The link decision, once, as a pure function over facts: resolve, the
//! webhook and backfill (its batches' race handling in the store included)
//! gather the facts their own way and all ask [`decide`]. What differs between
//! them is a [`DecisionPolicy`], never a second copy of the rule.

use crate::backfill::ResolutionStatus;
use crate::types::{AuthId, UserId};

/// How the identity holds the email being matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Address {
    /// A verified `verifiable_addresses` entry.
    Verified,
    /// The email trait or an unverified `verifiable_addresses` entry.
    Unverified,
    /// Only a credentials identifier (which may be a username anyone could pick).
    CredentialsOnly,
    /// No usable email at all (traits missing or malformed).
    Unusable,
}

/// A user holding the matched email, and its link now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub user: UserId,
    pub linked_to: Option<AuthId>,
}

/// What is known of one identity and the user its email names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub auth_id: AuthId,
    /// The user linked to this identity now, if any.
    pub linked_user: Option<UserId>,
    pub active: bool,
    pub address: Address,
    /// The user holding the email, if any.
    pub holder: Option<Holder>,
    /// Other users that hold one of the identity's addresses too: a link would
    /// pick one of them arbitrarily.
    pub rival_holders: u32,
}

/// When a missing user is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioning {
    /// Never (backfill, admin: they link existing users only).
    Never,
    /// Only for a verified address.
    VerifiedOnly,
    /// For any usable address.
    Always,
}

/// What differs between callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionPolicy {
    /// Link an existing user on an unverified address (backfill
    /// `--allow-unverified`). A credentials identifier alone never links.
    pub link_unverified: bool,
    pub provisioning: Provisioning,
}

impl DecisionPolicy {
    /// Resolve and the webhook: an unverified address never takes over an
    /// existing user; provisioning follows `REQUIRE_VERIFIED_EMAIL`.
    pub fn on_request(require_verified_email: bool) -> Self {
        Self {
            link_unverified: false,
            provisioning: if require_verified_email {
                Provisioning::VerifiedOnly
            } else {
                Provisioning::Always
            },
        }
    }

    /// Backfill: existing users only, verified addresses unless told otherwise.
    pub fn backfill(allow_unverified: bool) -> Self {
        Self {
            link_unverified: allow_unverified,
            provisioning: Provisioning::Never,
        }
    }
}

/// Why the rule does not link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Inactive,
    TraitsMissing,
    /// The email's holder is linked to another identity.
    HolderLinkedElsewhere,
    /// Several users hold the identity's addresses.
    Ambiguous,
    /// The address is not verified (and the policy does not link unverified ones).
    Unverified,
    /// The identity holds the email only as a credentials identifier.
    CredentialsOnly,
    /// No user holds the email and provisioning is not allowed for it.
    ProvisionUnverified,
    /// No user holds the email and the caller never provisions.
    NoUser,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The identity is linked to this user already: nothing to write.
    AlreadyLinked(UserId),
    /// Link the identity to this (unlinked) user.
    Link(UserId),
    /// Create a user linked to the identity.
    Provision,
    Refuse(Refusal),
}

/// The rule (CONTRACT §3 "Rules", §5, §6.2).
pub fn decide(facts: &Facts, policy: &DecisionPolicy) -> Decision {
    if let Some(user) = facts.linked_user {
        return Decision::AlreadyLinked(user);
    }
    if !facts.active {
        return Decision::Refuse(Refusal::Inactive);
    }
    if facts.address == Address::Unusable {
        return Decision::Refuse(Refusal::TraitsMissing);
    }
    let Some(holder) = facts.holder else {
        return match (policy.provisioning, facts.address) {
            (Provisioning::Never, _) => Decision::Refuse(Refusal::NoUser),
            (_, Address::CredentialsOnly) => Decision::Refuse(Refusal::CredentialsOnly),
            (Provisioning::Always, _) | (Provisioning::VerifiedOnly, Address::Verified) => {
                Decision::Provision
            }
            (Provisioning::VerifiedOnly, _) => Decision::Refuse(Refusal::ProvisionUnverified),
        };
    };
    match holder.linked_to {
        Some(linked) if linked == facts.auth_id => return Decision::AlreadyLinked(holder.user),
        Some(_) => return Decision::Refuse(Refusal::HolderLinkedElsewhere),
        None => {}
    }
    if facts.rival_holders > 0 {
        return Decision::Refuse(Refusal::Ambiguous);
    }
    match facts.address {
        Address::Verified => Decision::Link(holder.user),
        Address::Unverified if policy.link_unverified => Decision::Link(holder.user),
        Address::Unverified => Decision::Refuse(Refusal::Unverified),
        Address::CredentialsOnly => Decision::Refuse(Refusal::CredentialsOnly),
        Address::Unusable => Decision::Refuse(Refusal::TraitsMissing),
    }
}

/// The backfill status of `decision` for `user` (the user whose email matched).
pub fn backfill_status(decision: Decision, user: UserId) -> ResolutionStatus {
    match decision {
        Decision::AlreadyLinked(owner) if owner == user => ResolutionStatus::AlreadyLinked,
        Decision::AlreadyLinked(_) => ResolutionStatus::Conflict,
        Decision::Link(_) => ResolutionStatus::Linked,
        Decision::Refuse(Refusal::HolderLinkedElsewhere) => ResolutionStatus::AlreadyLinked,
        Decision::Refuse(Refusal::Ambiguous) => ResolutionStatus::Duplicate,
        Decision::Refuse(Refusal::Unverified) => ResolutionStatus::Unverified,
        Decision::Refuse(_) | Decision::Provision => ResolutionStatus::Missing,
    }
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
