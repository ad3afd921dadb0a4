//! OTLP/HTTP traces → usage events (SPEC "Gateway integrations").
//!
//! Each span that carries GenAI usage becomes one event; every other span is ignored (counted as
//! outcome `ignored`, reason `otlp_no_genai_usage`), since a trace export also carries HTTP, database
//! and agent spans that cost nothing. Mapping:
//! - id: the trace id's 32 hex digits followed by the span id's 16, so a retried export (same spans)
//!   is a duplicate, counted once.
//! - timestamp: the span's end time (when the call was billed), else its start time.
//! - team: the attribute named by `TOKENLEDGER_OTLP_TEAM_ATTRIBUTE` (default `tokenledger.team`), on
//!   the span, else on the resource; then `team`, on the span, else the resource; then the team of a
//!   team-bound key. Project: `tokenledger.project`; user: `tokenledger.user`, else `user.id`, else
//!   the deprecated `enduser.id`; tags: every string attribute `tokenledger.tag.<key>` (as `<key>`,
//!   at most 16, as for any event). Other attributes are not copied: a span carries dozens, and
//!   tags are for attribution the sender chose. Span attributes win over resource attributes.
//! - provider: `gen_ai.provider.name`, else the legacy `gen_ai.system`, folded by
//!   `domain::normalize_provider` (`aws.bedrock` → bedrock, `az.ai.openai` → azure, ...).
//! - model: `gen_ai.response.model` (the model that answered, often a dated id) else
//!   `gen_ai.request.model`.
//! - service tier: `tokenledger.service_tier`, else `openai.response.service_tier` (also under its
//!   older name `gen_ai.openai.response.service_tier`); a value we do not price (`auto`, `scale`) is
//!   read as standard rather than losing the span.
//! - usage, read as the GenAI semantic conventions define it: `gen_ai.usage.input_tokens` is ALL
//!   input tokens, and `gen_ai.usage.cache_read.input_tokens` / `cache_creation.input_tokens` are
//!   subsets of it ("SHOULD be included in gen_ai.usage.input_tokens"); `output_tokens` includes
//!   `reasoning.output_tokens`. That is exactly our canonical usage, so the counts pass through
//!   unchanged: input, cache_read, cache_write (cache creation, priced at the 5-minute rate: OTel
//!   does not tell the TTL), output, reasoning. The deprecated `gen_ai.usage.prompt_tokens` and
//!   `completion_tokens` stand in for input and output when the current names are absent. A span
//!   whose cache counts exceed its input (an instrumentation that reports Anthropic's uncached
//!   `input_tokens`) is rejected with `invalid_usage` rather than guessed at.
//!
//! Counts must be integer attributes (`intValue`), or strings of digits; anything else rejects the
//! span. A span that has usage but cannot become a valid event (no team, no model, ...) is a
//! rejected span in the OTLP partial-success answer, with its span id and the reason.

pub mod limit;
pub mod proto;

use crate::domain::{EventError, ServiceTier};
use crate::error::ApiError;
use crate::ingest::decode::RawEvent;
use crate::ingest::IngestReport;
use chrono::{DateTime, SecondsFormat};
use proto::{AnyValue, ExportTraceServiceRequest, KeyValue, Span, Value};
use serde_json::value::{to_raw_value, RawValue};

/// How the request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP/JSON).
    Json,
}

impl Encoding {
    /// Picks the encoding from the Content-Type, or says what is accepted (415).
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, ApiError> {
        let essence = content_type
            .and_then(|ct| ct.split(';').next())
            .map(|ct| ct.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Self::Protobuf),
            "application/json" => Ok(Self::Json),
            other => Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type {:?} is not accepted; OTLP/HTTP sends application/x-protobuf or application/json",
                if other.is_empty() { "(none)" } else { other }
            ))),
        }
    }

    /// The Content-Type of the answer, which OTLP wants in the request's encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// Decodes an export request. An undecodable body is a 400 and nothing is stored.
