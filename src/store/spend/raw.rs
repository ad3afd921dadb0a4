//! The same spend question answered over raw events only: a GROUP BY over `events`. Slow at scale
//! (it reads every event of the range) and therefore not what the API serves; it is the oracle
//! the rollup path is checked against, and the baseline benchmarks compare with.

use super::{Dimension, SpendQuery, SpendRow};
use crate::config::CostSource;
use sqlx::{PgPool, Postgres, QueryBuilder};

/// The amount an event counts for in `currency`, by the configured cost source.
fn push_counted_cost(q: &mut QueryBuilder<'_, Postgres>, source: CostSource, currency: &str) {
    let (first, first_currency, second, second_currency) = match source {
        CostSource::Computed => ("e.cost", "e.currency", "e.reported_cost", "e.reported_currency"),
        CostSource::Reported => ("e.reported_cost", "e.reported_currency", "e.cost", "e.currency"),
    };
    q.push(format_args!(
        "CASE WHEN {first} IS NOT NULL THEN (CASE WHEN {first_currency} = "
    ))
    .push_bind(currency.to_owned())
    .push(format_args!(
        " THEN {first} END) ELSE (CASE WHEN {second_currency} = "
    ))
    .push_bind(currency.to_owned())
    .push(format_args!(" THEN {second} END) END"));
}

/// Answers a spend question over raw events alone: the definition the rollup path must equal.
/// `tokenledger` uses it to verify rollups and to measure what rollups save; never on a request.
pub async fn spend_raw(pool: &PgPool, query: &SpendQuery) -> Result<Vec<SpendRow>, sqlx::Error> {
    // Outer query: the zone's UTC offset at each bucket start, and a stable order.
    let mut q = QueryBuilder::<Postgres>::new("SELECT s.*");
    if query.granularity.is_some() {
        q.push(", extract(epoch FROM (s.bucket AT TIME ZONE ")
            .push_bind(query.tz.clone())
            .push(") - (s.bucket AT TIME ZONE 'UTC'))::int AS offset_seconds");
    }
    q.push(" FROM (SELECT ");
    let mut groups = 0;
    if let Some(granularity) = query.granularity {
        q.push(format_args!("date_trunc('{}', e.ts, ", granularity.unit()))
            .push_bind(query.tz.clone())
            .push(") AS bucket, ");
        groups += 1;
    }
    for (i, dimension) in query.group_by.iter().enumerate() {
        match dimension {
            Dimension::Team => q.push("t.name"),
            Dimension::Project => q.push("e.project"),
            Dimension::User => q.push("e.user_id"),
            Dimension::Provider => q.push("e.provider"),
            Dimension::Model => q.push("e.model"),
            Dimension::ServiceTier => q.push("e.service_tier"),
            Dimension::Tag(key) => q.push("e.tags ->> ").push_bind(key.clone()),
        };
        q.push(format_args!(" AS d{i}, "));
        groups += 1;
    }
    q.push("COALESCE(sum(");
    push_counted_cost(&mut q, query.cost_source, &query.currency);
    q.push(
        "), 0) AS cost, count(*) AS requests, \
         COALESCE(sum(e.input_tokens), 0)::bigint AS input_tokens, \
         COALESCE(sum(e.cache_read_tokens), 0)::bigint AS cache_read_tokens, \
         COALESCE(sum(e.cache_write_tokens), 0)::bigint AS cache_write_tokens, \
         COALESCE(sum(e.output_tokens), 0)::bigint AS output_tokens, \
         COALESCE(sum(e.reasoning_tokens), 0)::bigint AS reasoning_tokens, \
         count(*) FILTER (WHERE e.price_id IS NULL) AS unpriced_requests, \
         count(*) FILTER (WHERE e.cost IS NOT NULL AND e.reported_cost IS NOT NULL \
                          AND e.currency = e.reported_currency AND e.currency = ",
    )
    .push_bind(query.currency.clone())
    .push(
        ") AS reconciled_requests, \
         COALESCE(sum(e.cost) FILTER (WHERE e.reported_cost IS NOT NULL \
                          AND e.currency = e.reported_currency AND e.currency = ",
    )
    .push_bind(query.currency.clone())
    .push(
        "), 0) AS reconciled_computed, \
         COALESCE(sum(e.reported_cost) FILTER (WHERE e.cost IS NOT NULL \
                          AND e.currency = e.reported_currency AND e.currency = ",
    )
    .push_bind(query.currency.clone())
    .push(
        "), 0) AS reconciled_reported \
         FROM events e JOIN teams t ON t.team_id = e.team_id WHERE e.ts >= ",
    )
    .push_bind(query.from)
    .push(" AND e.ts < ")
    .push_bind(query.to);
    if let Some(ids) = &query.team_ids {
        q.push(" AND e.team_id = ANY(").push_bind(ids.clone()).push(")");
    }
    for (column, values) in [
        ("e.provider", &query.providers),
        ("e.model", &query.models),
        ("e.project", &query.projects),
    ] {
        if !values.is_empty() {
            q.push(format_args!(" AND {column} = ANY("))
                .push_bind(values.clone())
                .push(")");
        }
    }
    if groups > 0 {
        q.push(" GROUP BY ");
        for i in 1..=groups {
            q.push(if i == 1 { "" } else { ", " }).push(i.to_string());
        }
    }
    super::push_order(&mut q, query);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(|row| super::read_row(row, query)).collect()
}
