//! A budget's status: spend of its period so far, utilization, thresholds crossed and forecast.
//! Spend comes from `store::spend::spend` (rollups plus raw edges) with the budget's filters, so a
//! budget agrees exactly with `GET /v1/spend` over the same range.

use crate::config::CostSource;
use crate::domain::budget::{self, ForecastInput};
use crate::store::budgets::BudgetRow;
use crate::store::spend::{self, SpendQuery};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use rust_decimal::Decimal;
use sqlx::PgPool;

/// How many budgets are evaluated at once (each is two spend queries).
const CONCURRENCY: usize = 4;

/// A budget and where it stands at `as_of`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetStatus {
    pub budget: BudgetRow,
    /// Spend in `[period_start, min(as_of, period_end))`, in the budget's currency.
    pub spend: Decimal,
    /// spend ÷ amount (1 = 100%).
    pub utilization: Decimal,
    pub forecast_spend: Decimal,
    pub projected_exhaustion_at: Option<DateTime<Utc>>,
    pub thresholds_crossed: Vec<i32>,
    pub as_of: DateTime<Utc>,
}

impl BudgetStatus {
    /// What is left of the amount (never negative).
    pub fn remaining(&self) -> Decimal {
        (self.budget.amount - self.spend).max(Decimal::ZERO)
    }

    /// Whether spend has reached the amount: `check` refuses from here on.
    pub fn exhausted(&self) -> bool {
        self.spend >= self.budget.amount
    }

    /// Recomputes the derived fields after `spend` changed (the check view adds ingested costs).
    pub fn with_spend(mut self, spend: Decimal) -> Self {
        let forecast_delta = spend - self.spend;
        self.spend = spend;
        self.utilization = budget::utilization(spend, self.budget.amount);
        self.thresholds_crossed =
            budget::thresholds_crossed(spend, self.budget.amount, &self.budget.thresholds);
        self.forecast_spend += forecast_delta;
        self
    }
}

/// The spend of a budget's filters in `[from, to)`.
async fn spend_between(
    pool: &PgPool,
    cost_source: CostSource,
    budget: &BudgetRow,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Decimal, sqlx::Error> {
    if from >= to {
        return Ok(Decimal::ZERO);
    }
    let query = SpendQuery {
        from,
        to,
        group_by: Vec::new(),
        granularity: None,
        tz: "UTC".to_owned(),
        team_ids: Some(vec![budget.team_id]),
        providers: budget.provider.iter().cloned().collect(),
        models: budget.model.iter().cloned().collect(),
        projects: budget.project.iter().cloned().collect(),
        currency: budget.currency.clone(),
        cost_source,
    };
    let rows = spend::spend(pool, &query).await?;
    Ok(rows.iter().map(|r| r.totals.cost).sum())
}

/// The status of one budget at `now` (its row must have been read with its period at `now`).
pub async fn status_of(
    pool: &PgPool,
    cost_source: CostSource,
    budget: BudgetRow,
    now: DateTime<Utc>,
) -> Result<BudgetStatus, sqlx::Error> {
    let until = now.min(budget.period_end);
    let spend = spend_between(pool, cost_source, &budget, budget.period_start, until).await?;
    let window_start = budget::window_start(budget.period_start, until);
    let window_spend = if window_start == budget.period_start {
        spend
    } else {
        spend_between(pool, cost_source, &budget, window_start, until).await?
    };
    let forecast = budget::forecast(&ForecastInput {
        period_start: budget.period_start,
        period_end: budget.period_end,
        now: until,
        spend,
        window_spend,
        amount: budget.amount,
    });
    Ok(BudgetStatus {
        utilization: budget::utilization(spend, budget.amount),
        thresholds_crossed: budget::thresholds_crossed(spend, budget.amount, &budget.thresholds),
        forecast_spend: forecast.forecast_spend,
        projected_exhaustion_at: forecast.projected_exhaustion_at,
        spend,
        budget,
        as_of: now,
    })
}

/// The statuses of these budgets at `now`, a few at a time, in the order given.
pub async fn statuses_of(
    pool: &PgPool,
    cost_source: CostSource,
    budgets: Vec<BudgetRow>,
    now: DateTime<Utc>,
) -> Result<Vec<BudgetStatus>, sqlx::Error> {
    futures_util::stream::iter(budgets)
        .map(|b| status_of(pool, cost_source, b, now))
        .buffered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// The current status of every budget (the metrics and the check view read these).
pub async fn current_statuses(
    pool: &PgPool,
    cost_source: CostSource,
    now: DateTime<Utc>,
) -> Result<Vec<BudgetStatus>, sqlx::Error> {
    let budgets = crate::store::budgets::list(pool, None, None, now).await?;
    statuses_of(pool, cost_source, budgets, now).await
}
