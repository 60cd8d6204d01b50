//! The backfill's judgement, as pure functions: what an identity offers to be
//! matched by (judged by the shared link rule), and what a user's matches mean.

use identity_link_ports::{
    CandidateFacts, Email, KratosIdentity, ResolutionStatus, StagedKey, UserFacts, Verdict,
};

use crate::link::{assess, LinkPolicy};

/// Identities named in a `duplicate` detail, at most.
const NAMED: usize = 10;

/// The addresses `identity` can be matched by, each with whether the identity
/// has it verified and why the link rule would refuse the identity, if it would.
pub fn staged_keys(identity: &KratosIdentity, policy: &LinkPolicy) -> Vec<StagedKey> {
    keys_of(identity, policy, identity.match_keys(&policy.traits))
}

/// As [`staged_keys`], for an identity Kratos returned when asked for `email`
/// as credentials identifier: `email` is one of its keys even when the answer
/// leaves the credentials out.
pub fn found_by(identity: &KratosIdentity, policy: &LinkPolicy, email: &Email) -> Vec<StagedKey> {
    let mut keys = identity.match_keys(&policy.traits);
    if !keys.iter().any(|key| key == email.normalized()) {
        keys.push(email.normalized().to_owned());
    }
    keys_of(identity, policy, keys)
}

fn keys_of(identity: &KratosIdentity, policy: &LinkPolicy, keys: Vec<String>) -> Vec<StagedKey> {
    let assessed = assess(identity, policy);
    let unfit = assessed.as_ref().err().map(|error| error.code().to_owned());
    let count = u16::try_from(keys.len()).unwrap_or(u16::MAX);
    keys.into_iter()
        .map(|key| {
            let verified = match &assessed {
                Ok(candidate) if candidate.profile.email.normalized() == key => candidate.verified,
                _ => Email::new(&key).is_ok_and(|email| identity.is_verified(&email)),
            };
            StagedKey {
                email_key: key,
                auth_id: identity.id,
                verified,
                unfit: unfit.clone(),
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
pub fn classify(facts: &UserFacts, lookup_error: Option<&str>, require_verified: bool) -> Verdict {
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
    match candidate.linked_to {
        Some(owner) if owner == facts.user => {
            return verdict(facts, AlreadyLinked, Some(candidate))
        }
        Some(owner) => {
            return with_detail(
                Verdict {
                    status: Conflict,
                    ..found
                },
                format!("the identity is linked to user {owner}"),
            )
        }
        None => {}
    }
    if candidate.claimants > 1 {
        return with_detail(
            Verdict {
                status: Duplicate,
                ..found
            },
            format!(
                "the identity's addresses match {} users",
                candidate.claimants
            ),
        );
    }
    if let Some(code) = &candidate.unfit {
        return with_detail(
            Verdict {
                status: Missing,
                ..found
            },
            format!("the only matching identity cannot be linked: {code}"),
        );
    }
    if !candidate.verified {
        if require_verified {
            return with_detail(
                Verdict {
                    status: Unverified,
                    ..found
                },
                "the identity has this email unverified".into(),
            );
        }
        return with_detail(found, "linked with the email unverified in Kratos".into());
    }
    found
}

#[cfg(test)]
mod tests;
