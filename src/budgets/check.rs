//! The in-memory view `GET /v1/check` answers from, so a gateway can ask before every model call
//! without touching the database.
//!
//! A refresher task rebuilds the view every `TOKENLEDGER_CHECK_REFRESH_MS` from the budgets and
//! their spend (`status::current_statuses`), and swaps it in whole: a request reads one `Arc`
//! snapshot under a read lock held for a pointer copy. Between refreshes the ingest path adds the
//! counted cost of each accepted event to the budgets it matches (`add_accepted`), so a team that
//! just spent its budget on this replica is refused at once. Those additions are kept until a
//! refresh that started after them has replaced them with what the database says, so a refresh
//! cannot forget an event whose commit it did not see yet.
//!
//! Enforcement is therefore soft: on another replica an event counts after at most one refresh
//! interval plus the rollup lag. See docs/budgets.md for how large the overshoot can be.

use super::status::{current_statuses, BudgetStatus};
use crate::config::CostSource;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// Most ingest additions kept between refreshes; beyond it (the database is down) the oldest go.
const MAX_PENDING: usize = 100_000;

/// One accepted event's counted cost and what budgets match on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spent {
    pub team: String,
    pub provider: String,
    pub model: String,
    pub project: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub currency: String,
    pub cost: Decimal,
}

/// The view at one refresh.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// When the refresh that built it started (None before the first).
    pub taken_at: Option<DateTime<Utc>>,
    pub statuses: Vec<BudgetStatus>,
    /// Stored alerts per (budget id, kind).
    pub alert_counts: HashMap<(i64, String), i64>,
}

impl Snapshot {
    /// The budgets a call of this team (and provider, model, project where given) falls under: the
    /// team's budgets whose every filter matches. A filter on a dimension the question leaves out
    /// matches (the answer covers every budget the call could count against).
    pub fn matching<'a>(
        &'a self,
        team: &'a str,
        provider: Option<&'a str>,
        model: Option<&'a str>,
        project: Option<&'a str>,
    ) -> impl Iterator<Item = &'a BudgetStatus> + 'a {
        let fits = |filter: &Option<String>, given: Option<&str>| match (filter, given) {
            (Some(f), Some(g)) => f == g,
            _ => true,
        };
        self.statuses.iter().filter(move |s| {
            s.budget.team == team
                && fits(&s.budget.provider, provider)
                && fits(&s.budget.model, model)
                && fits(&s.budget.project, project)
        })
    }
}

/// The view and the additions not yet seen by a refresh.
#[derive(Default)]
pub struct CheckView {
    snapshot: RwLock<Arc<Snapshot>>,
    pending: Mutex<Vec<(DateTime<Utc>, Spent)>>,
}

/// Adds costs to the statuses they count for.
fn apply(statuses: &mut [BudgetStatus], spent: &[Spent]) {
    for status in statuses.iter_mut() {
        let b = &status.budget;
        let added: Decimal = spent
            .iter()
            .filter(|s| {
                s.team == b.team
                    && s.currency == b.currency
                    && b.provider.as_ref().is_none_or(|p| *p == s.provider)
                    && b.model.as_ref().is_none_or(|m| *m == s.model)
                    && b.project.as_ref().is_none_or(|p| Some(p) == s.project.as_ref())
                    && s.timestamp >= b.period_start
                    && s.timestamp < b.period_end
            })
            .map(|s| s.cost)
            .sum();
        if !added.is_zero() {
            *status = status.clone().with_spend(status.spend + added);
        }
    }
}

impl CheckView {
    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn swap(&self, snapshot: Snapshot) {
        let mut guard = match self.snapshot.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(snapshot);
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<(DateTime<Utc>, Spent)>> {
        match self.pending.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Counts accepted events at once (called by ingest after their commit).
    pub fn add_accepted(&self, spent: Vec<Spent>) {
        if spent.is_empty() {
            return;
        }
        if !self
            .snapshot()
            .statuses
            .iter()
            .any(|s| spent.iter().any(|e| e.team == s.budget.team))
        {
            return;
        }
        let now = Utc::now();
        // Held while the snapshot is read and replaced, so concurrent additions (and a refresh)
        // never overwrite one another.
        let mut pending = self.pending();
        let current = self.snapshot();
        let mut statuses = current.statuses.clone();
        apply(&mut statuses, &spent);
        pending.extend(spent.into_iter().map(|s| (now, s)));
        if pending.len() > MAX_PENDING {
            let excess = pending.len() - MAX_PENDING;
            pending.drain(..excess);
        }
        self.swap(Snapshot {
            taken_at: current.taken_at,
            statuses,
            alert_counts: current.alert_counts.clone(),
        });
    }

    /// Rebuilds the view from the database.
    pub async fn refresh(&self, pool: &PgPool, cost_source: CostSource) -> Result<(), sqlx::Error> {
        let started = Utc::now();
        let mut statuses = current_statuses(pool, cost_source, started).await?;
        let alert_counts = crate::store::alerts::counts(pool)
            .await?
            .into_iter()
            .map(|(budget, kind, n)| ((budget, kind), n))
            .collect();
        let mut pending = self.pending();
        // Additions acknowledged before the refresh started were committed before its queries
        // ran, so the database's answer has them; later ones may be missing from it.
        pending.retain(|(at, _)| *at >= started);
        let later: Vec<Spent> = pending.iter().map(|(_, s)| s.clone()).collect();
        apply(&mut statuses, &later);
        self.swap(Snapshot {
            taken_at: Some(started),
            statuses,
            alert_counts,
        });
        Ok(())
    }
}

/// Refreshes the view every `every` until dropped; a failed refresh keeps the last view.
pub async fn run_every(
    pool: PgPool,
    view: Arc<CheckView>,
    cost_source: CostSource,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) = view.refresh(&pool, cost_source).await {
            tracing::debug!(%error, "budget check view refresh failed; keeping the last view");
        }
    }
}
