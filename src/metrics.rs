//! The one Prometheus registry. Every metric is documented here with its labels.
//!
//! Service series, kept by this process (registered in `Metrics`):
//! - `tokenledger_http_requests_total{route, method, status}` counter; `route` is the matched
//!   route pattern (`/v1/keys/{id}`), `unmatched` for a path no route has.
//! - `tokenledger_http_request_duration_seconds{route, method}` histogram.
//! - `tokenledger_events_total{outcome, reason}` counter: accepted, duplicate, rejected (reason =
//!   the rejection code).
//! - `tokenledger_writer_batch_events{}` histogram, `tokenledger_writer_commit_duration_seconds{result}` histogram.
//! - `tokenledger_writer_claim_retries_total{}` counter: batches written a second time because their
//!   optimistic key claim found a key already taken (a resent event).
//! - `tokenledger_job_runs_total{job, result}` counter, `tokenledger_job_duration_seconds{job}` histogram.
//! - `tokenledger_business_metrics_errors_total{}` counter: failed database reads behind the
//!   business series (the last good snapshot is served meanwhile).
//!
//! Read at scrape time from the query pool (`pool_families`), no labels:
//! - `tokenledger_db_pool_max_connections`, `tokenledger_db_pool_connections` (open),
//!   `tokenledger_db_pool_idle_connections`, `tokenledger_db_pool_in_use_connections` gauges.
//!
//! Read at scrape time from the database, cached (`business`; every replica reports the same):
//! - `tokenledger_spend_total{team, provider, model, currency}` counter: spend that counts.
//! - `tokenledger_reported_spend_total{team, provider, model, currency}` counter: gateways' cost.
//! - `tokenledger_requests_total{team, provider, model}` counter.
//! - `tokenledger_tokens_total{team, provider, model, kind}` counter, kind = input | cache_read |
//!   cache_write | output | reasoning.
//! - `tokenledger_unpriced_events_total{team, provider, model}` counter.
//! - `tokenledger_month_spend{team, currency}` gauge: spend of the current UTC month.
//! - `tokenledger_rollup_lag_seconds{}` gauge: now minus the rollup job's heartbeat.
//! - `tokenledger_rollup_oldest_pending_event_age_seconds{}` gauge.
//! - `tokenledger_business_metrics_age_seconds{}` gauge: age of the cached read.
//!
//! Teams and models outside the configured top N (by all-time spend) are labelled `other`. Money
//! is a float only in the exposition: the format has no decimals.
//!
//! Budget series (registered by `budgets::metrics::BudgetMetrics`, filled from the in-memory
//! check view at each render of `/metrics`, so every replica reports the same):
//! - `tokenledger_budget_amount{budget_id, budget, team, currency}`: a budget's amount per period.
//! - `tokenledger_budget_spend{budget_id, budget, team, currency}`: spend of its current period.
//! - `tokenledger_budget_utilization_ratio{budget_id, budget, team}`: spend ÷ amount (1 = 100%).
//! - `tokenledger_budget_forecast_spend{budget_id, budget, team, currency}`: projected period spend.
//! - `tokenledger_budget_alerts_total{budget_id, budget, team, kind}`: stored alerts (kind threshold
//!   or forecast): a count of rows in the database, not of this process's own work.

pub mod business;
mod family;

use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Service metrics of this process.
pub struct Metrics {
    pub registry: Registry,
    /// `tokenledger_http_requests_total{route, method, status}`: requests served.
    pub http_requests: IntCounterVec,
    /// `tokenledger_http_request_duration_seconds{route, method}`: time to answer.
    pub http_duration: HistogramVec,
    /// `tokenledger_events_total{outcome, reason}`: every event received ends in exactly one
    /// outcome: accepted, duplicate or rejected (reason = the rejection code; empty otherwise).
    /// Integrations add outcome `ignored` for records that are not billing data and are not stored:
    /// reason `otlp_no_genai_usage` (an OTLP span without `gen_ai.usage.*` attributes) and
    /// `litellm_failure` (a LiteLLM `status: failure` payload without tokens or cost).
    pub events: IntCounterVec,
    /// `tokenledger_writer_batch_events{}`: events per database write of the group-commit writer.
    pub writer_batch_events: HistogramVec,
    /// `tokenledger_writer_commit_duration_seconds{result}`: time of one database write.
    pub writer_commit: HistogramVec,
    /// `tokenledger_writer_claim_retries_total{}`: batches written again with `ON CONFLICT` after
    /// an optimistic key claim found a taken key (`store::events::Claim`).
    pub writer_claim_retries: IntCounter,
    /// `tokenledger_job_runs_total{job, result}`: passes of a background job (result ok, skipped
    /// when another replica held the job, error).
    pub job_runs: IntCounterVec,
    /// `tokenledger_job_duration_seconds{job}`: time of one pass of a background job.
    pub job_duration: HistogramVec,
    /// `tokenledger_business_metrics_errors_total{}`: failed reads behind the business series.
    pub business_errors: IntCounter,
}