pub fn decode(body: &[u8], encoding: Encoding) -> Result<ExportTraceServiceRequest, ApiError> {
    match encoding {
        Encoding::Protobuf => prost::Message::decode(body).map_err(|e| {
            ApiError::bad_request(
                "malformed_body",
                format!(
                    "the body is not an OTLP ExportTraceServiceRequest in protobuf: {e}; nothing was stored"
                ),
            )
        }),
        // serde reads a struct from a JSON array too (by position); OTLP/JSON is an object.
        Encoding::Json if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') => Err(ApiError::bad_request(
            "malformed_body",
            "the body is not an OTLP/JSON ExportTraceServiceRequest: it must be a JSON object; nothing was stored",
        )),
        Encoding::Json => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(
                "malformed_body",
                format!("the body is not an OTLP/JSON ExportTraceServiceRequest: {e}; nothing was stored"),
            )
        }),
    }
}

/// Which attributes to read the team from, and the fallback for spans that name none.
pub struct TeamSource<'a> {
    /// `TOKENLEDGER_OTLP_TEAM_ATTRIBUTE`.
    pub attribute: &'a str,
    /// The team of a team-bound key.
    pub key_team: Option<&'a str>,
}

/// The spans of a request as events, in order, with a label per event for error messages.
pub struct Mapped {
    pub events: Vec<Result<RawEvent, EventError>>,
    /// `span <hex id> "<name>"`, one per entry of `events`.
    pub labels: Vec<String>,
    /// Spans without GenAI usage.
    pub ignored: usize,
}

/// Maps every span of a request.
pub fn map_request(request: &ExportTraceServiceRequest, team: &TeamSource<'_>) -> Mapped {
    let mut mapped = Mapped {
        events: Vec::new(),
        labels: Vec::new(),
        ignored: 0,
    };
    for resource_spans in &request.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map_or(&[][..], |r| r.attributes.as_slice());
        for span in resource_spans.scope_spans.iter().flat_map(|s| &s.spans) {
            match map_span(span, resource, team) {
                None => mapped.ignored += 1,
                Some(event) => {
                    mapped.events.push(event);
                    mapped.labels.push(label(span));
                }
            }
        }
    }
    mapped
}

/// `span <hex id> "<name>"` for messages, both cut short: the answer quotes it for each rejected
/// span, and neither an id nor a name sent is bounded in size.
fn label(span: &Span) -> String {
    const MAX_CHARS: usize = 64;
    let mut id = hex::encode(span.span_id.get(..16).unwrap_or(&span.span_id));
    if span.span_id.len() > 16 {
        id.push_str("...");
    }
    let name: String = span.name.chars().take(MAX_CHARS).collect();
    let cut = if name.len() < span.name.len() { "..." } else { "" };
    format!("span {id} {name:?}{cut}")
}

const INPUT: &str = "gen_ai.usage.input_tokens";
const OUTPUT: &str = "gen_ai.usage.output_tokens";
const CACHE_READ: &str = "gen_ai.usage.cache_read.input_tokens";
const CACHE_CREATION: &str = "gen_ai.usage.cache_creation.input_tokens";
const REASONING: &str = "gen_ai.usage.reasoning.output_tokens";
const PROMPT_DEPRECATED: &str = "gen_ai.usage.prompt_tokens";
const COMPLETION_DEPRECATED: &str = "gen_ai.usage.completion_tokens";
const USAGE_KEYS: [&str; 7] = [
    INPUT,
    OUTPUT,
    CACHE_READ,
    CACHE_CREATION,
    REASONING,
    PROMPT_DEPRECATED,
    COMPLETION_DEPRECATED,
];
const TAG_PREFIX: &str = "tokenledger.tag.";

/// One span as an event; `None` when it carries no GenAI usage.
pub fn map_span(
    span: &Span,
    resource: &[KeyValue],
    team: &TeamSource<'_>,
) -> Option<Result<RawEvent, EventError>> {
    let attrs = Attributes {
        span: &span.attributes,
        resource,
    };
    if !USAGE_KEYS.iter().any(|key| attrs.on_span(key).is_some()) {
        return None;
    }
    Some(build_event(span, &attrs, team))
}

