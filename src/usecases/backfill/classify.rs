//! The backfill's judgement, as pure functions: what an identity offers to be
//! matched by (its addresses, never its credentials identifiers), and what a
//! user's matches mean — for one matching identity, the shared link decision
//! ([`decide`]) says.

use identity_link_ports::{
    CandidateFacts, Email, KratosIdentity, ResolutionStatus, StagedKey, UserFacts, Verdict,
};

use crate::usecases::link::{
    decide, Address, Decision, DecisionPolicy, Facts, Holder, LinkPolicy, Refusal,
};

/// Identities named in a `duplicate` detail, at most.
const NAMED: usize = 10;

/// The addresses `identity` can be matched by, each with the facts the link
/// rule judges the identity by: whether it has the address verified, whether
/// it is active, whether its traits give a usable email.
pub fn staged_keys(identity: &KratosIdentity, policy: &LinkPolicy) -> Vec<StagedKey> {
    keys_of(identity, policy, identity.match_keys(&policy.traits))
}

/// As [`staged_keys`], for an identity Kratos returned when asked for `email`
/// as credentials identifier. Being found that way proves nothing (a
/// credentials identifier may be a username anyone could pick): only the
/// identity's addresses are keys, so `email` matches only when it is one.
pub fn found_by(identity: &KratosIdentity, policy: &LinkPolicy, _email: &Email) -> Vec<StagedKey> {
    staged_keys(identity, policy)
}

fn keys_of(identity: &KratosIdentity, policy: &LinkPolicy, keys: Vec<String>) -> Vec<StagedKey> {
    let profile = identity.profile(&policy.traits).ok();
    let active = identity.is_active();
    let count = u16::try_from(keys.len()).unwrap_or(u16::MAX);
    keys.into_iter()
        .map(|key| {
            let verified = match &profile {
                Some(profile) if profile.email.normalized() == key => {
                    identity.is_verified(&profile.email)
                }
                _ => Email::new(&key).is_ok_and(|email| identity.is_verified(&email)),
            };
            StagedKey {
                email_key: key,
                auth_id: identity.id,
                verified,
                active,
                usable: profile.is_some(),
                keys: count,
            }
        })
        .collect()
}

fn verdict(
    facts: &UserFacts,
    status: ResolutionStatus,
    candidate: Option<&CandidateFacts>,
) -> Verdict {
    Verdict {
        user: facts.user,
        email: facts.email.clone(),
        status,
        auth_id: candidate.map(|candidate| candidate.auth_id),
        detail: None,
    }
}

fn with_detail(mut verdict: Verdict, detail: String) -> Verdict {
    verdict.detail = Some(detail);
    verdict
}

/// What to do with one user, given every identity matching its email.
/// `Linked` means "link to `auth_id`"; the store has the last word on races.
pub fn classify(facts: &UserFacts, lookup_error: Option<&str>, allow_unverified: bool) -> Verdict {
    use ResolutionStatus::*;
    if let Some(current) = facts.current {
        let mut already = verdict(facts, AlreadyLinked, None);
        already.auth_id = Some(current);
        return already;
    }
    if let Some(error) = lookup_error {
        return with_detail(
            verdict(facts, Error, None),
            format!("Kratos lookup failed after retries: {error}"),
        );
    }
    let candidate = match facts.candidates.as_slice() {
        [] => {
            let detail = match Email::new(&facts.email) {
                Ok(_) => "no Kratos identity has this email".to_owned(),
                Err(error) => format!("the stored email is not a usable address: {error}"),
            };
            return with_detail(verdict(facts, Missing, None), detail);
        }
        [candidate] => candidate,
        several => {
            let mut ids: Vec<String> = several
                .iter()
                .take(NAMED)
                .map(|candidate| candidate.auth_id.to_string())
                .collect();
            if several.len() > NAMED {
                ids.push("…".into());
            }
            return with_detail(
                verdict(facts, Duplicate, None),
                format!(
                    "{} Kratos identities have this email: {}",
                    several.len(),
                    ids.join(", ")
                ),
            );
        }
    };
    let found = verdict(facts, Linked, Some(candidate));
    let facts_of_link = Facts {
        auth_id: candidate.auth_id,
        linked_user: candidate.linked_to,
        active: candidate.active,
        address: match (candidate.usable, candidate.verified) {
            (false, _) => Address::Unusable,
            (true, true) => Address::Verified,
            (true, false) => Address::Unverified,
        },
        holder: Some(Holder {
            user: facts.user,
            linked_to: facts.current,
        }),
        rival_holders: candidate.claimants.saturating_sub(1),
    };
    let refused = |status, detail: String| {
        with_detail(
            Verdict {
                status,
                ..found.clone()
            },
            detail,
        )
    };
    match decide(&facts_of_link, &DecisionPolicy::backfill(allow_unverified)) {
        Decision::AlreadyLinked(owner) if owner == facts.user => {
            verdict(facts, AlreadyLinked, Some(candidate))
        }
        Decision::AlreadyLinked(owner) => {
            refused(Conflict, format!("the identity is linked to user {owner}"))
        }
        Decision::Link(_) if candidate.verified => found,
        Decision::Link(_) => {
            with_detail(found, "linked with the email unverified in Kratos".into())
        }
        Decision::Refuse(Refusal::Ambiguous) => refused(
            Duplicate,
            format!(
                "the identity's addresses match {} users",
                candidate.claimants
            ),
        ),
        Decision::Refuse(Refusal::Unverified) => {
            refused(Unverified, "the identity has this email unverified".into())
        }
        Decision::Refuse(refusal) => refused(
            Missing,
            format!(
                "the only matching identity cannot be linked: {}",
                reason(refusal)
            ),
        ),
        Decision::Provision => refused(Missing, "backfill never creates users".into()),
    }
}

/// Why a backfill link was refused, for the report: the codes a request
/// sees where there is one.
fn reason(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::Inactive => "identity_inactive",
        Refusal::TraitsMissing => "identity_traits_missing",
        Refusal::CredentialsOnly => "the email is only a credentials identifier",
        _ => "refused by the link rule",
    }
}

#[cfg(test)]
mod tests;
