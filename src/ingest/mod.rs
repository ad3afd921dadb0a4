//! # The path of a usage event
//!
//! 1. **Receive** (`routes::events`). The handler checks the key (scope `ingest`; a lookup the
//!    database does not answer within `TOKENLEDGER_DB_TIMEOUT_MS` is a 503, `auth::Caller`), the
//!    Content-Type (415 unless JSON or NDJSON) and the body size (413 over
//!    `TOKENLEDGER_MAX_BODY`, read in chunks so an oversized body is cut off early).
//! 2. **Decode** (`decode`). The body becomes a list of raw events. A body that is not JSON, or
//!    JSON that is neither an object nor an array, is a 400 and nothing is stored. A batch over
//!    `TOKENLEDGER_MAX_BATCH` is a 422 and nothing is stored. From here on, a problem with one
//!    event rejects that event only.
//! 3. **Normalize** (`normalize`). The usage block, canonical or a provider's native format, is
//!    turned into canonical counts (input includes cached input, output includes reasoning).
//! 4. **Validate** (`validate`). Required fields, RFC 3339 time not more than 5 minutes ahead,
//!    subset laws of the counts, names, tags, cost and currency. Each failure has a stable code
//!    (`missing_field`, `invalid_usage`, `timestamp_in_future`, ...), reported per event.
//! 5. **Price** (`pricing`). The in-memory catalog gives the price row in effect at the event's
//!    time for its provider, model, service tier and context size; the cost is exact Decimal. The
//!    model id is matched exactly, else through an operator's alias, else by a few built-in rules
//!    (`pricing::aliases`); the event keeps its own model id either way. No price means the event
//!    is stored unpriced, never dropped, and its model is listed by `GET /v1/unpriced`.
//! 6. **Write** (`writer`). The events go to the group-commit writer, which writes the queued
//!    events of many requests in one statement: new (team, id) keys are claimed in `event_keys`
//!    and exactly those events inserted. A known id with the same content is a duplicate (counted
//!    once); with different content it is rejected as `id_conflict` and the first version stands.
//! 7. **Acknowledge**. The response is sent only after that statement has committed. If the
//!    database cannot commit in time the answer is 503 with Retry-After, and a retry is safe
//!    because of step 6. If too many events are already waiting, 429 at once: memory stays bounded.
//!    The counted cost of each accepted event is then added to this replica's in-memory budget
//!    view (`budgets::check`), so `GET /v1/check` refuses a team that just spent its budget.
//!
//! Every event ends in exactly one outcome (accepted, duplicate, rejected with a reason), and each
//! outcome is counted in `tokenledger_events_total`.
//!
//! ## Two more doors: OTLP traces and LiteLLM
//!
//! `POST /v1/traces` (`routes::traces`, mapping in `otlp`) takes an OTLP/HTTP export, protobuf or
//! JSON, gzip or not (the decompressed size is held to the same limit), and `POST
//! /v1/integrations/litellm` (`routes::integrations`, mapping in `litellm`) takes LiteLLM's
//! StandardLoggingPayloads framed like `/v1/events`. Each maps its records to raw events and
//! enters at step 4 through `Ingestor::ingest_raw`, so validation, pricing, idempotency and
//! acknowledged-means-committed are exactly those above. What is not billing data is counted as
//! outcome `ignored` and not stored: spans without GenAI usage (`otlp_no_genai_usage`) and LiteLLM
//! failures that carry no usage (`litellm_failure`). The OTLP answer is OTLP's own: 200 with a
//! partial success naming each rejected span; LiteLLM's is the `IngestReport` of `/v1/events`.

pub mod litellm;
pub mod otlp;
pub mod writer;

// Steps 2 to 4 are pure and live in the lean `tokenledger-events` crate (fuzzed on their own in
// `fuzz/`), re-exported at their old paths.
pub use tokenledger_events::{decode, normalize, validate};

use crate::domain::EventError;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::pricing::CatalogHandle;
use chrono::Utc;
use decode::RawEvent;
use serde::Serialize;
use std::sync::Arc;
pub use writer::{EventWriter, Outcome, PendingEvent};

/// The answer to an ingest request.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct IngestReport {
    /// Events stored by this request.
    pub accepted: usize,
    /// Events already stored with the same content (counted once).
    pub duplicates: usize,
    /// Events not stored, with why.
    pub rejected: Vec<Rejected>,
    /// Records deliberately not turned into events (integrations only: LiteLLM failures without
    /// usage). Left out of the JSON when zero, so `/v1/events` answers are unchanged.
    #[serde(skip_serializing_if = "is_zero")]
    pub ignored: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One rejected event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rejected {
    /// Position in the request (0-based; for NDJSON, among non-blank lines).
    pub index: usize,
    /// The event's id, when it had a readable one.
    pub id: Option<String>,
    pub error: EventError,
}

impl Rejected {
    /// The answer when a request of one lone event had it rejected: 409 for a conflict, 403 for
    /// another team's event, else 422, each with the rejection's code and message.
    pub fn as_api_error(&self) -> ApiError {
        let message = self.error.message.clone();
        match self.error.code {
            "id_conflict" => ApiError::Conflict {
                code: "id_conflict",
                message,
            },
            "team_not_allowed" => ApiError::Forbidden(message),
            code => ApiError::unprocessable(code, message),
        }
    }
}

