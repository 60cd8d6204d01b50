//! Conformance suite of the identity provider: every implementation serving
//! [`provider_identities`] answers alike (the fixture, and the Kratos adapter
//! against the fake Kratos).

use std::sync::Arc;

use identity_link_ports::{
    AuthId, IdentityError, IdentityProvider, IdentityState, KratosIdentity, PageToken, UserId,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::kratos_json::identity;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0c0f_0000_0000_4000_8000_0000_0000_0000 | n)
}

/// The identities [`identity_provider`] expects, in Kratos's JSON shape and in
/// listing order (which is also id order): seven, among them one unverified,
/// one inactive, one with a username besides its email, one without
/// credentials, one whose email is in mixed case.
pub fn provider_identities() -> Vec<Value> {
    let mut identities = vec![
        identity(id(1), "ada@example.com", true),
        identity(id(2), "grace@example.com", true),
        identity(id(3), "alan@example.com", false),
        identity(id(4), "edsger@example.com", true),
        identity(id(5), "Barbara@Example.com", true),
        identity(id(6), "no-password@example.com", true),
        identity(id(7), "katherine@example.com", true),
    ];
    identities[1]["credentials"]["password"]["identifiers"] =
        json!(["grace@example.com", "grace-h"]);
    identities[3]["state"] = json!("inactive");
    if let Some(fields) = identities[5].as_object_mut() {
        fields.remove("credentials");
    }
    identities
}

/// What the provider must say of one identity of [`provider_identities`].
struct Expected {
    id: AuthId,
    active: bool,
    traits: Value,
    addresses: Vec<(String, bool)>,
    identifiers: Vec<String>,
}

impl Expected {
    fn from_json(identity: &Value) -> Self {
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        let mut identifiers: Vec<String> = identity["credentials"]
            .as_object()
            .into_iter()
            .flat_map(|credentials| credentials.values())
            .filter_map(|credential| credential["identifiers"].as_array())
            .flatten()
            .map(text)
            .collect();
        identifiers.sort();
        Self {
            id: AuthId::new(
                Uuid::parse_str(&text(&identity["id"])).expect("the set's ids are UUIDs"),
            ),
            active: identity["state"] == "active",
            traits: identity["traits"].clone(),
            addresses: identity["verifiable_addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|address| (text(&address["value"]), address["verified"] == true))
                .collect(),
            identifiers,
        }
    }

    fn assert_describes(&self, found: &KratosIdentity) {
        assert_eq!(found.id, self.id);
        assert_eq!(found.is_active(), self.active, "{}", self.id);
        assert_eq!(
            found.state == IdentityState::Inactive,
            !self.active,
            "{}",
            self.id
        );
        assert_eq!(found.traits, self.traits, "{}", self.id);
        let addresses: Vec<(String, bool)> = found
            .verifiable_addresses
            .iter()
            .map(|address| (address.value.clone(), address.verified))
            .collect();
        assert_eq!(addresses, self.addresses, "{}", self.id);
        let mut identifiers = found.credential_identifiers.clone();
        identifiers.sort();
        assert_eq!(identifiers, self.identifiers, "{}", self.id);
    }
}

/// Runs every identity-provider check against `provider`, which must serve
/// exactly [`provider_identities`], none with an external id yet.
pub async fn identity_provider(provider: Arc<dyn IdentityProvider>) {
    let provider = provider.as_ref();
    let expected: Vec<Expected> = provider_identities()
        .iter()
        .map(Expected::from_json)
        .collect();
    each_identity_is_found_by_its_id(provider, &expected).await;
    for page_size in [1, 2, 3, 7, 500] {
        listing_walks_every_identity_once_in_order(provider, &expected, page_size).await;
    }
    credentials_identifiers_find_the_identities_holding_them(provider, &expected).await;
    external_ids_are_written_found_and_cleared(provider, &expected).await;
    provider.ping().await.expect("the provider answers");
    assert!(!provider.describe().is_empty());
}

async fn each_identity_is_found_by_its_id(provider: &dyn IdentityProvider, expected: &[Expected]) {
    for identity in expected {
        let found = provider.get_identity(identity.id).await.expect("get");
        identity.assert_describes(&found);
        assert_eq!(found.external_id, None);
    }
    let unknown = provider.get_identity(AuthId::new(Uuid::new_v4())).await;
    assert!(
        matches!(unknown, Err(IdentityError::NotFound)),
        "{unknown:?}"
    );
}

async fn listing_walks_every_identity_once_in_order(
    provider: &dyn IdentityProvider,
    expected: &[Expected],
    page_size: u32,
) {
    let size = page_size as usize;
    let mut listed = Vec::new();
    let mut token: Option<PageToken> = None;
    let mut pages = Vec::new();
    loop {
        let page = provider
            .list_page(page_size, token.clone())
            .await
            .expect("list");
        assert!(
            pages.len() <= expected.len(),
            "the listing does not end (page size {size})"
        );
        assert!(page.identities.len() <= size, "page size {size}");
        for found in &page.identities {
            let identity = expected
                .iter()
                .find(|identity| identity.id == found.id)
                .unwrap_or_else(|| panic!("{} is not one of the identities", found.id));
            identity.assert_describes(found);
        }
        listed.extend(page.identities.iter().map(|identity| identity.id));
        pages.push((token, page.identities.len()));
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.identities.len(),
                    size,
                    "only a full page links a next one (page size {size})"
                );
                token = Some(next);
            }
            None => break,
        }
    }
    let ids: Vec<AuthId> = expected.iter().map(|identity| identity.id).collect();
    assert_eq!(
        listed, ids,
        "every identity once, in order (page size {size})"
    );
    let needed = expected.len().div_ceil(size).max(1);
    let trailing_empty_page = expected.len() % size == 0 && pages.len() == needed + 1;
    assert!(
        pages.len() == needed || trailing_empty_page,
        "{} pages of {size} for {} identities",
        pages.len(),
        expected.len()
    );
    // A page token can be followed again: a retried page is the same page.
    if let Some((Some(token), length)) = pages.get(1).cloned() {
        let again = provider
            .list_page(page_size, Some(token))
            .await
            .expect("list");
        assert_eq!(again.identities.len(), length);
        assert_eq!(
            again.identities.first().map(|i| i.id),
            ids.get(size).copied()
        );
    }
}

