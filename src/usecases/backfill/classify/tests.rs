use identity_link_ports::{AuthId, IdentityState, UserId, VerifiableAddress};
use serde_json::json;
use uuid::Uuid;

use super::*;

fn identity(trait_email: &str, identifiers: &[&str], verified: &[&str]) -> KratosIdentity {
    KratosIdentity {
        id: AuthId::new(Uuid::new_v4()),
        state: IdentityState::Active,
        traits: json!({ "email": trait_email }),
        verifiable_addresses: verified
            .iter()
            .map(|value| VerifiableAddress {
                value: (*value).to_owned(),
                verified: true,
                via: "email".into(),
            })
            .collect(),
        credential_identifiers: identifiers.iter().map(|id| (*id).to_owned()).collect(),
        external_id: None,
    }
}

fn candidate() -> CandidateFacts {
    CandidateFacts {
        auth_id: AuthId::new(Uuid::new_v4()),
        verified: true,
        active: true,
        usable: true,
        linked_to: None,
        claimants: 1,
    }
}

fn facts(candidates: Vec<CandidateFacts>) -> UserFacts {
    UserFacts {
        user: UserId::generate(),
        email: "Ada@Example.com".into(),
        current: None,
        candidates,
    }
}

#[test]
fn keys_are_the_trimmed_lowercase_trait_and_identifier_addresses() {
    let id = identity(
        "  Ada@Example.COM ",
        &["ada@example.com", "ada-login"],
        &["ada@example.com"],
    );
    let keys = staged_keys(&id, &LinkPolicy::default());
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].email_key, "ada@example.com");
    assert!(keys[0].verified);
    assert!(keys[0].active && keys[0].usable);
    assert_eq!(keys[0].keys, 1);
}

#[test]
fn a_credentials_identifier_is_never_a_key() {
    let squatter = identity(
        "squatter@example.com",
        &["victim@example.com"],
        &["squatter@example.com"],
    );
    let keys = staged_keys(&squatter, &LinkPolicy::default());
    let emails: Vec<_> = keys.iter().map(|key| key.email_key.as_str()).collect();
    assert_eq!(emails, vec!["squatter@example.com"]);
    let victim = Email::new("victim@example.com").unwrap();
    let found = found_by(&squatter, &LinkPolicy::default(), &victim);
    assert!(found
        .iter()
        .all(|key| key.email_key != "victim@example.com"));
}

#[test]
fn each_key_carries_its_own_verification_and_the_key_count() {
    let id = identity(
        "ada@example.com",
        &["old@example.com"],
        &["old@example.com"],
    );
    let keys = staged_keys(&id, &LinkPolicy::default());
    let by_key = |key: &str| keys.iter().find(|k| k.email_key == key).expect("staged");
    assert!(!by_key("ada@example.com").verified);
    assert!(by_key("old@example.com").verified);
    assert!(keys.iter().all(|k| k.keys == 2));
}

#[test]
fn staged_keys_carry_what_the_link_rule_judges_an_identity_by() {
    let mut inactive = identity("ada@example.com", &[], &["ada@example.com"]);
    inactive.state = IdentityState::Inactive;
    let keys = staged_keys(&inactive, &LinkPolicy::default());
    assert!(!keys[0].active);
    assert!(keys[0].usable && keys[0].verified, "{keys:?}");

    let mut no_trait = identity("ada@example.com", &["ada@example.com"], &[]);
    no_trait.traits = json!({});
    no_trait.verifiable_addresses = vec![VerifiableAddress {
        value: "ada@example.com".into(),
        verified: true,
        via: "email".into(),
    }];
    let keys = staged_keys(&no_trait, &LinkPolicy::default());
    assert_eq!(keys.len(), 1, "still matched by its address");
    assert!(keys[0].active && !keys[0].usable, "{keys:?}");
}

#[test]
fn exactly_one_free_verified_candidate_is_linked() {
    let only = candidate();
    let verdict = classify(&facts(vec![only.clone()]), None, false);
    assert_eq!(verdict.status, ResolutionStatus::Linked);
    assert_eq!(verdict.auth_id, Some(only.auth_id));
    assert_eq!(verdict.detail, None);
}