impl Metrics {
    /// Registers every metric on a fresh registry.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "tokenledger_http_requests_total",
                "HTTP requests served, by route pattern, method and status.",
            ),
            &["route", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "tokenledger_http_request_duration_seconds",
                "Time from request to response, by route pattern and method.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route", "method"],
        )?;
        let events = IntCounterVec::new(
            Opts::new(
                "tokenledger_events_total",
                "Usage events received, by outcome (accepted, duplicate, rejected, ignored) and reason.",
            ),
            &["outcome", "reason"],
        )?;
        let writer_batch_events = HistogramVec::new(
            HistogramOpts::new(
                "tokenledger_writer_batch_events",
                "Events per group-commit database write.",
            )
            .buckets(vec![1.0, 10.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0]),
            &[],
        )?;
        let writer_commit = HistogramVec::new(
            HistogramOpts::new(
                "tokenledger_writer_commit_duration_seconds",
                "Duration of one group-commit database write, by result (ok, unavailable, error).",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ]),
            &["result"],
        )?;
        let writer_claim_retries = IntCounter::new(
            "tokenledger_writer_claim_retries_total",
            "Batches written a second time because their optimistic key claim found a key already taken; no labels.",
        )?;
        let job_runs = IntCounterVec::new(
            Opts::new(
                "tokenledger_job_runs_total",
                "Passes of a background job, by job and result (ok, skipped, error).",
            ),
            &["job", "result"],
        )?;
        let job_duration = HistogramVec::new(
            HistogramOpts::new(
                "tokenledger_job_duration_seconds",
                "Duration of one pass of a background job, by job.",
            )
            .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
            &["job"],
        )?;
        let business_errors = IntCounter::new(
            "tokenledger_business_metrics_errors_total",
            "Failed database reads behind the business series (the last good snapshot is served meanwhile); no labels.",
        )?;
        registry.register(Box::new(business_errors.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(writer_batch_events.clone()))?;
        registry.register(Box::new(writer_commit.clone()))?;
        registry.register(Box::new(writer_claim_retries.clone()))?;
        registry.register(Box::new(job_runs.clone()))?;
        registry.register(Box::new(job_duration.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            events,
            writer_batch_events,
            writer_commit,
            writer_claim_retries,
            job_runs,
            job_duration,
            business_errors,
        })
    }

    /// The registry and the `extra` families (read at scrape time) in the Prometheus text format.
    pub fn render(&self, extra: Vec<MetricFamily>) -> Result<String, prometheus::Error> {
        let mut families = self.registry.gather();
        families.extend(extra);
        let mut out = Vec::new();
        TextEncoder::new().encode(&families, &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// The query pool's connections, as of now.
pub fn pool_families(pool: &sqlx::PgPool) -> Vec<MetricFamily> {
    let size = f64::from(pool.size());
    let idle = pool.num_idle() as f64;
    let max = f64::from(pool.options().get_max_connections());
    let one = |name: &str, help: &str, value: f64| {
        family::gauge(name, help, &[], std::iter::once((Vec::<&str>::new(), value)))
    };
    vec![
        one(
            "tokenledger_db_pool_max_connections",
            "Most connections the query pool may open (TOKENLEDGER_DB_POOL_SIZE); no labels.",
            max,
        ),
        one(
            "tokenledger_db_pool_connections",
            "Connections the query pool has open, idle or in use; no labels.",
            size,
        ),
        one(
            "tokenledger_db_pool_idle_connections",
            "Open query-pool connections waiting for work; no labels.",
            idle,
        ),
        one(
            "tokenledger_db_pool_in_use_connections",
            "Query-pool connections running a query now; no labels.",
            (size - idle).max(0.0),
        ),
    ]
}
