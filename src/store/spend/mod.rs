//! Spend aggregation: rollups for what they can answer, raw events for the rest (`plan`).

use crate::config::CostSource;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

pub mod plan;
pub mod raw;
mod sources;

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

/// The amount a row of the union counts for in `currency`, by the configured cost source. Rows
/// are rollup groups or single events in one shape (see `push_source`): within a row every event
/// shares `currency` ('' when unpriced) and `reported_currency`, so the per-event rule sums exactly.
fn push_counted_cost(q: &mut QueryBuilder<'_, Postgres>, source: CostSource, currency: &str) {
    match source {
        // The catalog's cost when priced, else the gateway's.
        CostSource::Computed => q
            .push("CASE WHEN u.currency <> '' THEN (CASE WHEN u.currency = ")
            .push_bind(currency.to_owned())
            .push(" THEN u.cost ELSE 0 END) ELSE (CASE WHEN u.reported_currency = ")
            .push_bind(currency.to_owned())
            .push(" THEN u.reported_cost ELSE 0 END) END"),
        // The gateway's cost when sent, else the catalog's.
        CostSource::Reported => q
            .push("(CASE WHEN u.reported_currency = ")
            .push_bind(currency.to_owned())
            .push(" THEN u.reported_cost ELSE 0 END) + (CASE WHEN u.currency = ")
            .push_bind(currency.to_owned())
            .push(" THEN u.cost_unreported ELSE 0 END)"),
    };
}

/// The bucket boundaries strictly inside the range, from PostgreSQL, so they agree with the
/// `date_trunc(unit, ts, tz)` that labels the buckets (DST days have 23 or 25 hours).
async fn bucket_cuts(pool: &PgPool, query: &SpendQuery) -> Result<Vec<DateTime<Utc>>, sqlx::Error> {
    let Some(granularity) = query.granularity else {
        return Ok(Vec::new());
    };
    sqlx::query_scalar::<_, DateTime<Utc>>(
        "SELECT b FROM (SELECT generate_series(date_trunc($1, $2 AT TIME ZONE $4), $3 AT TIME ZONE $4, \
         ('1 ' || $1)::interval) AT TIME ZONE $4 AS b) s WHERE b > $2 AND b < $3 ORDER BY b",
    )
    .bind(granularity.unit())
    .bind(query.from)
    .bind(query.to)
    .bind(&query.tz)
    .fetch_all(pool)
    .await
}

/// Answers a spend question from the rollups, with raw events for what they cannot answer (see
/// `plan`). Rows come ordered by bucket, then cost descending. The answer equals the same
/// aggregation over raw events once the rollup job has caught up (within a pass or two).
pub async fn spend(pool: &PgPool, query: &SpendQuery) -> Result<Vec<SpendRow>, sqlx::Error> {
    let cuts = bucket_cuts(pool, query).await?;
    let branches = sources::branches(query, plan::plan(query.from, query.to, &cuts, true));

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
        q.push(format_args!("date_trunc('{}', u.t, ", granularity.unit()))
            .push_bind(query.tz.clone())
            .push(") AS bucket, ");
        groups += 1;
    }
    for (i, dimension) in query.group_by.iter().enumerate() {
        match dimension {
            Dimension::Team => q.push("tm.name"),
            _ => q.push(format_args!("u.d{i}")),
        };
        q.push(format_args!(" AS d{i}, "));
        groups += 1;
    }
    q.push("COALESCE(sum(");
    push_counted_cost(&mut q, query.cost_source, &query.currency);
    q.push(
        "), 0) AS cost, COALESCE(sum(u.requests), 0)::bigint AS requests, \
         COALESCE(sum(u.input_tokens), 0)::bigint AS input_tokens, \
         COALESCE(sum(u.cache_read_tokens), 0)::bigint AS cache_read_tokens, \
         COALESCE(sum(u.cache_write_tokens), 0)::bigint AS cache_write_tokens, \
         COALESCE(sum(u.output_tokens), 0)::bigint AS output_tokens, \
         COALESCE(sum(u.reasoning_tokens), 0)::bigint AS reasoning_tokens, \
         COALESCE(sum(u.requests) FILTER (WHERE u.currency = ''), 0)::bigint AS unpriced_requests, \
         COALESCE(sum(u.reported_requests) FILTER (WHERE u.reconciled), 0)::bigint AS reconciled_requests, \
         COALESCE(sum(u.cost - u.cost_unreported) FILTER (WHERE u.reconciled), 0) AS reconciled_computed, \
         COALESCE(sum(u.reported_cost) FILTER (WHERE u.reconciled), 0) AS reconciled_reported \
         FROM (SELECT v.*, (v.currency <> '' AND v.currency = v.reported_currency AND v.currency = ",
    )
    .push_bind(query.currency.clone())
    .push(") AS reconciled FROM (");
    for (i, (source, ranges)) in branches.iter().enumerate() {
        if i > 0 {
            q.push(" UNION ALL ");
        }
        sources::push(&mut q, source, ranges, query);
    }
    q.push(") v) u");
    if query.group_by.contains(&Dimension::Team) {
        q.push(" JOIN teams tm ON tm.team_id = u.team_id");
    }
    if groups > 0 {
        q.push(" GROUP BY ");
        for i in 1..=groups {
            q.push(if i == 1 { "" } else { ", " }).push(i.to_string());
        }
        // A group of events without a tag is every event minus the tagged ones; when every event
        // has the tag, that difference is an empty group, which raw events would not show.
        q.push(" HAVING sum(u.requests) <> 0");
    }
    push_order(&mut q, query);
    let rows = q.build().fetch_all(pool).await?;
    rows.iter().map(|row| read_row(row, query)).collect()
}

/// Closes the outer query of a spend answer (shared with `raw`): a stable order, by bucket, then
/// cost descending, then the dimensions.
fn push_order(q: &mut QueryBuilder<'_, Postgres>, query: &SpendQuery) {
    let mut order = Vec::new();
    if query.granularity.is_some() {
        order.push("s.bucket".to_owned());
    }
    order.push("s.cost DESC".to_owned());
    order.extend((0..query.group_by.len()).map(|i| format!("s.d{i} NULLS LAST")));
    q.push(format_args!(") s ORDER BY {}", order.join(", ")));
}

/// Reads one row of a spend answer's outer query (shared with `raw`).
fn read_row(row: &sqlx::postgres::PgRow, query: &SpendQuery) -> Result<SpendRow, sqlx::Error> {
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
}
