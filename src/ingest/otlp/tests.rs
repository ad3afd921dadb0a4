use super::*;
use crate::ingest::validate::validate;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value as Json};

const TEAM: TeamSource<'static> = TeamSource {
    attribute: "tokenledger.team",
    key_team: None,
};

fn int(key: &str, n: i64) -> Json {
    json!({"key": key, "value": {"intValue": n.to_string()}})
}

fn text(key: &str, s: &str) -> Json {
    json!({"key": key, "value": {"stringValue": s}})
}

fn request(resource: Vec<Json>, spans: Vec<Vec<Json>>) -> ExportTraceServiceRequest {
    let spans: Vec<Json> = spans
        .into_iter()
        .enumerate()
        .map(|(i, attributes)| {
            json!({
                "traceId": "5b8efff798038103d269b633813fc60c",
                "spanId": format!("eee19b7ec3c1b17{i}"),
                "name": "chat",
                "startTimeUnixNano": "1753357673000000000",
                "endTimeUnixNano": "1753357675000000000",
                "attributes": attributes,
            })
        })
        .collect();
    let body = json!({"resourceSpans": [{"resource": {"attributes": resource},
        "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]});
    decode(body.to_string().as_bytes(), Encoding::Json).unwrap()
}

fn genai(extra: Vec<Json>) -> Vec<Json> {
    let mut attributes = vec![
        text("gen_ai.provider.name", "openai"),
        text("gen_ai.request.model", "gpt-4.1"),
        int("gen_ai.usage.input_tokens", 100),
        int("gen_ai.usage.output_tokens", 20),
    ];
    attributes.extend(extra);
    attributes
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
}

/// The one span of a request, mapped and validated.
fn event_of(
    resource: Vec<Json>,
    span: Vec<Json>,
    team: &TeamSource<'_>,
) -> Result<crate::domain::UsageEvent, EventError> {
    let mapped = map_request(&request(resource, vec![span]), team);
    assert_eq!(mapped.events.len(), 1, "one GenAI span");
    mapped
        .events
        .into_iter()
        .next()
        .unwrap()
        .and_then(|raw| validate(raw, now()))
}

fn with_team(extra: Vec<Json>) -> Vec<Json> {
    let mut span = genai(extra);
    span.push(text("tokenledger.team", "search"));
    span
}

#[test]
fn the_shared_fixture_span_becomes_one_event() {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/otlp_genai_span.json"
    ))
    .unwrap();
    let request = decode(&body, Encoding::Json).unwrap();
    let team = TeamSource {
        attribute: "tokenledger.team",
        key_team: Some("search"),
    };
    let mapped = map_request(&request, &team);
    let event = validate(mapped.events.into_iter().next().unwrap().unwrap(), now()).unwrap();
    assert_eq!(event.id, "5b8efff798038103d269b633813fc60ceee19b7ec3c1b174");
    assert_eq!(event.timestamp, Utc.timestamp_opt(1_753_357_675, 0).unwrap());
    assert_eq!(
        (event.provider.as_str(), event.model.as_str()),
        ("openai", "gpt-4.1-2025-04-14")
    );
    assert_eq!(event.usage.input_tokens, 19);
    assert_eq!(event.usage.output_tokens, 200);
    assert_eq!(event.usage.cache_read_tokens, 0);
}

#[test]
fn current_usage_attributes_pass_through_as_canonical_counts() {
    let event = event_of(
        vec![],
        with_team(vec![
            int("gen_ai.usage.cache_read.input_tokens", 60),
            int("gen_ai.usage.cache_creation.input_tokens", 30),
            int("gen_ai.usage.reasoning.output_tokens", 5),
        ]),
        &TEAM,
    )
    .unwrap();
    let u = event.usage;
    assert_eq!(
        (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens),
        (100, 60, 30)
    );
    assert_eq!(
        (u.output_tokens, u.reasoning_tokens, u.cache_write_1h_tokens),
        (20, 5, 0)
    );
}

#[test]
fn deprecated_prompt_and_completion_tokens_stand_in_for_input_and_output() {
    let span = vec![
        text("gen_ai.system", "anthropic"),
        text("gen_ai.request.model", "claude-sonnet-4-5"),
        int("gen_ai.usage.prompt_tokens", 7),
        int("gen_ai.usage.completion_tokens", 3),
        text("team", "search"),
    ];
    let event = event_of(vec![], span, &TEAM).unwrap();
    assert_eq!(event.provider, "anthropic");
    assert_eq!((event.usage.input_tokens, event.usage.output_tokens), (7, 3));
}

#[test]
fn current_names_win_over_deprecated_ones() {
    let event = event_of(
        vec![],
        with_team(vec![int("gen_ai.usage.prompt_tokens", 999)]),
        &TEAM,
    )
    .unwrap();
    assert_eq!(event.usage.input_tokens, 100);
}

#[test]
fn cache_counts_above_the_input_are_rejected_as_invalid_usage() {
    let error = event_of(
        vec![],
        with_team(vec![int("gen_ai.usage.cache_read.input_tokens", 101)]),
        &TEAM,
    )
    .unwrap_err();
    assert_eq!(error.code, "invalid_usage");
}

#[test]
fn a_count_that_is_not_an_integer_rejects_the_span() {
    let span = with_team(vec![
        json!({"key": "gen_ai.usage.reasoning.output_tokens", "value": {"doubleValue": 1.5}}),
    ]);
    assert_eq!(event_of(vec![], span, &TEAM).unwrap_err().code, "invalid_usage");
}

#[test]
fn legacy_system_names_fold_to_catalog_providers() {
    for (system, provider) in [
        ("aws.bedrock", "bedrock"),
        ("az.ai.openai", "azure"),
        ("gcp.vertex_ai", "vertex_ai"),
        ("mistral_ai", "mistral"),
    ] {
        let mut span = with_team(vec![]);
        span[0] = text("gen_ai.system", system);
        assert_eq!(
            event_of(vec![], span, &TEAM).unwrap().provider,
            provider,
            "{system}"
        );
    }
}

#[test]
fn the_provider_name_wins_over_the_legacy_system() {
    let mut span = with_team(vec![]);
    span.remove(0);
    span.push(text("gen_ai.system", "aws.bedrock"));
    span.push(text("gen_ai.provider.name", "azure.ai.openai"));
    assert_eq!(event_of(vec![], span, &TEAM).unwrap().provider, "azure");
}

#[test]
fn the_response_model_wins_over_the_request_model() {
    let event = event_of(
        vec![],
        with_team(vec![text("gen_ai.response.model", "gpt-4.1-2025-04-14")]),
        &TEAM,
    )
    .unwrap();
    assert_eq!(event.model, "gpt-4.1-2025-04-14");
}

#[test]
fn the_team_can_come_from_the_resource() {
    let event = event_of(vec![text("tokenledger.team", "ads")], genai(vec![]), &TEAM).unwrap();
    assert_eq!(event.team, "ads");
}

#[test]
fn a_span_team_wins_over_a_resource_team() {
    let event = event_of(vec![text("tokenledger.team", "ads")], with_team(vec![]), &TEAM).unwrap();
    assert_eq!(event.team, "search");
}

#[test]
fn the_team_attribute_key_is_configurable() {
    let team = TeamSource {
        attribute: "acme.cost_center",
        key_team: None,
    };
    let span = genai(vec![text("acme.cost_center", "cc-42"), text("team", "fallback")]);
    assert_eq!(event_of(vec![], span, &team).unwrap().team, "cc-42");
}

#[test]
fn the_plain_team_attribute_is_the_fallback() {
    let event = event_of(vec![text("team", "infra")], genai(vec![]), &TEAM).unwrap();
    assert_eq!(event.team, "infra");
}

#[test]
fn a_team_bound_key_supplies_a_missing_team() {
    let team = TeamSource {
        attribute: "tokenledger.team",
        key_team: Some("bound"),
    };
    assert_eq!(event_of(vec![], genai(vec![]), &team).unwrap().team, "bound");
}

#[test]
fn a_span_without_a_team_is_rejected_with_a_message_naming_the_attribute() {
    let error = event_of(vec![], genai(vec![]), &TEAM).unwrap_err();
    assert_eq!(error.code, "missing_field");
    assert!(error.message.contains("tokenledger.team"), "{}", error.message);
}

#[test]
fn spans_without_genai_usage_are_ignored() {
    let http_span = vec![
        text("http.method", "GET"),
        text("gen_ai.request.model", "gpt-4.1"),
    ];
    let mapped = map_request(&request(vec![], vec![http_span, with_team(vec![])]), &TEAM);
    assert_eq!(mapped.ignored, 1);
    assert_eq!(mapped.events.len(), 1);
}

#[test]
fn project_user_tier_and_tags_come_from_their_attributes() {
    let event = event_of(
        vec![
            text("tokenledger.project", "ranker"),
            text("tokenledger.tag.env", "prod"),
        ],
        with_team(vec![
            text("user.id", "u_1"),
            text("openai.response.service_tier", "flex"),
            text("tokenledger.tag.feature", "rerank"),
            text("service.version", "not a tag"),
        ]),
        &TEAM,
    )
    .unwrap();
    assert_eq!(event.project.as_deref(), Some("ranker"));
    assert_eq!(event.user.as_deref(), Some("u_1"));
    assert_eq!(event.service_tier, ServiceTier::Flex);
    let tags = event.tags.unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags["feature"], "rerank");
    assert_eq!(tags["env"], "prod");
}

#[test]
fn an_unpriced_service_tier_value_reads_as_standard() {
    let event = event_of(
        vec![],
        with_team(vec![text("openai.response.service_tier", "scale")]),
        &TEAM,
    )
    .unwrap();
    assert_eq!(event.service_tier, ServiceTier::Standard);
}

#[test]
fn the_start_time_is_used_when_the_end_time_is_missing() {
    let mut req = request(vec![], vec![with_team(vec![])]);
    req.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano = 0;
    let raw = map_request(&req, &TEAM).events.remove(0).unwrap();
    assert_eq!(raw.timestamp.as_deref(), Some("2025-07-24T11:47:53Z"));
}

#[test]
fn protobuf_and_json_decode_to_the_same_request() {
    let from_json = request(vec![text("team", "t")], vec![with_team(vec![])]);
    let bytes = prost::Message::encode_to_vec(&from_json);
    assert_eq!(decode(&bytes, Encoding::Protobuf).unwrap(), from_json);
}

#[test]
fn undecodable_bodies_are_bad_requests() {
    for (body, encoding) in [
        (&b"{not json"[..], Encoding::Json),
        (&b"\xff\xff\xff"[..], Encoding::Protobuf),
        (
            &br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#[..],
            Encoding::Json,
        ),
    ] {
        assert!(matches!(decode(body, encoding), Err(ApiError::BadRequest { .. })));
    }
}

#[test]
fn a_rejected_span_is_named_in_the_partial_success() {
    let report = IngestReport {
        accepted: 1,
        rejected: vec![crate::ingest::Rejected {
            index: 1,
            id: None,
            error: EventError::new("missing_field", "no team"),
        }],
        ..IngestReport::default()
    };
    let labels = ["span a \"x\"".to_owned(), "span b \"chat\"".to_owned()];
    let answer = response(&report, &labels).to_json();
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], "1");
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("span b \"chat\": no team (missing_field)"),
        "{message}"
    );
}

#[test]
fn a_full_success_leaves_partial_success_unset() {
    assert_eq!(response(&IngestReport::default(), &[]).to_json(), json!({}));
}

#[test]
fn array_and_map_attribute_values_are_skipped_not_errors() {
    let span = with_team(vec![
        json!({"key": "gen_ai.response.finish_reasons", "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}}}),
        json!({"key": "x", "value": {"kvlistValue": {"values": [{"key": "a", "value": {"intValue": 1}}]}}}),
        json!({"key": "y", "value": {"bytesValue": "AAE="}}),
    ]);
    assert_eq!(event_of(vec![], span, &TEAM).unwrap().usage.input_tokens, 100);
}
