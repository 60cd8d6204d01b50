//! The link rule, once: given an identity read from Kratos, return the user it
//! is linked to, link it to the existing unlinked user holding its (verified)
//! email, or provision a new linked user. Used by resolve and the webhook;
//! backfill gathers the same facts (active, usable email, verified address),
//! classifies with [`decide`] and links in bulk, and the admin API links the
//! user it chose with [`decide`] too: no caller judges an identity before the
//! decision does. Every change is written with its record ([`Journal`]) in
//! one step.
//!
//! Concurrency is the store's business: uniqueness constraints decide races,
//! and a lost race is simply re-read. No process lock is involved, so the rule
//! holds across any number of instances.

use identity_link_ports::{
    AuditOutcome, AuthId, ChangeRecord, CreateLinkedError, Email, IdentityError, IdentityProvider,
    KratosIdentity, LinkError, NewUser, Profile, ProfileError, StoreError, TraitPointers, User,
    UserId, UserStore,
};
use serde_json::Value;

use crate::usecases::call::CallContext;

pub use identity_link_ports::decision::{
    backfill_status, decide, Address, Decision, DecisionPolicy, Facts, Holder, Provisioning,
    Refusal, Target,
};

/// How the rule is configured.
#[derive(Debug, Clone)]
pub struct LinkPolicy {
    /// Provisioning needs the email verified in Kratos.
    pub require_verified_email: bool,
    pub traits: TraitPointers,
}

impl LinkPolicy {
    /// The decision policy of requests (resolve, webhook).
    pub fn decision(&self) -> DecisionPolicy {
        DecisionPolicy::on_request(self.require_verified_email)
    }
}

impl Default for LinkPolicy {
    fn default() -> Self {
        Self {
            require_verified_email: true,
            traits: TraitPointers::default(),
        }
    }
}

/// What a successful resolution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub user: User,
    /// A user was provisioned by this call.
    pub created: bool,
    /// The identity was attached to an existing unlinked user by this call.
    pub linked: bool,
}

impl Resolution {
    pub fn action(&self) -> &'static str {
        match (self.created, self.linked) {
            (true, _) => "created",
            (_, true) => "linked",
            _ => "resolved",
        }
    }
}

/// Why an identity could not be resolved to a user.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("Kratos has no identity with this id")]
    IdentityNotFound,
    #[error("the identity's email belongs to a user linked to another identity")]
    IdentityDuplicate,
    #[error("the identity's email matches an existing user but is not verified in Kratos, so it was not linked")]
    LinkUnverified,
    #[error("the identity's traits lack a usable email: {0}")]
    TraitsMissing(#[from] ProfileError),
    #[error("provisioning needs a verified email address and the identity's is not verified")]
    EmailUnverified,
    #[error("the identity is not active in Kratos")]
    Inactive,
    #[error("Kratos is unavailable: {0}")]
    KratosUnavailable(String),
    #[error("the database is unavailable: {0}")]
    DatabaseUnavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ResolveError {
    /// The stable error code callers see.
    pub fn code(&self) -> &'static str {
        match self {
            Self::IdentityNotFound => "identity_not_found",
            Self::IdentityDuplicate => "identity_duplicate",
            Self::LinkUnverified => "identity_link_unverified",
            Self::TraitsMissing(_) => "identity_traits_missing",
            Self::EmailUnverified => "identity_email_unverified",
            Self::Inactive => "identity_inactive",
            Self::KratosUnavailable(_) => "kratos_unavailable",
            Self::DatabaseUnavailable(_) => "database_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl From<StoreError> for ResolveError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(reason) => Self::DatabaseUnavailable(reason),
            StoreError::Unknown(error) => Self::Internal(error),
        }
    }
}

impl From<IdentityError> for ResolveError {
    fn from(error: IdentityError) -> Self {
        // Anything but "not found" is Kratos failing us (down, misbehaving or
        // refusing our credentials), never the caller's fault: a 503.
        match error {
            IdentityError::NotFound => Self::IdentityNotFound,
            IdentityError::Unavailable(reason) => Self::KratosUnavailable(reason),
            other => Self::KratosUnavailable(other.to_string()),
        }
    }
}

/// How many times a lost race is re-read before giving up. Each loss means
/// another writer made progress, so a handful is plenty.
const MAX_RACES: usize = 5;

/// What a change made by the rule commits with: its audit event (named after
/// `context`, with `detail`) and, when `write_back`, the pending write-back.
#[derive(Debug, Clone)]
pub struct Journal<'a> {
    pub context: &'a CallContext,
    pub detail: Value,
    pub write_back: bool,
}

impl<'a> Journal<'a> {
    pub fn new(context: &'a CallContext, detail: Value, write_back: bool) -> Self {
        Self {
            context,
            detail,
            write_back,
        }
    }

    /// The record of `action` on `user`'s link to `auth_id`.
    pub fn record(&self, action: &str, auth_id: AuthId, user: UserId) -> ChangeRecord {
        ChangeRecord {
            audit: vec![self.context.event(
                action,
                AuditOutcome::Ok,
                Some(auth_id),
                Some(user),
                self.detail.clone(),
            )],
            write_back: self.write_back,
        }
    }
}

