//! The branches of a spend answer's `UNION ALL`: which table each piece of the range is read
//! from, and how its rows are put in one shape: (t, team_id, d0.., currency, reported_currency,
//! requests, reported_requests, input/cache_read/cache_write/output/reasoning tokens, cost,
//! list_cost, reported_cost, cost_unreported). Within a row every event shares `currency` ('' when
//! unpriced) and `reported_currency`, so sums of rows equal sums of events.

use super::plan::Plan;
use super::{Dimension, SpendQuery};
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use std::ops::Range;

/// The summed columns every rollup has, in the order of the union's shape.
const METRICS: [&str; 11] = [
    "requests",
    "reported_requests",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost",
    "list_cost",
    "reported_cost",
    "cost_unreported",
];

/// One table read by a spend answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Raw,
    Hourly,
    Daily,
    /// `rollup_daily_teams`, for questions by team (or none) without provider/model/project filters.
    DailyTeams,
    /// `rollup_daily_users`, for questions grouped by user.
    DailyUsers,
    /// `rollup_daily_tags` rows of one tag key, each under its value.
    DailyTag(String),
    /// For events without the tag: every event (`rollup_daily`)...
    DailyUntagged,
    /// ...minus the events with it (`rollup_daily_tags`, negated).
    DailyTagNegated(String),
}

/// Which rollups can answer a question's dimensions.
enum Level {
    /// By team or nothing, no provider/model/project filter: the per-team daily rollup.
    Teams,
    /// No user, no tag: hourly and daily rollups.
    Full,
    /// Grouped by user: the daily per-user rollup.
    Users,
    /// Grouped by one tag: the daily per-tag rollup.
    Tag(String),
    /// User and tag, or two tags: raw events only.
    Raw,
}

fn level(query: &SpendQuery) -> Level {
    let group_by = &query.group_by;
    let unfiltered = query.providers.is_empty() && query.models.is_empty() && query.projects.is_empty();
    if unfiltered && group_by.iter().all(|d| *d == Dimension::Team) {
        return Level::Teams;
    }
    let users = group_by.contains(&Dimension::User);
    let mut tags = group_by.iter().filter_map(|d| match d {
        Dimension::Tag(key) => Some(key.clone()),
        _ => None,
    });
    match (users, tags.next(), tags.next()) {
        (false, None, _) => Level::Full,
        (true, None, _) => Level::Users,
        (false, Some(key), None) => Level::Tag(key),
        _ => Level::Raw,
    }
}

/// The branches answering `query` for a plan made with whole days allowed: pieces a rollup of
/// the question's level cannot answer go to raw events.
pub fn branches(query: &SpendQuery, plan: Plan) -> Vec<(Source, Vec<Range<DateTime<Utc>>>)> {
    let Plan { daily, hourly, raw } = plan;
    let all = || vec![query.from..query.to];
    let day_level = |mut raw: Vec<Range<DateTime<Utc>>>, hourly: Vec<Range<DateTime<Utc>>>| {
        raw.extend(hourly);
        raw.sort_by_key(|r| r.start);
        raw
    };
    let branches = match level(query) {
        Level::Teams => vec![
            (Source::DailyTeams, daily),
            (Source::Hourly, hourly),
            (Source::Raw, raw),
        ],
        Level::Full => vec![
            (Source::Daily, daily),
            (Source::Hourly, hourly),
            (Source::Raw, raw),
        ],
        Level::Users => vec![(Source::DailyUsers, daily), (Source::Raw, day_level(raw, hourly))],
        Level::Tag(key) => vec![
            (Source::DailyTag(key.clone()), daily.clone()),
            (Source::DailyUntagged, daily.clone()),
            (Source::DailyTagNegated(key), daily),
            (Source::Raw, day_level(raw, hourly)),
        ],
        Level::Raw => vec![(Source::Raw, all())],
    };
    let branches: Vec<_> = branches.into_iter().filter(|(_, r)| !r.is_empty()).collect();
    if branches.is_empty() {
        vec![(Source::Raw, all())]
    } else {
        branches
    }
}