async fn credentials_identifiers_find_the_identities_holding_them(
    provider: &dyn IdentityProvider,
    expected: &[Expected],
) {
    for identity in expected {
        for identifier in &identity.identifiers {
            let found = provider
                .find_by_identifier(identifier)
                .await
                .expect("lookup");
            let ids: Vec<AuthId> = found.iter().map(|found| found.id).collect();
            assert_eq!(ids, [identity.id], "{identifier}");
            identity.assert_describes(&found[0]);
        }
    }
    for unknown in ["nobody@example.com", "no-password@example.com"] {
        let found = provider.find_by_identifier(unknown).await.expect("lookup");
        assert!(found.is_empty(), "{unknown}: an address is no identifier");
    }
}

async fn external_ids_are_written_found_and_cleared(
    provider: &dyn IdentityProvider,
    expected: &[Expected],
) {
    let (first, second) = (expected[0].id, expected[1].id);
    let user = UserId::generate();
    let external = |user: UserId| user.to_string();
    assert!(provider
        .find_by_external_id(&external(user))
        .await
        .expect("find")
        .is_none());

    provider.set_external_id(first, user).await.expect("write");
    let holder = provider
        .find_by_external_id(&external(user))
        .await
        .expect("find")
        .expect("the identity holding it");
    assert_eq!(holder.id, first);
    assert_eq!(holder.external_id, Some(external(user)));
    let read = provider.get_identity(first).await.expect("get");
    assert_eq!(read.external_id, Some(external(user)));
    provider
        .set_external_id(first, user)
        .await
        .expect("writing it again changes nothing");

    let taken = provider.set_external_id(second, user).await;
    assert!(
        matches!(taken, Err(IdentityError::Conflict(_))),
        "{taken:?}"
    );
    let second_read = provider.get_identity(second).await.expect("get");
    assert_eq!(
        second_read.external_id, None,
        "a refused write changes nothing"
    );
    let unknown = AuthId::new(Uuid::new_v4());
    let missing = provider.set_external_id(unknown, UserId::generate()).await;
    assert!(
        matches!(missing, Err(IdentityError::NotFound)),
        "{missing:?}"
    );

    let moved = UserId::generate();
    provider
        .set_external_id(first, moved)
        .await
        .expect("rewrite");
    assert!(provider
        .find_by_external_id(&external(user))
        .await
        .expect("find")
        .is_none());
    let holder = provider
        .find_by_external_id(&external(moved))
        .await
        .expect("find");
    assert_eq!(holder.map(|identity| identity.id), Some(first));

    provider.clear_external_id(first).await.expect("clear");
    assert!(provider
        .find_by_external_id(&external(moved))
        .await
        .expect("find")
        .is_none());
    let cleared = provider.get_identity(first).await.expect("get");
    assert_eq!(cleared.external_id, None);
    let missing = provider.clear_external_id(unknown).await;
    assert!(
        matches!(missing, Err(IdentityError::NotFound)),
        "{missing:?}"
    );
}
