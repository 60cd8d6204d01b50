//! Limits on what an admin request may ask for.

use serde_json::{json, Value};

use super::{code, gql, post, spawn_admin_app, ADMIN, ADMIN_TOKEN};
use crate::helpers::json_body;

#[tokio::test]
async fn a_page_larger_than_the_cap_is_bad_user_input() {
    let app = spawn_admin_app().await;
    for first in [101, -1] {
        let body = gql(
            &app,
            ADMIN,
            "query($first: Int) { adminUsers(first: $first) { edges { cursor } } }",
            json!({ "first": first }),
        )
        .await;
        assert_eq!(code(&body), Some("BAD_USER_INPUT"), "{first}: {body}");
    }
    let full_page = gql(
        &app,
        ADMIN,
        "{ adminUsers(first: 100) {
            edges { cursor node { userId email authId accountUpn firstName lastName createdAt linkedAt } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        full_page["errors"],
        Value::Null,
        "the largest page with every field fits"
    );
}

#[tokio::test]
async fn too_deep_or_too_complex_queries_are_refused_before_running() {
    let app = spawn_admin_app().await;
    let deep = "{ adminUsers { pageInfo { hasNextPage } edges { node { userId } } } \
                __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }";
    let body = gql(&app, ADMIN, deep, json!({})).await;
    assert_eq!(code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("nested too deep"));

    let aliases: String = (0..30)
        .map(|n| format!("a{n}: adminUsers(first: 100) {{ edges {{ node {{ userId email }} }} }} "))
        .collect();
    let body = gql(&app, ADMIN, &format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("too complex"));
}

#[tokio::test]
async fn malformed_requests_are_refused_with_bad_user_input() {
    let app = spawn_admin_app().await;
    let not_json = app
        .http
        .post(format!("{}/graphql", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "text/plain")
        .body("{ adminUsers { edges { cursor } } }")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    assert_eq!(code(&json_body(not_json).await), Some("BAD_USER_INPUT"));

    let batch = post(&app, ADMIN, &json!([{ "query": "{ __typename }" }])).await;
    assert_eq!(batch.status(), 400);
    assert_eq!(code(&json_body(batch).await), Some("BAD_USER_INPUT"));

    let syntax = gql(&app, ADMIN, "{ adminUsers { ", json!({})).await;
    assert_eq!(code(&syntax), Some("BAD_USER_INPUT"));
    let bad_uuid = gql(
        &app,
        ADMIN,
        "{ adminUserIdentity(userID: \"nope\") { email } }",
        json!({}),
    )
    .await;
    assert_eq!(code(&bad_uuid), Some("BAD_USER_INPUT"), "{bad_uuid}");
    assert_eq!(bad_uuid["data"], Value::Null);
}

#[tokio::test]
async fn other_methods_get_the_contract_error_body() {
    let app = spawn_admin_app().await;
    let response = app
        .http
        .delete(format!("{}/graphql", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(json_body(response).await["error"], "method_not_allowed");
}

/// The introspection query of GraphiQL (graphql-js's `getIntrospectionQuery`,
/// shortened): its `TypeRef` fragment unwraps `of_types` levels of `ofType`.
fn introspection_query(of_types: usize) -> String {
    let type_ref = (0..of_types).fold(String::from("kind name"), |inner, _| {
        format!("kind name ofType {{ {inner} }}")
    });
    format!(
        "query IntrospectionQuery {{ __schema {{ queryType {{ name }} types {{ ...FullType }} \
         directives {{ name locations args {{ ...InputValue }} }} }} }} \
         fragment FullType on __Type {{ kind name fields(includeDeprecated: true) {{ name \
         args {{ ...InputValue }} type {{ ...TypeRef }} }} inputFields {{ ...InputValue }} \
         interfaces {{ ...TypeRef }} possibleTypes {{ ...TypeRef }} }} \
         fragment InputValue on __InputValue {{ name type {{ ...TypeRef }} defaultValue }} \
         fragment TypeRef on __Type {{ {type_ref} }}"
    )
}

#[tokio::test]
async fn the_consoles_introspection_query_is_answered_and_deeper_ones_are_refused() {
    let app = spawn_admin_app().await;
    let body = gql(&app, ADMIN, &introspection_query(9), json!({})).await;
    assert_eq!(body["errors"], Value::Null, "{body}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");

    let deeper = gql(&app, ADMIN, &introspection_query(10), json!({})).await;
    assert_eq!(code(&deeper), Some("BAD_USER_INPUT"), "{deeper}");
    assert!(deeper["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("nested too deep"));

    // Data beside the schema: the limit of ordinary queries applies.
    let with_data = introspection_query(9).replacen(
        "__schema {",
        "adminUsers(first: 1) { edges { cursor } } __schema {",
        1,
    );
    let mixed = gql(&app, ADMIN, &with_data, json!({})).await;
    assert_eq!(code(&mixed), Some("BAD_USER_INPUT"), "{mixed}");
    assert!(mixed["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("nested too deep"));
}
