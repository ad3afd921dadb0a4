//! Spend aggregation. Today a GROUP BY over raw events; the rollup issue swaps the body of
//! `spend` for rollups plus raw edges, behind the same signature.

use crate::config::CostSource;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

/// A `group_by` dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dimension {
    Team,
    Project,
    User,
    Provider,
    Model,
    ServiceTier,
    /// The value of one tag (`tag:<key>`); events without the tag group under null.
    Tag(String),
}

impl Dimension {
    /// Parses a `group_by` item.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "team" => Some(Self::Team),
            "project" => Some(Self::Project),
            "user" => Some(Self::User),
            "provider" => Some(Self::Provider),
            "model" => Some(Self::Model),
            "service_tier" => Some(Self::ServiceTier),
            other => other
                .strip_prefix("tag:")
                .filter(|k| !k.is_empty() && k.len() <= 64)
                .map(|k| Self::Tag(k.to_owned())),
        }
    }

    /// The field name of this dimension in a response row.
    pub fn name(&self) -> String {
        match self {
            Self::Team => "team".into(),
            Self::Project => "project".into(),
            Self::User => "user".into(),
            Self::Provider => "provider".into(),
            Self::Model => "model".into(),
            Self::ServiceTier => "service_tier".into(),
            Self::Tag(key) => format!("tag:{key}"),
        }
    }
}

/// Bucket width of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
    Week,
    Month,
}

impl Granularity {
    fn unit(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

/// One spend question.
#[derive(Debug, Clone)]
pub struct SpendQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub group_by: Vec<Dimension>,
    pub granularity: Option<Granularity>,
    /// IANA zone of day/week/month buckets.
    pub tz: String,
    /// Team ids to restrict to; `None` means all teams.
    pub team_ids: Option<Vec<i64>>,
    pub providers: Vec<String>,
    pub models: Vec<String>,
    pub projects: Vec<String>,
    pub currency: String,
    pub cost_source: CostSource,
}

/// Sums over a set of events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub cost: Decimal,
    pub requests: i64,
    pub input_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    pub unpriced_requests: i64,
    /// Reconciliation: events that have both a catalog cost and a reported cost in the currency.
    pub reconciled_requests: i64,
    /// Their catalog cost.
    pub reconciled_computed: Decimal,
    /// Their reported cost.
    pub reconciled_reported: Decimal,
}

impl Totals {
    /// Adds another set's sums (exact).
    pub fn add(&mut self, other: &Totals) {
        self.cost += other.cost;
        self.requests += other.requests;
        self.input_tokens += other.input_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.output_tokens += other.output_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.unpriced_requests += other.unpriced_requests;
        self.reconciled_requests += other.reconciled_requests;
        self.reconciled_computed += other.reconciled_computed;
        self.reconciled_reported += other.reconciled_reported;
    }
}

/// One row of a spend answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendRow {
    /// Start of the bucket and the zone's UTC offset there, in seconds.
    pub bucket: Option<(DateTime<Utc>, i32)>,
    /// One value per `group_by` dimension, in order.
    pub dimensions: Vec<Option<String>>,
    pub totals: Totals,
}

/// Whether a database error is PostgreSQL refusing the time zone name.
pub fn is_unknown_time_zone(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("22023"))
}

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

/// Answers a spend question over raw events. Rows come ordered by bucket, then cost descending.
pub async fn spend(pool: &PgPool, query: &SpendQuery) -> Result<Vec<SpendRow>, sqlx::Error> {
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
    let mut order = Vec::new();
    if query.granularity.is_some() {
        order.push("s.bucket".to_owned());
    }
    order.push("s.cost DESC".to_owned());
    order.extend((0..query.group_by.len()).map(|i| format!("s.d{i} NULLS LAST")));
    q.push(format_args!(") s ORDER BY {}", order.join(", ")));
    let rows = q.build().fetch_all(pool).await?;

    rows.into_iter()
        .map(|row| {
            let bucket = if query.granularity.is_some() {
                Some((row.try_get("bucket")?, row.try_get("offset_seconds")?))
            } else {
                None
            };
            let dimensions = (0..query.group_by.len())
                .map(|i| row.try_get::<Option<String>, _>(format!("d{i}").as_str()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(SpendRow {
                bucket,
                dimensions,
                totals: Totals {
                    cost: row.try_get("cost")?,
                    requests: row.try_get("requests")?,
                    input_tokens: row.try_get("input_tokens")?,
                    cache_read_tokens: row.try_get("cache_read_tokens")?,
                    cache_write_tokens: row.try_get("cache_write_tokens")?,
                    output_tokens: row.try_get("output_tokens")?,
                    reasoning_tokens: row.try_get("reasoning_tokens")?,
                    unpriced_requests: row.try_get("unpriced_requests")?,
                    reconciled_requests: row.try_get("reconciled_requests")?,
                    reconciled_computed: row.try_get("reconciled_computed")?,
                    reconciled_reported: row.try_get("reconciled_reported")?,
                },
            })
        })
        .collect()
}

/// Teams with at least one event in `[from, to)`, with their spend, most first.
pub async fn teams_with_spend(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    team_ids: Option<&[i64]>,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT t.name AS "name!", count(*) AS "requests!"
           FROM events e JOIN teams t ON t.team_id = e.team_id
           WHERE e.ts >= $1 AND e.ts < $2 AND ($3::bigint[] IS NULL OR e.team_id = ANY($3))
           GROUP BY t.name ORDER BY t.name"#,
        from,
        to,
        team_ids,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.requests)).collect())
}
