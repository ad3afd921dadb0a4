//! POST /v1/traces: OTLP/HTTP JSON and protobuf, gzip, retries, partial success, errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{spawn_app, spawn_app_with, TestApp};
use flate2::write::GzEncoder;
use prost::Message;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::io::Write;
use tokenledger::ingest::otlp::proto::{self, ExportTraceServiceRequest, ExportTraceServiceResponse};

/// 2026-11-02T10:00:00Z in unix nanoseconds.
const T: &str = "1793613600000000000";
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn int(key: &str, n: u64) -> Value {
    json!({"key": key, "value": {"intValue": n.to_string()}})
}

fn text(key: &str, s: &str) -> Value {
    json!({"key": key, "value": {"stringValue": s}})
}

/// A GenAI chat span: gpt-4.1 answered by its dated id, with these counts.
fn genai_span(span_id: &str, team: Option<&str>, input: u64, cache_read: u64, output: u64) -> Value {
    let mut attributes = vec![
        text("gen_ai.operation.name", "chat"),
        text("gen_ai.provider.name", "openai"),
        text("gen_ai.request.model", "gpt-4.1"),
        text("gen_ai.response.model", "gpt-4.1-2025-04-14"),
        int("gen_ai.usage.input_tokens", input),
        int("gen_ai.usage.cache_read.input_tokens", cache_read),
        int("gen_ai.usage.output_tokens", output),
    ];
    if let Some(team) = team {
        attributes.push(text("tokenledger.team", team));
    }
    json!({"traceId": TRACE, "spanId": span_id, "name": "chat gpt-4.1", "kind": 3,
           "startTimeUnixNano": T, "endTimeUnixNano": T, "attributes": attributes, "status": {}})
}

fn http_span(span_id: &str) -> Value {
    json!({"traceId": TRACE, "spanId": span_id, "name": "GET /", "startTimeUnixNano": T,
           "endTimeUnixNano": T, "attributes": [text("http.request.method", "GET")]})
}

fn export(spans: Vec<Value>) -> Value {
    json!({"resourceSpans": [{"resource": {"attributes": [text("service.name", "gateway")]},
        "scopeSpans": [{"scope": {"name": "genai"}, "spans": spans}]}]})
}

/// gpt-4.1-2025-04-14 at 2 input, 0.5 cache read, 8 output per million tokens.
async fn app_with_prices() -> TestApp {
    let app = spawn_app().await;
    app.put_prices(json!([{"provider": "openai", "model": "gpt-4.1-2025-04-14",
        "effective_from": "2020-01-01T00:00:00Z", "input": "2", "cache_read": "0.5", "output": "8"}]))
        .await;
    app
}

async fn post(app: &TestApp, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/v1/traces"))
        .bearer_auth(&app.admin_key)
        .header("content-type", content_type);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    request.body(body).send().await.unwrap()
}