/// Pushes one branch: the rows of `source` in `ranges`, filtered, in the union's shape.
pub fn push(
    q: &mut QueryBuilder<'_, Postgres>,
    source: &Source,
    ranges: &[Range<DateTime<Utc>>],
    query: &SpendQuery,
) {
    let (table, time) = match source {
        Source::Raw => ("events", "x.ts"),
        Source::Hourly => ("rollup_hourly", "x.hour"),
        Source::Daily | Source::DailyUntagged => ("rollup_daily", "x.day"),
        Source::DailyTeams => ("rollup_daily_teams", "x.day"),
        Source::DailyUsers => ("rollup_daily_users", "x.day"),
        Source::DailyTag(_) | Source::DailyTagNegated(_) => ("rollup_daily_tags", "x.day"),
    };
    let rolled = *source != Source::Raw;
    q.push(format_args!("SELECT {time} AS t, x.team_id"));
    for (i, dimension) in query.group_by.iter().enumerate() {
        q.push(", ");
        match (dimension, source) {
            // Joined to its name outside the union.
            (Dimension::Team, _) => q.push("x.team_id"),
            (Dimension::Project, Source::Raw) => q.push("x.project"),
            (Dimension::Project, _) => q.push("NULLIF(x.project, '')"),
            (Dimension::User, Source::Raw) => q.push("x.user_id"),
            (Dimension::User, _) => q.push("NULLIF(x.user_id, '')"),
            (Dimension::Provider, _) => q.push("x.provider"),
            (Dimension::Model, _) => q.push("x.model"),
            (Dimension::ServiceTier, _) => q.push("x.service_tier"),
            (Dimension::Tag(key), Source::Raw) => q.push("x.tags ->> ").push_bind(key.clone()),
            (Dimension::Tag(_), Source::DailyTag(_)) => q.push("x.tag_value"),
            (Dimension::Tag(_), _) => q.push("NULL::text"),
        };
        q.push(format_args!(" AS d{i}"));
    }
    if rolled {
        q.push(", x.currency, x.reported_currency");
        let sign = if matches!(source, Source::DailyTagNegated(_)) {
            "-"
        } else {
            ""
        };
        for metric in METRICS {
            q.push(format_args!(", {sign}x.{metric} AS {metric}"));
        }
    } else {
        q.push(
            ", COALESCE(x.currency, '') AS currency, x.reported_currency, 1::bigint AS requests, \
             (x.reported_cost IS NOT NULL)::int::bigint AS reported_requests, x.input_tokens, \
             x.cache_read_tokens, x.cache_write_tokens, x.output_tokens, x.reasoning_tokens, \
             COALESCE(x.cost, 0) AS cost, COALESCE(x.list_cost, 0) AS list_cost, \
             COALESCE(x.reported_cost, 0) AS reported_cost, \
             CASE WHEN x.reported_cost IS NULL THEN COALESCE(x.cost, 0) ELSE 0 END AS cost_unreported",
        );
    }
    q.push(format_args!(" FROM {table} x WHERE ("));
    for (i, range) in ranges.iter().enumerate() {
        q.push(if i == 0 { "(" } else { " OR (" })
            .push(format_args!("{time} >= "))
            .push_bind(range.start)
            .push(format_args!(" AND {time} < "))
            .push_bind(range.end)
            .push(")");
    }
    q.push(")");
    if let Source::DailyTag(key) | Source::DailyTagNegated(key) = source {
        q.push(" AND x.tag_key = ").push_bind(key.clone());
    }
    if let Some(ids) = &query.team_ids {
        q.push(" AND x.team_id = ANY(").push_bind(ids.clone()).push(")");
    }
    for (column, values) in [
        ("x.provider", &query.providers),
        ("x.model", &query.models),
        ("x.project", &query.projects),
    ] {
        if !values.is_empty() {
            q.push(format_args!(" AND {column} = ANY("))
                .push_bind(values.clone())
                .push(")");
        }
    }
}