fn build_event(span: &Span, attrs: &Attributes<'_>, team: &TeamSource<'_>) -> Result<RawEvent, EventError> {
    if span.trace_id.len() != 16 || span.span_id.len() != 8 {
        return Err(EventError::new(
            "invalid_id",
            "the span needs a 16-byte trace id and an 8-byte span id (they make the event id)",
        ));
    }
    let id = format!("{}{}", hex::encode(&span.trace_id), hex::encode(&span.span_id));
    let nanos = if span.end_time_unix_nano != 0 {
        span.end_time_unix_nano
    } else {
        span.start_time_unix_nano
    };
    let timestamp = i64::try_from(nanos)
        .ok()
        .filter(|n| *n > 0)
        .map(|n| DateTime::from_timestamp_nanos(n).to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .ok_or_else(|| {
            EventError::new(
                "invalid_timestamp",
                "the span has neither an end nor a start time (endTimeUnixNano, startTimeUnixNano)",
            )
        })?;
    let team = attrs
        .string(team.attribute)
        .or_else(|| attrs.string("team"))
        .map(str::to_owned)
        .or_else(|| team.key_team.map(str::to_owned))
        .ok_or_else(|| {
            EventError::new(
                "missing_field",
                format!(
                    "no team: set the span or resource attribute {:?} (TOKENLEDGER_OTLP_TEAM_ATTRIBUTE) or \"team\", \
                     or export with a team-bound key",
                    team.attribute
                ),
            )
        })?;
    let provider = attrs
        .span_string("gen_ai.provider.name")
        .or_else(|| attrs.span_string("gen_ai.system"))
        .ok_or_else(|| {
            EventError::new(
                "missing_field",
                "no provider: the span has neither gen_ai.provider.name nor gen_ai.system",
            )
        })?;
    let model = attrs
        .span_string("gen_ai.response.model")
        .or_else(|| attrs.span_string("gen_ai.request.model"))
        .ok_or_else(|| {
            EventError::new(
                "missing_field",
                "no model: the span has neither gen_ai.response.model nor gen_ai.request.model",
            )
        })?;
    let service_tier = [
        "tokenledger.service_tier",
        "openai.response.service_tier",
        "gen_ai.openai.response.service_tier",
    ]
    .iter()
    .find_map(|key| attrs.string(key))
    .and_then(ServiceTier::parse)
    .map(|tier| tier.as_str().to_owned());
    let tags: Vec<(String, String)> = attrs
        .all()
        .filter_map(|(key, value)| Some((key.strip_prefix(TAG_PREFIX)?, as_string(value)?)))
        .filter(|(key, _)| !key.is_empty())
        .fold(Vec::new(), |mut tags, (key, value)| {
            // Span attributes come first, so a resource attribute of the same key does not repeat it.
            if !tags.iter().any(|(k, _)| k == key) {
                tags.push((key.to_owned(), value.to_owned()));
            }
            tags
        });
    Ok(RawEvent {
        id: Some(id),
        timestamp: Some(timestamp),
        team: Some(team),
        project: attrs.string("tokenledger.project").map(str::to_owned),
        user: ["tokenledger.user", "user.id", "enduser.id"]
            .iter()
            .find_map(|key| attrs.string(key))
            .map(str::to_owned),
        tags: (!tags.is_empty()).then_some(tags),
        provider: Some(provider.to_owned()),
        model: Some(model.to_owned()),
        service_tier,
        usage: Some(usage(attrs)?),
        usage_format: None,
        cost: None,
        currency: None,
    })
}

/// The canonical usage block of a span (see the module doc for the reading of the conventions).
fn usage(attrs: &Attributes<'_>) -> Result<Box<RawValue>, EventError> {
    let input = match attrs.count(INPUT)? {
        Some(n) => Some(n),
        None => attrs.count(PROMPT_DEPRECATED)?,
    };
    let output = match attrs.count(OUTPUT)? {
        Some(n) => Some(n),
        None => attrs.count(COMPLETION_DEPRECATED)?,
    };
    let block = serde_json::json!({
        "input_tokens": input,
        "cache_read_tokens": attrs.count(CACHE_READ)?,
        "cache_write_tokens": attrs.count(CACHE_CREATION)?,
        "output_tokens": output,
        "reasoning_tokens": attrs.count(REASONING)?,
    });
    to_raw_value(&block).map_err(|e| EventError::new("invalid_usage", e.to_string()))
}

fn as_string(value: &AnyValue) -> Option<&str> {
    match &value.value {
        Some(Value::StringValue(s)) if !s.trim().is_empty() => Some(s),
        _ => None,
    }
}

/// The attributes of a span and of its resource; span attributes win.
struct Attributes<'a> {
    span: &'a [KeyValue],
    resource: &'a [KeyValue],
}

