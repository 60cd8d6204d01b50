use uuid::Uuid;

use super::*;

pub(super) fn auth() -> AuthId {
    AuthId::new(Uuid::new_v4())
}

pub(super) fn facts(address: Address, holder: Option<Holder>) -> Facts {
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
pub(super) const BACKFILL_UNVERIFIED: DecisionPolicy = DecisionPolicy {
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
fn an_inactive_identity_is_refused_for_every_caller_whatever_it_offers() {
    let policies = [
        RESOLVE,
        DecisionPolicy::on_request(false),
        BACKFILL,
        BACKFILL_UNVERIFIED,
        DecisionPolicy::admin(None),
    ];
    let addresses = [
        Address::Verified,
        Address::Unverified,
        Address::CredentialsOnly,
        Address::Unusable,
    ];
    for policy in policies {
        for address in addresses {
            for holder in [None, unlinked()] {
                let mut f = facts(address, holder);
                f.active = false;
                f.rival_holders = 1;
                assert_eq!(
                    decide(&f, &policy),
                    Decision::Refuse(Refusal::Inactive),
                    "{policy:?} {address:?} {holder:?}"
                );
            }
        }
    }
}

#[test]
fn an_inactive_identity_linked_already_is_still_answered_with_its_user() {
    let owner = UserId::generate();
    for policy in [RESOLVE, BACKFILL, DecisionPolicy::admin(None)] {
        let mut f = facts(Address::Unusable, None);
        f.active = false;
        f.linked_user = Some(owner);
        assert_eq!(
            decide(&f, &policy),
            Decision::AlreadyLinked(owner),
            "{policy:?}"
        );
    }
}

#[test]
fn an_identity_whose_addresses_several_users_hold_links_none_of_them() {
    let mut f = facts(Address::Verified, unlinked());
    f.rival_holders = 1;
    assert_eq!(decide(&f, &BACKFILL), Decision::Refuse(Refusal::Ambiguous));
}

#[test]
fn a_lost_backfill_race_is_decided_again_by_the_link_rule() {
    let (user, wanted) = (UserId::generate(), auth());
    assert_eq!(
        backfill_recheck(user, wanted, Some(UserId::generate()), None),
        ResolutionStatus::Conflict
    );
    assert_eq!(
        backfill_recheck(user, wanted, None, Some(auth())),
        ResolutionStatus::AlreadyLinked
    );
    assert_eq!(
        backfill_recheck(user, wanted, None, None),
        ResolutionStatus::Linked
    );
}
