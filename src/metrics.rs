//! The one Prometheus registry. Every metric is documented here with its labels.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

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
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(writer_batch_events.clone()))?;
        registry.register(Box::new(writer_commit.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            events,
            writer_batch_events,
            writer_commit,
        })
    }

    /// The registry in the Prometheus text format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
