//! `totalCount` of `adminUsers` asks the store only when selected.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_graphql::Request;
use serde_json::json;
use uuid::Uuid;

use super::{builder, AdminCall, MAX_DEPTH};
use crate::usecases::app::Rules;
use crate::usecases::test_support::{memory_world, seed_user, HookedUsers};

#[tokio::test]
async fn the_total_count_is_asked_once_when_selected_and_never_otherwise() {
    let mut world = memory_world(Rules::default());
    let users = Arc::new(HookedUsers::new());
    for n in 0..3 {
        seed_user(users.as_ref(), &format!("user{n}@example.com"), None).await;
    }
    seed_user(users.as_ref(), "someone@example.com", None).await;
    world.app.users = users.clone();
    let schema = builder(MAX_DEPTH).data(Arc::new(world.app)).finish();
    let run = |query: &str| {
        let request = Request::new(query).data(AdminCall {
            actor: "test".into(),
            correlation_id: Uuid::new_v4(),
        });
        schema.execute(request)
    };

    let page = run("{ adminUsers(search: \"user\", first: 2) { edges { node { email } } pageInfo { hasNextPage } } }").await;
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    assert_eq!(users.counts.load(Ordering::SeqCst), 0);

    let counted = run("{ adminUsers(search: \"user\", first: 2) { totalCount totalCountIsEstimate edges { cursor } } }").await;
    assert!(counted.errors.is_empty(), "{:?}", counted.errors);
    let data = counted.data.into_json().expect("JSON data");
    assert_eq!(
        data["adminUsers"]["totalCount"],
        json!(3),
        "every page's users"
    );
    assert_eq!(data["adminUsers"]["totalCountIsEstimate"], json!(false));
    assert_eq!(
        users.counts.load(Ordering::SeqCst),
        1,
        "one count for both fields"
    );
}
