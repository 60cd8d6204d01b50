//! The admin's policy: a chosen user, linked while its link is as expected.

use super::tests::{auth, facts, BACKFILL_UNVERIFIED};
use super::*;

fn chosen(linked_to: Option<AuthId>) -> Facts {
    facts(
        Address::Verified,
        Some(Holder {
            user: UserId::generate(),
            linked_to,
        }),
    )
}

fn user_of(f: &Facts) -> UserId {
    f.holder.map(|holder| holder.user).unwrap()
}

#[test]
fn an_admin_links_the_chosen_unlinked_user_on_any_usable_address() {
    for address in [Address::Verified, Address::Unverified] {
        let f = Facts {
            address,
            ..chosen(None)
        };
        assert_eq!(
            decide(&f, &DecisionPolicy::admin(None)),
            Decision::Link(user_of(&f)),
            "{address:?}"
        );
    }
    let credentials = Facts {
        address: Address::CredentialsOnly,
        ..chosen(None)
    };
    assert_eq!(
        decide(&credentials, &DecisionPolicy::admin(None)),
        Decision::Refuse(Refusal::CredentialsOnly),
        "a credentials identifier alone never links, not even for an admin"
    );
}

#[test]
fn an_admin_policy_that_does_not_link_unverified_addresses_refuses_them() {
    let f = Facts {
        address: Address::Unverified,
        ..chosen(None)
    };
    let strict = DecisionPolicy {
        link_unverified: false,
        ..DecisionPolicy::admin(None)
    };
    assert_eq!(decide(&f, &strict), Decision::Refuse(Refusal::Unverified));
}

#[test]
fn an_admin_relinks_a_user_still_linked_to_the_expected_identity() {
    let old = auth();
    let f = chosen(Some(old));
    assert_eq!(
        decide(&f, &DecisionPolicy::admin(Some(old))),
        Decision::Link(user_of(&f))
    );
    assert_eq!(
        decide(&f, &BACKFILL_UNVERIFIED),
        Decision::Refuse(Refusal::HolderLinkedElsewhere),
        "only a chosen user is ever relinked"
    );
}

#[test]
fn a_stale_expected_link_is_refused_before_anything_else() {
    let current = auth();
    let linked = chosen(Some(current));
    for expected in [None, Some(auth())] {
        assert_eq!(
            decide(&linked, &DecisionPolicy::admin(expected)),
            Decision::Refuse(Refusal::LinkChanged),
            "{expected:?}"
        );
    }
    let unlinked = chosen(None);
    assert_eq!(
        decide(&unlinked, &DecisionPolicy::admin(Some(auth()))),
        Decision::Refuse(Refusal::LinkChanged)
    );
    let mut unfit = chosen(Some(current));
    unfit.active = false;
    unfit.address = Address::Unusable;
    unfit.linked_user = Some(UserId::generate());
    assert_eq!(
        decide(&unfit, &DecisionPolicy::admin(None)),
        Decision::Refuse(Refusal::LinkChanged)
    );
}

#[test]
fn the_chosen_user_linked_as_expected_is_already_linked_whatever_else_holds() {
    let mut f = chosen(None);
    let user = user_of(&f);
    f.holder = Some(Holder {
        user,
        linked_to: Some(f.auth_id),
    });
    f.linked_user = Some(user);
    f.active = false;
    assert_eq!(
        decide(&f, &DecisionPolicy::admin(Some(f.auth_id))),
        Decision::AlreadyLinked(user)
    );
    assert_eq!(
        decide(&f, &DecisionPolicy::admin(None)),
        Decision::Refuse(Refusal::LinkChanged),
        "linking what is linked already still needs the current link"
    );
}

#[test]
fn an_identity_linked_to_another_user_is_answered_with_that_user() {
    let old = auth();
    let owner = UserId::generate();
    for (linked_to, expected) in [(None, None), (Some(old), Some(old))] {
        let mut f = chosen(linked_to);
        f.linked_user = Some(owner);
        assert_eq!(
            decide(&f, &DecisionPolicy::admin(expected)),
            Decision::AlreadyLinked(owner)
        );
    }
}

#[test]
fn an_admin_link_needs_an_active_identity_with_a_usable_email() {
    let old = auth();
    for (linked_to, expected) in [(None, None), (Some(old), Some(old))] {
        let mut inactive = chosen(linked_to);
        inactive.active = false;
        assert_eq!(
            decide(&inactive, &DecisionPolicy::admin(expected)),
            Decision::Refuse(Refusal::Inactive)
        );
        let unusable = Facts {
            address: Address::Unusable,
            ..chosen(linked_to)
        };
        assert_eq!(
            decide(&unusable, &DecisionPolicy::admin(expected)),
            Decision::Refuse(Refusal::TraitsMissing)
        );
    }
}

#[test]
fn an_admin_never_creates_a_user() {
    let f = facts(Address::Verified, None);
    for expected in [None, Some(auth())] {
        assert_eq!(
            decide(&f, &DecisionPolicy::admin(expected)),
            Decision::Refuse(Refusal::NoUser)
        );
    }
}
