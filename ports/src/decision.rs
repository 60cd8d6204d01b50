//! The link decision, once, as a pure function over facts: resolve, the
//! webhook and backfill (its batches' race handling in the store included)
//! gather the facts their own way and all ask [`decide`], and so does the
//! admin API when it links a user it chose. What differs between them is a
//! [`DecisionPolicy`], never a second copy of the rule.

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

/// The user to link: the one holding the matched email, or the one an admin
/// chose ([`Target::Chosen`]); and its link now.
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
    /// The user holding the email (or the one chosen), if any.
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

/// Who the holder is, and whether its link may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The user holding the identity's email: linked only while unlinked,
    /// never relinked (resolve, webhook, backfill).
    EmailHolder,
    /// A user an admin chose, whatever its email (CONTRACT §4): linked only
    /// while its link is still `expected` (`None`: unlinked), which the link
    /// then replaces — a compare-and-set.
    Chosen { expected: Option<AuthId> },
}

/// What differs between callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionPolicy {
    /// Link an existing user on an unverified address (backfill
    /// `--allow-unverified`; an admin, who vouches for the link). A
    /// credentials identifier alone never links.
    pub link_unverified: bool,
    pub provisioning: Provisioning,
    pub target: Target,
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
            target: Target::EmailHolder,
        }
    }

    /// Backfill: existing users only, verified addresses unless told otherwise.
    pub fn backfill(allow_unverified: bool) -> Self {
        Self {
            link_unverified: allow_unverified,
            provisioning: Provisioning::Never,
            target: Target::EmailHolder,
        }
    }

    /// The admin API: links the user it chose (the holder) when that user's
    /// link is still `expected`, relinking it if need be, on any usable
    /// address; never creates a user.
    pub fn admin(expected: Option<AuthId>) -> Self {
        Self {
            link_unverified: true,
            provisioning: Provisioning::Never,
            target: Target::Chosen { expected },
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
    /// The chosen user's link is no longer the one expected.
    LinkChanged,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The identity is linked to this user already: nothing to write.
    AlreadyLinked(UserId),
    /// Link the identity to this user: an unlinked one, or under
    /// [`Target::Chosen`] one whose expected link this replaces.
    Link(UserId),
    /// Create a user linked to the identity.
    Provision,
    Refuse(Refusal),
}

/// The rule (CONTRACT §3 "Rules", §4, §5, §6.2).
pub fn decide(facts: &Facts, policy: &DecisionPolicy) -> Decision {
    // A chosen user's link is compared first: a stale view changes nothing.
    if let (Target::Chosen { expected }, Some(holder)) = (policy.target, facts.holder) {
        if holder.linked_to != expected {
            return Decision::Refuse(Refusal::LinkChanged);
        }
    }
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
        // Its expected link, checked above: the admin replaces it.
        Some(_) if matches!(policy.target, Target::Chosen { .. }) => {}
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

/// The backfill status of a link decided earlier for `user` to `auth_id`, once
/// the store finds the identity linked to `owner` and the user to `current`
/// (a batch that lost a race): the address passed the rule when the link was
/// decided; only the links may have changed since. Every backfill store asks
/// this, so none of them judges a lost race by itself.
pub fn backfill_recheck(
    user: UserId,
    auth_id: AuthId,
    owner: Option<UserId>,
    current: Option<AuthId>,
) -> ResolutionStatus {
    let facts = Facts {
        auth_id,
        linked_user: owner,
        active: true,
        address: Address::Verified,
        holder: Some(Holder {
            user,
            linked_to: current,
        }),
        rival_holders: 0,
    };
    backfill_status(decide(&facts, &DecisionPolicy::backfill(false)), user)
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "decision_admin_tests.rs"]
mod admin_tests;
