use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use super::*;
use crate::kratos_json::{identity, numbered_id, numbered_identity};

struct Reply {
    status: u16,
    link: Option<String>,
    body: Value,
    delay: Duration,
}

fn call(fake: &FakeKratos, method: &str, target: &str, body: &str) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let answer = fake.answer(method, path, query, body.as_bytes());
    Reply {
        status: answer.status,
        link: answer.link,
        body: serde_json::from_slice(&answer.body).expect("every answer is JSON"),
        delay: answer.delay,
    }
}

fn get(fake: &FakeKratos, target: &str) -> Reply {
    call(fake, "GET", target, "")
}

pub(super) fn ids(page: &Value) -> Vec<String> {
    page.as_array()
        .expect("an array of identities")
        .iter()
        .map(|identity| identity["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The `page_token` of the `rel="next"` entry of the one `Link` header.
pub(super) fn next_token(link: &str) -> Option<String> {
    link.split(',')
        .find(|entry| entry.ends_with("rel=\"next\""))
        .and_then(|entry| entry.split("page_token=").nth(1))
        .and_then(|rest| rest.split('>').next())
        .map(str::to_owned)
}

/// Follows the next links from the first page; returns every id and the page count.
fn walk(fake: &FakeKratos, page_size: usize) -> (Vec<String>, usize) {
    let (mut listed, mut pages) = (Vec::new(), 0);
    let mut target = format!("/admin/identities?page_size={page_size}");
    loop {
        let reply = get(fake, &target);
        assert_eq!(reply.status, 200);
        pages += 1;
        listed.extend(ids(&reply.body));
        let link = reply.link.expect("every page has a Link header");
        assert!(link.starts_with(&format!(
            "</admin/identities?page_size={page_size}>; rel=\"first\""
        )));
        match next_token(&link) {
            Some(token) => {
                target = format!("/admin/identities?page_size={page_size}&page_token={token}")
            }
            None => return (listed, pages),
        }
    }
}

fn listed(count: usize) -> (Vec<Value>, Vec<String>) {
    let identities: Vec<Value> = (0..count)
        .map(|n| identity(Uuid::new_v4(), &format!("listed{n}@example.com"), true))
        .collect();
    let ids = identities
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    (identities, ids)
}

#[test]
fn numbered_identities_are_the_json_of_numbered_identity_from_one_template() {
    let fake = FakeKratos::numbered(100_000, "User{n}.\"q\"@Example.com").expect("pattern");
    for n in [0, 1, 255, 99_999] {
        let reply = get(&fake, &format!("/admin/identities/{}", numbered_id(n)));
        assert_eq!(reply.status, 200);
        let email = format!("User{n}.\"q\"@Example.com");
        assert_eq!(reply.body, numbered_identity(n, &email));
    }
    assert_eq!(fake.len(), 100_000);
    let beyond = get(
        &fake,
        &format!("/admin/identities/{}", numbered_id(100_000)),
    );
    assert_eq!(beyond.status, 404);
}

#[test]
fn an_email_pattern_needs_a_number() {
    let refused = FakeKratos::numbered(1, "fixed@example.com").err();
    assert_eq!(refused, Some(PatternError("fixed@example.com".into())));
}

#[test]
fn pages_lead_through_every_identity_once_in_id_order() {
    let fake = FakeKratos::numbered(1001, "user{n}@example.com").expect("pattern");
    let (listed, pages) = walk(&fake, 500);
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..1001).map(|n| numbered_id(n).to_string()).collect();
    assert_eq!(listed, expected);
    assert_eq!(fake.stats().list_calls, 3);

    let first = get(&fake, "/admin/identities");
    assert_eq!(ids(&first.body).len(), 250, "the default page size");
}

#[test]
fn a_given_list_is_paged_in_the_order_given() {
    let (identities, expected) = listed(5);
    let fake = FakeKratos::listed(identities);
    assert_eq!(walk(&fake, 2), (expected.clone(), 3));
    assert_eq!(walk(&fake, 5), (expected.clone(), 1));
    let empty = FakeKratos::listed(Vec::new());
    assert_eq!(walk(&empty, 2), (Vec::new(), 1));
}

#[test]
fn page_sizes_outside_one_to_five_hundred_and_unknown_tokens_are_refused() {
    let fake = FakeKratos::numbered(10, "user{n}@example.com").expect("pattern");
    for target in [
        "/admin/identities?page_size=0",
        "/admin/identities?page_size=501",
        "/admin/identities?page_size=many",
        "/admin/identities?page_size=2&page_token=not-an-identity",
    ] {
        let reply = get(&fake, target);
        assert_eq!(reply.status, 400, "{target}");
        assert_eq!(reply.body["error"]["code"], 400, "{target}");
        assert_eq!(reply.body["error"]["status"], "Bad Request");
        assert!(reply.body["error"]["message"].is_string());
    }
}

#[test]
fn a_full_last_page_links_an_empty_page_only_when_asked_to() {
    let (identities, expected) = listed(4);
    let looking_ahead = FakeKratos::listed(identities.clone());
    assert_eq!(walk(&looking_ahead, 2), (expected.clone(), 2));
    let not_looking_ahead = FakeKratos::listed(identities).next_after_full_page();
    assert_eq!(walk(&not_looking_ahead, 2), (expected.clone(), 3));
    assert_eq!(walk(&not_looking_ahead, 3), (expected, 2));
}

#[test]
fn the_largest_page_caps_what_a_client_asks_for_and_page_tokens_name_every_page() {
    let (identities, expected) = listed(5);
    let fake = FakeKratos::listed(identities).largest_page(2);
    assert_eq!(walk(&fake, 500), (expected.clone(), 3));
    assert_eq!(
        fake.page_tokens(500),
        [expected[1].clone(), expected[3].clone()],
        "keyset tokens: the last id of the page before"
    );
    let page = get(
        &fake,
        &format!("/admin/identities?page_size=500&page_token={}", expected[3]),
    );
    assert_eq!(ids(&page.body), [expected[4].clone()]);
}

#[test]
fn credentials_identifiers_are_looked_up_in_any_case() {
    let numbered = FakeKratos::numbered(50, "User{n}@Example.com").expect("pattern");
    let found = get(
        &numbered,
        "/admin/identities?credentials_identifier=USER42%40example.com",
    );
    assert_eq!(ids(&found.body), [numbered_id(42).to_string()]);
    assert!(found.link.is_none());
    for unknown in [
        "user50@example.com",
        "user042@example.com",
        "user4@example.co",
    ] {
        let none = get(
            &numbered,
            &format!("/admin/identities?credentials_identifier={unknown}"),
        );
        assert_eq!(none.body, json!([]), "{unknown}");
    }

    let (mut identities, expected) = listed(3);
    identities[2]["credentials"]["password"]["identifiers"] = json!(["listed0@example.com"]);
    let fake = FakeKratos::listed(identities);
    let twins = get(
        &fake,
        "/admin/identities?credentials_identifier=%20Listed0@example.com",
    );
    assert_eq!(ids(&twins.body), [expected[0].clone(), expected[2].clone()]);
    assert_eq!(fake.stats().identifier_lookups, 1);
    assert_eq!(fake.stats().list_calls, 0);
}

#[test]
fn an_unknown_identity_is_a_404_with_kratos_s_error_body() {
    let fake = FakeKratos::numbered(3, "user{n}@example.com").expect("pattern");
    for target in [
        format!("/admin/identities/{}", Uuid::new_v4()),
        "/admin/identities/not-a-uuid".to_owned(),
        "/admin/identities/by/external/nobody".to_owned(),
    ] {
        let reply = get(&fake, &target);
        assert_eq!(reply.status, 404, "{target}");
        assert_eq!(reply.body["error"]["code"], 404);
        assert_eq!(
            reply.body["error"]["message"],
            "Unable to locate the resource"
        );
    }
    let patch = call(
        &fake,
        "PATCH",
        &format!("/admin/identities/{}", Uuid::new_v4()),
        "[]",
    );
    assert_eq!(patch.status, 404);
}

#[test]
fn patches_of_the_external_id_are_kept_and_looked_up() {
    let fake = FakeKratos::numbered(3, "user{n}@example.com").expect("pattern");
    let [first, second] = [0, 1].map(|n| format!("/admin/identities/{}", numbered_id(n)));
    let set = r#"[{"op": "add", "path": "/external_id", "value": "user-a"}]"#;
    let patched = call(&fake, "PATCH", &first, set);
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["external_id"], "user-a");
    assert_eq!(get(&fake, &first).body["external_id"], "user-a");
    let listed = get(&fake, "/admin/identities?page_size=1");
    assert_eq!(listed.body[0]["external_id"], "user-a");
    let found = get(&fake, "/admin/identities/by/external/user-a");
    assert_eq!(found.body["id"], numbered_id(0).to_string());

    let conflict = call(&fake, "PATCH", &second, set);
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.body["error"]["code"], 409);
    assert!(get(&fake, &second).body.get("external_id").is_none());

    let remove = r#"[{"op": "remove", "path": "/external_id"}]"#;
    assert_eq!(call(&fake, "PATCH", &first, remove).status, 200);
    assert!(get(&fake, &first).body.get("external_id").is_none());
    assert_eq!(
        get(&fake, "/admin/identities/by/external/user-a").status,
        404
    );
    assert_eq!(call(&fake, "PATCH", &second, set).status, 200);

    let other = r#"[{"op": "replace", "path": "/state", "value": "inactive"}]"#;
    assert_eq!(call(&fake, "PATCH", &first, other).status, 400);
    assert_eq!(call(&fake, "PATCH", &first, "not json").status, 400);
    assert_eq!(fake.stats().patch_calls, 6);
    assert_eq!(fake.stats().external_id_lookups, 2);
}

