//! GET /openapi.json documents every route the server answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::spawn_app;
use serde_json::Value;

/// The API surface, by method and path. A route added to the server but not to the document
/// fails the second test; one documented but not served fails the first.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/openapi.json"),
    ("get", "/metrics"),
    ("post", "/v1/events"),
    ("get", "/v1/events"),
    ("post", "/v1/traces"),
    ("post", "/v1/integrations/litellm"),
    ("get", "/v1/spend"),
    ("get", "/v1/teams"),
    ("get", "/v1/prices"),
    ("put", "/v1/prices"),
    ("post", "/v1/prices/import"),
    ("post", "/v1/reprice"),
    ("get", "/v1/reprice"),
    ("get", "/v1/reprice/{id}"),
    ("get", "/v1/reprice/{id}/changes"),
    ("get", "/v1/adjustments"),
    ("put", "/v1/adjustments"),
    ("get", "/v1/aliases"),
    ("put", "/v1/aliases"),
    ("get", "/v1/unpriced"),
    ("post", "/v1/keys"),
    ("get", "/v1/keys"),
    ("delete", "/v1/keys/{id}"),
    ("post", "/v1/budgets"),
    ("get", "/v1/budgets"),
    ("get", "/v1/budgets/{id}"),
    ("patch", "/v1/budgets/{id}"),
    ("delete", "/v1/budgets/{id}"),
    ("get", "/v1/budgets/{id}/status"),
    ("get", "/v1/alerts"),
    ("get", "/v1/check"),
];

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = spawn_app().await;
    let doc: Value = app.get_json("/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let url = app.url(&path.replace("{id}", "1"));
            let request = app.client.request(method.to_uppercase().parse().unwrap(), url);
            let response = request.send().await.unwrap();
            // Unauthenticated requests are refused by the route (401), not unknown to the server (404).
            assert_ne!(
                response.status(),
                404,
                "{method} {path} is documented but not served"
            );
        }
    }
}

#[tokio::test]
async fn every_served_route_is_documented() {
    let app = spawn_app().await;
    let doc: Value = app.get_json("/openapi.json").await;
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    for (method, path) in ROUTES {
        assert!(
            documented.iter().any(|(m, p)| m == method && p == path),
            "{method} {path} is served but missing from /openapi.json"
        );
        let response = app
            .client
            .request(
                method.to_uppercase().parse().unwrap(),
                app.url(&path.replace("{id}", "1")),
            )
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), 404, "{method} {path} is not served");
    }
    assert_eq!(documented.len(), ROUTES.len(), "documented: {documented:?}");
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404() {
    let app = spawn_app().await;
    let response = app.get("/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn a_known_path_with_another_method_is_a_405_naming_the_allowed_ones() {
    let app = spawn_app().await;
    let response = app
        .client
        .patch(app.url("/v1/events"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let with_id = app
        .client
        .get(app.url("/v1/keys/5"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(with_id.status(), 405);
    assert_eq!(with_id.headers()["allow"], "DELETE");
}
