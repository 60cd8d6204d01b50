//! What a run reads and decides per user: identity match keys staged, each
//! user with its matching candidates, and the verdict.

use super::ResolutionStatus;
use crate::types::{AuthId, UserId};

/// One address an identity can be matched by, as the link rule judged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedKey {
    /// The address's normal form ([`crate::text::email_key`]).
    pub email_key: String,
    pub auth_id: AuthId,
    /// The identity has this address verified.
    pub verified: bool,
    /// The identity is active in Kratos.
    pub active: bool,
    /// The identity's traits give a usable email.
    pub usable: bool,
    /// How many addresses the identity can be matched by in all.
    pub keys: u16,
}

/// An identity matching a user's email, with what the store knows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateFacts {
    pub auth_id: AuthId,
    pub verified: bool,
    /// The identity is active in Kratos.
    pub active: bool,
    /// The identity's traits give a usable email.
    pub usable: bool,
    /// The user this identity is linked to now, if any.
    pub linked_to: Option<UserId>,
    /// How many users (linked or not) hold one of the identity's addresses.
    pub claimants: u32,
}

/// A user to examine and every staged identity matching its email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFacts {
    pub user: UserId,
    /// The stored email, as stored (it may not even be a valid address).
    pub email: String,
    /// The user's link now.
    pub current: Option<AuthId>,
    pub candidates: Vec<CandidateFacts>,
}

/// An unlinked user, for lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    pub id: UserId,
    pub email: String,
}

/// What a run decided (or, after [`super::BackfillStore::apply_batch`], recorded) for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub user: UserId,
    pub email: String,
    /// `Linked` before a batch is applied means "to be linked to `auth_id`".
    pub status: ResolutionStatus,
    pub auth_id: Option<AuthId>,
    pub detail: Option<String>,
}