#[test]
fn delays_hold_back_pages_or_every_answer() {
    let fake = FakeKratos::numbered(3, "user{n}@example.com")
        .expect("pattern")
        .page_delay(Duration::from_millis(30));
    let page = get(&fake, "/admin/identities");
    assert_eq!(page.delay, Duration::from_millis(30));
    let lookup = get(
        &fake,
        "/admin/identities?credentials_identifier=user1@example.com",
    );
    assert_eq!(lookup.delay, Duration::ZERO);
    let every = fake.answer_delay(Duration::from_millis(5));
    assert_eq!(get(&every, "/health/alive").delay, Duration::from_millis(5));
    assert_eq!(
        get(&every, "/admin/identities").delay,
        Duration::from_millis(35)
    );
}

#[test]
fn stats_count_each_route_and_are_served_too() {
    let fake = FakeKratos::numbered(3, "user{n}@example.com").expect("pattern");
    get(&fake, "/admin/identities");
    get(
        &fake,
        "/admin/identities?credentials_identifier=user1@example.com",
    );
    get(&fake, &format!("/admin/identities/{}", numbered_id(1)));
    let served = get(&fake.clone(), "/fake/stats");
    assert_eq!(
        served.body,
        json!({"list_calls": 1, "identifier_lookups": 1, "get_calls": 1,
               "patch_calls": 0, "external_id_lookups": 0})
    );
    assert_eq!(get(&fake, "/health/ready").body, json!({"status": "ok"}));
}
