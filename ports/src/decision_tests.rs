use uuid::Uuid;

use super::*;

fn auth() -> AuthId {
    AuthId::new(Uuid::new_v4())
}

fn facts(address: Address, holder: Option<Holder>) -> Facts {
    Facts {
        auth_id: auth(),
        linked_user: None,
        active: true,
        address,
        holder,
        rival_holders: 0,
    }
}

fn unlinked() -> Option<Holder> {
    Some(Holder {
        user: UserId::generate(),
        linked_to: None,
    })
}

const RESOLVE: DecisionPolicy = DecisionPolicy {
    link_unverified: false,
    provisioning: Provisioning::VerifiedOnly,
    target: Target::EmailHolder,
};
const BACKFILL: DecisionPolicy = DecisionPolicy {
    link_unverified: false,
    provisioning: Provisioning::Never,
    target: Target::EmailHolder,
};
const BACKFILL_UNVERIFIED: DecisionPolicy = DecisionPolicy {
    link_unverified: true,
    provisioning: Provisioning::Never,
    target: Target::EmailHolder,
};

#[test]
fn a_verified_address_links_its_unlinked_holder_for_every_caller() {
    let f = facts(Address::Verified, unlinked());
    let user = f.holder.map(|h| h.user).unwrap();
    for policy in [
        RESOLVE,
        BACKFILL,
        BACKFILL_UNVERIFIED,
        DecisionPolicy::on_request(false),
    ] {
        assert_eq!(decide(&f, &policy), Decision::Link(user), "{policy:?}");
    }
}

#[test]
fn an_unverified_address_links_only_when_the_policy_allows_it() {
    let f = facts(Address::Unverified, unlinked());
    let user = f.holder.map(|h| h.user).unwrap();
    assert_eq!(decide(&f, &RESOLVE), Decision::Refuse(Refusal::Unverified));
    assert_eq!(
        decide(&f, &DecisionPolicy::on_request(false)),
        Decision::Refuse(Refusal::Unverified),
        "requests never take over a user on an unverified address"
    );
    assert_eq!(decide(&f, &BACKFILL), Decision::Refuse(Refusal::Unverified));
    assert_eq!(decide(&f, &BACKFILL_UNVERIFIED), Decision::Link(user));
}

#[test]
fn a_credentials_identifier_alone_never_links_nor_provisions() {
    let f = facts(Address::CredentialsOnly, unlinked());
    for policy in [
        RESOLVE,
        BACKFILL,
        BACKFILL_UNVERIFIED,
        DecisionPolicy::on_request(false),
    ] {
        assert_eq!(
            decide(&f, &policy),
            Decision::Refuse(Refusal::CredentialsOnly),
            "{policy:?}"
        );
    }
    let nobody = facts(Address::CredentialsOnly, None);
    assert_eq!(
        decide(&nobody, &DecisionPolicy::on_request(false)),
        Decision::Refuse(Refusal::CredentialsOnly)
    );
}

#[test]
fn an_identity_linked_already_is_answered_with_its_user_whatever_else_holds() {
    let mut f = facts(Address::Unusable, None);
    let user = UserId::generate();
    f.linked_user = Some(user);
    f.active = false;
    for policy in [RESOLVE, BACKFILL] {
        assert_eq!(decide(&f, &policy), Decision::AlreadyLinked(user));
    }
    let holder = Holder {
        user,
        linked_to: None,
    };
    let mut raced = facts(Address::Verified, Some(holder));
    raced.holder = Some(Holder {
        linked_to: Some(raced.auth_id),
        ..holder
    });
    assert_eq!(decide(&raced, &RESOLVE), Decision::AlreadyLinked(user));
}

#[test]
fn a_holder_linked_to_another_identity_is_never_relinked() {
    let f = facts(
        Address::Verified,
        Some(Holder {
            user: UserId::generate(),
            linked_to: Some(auth()),
        }),
    );
    for policy in [RESOLVE, BACKFILL_UNVERIFIED] {
        assert_eq!(
            decide(&f, &policy),
            Decision::Refuse(Refusal::HolderLinkedElsewhere)
        );
    }
}

#[test]
fn no_user_provisions_on_requests_only_and_per_verification() {
    let verified = facts(Address::Verified, None);
    let unverified = facts(Address::Unverified, None);
    assert_eq!(decide(&verified, &RESOLVE), Decision::Provision);
    assert_eq!(
        decide(&unverified, &RESOLVE),
        Decision::Refuse(Refusal::ProvisionUnverified)
    );
    assert_eq!(
        decide(&unverified, &DecisionPolicy::on_request(false)),
        Decision::Provision
    );
    assert_eq!(
        decide(&verified, &BACKFILL),
        Decision::Refuse(Refusal::NoUser)
    );
}

#[test]
fn inactive_identities_and_unusable_emails_are_refused_before_anything_else() {
    let mut inactive = facts(Address::Verified, unlinked());
    inactive.active = false;
    assert_eq!(
        decide(&inactive, &RESOLVE),
        Decision::Refuse(Refusal::Inactive)
    );
    assert_eq!(
        decide(&inactive, &BACKFILL_UNVERIFIED),
        Decision::Refuse(Refusal::Inactive)
    );
    let unusable = facts(Address::Unusable, None);
    assert_eq!(
        decide(&unusable, &RESOLVE),
        Decision::Refuse(Refusal::TraitsMissing)
    );
}

#[test]
fn an_identity_whose_addresses_several_users_hold_links_none_of_them() {
    let mut f = facts(Address::Verified, unlinked());
    f.rival_holders = 1;
    assert_eq!(decide(&f, &BACKFILL), Decision::Refuse(Refusal::Ambiguous));
}

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
