//! Conformance check of the user store's bounded count.

use identity_link_ports::{UserCount, UserFilter, UserStore};

/// Counts what `listing_walks_every_user_once_with_filters` lists: nine users,
/// three of them found by `IMPORT-`; exact at or below the bound.
pub async fn users_are_counted_exactly_up_to_the_bound(store: &dyn UserStore) {
    let filter = |linked: Option<bool>, search: Option<&str>| UserFilter {
        linked,
        search: search.map(str::to_owned),
    };
    let exact = |count: u64| UserCount {
        count,
        estimated: false,
    };
    let everyone = store
        .count(&filter(None, None), 9)
        .await
        .expect("count everyone");
    assert_eq!(everyone, exact(9));
    let linked = store
        .count(&filter(Some(true), None), 100)
        .await
        .expect("count the linked");
    let unlinked = store
        .count(&filter(Some(false), None), 100)
        .await
        .expect("count the unlinked");
    assert!(!linked.estimated && !unlinked.estimated);
    assert_eq!(linked.count + unlinked.count, 9);
    assert!(linked.count > 0 && unlinked.count > 0);
    let searched = store
        .count(&filter(None, Some("IMPORT-")), 3)
        .await
        .expect("count a search");
    assert_eq!(
        searched,
        exact(3),
        "case-insensitive substring of the email"
    );
    // Above the bound the answer may be an estimate, but never below it.
    let above = store
        .count(&filter(None, None), 4)
        .await
        .expect("count above the bound");
    assert!(above.count >= 5, "{above:?}");
}