/// Runs the path above for one request body.
pub struct Ingestor {
    pub catalog: Arc<CatalogHandle>,
    pub writer: EventWriter,
    pub metrics: Arc<Metrics>,
    pub max_batch: usize,
    /// Budgets' in-memory spend, which accepted events are added to at once (see `budgets::check`).
    pub budgets: Arc<crate::budgets::CheckView>,
    /// Which cost of an event counts (for the budgets' spend).
    pub cost_source: crate::config::CostSource,
}

/// The cost an event counts for in spend, and its currency, by the configured source (the same
/// rule `store::spend` sums by).
fn counted_cost(
    pending: &PendingEvent,
    source: crate::config::CostSource,
) -> Option<(String, rust_decimal::Decimal)> {
    let reported = pending
        .event
        .reported_cost
        .map(|cost| (pending.event.reported_currency.clone(), cost));
    let computed = pending.priced.as_ref().map(|p| (p.currency.clone(), p.cost));
    match source {
        crate::config::CostSource::Computed => computed.or(reported),
        crate::config::CostSource::Reported => reported.or(computed),
    }
}

impl Ingestor {
    /// Decodes, validates, prices and writes a body. `allowed_team` restricts a team-bound key.
    /// Returns the report and whether the body was a single event object.
    pub async fn ingest(
        &self,
        body: &[u8],
        format: decode::BodyFormat,
        allowed_team: Option<&str>,
    ) -> Result<(IngestReport, bool), ApiError> {
        let decoded = decode::decode(body, format, self.max_batch)?;
        let report = self.ingest_raw(decoded.events, allowed_team).await?;
        Ok((report, decoded.single))
    }

    /// Steps 4 to 7 for events an integration has already decoded (`otlp`, `litellm`): validate,
    /// price, write, acknowledge. Positions in the report are positions in `events`.
    pub async fn ingest_raw(
        &self,
        events: Vec<Result<RawEvent, EventError>>,
        allowed_team: Option<&str>,
    ) -> Result<IngestReport, ApiError> {
        let now = Utc::now();
        let catalog = self.catalog.snapshot();
        let mut report = IngestReport::default();
        let mut pending = Vec::with_capacity(events.len());
        let mut positions = Vec::with_capacity(events.len());
        for (index, raw) in events.into_iter().enumerate() {
            let id = raw.as_ref().ok().and_then(|r| r.id.clone());
            let checked =
                raw.and_then(|raw| validate::validate(raw, now))
                    .and_then(|event| match allowed_team {
                        Some(team) if team != event.team => Err(EventError::new(
                            "team_not_allowed",
                            format!("this key may only write events of team {team:?}"),
                        )),
                        _ => Ok(event),
                    });
            match checked {
                Ok(event) => {
                    let priced = catalog.price(&event);
                    pending.push(PendingEvent { event, priced });
                    positions.push(index);
                }
                Err(error) => report.rejected.push(Rejected { index, id, error }),
            }
        }
        let ids: Vec<String> = pending.iter().map(|p| p.event.id.clone()).collect();
        let spent: Vec<Option<crate::budgets::check::Spent>> = pending
            .iter()
            .map(|p| {
                let (currency, cost) = counted_cost(p, self.cost_source)?;
                Some(crate::budgets::check::Spent {
                    team: p.event.team.clone(),
                    provider: p.event.provider.clone(),
                    model: p.event.model.clone(),
                    project: p.event.project.clone(),
                    timestamp: p.event.timestamp,
                    currency,
                    cost,
                })
            })
            .collect();
        let outcomes = self.writer.write(pending).await?;
        let mut accepted_spend = Vec::new();
        for (((outcome, index), id), spent) in outcomes.into_iter().zip(positions).zip(ids).zip(spent) {
            match outcome {
                Outcome::Accepted => {
                    report.accepted += 1;
                    accepted_spend.extend(spent);
                }
                Outcome::Duplicate => report.duplicates += 1,
                Outcome::Conflict => report.rejected.push(Rejected {
                    index,
                    id: Some(id),
                    error: EventError::new(
                        "id_conflict",
                        "an event with this id and different content is already stored; the first version stands",
                    ),
                }),
            }
        }
        report.rejected.sort_by_key(|r| r.index);
        self.budgets.add_accepted(accepted_spend);
        self.count(&report);
        Ok(report)
    }

    /// Counts records an integration received but deliberately did not turn into events (OTLP
    /// spans without GenAI usage, LiteLLM failures without usage): outcome `ignored`.
    pub fn count_ignored(&self, reason: &str, n: usize) {
        if n > 0 {
            self.metrics
                .events
                .with_label_values(&["ignored", reason])
                .inc_by(n as u64);
        }
    }

    fn count(&self, report: &IngestReport) {
        let events = &self.metrics.events;
        events
            .with_label_values(&["accepted", ""])
            .inc_by(report.accepted as u64);
        events
            .with_label_values(&["duplicate", ""])
            .inc_by(report.duplicates as u64);
        for rejected in &report.rejected {
            events.with_label_values(&["rejected", rejected.error.code]).inc();
        }
    }
}
