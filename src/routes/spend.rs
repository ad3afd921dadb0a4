//! `GET /v1/spend` and `GET /v1/teams`.

use super::query::QueryParams;
use crate::auth::Caller;
use crate::domain::money::format_amount;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::spend::{is_unknown_time_zone, Dimension, Granularity, SpendQuery, SpendRow, Totals};
use crate::store::{self};
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// The team ids a request may see. `Ok(None)`: no named team exists, so the answer is empty;
/// `Ok(Some(None))`: every team.
pub async fn team_ids(
    state: &AppState,
    caller: &Caller,
    params: &QueryParams,
) -> Result<Option<Option<Vec<i64>>>, ApiError> {
    let Some(names) = caller.teams(&params.all("team"))? else {
        return Ok(Some(None));
    };
    let ids: Vec<i64> = store::teams::lookup(&state.pool, &names)
        .await?
        .into_values()
        .collect();
    Ok(if ids.is_empty() { None } else { Some(Some(ids)) })
}

/// The most buckets one spend question may span. Every bucket boundary of the range is computed
/// (and planned) before any row is read, so without a bound a read key asking for centuries by the
/// hour makes the server build millions of them; 100,000 is over eleven years by the hour.
pub const MAX_BUCKETS: i64 = 100_000;

/// 400 when `[from, to)` spans more than `MAX_BUCKETS` buckets (counted at the shortest length a
/// bucket of this granularity can have, so never fewer than there are).
fn check_bucket_count(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    granularity: Granularity,
) -> Result<(), ApiError> {
    let (name, shortest_hours) = match granularity {
        Granularity::Hour => ("hour", 1),
        // A day of a zone leaving summer time is 23 hours; a month at least 28 days.
        Granularity::Day => ("day", 23),
        Granularity::Week => ("week", 7 * 24 - 1),
        Granularity::Month => ("month", 28 * 24 - 1),
    };
    let buckets = (to - from).num_hours() / shortest_hours + 2;
    if buckets > MAX_BUCKETS {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!(
                "from..to spans about {buckets} buckets by the {name}; at most {MAX_BUCKETS} are answered: \
                 ask a shorter range or a coarser granularity"
            ),
        ));
    }
    Ok(())
}