async fn post_json(app: &TestApp, body: &Value) -> reqwest::Response {
    post(app, "application/json", None, body.to_string().into_bytes()).await
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn protobuf(body: &Value) -> Vec<u8> {
    let request: ExportTraceServiceRequest = serde_json::from_value(body.clone()).unwrap();
    request.encode_to_vec()
}

async fn total(app: &TestApp) -> Value {
    let spend = app
        .get_json("/v1/spend?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z")
        .await;
    spend["total"].clone()
}

fn decimal(value: &Value) -> Decimal {
    Decimal::from_str_exact(value.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_json_export_stores_genai_spans_and_ignores_the_others() {
    let app = app_with_prices().await;
    let body = export(vec![
        genai_span("00f067aa0ba902b7", Some("search"), 1000, 400, 100),
        http_span("00f067aa0ba902b8"),
    ]);

    let response = post_json(&app, &body).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
    let total = total(&app).await;
    assert_eq!(total["requests"], 1);
    assert_eq!(
        (total["input_tokens"].clone(), total["cache_read_tokens"].clone()),
        (json!(1000), json!(400))
    );
    // 600 × 2 + 400 × 0.5 + 100 × 8 = 2200 per million → 0.0022
    assert_eq!(
        decimal(&total["cost"]),
        Decimal::from_str_exact("0.0022").unwrap()
    );
}

#[tokio::test]
async fn the_event_id_is_the_trace_id_followed_by_the_span_id() {
    let app = app_with_prices().await;
    post_json(
        &app,
        &export(vec![genai_span("00f067aa0ba902b7", Some("search"), 10, 0, 1)]),
    )
    .await;

    let events = app.get_json("/v1/events?team=search").await;

    assert_eq!(events["events"][0]["id"], format!("{TRACE}00f067aa0ba902b7"));
    assert_eq!(events["events"][0]["timestamp"], "2026-11-02T10:00:00Z");
    assert_eq!(events["events"][0]["model"], "gpt-4.1-2025-04-14");
}

#[tokio::test]
async fn a_protobuf_export_is_answered_in_protobuf() {
    let app = app_with_prices().await;
    let body = export(vec![genai_span("00f067aa0ba902b7", Some("search"), 2000, 0, 500)]);

    let response = post(&app, "application/x-protobuf", None, protobuf(&body)).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let answer = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(answer.partial_success, None);
    // 2000 × 2 + 500 × 8 = 8000 per million → 0.008
    assert_eq!(
        decimal(&total(&app).await["cost"]),
        Decimal::from_str_exact("0.008").unwrap()
    );
}

#[tokio::test]
async fn gzip_bodies_are_decompressed_in_both_encodings() {
    let app = app_with_prices().await;
    let json_body = export(vec![genai_span("00f067aa0ba902b1", Some("search"), 1000, 0, 0)]);
    let proto_body = export(vec![genai_span("00f067aa0ba902b2", Some("search"), 1000, 0, 0)]);

    let from_json = post(
        &app,
        "application/json",
        Some("gzip"),
        gzip(json_body.to_string().as_bytes()),
    )
    .await;
    let from_proto = post(
        &app,
        "application/x-protobuf",
        Some("gzip"),
        gzip(&protobuf(&proto_body)),
    )
    .await;

    assert_eq!(
        (from_json.status().as_u16(), from_proto.status().as_u16()),
        (200, 200)
    );
    let total = total(&app).await;
    assert_eq!(total["requests"], 2);
    assert_eq!(decimal(&total["cost"]), Decimal::from_str_exact("0.004").unwrap());
}

#[tokio::test]
async fn a_retried_export_counts_once() {
    let app = app_with_prices().await;
    let body = export(vec![genai_span(
        "00f067aa0ba902b7",
        Some("search"),
        1000,
        400,
        100,
    )]);

    let first = post(&app, "application/x-protobuf", None, protobuf(&body)).await;
    let retry = post(&app, "application/x-protobuf", None, protobuf(&body)).await;

    assert_eq!((first.status().as_u16(), retry.status().as_u16()), (200, 200));
    let total = total(&app).await;
    assert_eq!(total["requests"], 1);
    assert_eq!(
        decimal(&total["cost"]),
        Decimal::from_str_exact("0.0022").unwrap()
    );
}

#[tokio::test]
async fn a_span_that_cannot_become_an_event_is_a_rejected_span_and_the_others_are_stored() {
    let app = app_with_prices().await;
    let body = export(vec![
        genai_span("00f067aa0ba902b1", Some("search"), 1000, 0, 0),
        genai_span("00f067aa0ba902b2", None, 1000, 0, 0),
        http_span("00f067aa0ba902b3"),
    ]);

    let answer: Value = post_json(&app, &body).await.json().await.unwrap();

    assert_eq!(answer["partialSuccess"]["rejectedSpans"], "1");
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("00f067aa0ba902b2") && message.contains("no team"),
        "{message}"
    );
    assert_eq!(total(&app).await["requests"], 1);
}

#[tokio::test]
async fn a_partial_success_in_protobuf_counts_the_rejected_spans() {
    let app = app_with_prices().await;
    let body = export(vec![
        genai_span("00f067aa0ba902b1", None, 1, 0, 0),
        genai_span("00f067aa0ba902b2", None, 1, 0, 0),
    ]);

    let response = post(&app, "application/x-protobuf", None, protobuf(&body)).await;

    let answer = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    let partial: proto::ExportTracePartialSuccess = answer.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 2);
    assert!(partial.error_message.contains("no team"));
}

#[tokio::test]
async fn the_shared_fixture_is_stored_with_the_team_of_a_team_bound_key() {
    let app = spawn_app().await;
    let key = app.create_key("ingest", Some("search")).await;
    let body = std::fs::read(common::fixture("otlp_genai_span.json")).unwrap();

    let response = app
        .client
        .post(app.url("/v1/traces"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
    let events = app
        .get_json("/v1/events?team=search&from=2025-07-01T00:00:00Z&to=2025-08-01T00:00:00Z")
        .await;
    let event = &events["events"][0];
    assert_eq!(event["id"], "5b8efff798038103d269b633813fc60ceee19b7ec3c1b174");
    assert_eq!(
        (
            event["usage"]["input_tokens"].clone(),
            event["usage"]["output_tokens"].clone()
        ),
        (json!(19), json!(200))
    );
}

#[tokio::test]
async fn the_team_attribute_key_is_configurable() {
    let app = spawn_app_with(|config| config.otlp_team_attribute = "acme.cost_center".into()).await;
    let mut span = genai_span("00f067aa0ba902b7", None, 10, 0, 1);
    span["attributes"]
        .as_array_mut()
        .unwrap()
        .push(text("acme.cost_center", "cc-42"));
    let body =
        json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]});

    assert_eq!(
        post_json(&app, &body).await.json::<Value>().await.unwrap(),
        json!({})
    );

    let teams = app
        .get_json("/v1/events?team=cc-42&from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z")
        .await;
    assert_eq!(teams["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn ignored_spans_are_counted_in_the_events_metric() {
    let app = spawn_app().await;
    post_json(
        &app,
        &export(vec![http_span("00f067aa0ba902b1"), http_span("00f067aa0ba902b2")]),
    )
    .await;

    let metrics = app.get("/metrics").await.text().await.unwrap();

    assert!(
        metrics.contains(r#"tokenledger_events_total{outcome="ignored",reason="otlp_no_genai_usage"} 2"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn undecodable_bodies_are_400_in_the_json_error_shape() {
    let app = spawn_app().await;
    for (content_type, body) in [
        ("application/json", b"{\"resourceSpans\": [".to_vec()),
        ("application/x-protobuf", b"\xff\xff\xff\xff".to_vec()),
    ] {
        let response = post(&app, content_type, None, body).await;
        assert_eq!(response.status(), 400, "{content_type}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "malformed_body");
        assert!(error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing was stored"));
    }
    let not_gzip = post(&app, "application/json", Some("gzip"), b"{}".to_vec()).await;
    assert_eq!(not_gzip.status(), 400);
}

#[tokio::test]
async fn other_content_types_and_encodings_are_415() {
    let app = spawn_app().await;
    let wrong_type = post(&app, "text/plain", None, b"{}".to_vec()).await;
    let wrong_encoding = post(&app, "application/json", Some("br"), b"{}".to_vec()).await;
    assert_eq!(
        (wrong_type.status().as_u16(), wrong_encoding.status().as_u16()),
        (415, 415)
    );
    let error: Value = wrong_type.json().await.unwrap();
    assert_eq!(error["error"]["code"], "unsupported_media_type");
}

#[tokio::test]
async fn a_gzip_bomb_is_413_not_an_allocation() {
    let app = spawn_app_with(|config| config.max_body_bytes = 64 * 1024).await;
    let bomb = gzip(&vec![b' '; 8 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);

    let response = post(&app, "application/json", Some("gzip"), bomb).await;

    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn a_read_key_may_not_export_traces() {
    let app = spawn_app().await;
    let key = app.create_key("read", None).await;
    let response = app
        .client
        .post(app.url("/v1/traces"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}