/// How the identity holds `email`: the facts' [`Address`].
pub fn address_of(identity: &KratosIdentity, email: &Email) -> Address {
    if identity.is_verified(email) {
        Address::Verified
    } else {
        Address::Unverified
    }
}

/// The rule (CONTRACT §3 "Rules") for an identity already read from Kratos:
/// gathers the facts, asks [`decide`], and writes what it decided together
/// with its record (`journal`).
///
/// # Errors
/// Every [`ResolveError`] but `IdentityNotFound` and `KratosUnavailable`.
pub async fn link_or_provision(
    users: &dyn UserStore,
    identity: &KratosIdentity,
    policy: &LinkPolicy,
    journal: &Journal<'_>,
) -> Result<Resolution, ResolveError> {
    let existing = |user: User| Resolution {
        user,
        created: false,
        linked: false,
    };
    let profile = identity.profile(&policy.traits);
    for _ in 0..MAX_RACES {
        let linked = users.find_by_auth_id(identity.id).await?;
        let holder = match (&linked, &profile) {
            (None, Ok(profile)) => users.find_by_email(&profile.email).await?,
            _ => None,
        };
        let facts = Facts {
            auth_id: identity.id,
            linked_user: linked.as_ref().map(|user| user.id),
            active: identity.is_active(),
            address: match &profile {
                Ok(profile) => address_of(identity, &profile.email),
                Err(_) => Address::Unusable,
            },
            holder: holder.as_ref().map(|user| Holder {
                user: user.id,
                linked_to: user.auth_id,
            }),
            rival_holders: 0,
        };
        match decide(&facts, &policy.decision()) {
            Decision::AlreadyLinked(_) => {
                if let Some(user) = linked.or(holder) {
                    return Ok(existing(user));
                }
            }
            Decision::Link(user_id) => {
                let record = journal.record("linked", identity.id, user_id);
                match users
                    .set_link_recorded(user_id, Some(identity.id), None, &record)
                    .await
                {
                    Ok(user) => {
                        return Ok(Resolution {
                            user,
                            created: false,
                            linked: true,
                        })
                    }
                    // Someone linked this user or this identity meanwhile: re-read.
                    Err(LinkError::Changed { .. } | LinkError::AuthIdTaken) => continue,
                    Err(LinkError::UserNotFound) => continue,
                    Err(LinkError::EmailTaken) => return Err(ResolveError::IdentityDuplicate),
                    Err(LinkError::Store(error)) => return Err(error.into()),
                }
            }
            Decision::Provision => {
                let Ok(profile) = &profile else {
                    return Err(ResolveError::Internal(anyhow::anyhow!(
                        "provisioning decided without a profile"
                    )));
                };
                let new = NewUser {
                    id: UserId::generate(),
                    profile: profile.clone(),
                    auth_id: Some(identity.id),
                };
                let record = journal.record("created", identity.id, new.id);
                match users.create_linked_recorded(new, &record).await {
                    Ok(user) => {
                        return Ok(Resolution {
                            user,
                            created: true,
                            linked: false,
                        })
                    }
                    // Another call created this identity's user, or a user took
                    // the email, meanwhile: re-read and decide again.
                    Err(CreateLinkedError::AuthIdTaken | CreateLinkedError::EmailTaken) => continue,
                    Err(CreateLinkedError::Store(error)) => return Err(error.into()),
                }
            }
            Decision::Refuse(refusal) => return Err(refused(refusal, &profile)),
        }
    }
    Err(ResolveError::Internal(anyhow::anyhow!(
        "identity {} lost {MAX_RACES} races in a row; giving up",
        identity.id
    )))
}

/// The error a request (or an admin link) sees for a refusal of the rule.
pub(crate) fn refused(refusal: Refusal, profile: &Result<Profile, ProfileError>) -> ResolveError {
    match (refusal, profile) {
        (Refusal::Inactive, _) => ResolveError::Inactive,
        (Refusal::TraitsMissing, Err(error)) => ResolveError::TraitsMissing(error.clone()),
        (Refusal::HolderLinkedElsewhere | Refusal::Ambiguous, _) => ResolveError::IdentityDuplicate,
        (Refusal::Unverified | Refusal::CredentialsOnly, _) => ResolveError::LinkUnverified,
        (Refusal::ProvisionUnverified, _) => ResolveError::EmailUnverified,
        (other, _) => ResolveError::Internal(anyhow::anyhow!(
            "the link rule refused with {other:?}, which requests never meet"
        )),
    }
}

/// The identity `auth_id` as Kratos holds it, checked to be the one asked for.
///
/// # Errors
/// `IdentityNotFound`, `KratosUnavailable`, or `Internal` when Kratos answers for
/// another identity.
pub async fn fetch_identity(
    identities: &dyn IdentityProvider,
    auth_id: AuthId,
) -> Result<KratosIdentity, ResolveError> {
    let identity = identities.get_identity(auth_id).await?;
    if identity.id != auth_id {
        return Err(ResolveError::Internal(anyhow::anyhow!(
            "Kratos answered for identity {} when asked for {auth_id}",
            identity.id
        )));
    }
    Ok(identity)
}

#[cfg(test)]
mod tests;