/// The first instant of the current UTC month and of the next.
fn current_month(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or_default();
    let next = first.checked_add_months(Months::new(1)).unwrap_or(first);
    (
        first.and_time(Default::default()).and_utc(),
        next.and_time(Default::default()).and_utc(),
    )
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SpendAnswer {
    currency: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// One object per group: `bucket` (when granularity is set), one field per `group_by`
    /// dimension, then the sums. Amounts are decimal strings.
    #[schema(value_type = Vec<Object>)]
    rows: Vec<Map<String, Value>>,
    #[schema(value_type = Object)]
    total: Map<String, Value>,
}

/// The reconciliation fields (`include=reconciliation`): over events that carry both a catalog cost
/// and a reported cost, the two sums and reported minus computed.
fn reconciliation_fields(t: &Totals, out: &mut Map<String, Value>) {
    out.insert("reconciled_requests".into(), t.reconciled_requests.into());
    out.insert(
        "computed_cost".into(),
        Value::String(format_amount(t.reconciled_computed)),
    );
    out.insert(
        "reported_cost".into(),
        Value::String(format_amount(t.reconciled_reported)),
    );
    out.insert(
        "cost_difference".into(),
        Value::String(format_amount(t.reconciled_reported - t.reconciled_computed)),
    );
}

fn totals_fields(t: &Totals, out: &mut Map<String, Value>) {
    out.insert("cost".into(), Value::String(format_amount(t.cost)));
    out.insert("requests".into(), t.requests.into());
    out.insert("input_tokens".into(), t.input_tokens.into());
    out.insert("cache_read_tokens".into(), t.cache_read_tokens.into());
    out.insert("cache_write_tokens".into(), t.cache_write_tokens.into());
    out.insert("output_tokens".into(), t.output_tokens.into());
    out.insert("reasoning_tokens".into(), t.reasoning_tokens.into());
    out.insert("unpriced_requests".into(), t.unpriced_requests.into());
}

const TOTAL_COLUMNS: [&str; 8] = [
    "cost",
    "requests",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "unpriced_requests",
];

const RECONCILIATION_COLUMNS: [&str; 4] = [
    "reconciled_requests",
    "computed_cost",
    "reported_cost",
    "cost_difference",
];

fn bucket_text(bucket: DateTime<Utc>, offset_seconds: i32) -> String {
    match FixedOffset::east_opt(offset_seconds) {
        Some(offset) => bucket
            .with_timezone(&offset)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        None => bucket.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

fn row_object(row: &SpendRow, group_by: &[Dimension], reconcile: bool) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some((bucket, offset)) = row.bucket {
        out.insert("bucket".into(), Value::String(bucket_text(bucket, offset)));
    }
    for (dimension, value) in group_by.iter().zip(&row.dimensions) {
        out.insert(
            dimension.name(),
            value.clone().map(Value::String).unwrap_or(Value::Null),
        );
    }
    totals_fields(&row.totals, &mut out);
    if reconcile {
        reconciliation_fields(&row.totals, &mut out);
    }
    out
}

fn csv_field(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Spend and usage over `[from, to)`, grouped and bucketed.
#[utoipa::path(
    params(
        ("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, inclusive; default: start of the current UTC month"),
        ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, exclusive; default: start of next month"),
        ("group_by" = Option<String>, Query, description = "Comma list of team, project, user, provider, model, service_tier, tag:<key>"),
        ("granularity" = Option<String>, Query, pattern = "^(hour|day|week|month|none)$", description = "hour, day, week, month or none (default)"),
        ("tz" = Option<String>, Query, description = "IANA time zone of the buckets, default UTC"),
        ("team" = Option<String>, Query, description = "Filter; repeatable"),
        ("project" = Option<String>, Query, description = "Filter; repeatable"),
        ("provider" = Option<String>, Query, description = "Filter; repeatable"),
        ("model" = Option<String>, Query, description = "Filter; repeatable"),
        ("currency" = Option<String>, Query, description = "Default USD"),
        ("include" = Option<String>, Query, description = "reconciliation: add, per row, the catalog and reported \
          cost of events that carry both, and their difference (reported minus computed)"),
    ),
    responses(
        (status = 200, body = SpendAnswer, description = "JSON, or CSV with Accept: text/csv"),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)
    )
)]
#[get("/v1/spend")]
pub async fn spend(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let params = QueryParams::parse(req.query_string());
    let (default_from, default_to) = current_month(Utc::now());
    let from = params.time("from")?.unwrap_or(default_from);
    let to = params.time("to")?.unwrap_or(default_to);
    if from >= to {
        return Err(ApiError::bad_request("invalid_query", "from must be before to"));
    }
    let group_by = params
        .all("group_by")
        .iter()
        .map(|name| {
            Dimension::parse(name).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("group_by {name:?} is not one of team, project, user, provider, model, service_tier, tag:<key>"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let granularity = match params.one("granularity")?.as_deref() {
        None | Some("none") => None,
        Some("hour") => Some(Granularity::Hour),
        Some("day") => Some(Granularity::Day),
        Some("week") => Some(Granularity::Week),
        Some("month") => Some(Granularity::Month),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("granularity {other:?} is not one of hour, day, week, month, none"),
            ))
        }
    };
    if let Some(granularity) = granularity {
        check_bucket_count(from, to, granularity)?;
    }
    let tz = params.one("tz")?.unwrap_or_else(|| "UTC".to_owned());
    let reconcile = match params.one("include")?.as_deref() {
        None => false,
        Some("reconciliation") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("include={other:?}: the only option is reconciliation"),
            ))
        }
    };
    let currency = params
        .one("currency")?
        .unwrap_or_else(|| "USD".to_owned())
        .to_ascii_uppercase();
    let rows = match team_ids(&state, &caller, &params).await? {
        None => Vec::new(),
        Some(team_ids) => {
            let query = SpendQuery {
                from,
                to,
                group_by: group_by.clone(),
                granularity,
                tz: tz.clone(),
                team_ids,
                providers: params
                    .all("provider")
                    .iter()
                    .map(|p| crate::domain::normalize_provider(p))
                    .collect(),
                models: params
                    .all("model")
                    .iter()
                    .map(|m| m.to_ascii_lowercase())
                    .collect(),
                projects: params.all("project"),
                currency: currency.clone(),
                cost_source: state.config.cost_source,
            };
            store::spend::spend(&state.pool, &query).await.map_err(|e| {
                if is_unknown_time_zone(&e) {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("tz {tz:?} is not a known IANA time zone"),
                    )
                } else {
                    e.into()
                }
            })?
        }
    };
    let mut total = Totals::default();
    for row in &rows {
        total.add(&row.totals);
    }
    let objects: Vec<Map<String, Value>> = rows.iter().map(|r| row_object(r, &group_by, reconcile)).collect();

    let wants_csv = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        let mut columns: Vec<String> = Vec::new();
        if granularity.is_some() {
            columns.push("bucket".into());
        }
        columns.extend(group_by.iter().map(Dimension::name));
        columns.extend(TOTAL_COLUMNS.iter().map(|c| (*c).to_owned()));
        if reconcile {
            columns.extend(RECONCILIATION_COLUMNS.iter().map(|c| (*c).to_owned()));
        }
        let mut csv = columns
            .iter()
            .map(|c| csv_field(&Value::String(c.clone())))
            .collect::<Vec<_>>()
            .join(",");
        csv.push('\n');
        for object in &objects {
            let line: Vec<String> = columns
                .iter()
                .map(|c| csv_field(object.get(c).unwrap_or(&Value::Null)))
                .collect();
            csv.push_str(&line.join(","));
            csv.push('\n');
        }
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(csv));
    }
    let mut total_object = Map::new();
    totals_fields(&total, &mut total_object);
    if reconcile {
        reconciliation_fields(&total, &mut total_object);
    }
    Ok(HttpResponse::Ok().json(SpendAnswer {
        currency,
        from,
        to,
        rows: objects,
        total: total_object,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TeamsAnswer {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    teams: Vec<TeamEntry>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TeamEntry {
    team: String,
    requests: i64,
    /// Spend in the period, in `currency` (decimal string).
    cost: String,
    currency: String,
}

/// Teams with usage in the period (default: the current month), most spend first.
#[utoipa::path(
    params(("from" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, inclusive; default: start of the current UTC month"),
           ("to" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "RFC 3339, exclusive; default: start of next month"),
           ("currency" = Option<String>, Query, description = "Default USD")),
    responses((status = 200, body = TeamsAnswer), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody))
)]
#[get("/v1/teams")]
pub async fn teams(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scope::Read)?;
    let params = QueryParams::parse(req.query_string());
    let (default_from, default_to) = current_month(Utc::now());
    let from = params.time("from")?.unwrap_or(default_from);
    let to = params.time("to")?.unwrap_or(default_to);
    if from >= to {
        return Err(ApiError::bad_request("invalid_query", "from must be before to"));
    }
    let currency = params
        .one("currency")?
        .unwrap_or_else(|| "USD".to_owned())
        .to_ascii_uppercase();
    let rows = match team_ids(&state, &caller, &QueryParams::parse("")).await? {
        None => Vec::new(),
        Some(team_ids) => {
            let query = SpendQuery {
                from,
                to,
                group_by: vec![Dimension::Team],
                granularity: None,
                tz: "UTC".to_owned(),
                team_ids,
                providers: Vec::new(),
                models: Vec::new(),
                projects: Vec::new(),
                currency: currency.clone(),
                cost_source: state.config.cost_source,
            };
            store::spend::spend(&state.pool, &query).await?
        }
    };
    let teams = rows
        .into_iter()
        .filter_map(|row| {
            Some(TeamEntry {
                team: row.dimensions.into_iter().next()??,
                requests: row.totals.requests,
                cost: format_amount(row.totals.cost),
                currency: currency.clone(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(TeamsAnswer { from, to, teams }))
}