impl<'a> Attributes<'a> {
    fn find(list: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
        list.iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
    }

    fn on_span(&self, key: &str) -> Option<&'a AnyValue> {
        Self::find(self.span, key)
    }

    fn span_string(&self, key: &str) -> Option<&'a str> {
        self.on_span(key).and_then(as_string)
    }

    /// A non-blank string attribute of the span, else of the resource.
    fn string(&self, key: &str) -> Option<&'a str> {
        self.span_string(key)
            .or_else(|| Self::find(self.resource, key).and_then(as_string))
    }

    /// Every attribute with a value, span first.
    fn all(&self) -> impl Iterator<Item = (&'a str, &'a AnyValue)> {
        self.span
            .iter()
            .chain(self.resource)
            .filter_map(|kv| Some((kv.key.as_str(), kv.value.as_ref()?)))
    }

    /// A token count on the span: an integer attribute, or a string of digits.
    fn count(&self, key: &str) -> Result<Option<u64>, EventError> {
        let invalid = |what: String| {
            EventError::new(
                "invalid_usage",
                format!("{key} must be a non-negative whole number (an intValue attribute), got {what}"),
            )
        };
        match self.on_span(key).and_then(|v| v.value.as_ref()) {
            None => Ok(None),
            Some(Value::IntValue(n)) => u64::try_from(*n).map(Some).map_err(|_| invalid(n.to_string())),
            Some(Value::StringValue(s)) => s
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| invalid(format!("{s:?}"))),
            Some(Value::DoubleValue(d)) => Err(invalid(format!("the double {d}"))),
            Some(Value::BoolValue(b)) => Err(invalid(format!("the boolean {b}"))),
        }
    }
}

/// The OTLP answer for a report: a partial success naming each rejected span, or an empty success.
/// Duplicates (a retried export) count as accepted.
pub fn response(report: &IngestReport, labels: &[String]) -> proto::ExportTraceServiceResponse {
    const LISTED: usize = 10;
    if report.rejected.is_empty() {
        return proto::ExportTraceServiceResponse {
            partial_success: None,
        };
    }
    let mut reasons: Vec<String> = report
        .rejected
        .iter()
        .take(LISTED)
        .map(|r| {
            let label = labels.get(r.index).map_or("span", String::as_str);
            format!("{label}: {} ({})", r.error.message, r.error.code)
        })
        .collect();
    if report.rejected.len() > LISTED {
        reasons.push(format!("and {} more", report.rejected.len() - LISTED));
    }
    proto::ExportTraceServiceResponse {
        partial_success: Some(proto::ExportTracePartialSuccess {
            rejected_spans: i64::try_from(report.rejected.len()).unwrap_or(i64::MAX),
            error_message: format!(
                "{} GenAI span(s) rejected, the others stored: {}",
                report.rejected.len(),
                reasons.join("; ")
            ),
        }),
    }
}

#[cfg(test)]
mod tests;