#[test]
fn no_candidate_is_missing_and_several_are_a_duplicate() {
    let none = classify(&facts(vec![]), None, false);
    assert_eq!(none.status, ResolutionStatus::Missing);
    assert_eq!(none.auth_id, None);

    let mut garbage = facts(vec![]);
    garbage.email = "not-an-address".into();
    let detail = classify(&garbage, None, false).detail.expect("detail");
    assert!(detail.contains("not a usable address"), "{detail}");

    let (a, b) = (candidate(), candidate());
    let several = classify(&facts(vec![a.clone(), b.clone()]), None, false);
    assert_eq!(several.status, ResolutionStatus::Duplicate);
    let detail = several.detail.expect("detail");
    assert!(detail.contains(&a.auth_id.to_string()) && detail.contains(&b.auth_id.to_string()));
}

#[test]
fn an_identity_linked_to_another_user_is_a_conflict() {
    let owner = UserId::generate();
    let taken = CandidateFacts {
        linked_to: Some(owner),
        ..candidate()
    };
    let verdict = classify(&facts(vec![taken.clone()]), None, false);
    assert_eq!(verdict.status, ResolutionStatus::Conflict);
    assert_eq!(verdict.auth_id, Some(taken.auth_id));
    assert!(verdict.detail.expect("detail").contains(&owner.to_string()));
}

#[test]
fn an_identity_matching_several_users_is_a_duplicate_for_each() {
    let shared = CandidateFacts {
        claimants: 2,
        ..candidate()
    };
    let verdict = classify(&facts(vec![shared]), None, false);
    assert_eq!(verdict.status, ResolutionStatus::Duplicate);
}

#[test]
fn unverified_matches_link_only_when_allowed() {
    let unverified = CandidateFacts {
        verified: false,
        ..candidate()
    };
    let required = classify(&facts(vec![unverified.clone()]), None, false);
    assert_eq!(required.status, ResolutionStatus::Unverified);
    assert_eq!(required.auth_id, Some(unverified.auth_id));
    let allowed = classify(&facts(vec![unverified]), None, true);
    assert_eq!(allowed.status, ResolutionStatus::Linked);
    assert!(allowed.detail.expect("says so").contains("unverified"));
}

#[test]
fn an_unfit_only_match_is_missing_with_the_rule_s_reason() {
    let inactive = CandidateFacts {
        active: false,
        ..candidate()
    };
    let unusable = CandidateFacts {
        usable: false,
        ..candidate()
    };
    let both = CandidateFacts {
        active: false,
        usable: false,
        ..candidate()
    };
    for (candidate, reason) in [
        (inactive, "identity_inactive"),
        (unusable, "identity_traits_missing"),
        (both, "identity_inactive"),
    ] {
        for allow_unverified in [false, true] {
            let verdict = classify(&facts(vec![candidate.clone()]), None, allow_unverified);
            assert_eq!(verdict.status, ResolutionStatus::Missing, "{candidate:?}");
            let detail = verdict.detail.expect("detail");
            assert!(detail.contains(reason), "{detail}");
        }
    }
}

#[test]
fn an_inactive_identity_linked_to_another_user_is_a_conflict() {
    let owner = UserId::generate();
    let linked = CandidateFacts {
        active: false,
        linked_to: Some(owner),
        ..candidate()
    };
    let verdict = classify(&facts(vec![linked]), None, false);
    assert_eq!(verdict.status, ResolutionStatus::Conflict);
    assert!(verdict.detail.expect("detail").contains(&owner.to_string()));
}

#[test]
fn a_linked_user_is_already_linked_and_a_failed_lookup_is_an_error() {
    let mut linked = facts(vec![candidate()]);
    let current = AuthId::new(Uuid::new_v4());
    linked.current = Some(current);
    let verdict = classify(&linked, None, false);
    assert_eq!(verdict.status, ResolutionStatus::AlreadyLinked);
    assert_eq!(verdict.auth_id, Some(current));

    let failed = classify(&facts(vec![]), Some("status 500"), false);
    assert_eq!(failed.status, ResolutionStatus::Error);
    assert!(failed.detail.expect("detail").contains("status 500"));
}

#[test]
fn an_identity_found_by_an_identifier_is_keyed_by_its_addresses_only() {
    let id = identity("display@example.com", &[], &["login@example.com"]);
    let email = Email::new("Login@Example.com").unwrap();
    let keys = found_by(&id, &LinkPolicy::default(), &email);
    let login = keys
        .iter()
        .find(|k| k.email_key == "login@example.com")
        .expect("keyed by its verified address");
    assert!(login.verified);
    assert!(keys.iter().all(|k| k.keys == 2));
    let stranger = Email::new("someone-else@example.com").unwrap();
    assert!(found_by(&id, &LinkPolicy::default(), &stranger)
        .iter()
        .all(|k| k.email_key != "someone-else@example.com"));
}
