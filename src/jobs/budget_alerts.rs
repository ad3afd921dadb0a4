//! The budget evaluator: fires one alert per (budget, period, threshold) when period spend reaches
//! threshold% of the amount, and one forecast alert per period when a budget with `forecast` is
//! projected past its amount.
//!
//! Every replica may run it at the same time, and a crash may stop it anywhere: an alert exists
//! once because its key is unique in the database (`store::alerts::fire` inserts with `ON CONFLICT
//! DO NOTHING` and writes the deliveries in the same statement), never because of what a process
//! remembers. A pass is idempotent; rerunning it fires only what has not fired.
//!
//! A period that ended less than [`GRACE`] ago is evaluated once more over its whole length, so
//! spend of its last seconds (and late rollups) still fire its thresholds; a new period has keys
//! of its own and starts clean.

use crate::budgets::status::{statuses_of, BudgetStatus};
use crate::config::CostSource;
use crate::store::alerts::{self, NewAlert};
use crate::store::budgets;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use std::time::Duration;

/// How long after its end a period is still evaluated.
pub const GRACE: TimeDelta = TimeDelta::minutes(15);

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvalReport {
    /// Budget periods evaluated.
    pub evaluated: usize,
    /// Alerts this pass created (others had fired already).
    pub fired: usize,
}

/// Runs one pass at the current time, counting cost the default way (`computed`).
pub async fn run_once(pool: &PgPool) -> Result<EvalReport, sqlx::Error> {
    evaluate(pool, CostSource::Computed, None, Utc::now()).await
}

/// Fires what the statuses call for; returns how many alerts were new.
async fn fire_for(pool: &PgPool, statuses: &[BudgetStatus], forecasts: bool) -> Result<usize, sqlx::Error> {
    let mut fired = 0;
    for status in statuses {
        let b = &status.budget;
        let alert = |kind: &'static str, threshold: i32| NewAlert {
            team_id: b.team_id,
            budget_id: b.budget_id,
            period_start: b.period_start,
            period_end: b.period_end,
            kind,
            threshold,
            spend: status.spend,
            amount: b.amount,
            forecast_spend: status.forecast_spend,
            utilization: status.utilization,
            currency: b.currency.clone(),
        };
        for threshold in &status.thresholds_crossed {
            fired += usize::from(
                alerts::fire(pool, &alert("threshold", *threshold))
                    .await?
                    .is_some(),
            );
        }
        if forecasts && b.forecast && status.forecast_spend > b.amount {
            fired += usize::from(alerts::fire(pool, &alert("forecast", 0)).await?.is_some());
        }
    }
    Ok(fired)
}

/// Evaluates every budget (or one) at `now`: its current period, and its previous one while that
/// ended less than [`GRACE`] ago.
pub async fn evaluate(
    pool: &PgPool,
    cost_source: CostSource,
    budget_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<EvalReport, sqlx::Error> {
    let current = budgets::list(pool, None, budget_id, now).await?;
    let earlier = budgets::list(pool, None, budget_id, now - GRACE).await?;
    let ended: Vec<_> = earlier
        .into_iter()
        .filter(|old| {
            current
                .iter()
                .any(|b| b.budget_id == old.budget_id && b.period_start != old.period_start)
        })
        .collect();
    let mut report = EvalReport {
        evaluated: current.len() + ended.len(),
        fired: 0,
    };
    // An ended period's spend is final: evaluated at its end, thresholds only.
    for old in ended {
        let end = old.period_end;
        let status = statuses_of(pool, cost_source, vec![old], end).await?;
        report.fired += fire_for(pool, &status, false).await?;
    }
    let statuses = statuses_of(pool, cost_source, current, now).await?;
    report.fired += fire_for(pool, &statuses, true).await?;
    Ok(report)
}

/// Runs a pass every `every` until dropped. A failed pass is logged and retried.
pub async fn run_every(
    pool: PgPool,
    every: Duration,
    cost_source: CostSource,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = std::time::Instant::now();
        let result = evaluate(&pool, cost_source, None, Utc::now()).await;
        let label = if result.is_ok() { "ok" } else { "error" };
        metrics
            .job_runs
            .with_label_values(&["budget_alerts", label])
            .inc();
        metrics
            .job_duration
            .with_label_values(&["budget_alerts"])
            .observe(started.elapsed().as_secs_f64());
        if let Err(error) = result {
            tracing::warn!(%error, "budget evaluation failed; will retry");
        }
    }
}
