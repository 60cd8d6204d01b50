//! The session's staging area and its walks over users.

use std::collections::BTreeSet;

use identity_link_ports::text::email_key;
use identity_link_ports::{
    AuthId, CandidateFacts, RunEnd, StagedKey, UserFacts, UserFilter, UserId, UserRef,
};

use super::{auth_id, plan, seed, BackfillSubjects};

fn key(email: &str, auth_id: AuthId, keys: u16) -> StagedKey {
    StagedKey {
        email_key: email_key(email),
        auth_id,
        verified: true,
        active: true,
        usable: true,
        keys,
    }
}

fn candidate(auth_id: AuthId, linked_to: Option<UserId>, claimants: u32) -> CandidateFacts {
    CandidateFacts {
        auth_id,
        verified: true,
        active: true,
        usable: true,
        linked_to,
        claimants,
    }
}

fn of(walked: &[UserFacts], user: UserId) -> &UserFacts {
    let found = walked.iter().find(|facts| facts.user == user);
    found.unwrap_or_else(|| panic!("user {user} is walked"))
}

pub(super) async fn the_walk_gives_every_unlinked_user_with_its_staged_candidates(
    s: &BackfillSubjects,
) {
    let (ada_id, owned, multi, twin_a, twin_b) =
        (auth_id(), auth_id(), auth_id(), auth_id(), auth_id());
    let ada = seed(s, "walk-ada@example.com", None).await;
    let nobody = seed(s, "walk-nobody@example.com", None).await;
    let owner = seed(s, "walk-owner@example.com", Some(owned)).await;
    let late = seed(s, "Walk-Taken@Example.com", None).await;
    let first = seed(s, "walk-first@example.com", None).await;
    let second = seed(s, "walk-second@example.com", None).await;
    let twin = seed(s, "walk-twin@example.com", None).await;
    let unverified = StagedKey {
        verified: false,
        active: false,
        usable: false,
        ..key("walk-twin@example.com", twin_b, 1)
    };

    // A dry run: the session works the same without the lock.
    let mut session = s.store.begin(&plan(true)).await.expect("begin");
    assert!(session.next_facts(1).await.is_err(), "no walk is open yet");
    let ada_key = key(" Walk-Ada@Example.com", ada_id, 1);
    session
        .stage(std::slice::from_ref(&ada_key))
        .await
        .expect("stage");
    session.stage(&[]).await.expect("stage nothing");
    let keys = [
        ada_key,
        key("walk-taken@example.com", owned, 1),
        key("walk-first@example.com", multi, 2),
        key("walk-second@example.com", multi, 2),
        key("walk-twin@example.com", twin_a, 1),
        unverified,
    ];
    session.stage(&keys).await.expect("stage");

    let unlinked = UserFilter {
        linked: Some(false),
        search: None,
    };
    let expected = s.users.count(&unlinked, 1_000_000).await.expect("count");
    let count = session.unlinked_count().await.expect("unlinked count");
    assert_eq!(count, expected.count);

    session.open_walk().await.expect("open the walk");
    let mut walked: Vec<UserFacts> = Vec::new();
    loop {
        let facts = session.next_facts(2).await.expect("next users");
        assert!(facts.len() <= 2);
        if facts.is_empty() {
            break;
        }
        walked.extend(facts);
    }
    assert!(session
        .next_facts(2)
        .await
        .expect("past the end")
        .is_empty());
    let ids: Vec<UserId> = walked.iter().map(|facts| facts.user).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "in id order");
    assert_eq!(ids.len() as u64, count, "every unlinked user once");
    assert!(!ids.contains(&owner) && walked.iter().all(|f| f.current.is_none()));

    let facts = of(&walked, ada);
    assert_eq!(facts.email, "walk-ada@example.com", "the email as stored");
    assert_eq!(facts.candidates, [candidate(ada_id, None, 1)], "each once");
    assert_eq!(of(&walked, nobody).candidates, []);
    let facts = of(&walked, late);
    assert_eq!(facts.email, "Walk-Taken@Example.com");
    assert_eq!(facts.candidates, [candidate(owned, Some(owner), 1)]);
    for holder in [first, second] {
        let candidates = &of(&walked, holder).candidates;
        assert_eq!(
            candidates,
            &[candidate(multi, None, 2)],
            "two users hold its addresses"
        );
    }
    let mut twins = of(&walked, twin).candidates.clone();
    twins.sort_by_key(|candidate| candidate.auth_id != twin_a);
    assert_eq!(twins.len(), 2);
    assert_eq!(twins[0], candidate(twin_a, None, 1));
    let flags = (
        twins[1].auth_id,
        twins[1].verified,
        twins[1].active,
        twins[1].usable,
    );
    assert_eq!(flags, (twin_b, false, false, false));

    let mut pages: Vec<UserRef> = Vec::new();
    loop {
        let after = pages.last().map(|user| user.id);
        let page = session
            .unlinked_users(after, 2)
            .await
            .expect("unlinked users");
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        pages.extend(page);
    }
    let paged: Vec<UserId> = pages.iter().map(|user| user.id).collect();
    assert_eq!(paged, ids, "the lookup pages walk the same users");
    let ada_ref = pages
        .iter()
        .find(|user| user.id == ada)
        .expect("ada is paged");
    assert_eq!(ada_ref.email, "walk-ada@example.com");

    let unknown = UserId::generate();
    let wanted = [second, owner, unknown, owner];
    let found = session.facts_for(&wanted).await.expect("facts");
    let found_ids: Vec<UserId> = found.iter().map(|facts| facts.user).collect();
    let expected: Vec<UserId> = BTreeSet::from([second, owner]).into_iter().collect();
    assert_eq!(found_ids, expected, "known users, each once, in id order");
    let facts = of(&found, owner);
    assert_eq!((facts.current, facts.candidates.len()), (Some(owned), 0));
    assert_eq!(of(&found, second).candidates, [candidate(multi, None, 2)]);
    session.finish(RunEnd::Finished).await.expect("finish");
}
