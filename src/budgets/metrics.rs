//! The Prometheus series of budgets, filled from the check view at each `/metrics` render, so
//! they cost no database query and every replica reports the same (the view is rebuilt from the
//! database every refresh; alert counts are stored alerts, not this process's own):
//!
//! - `tokenledger_budget_amount{budget_id, budget, team, currency}`: the amount of the period.
//! - `tokenledger_budget_spend{budget_id, budget, team, currency}`: spend of the current period.
//! - `tokenledger_budget_utilization_ratio{budget_id, budget, team}`: spend ÷ amount (1 = 100%).
//! - `tokenledger_budget_forecast_spend{budget_id, budget, team, currency}`: projected period spend.
//! - `tokenledger_budget_alerts_total{budget_id, budget, team, kind}`: stored alerts, kind
//!   threshold or forecast.
//!
//! Amounts are exact decimals until here: they become floats only in the exposition text.

use super::check::Snapshot;
use prometheus::{Encoder, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::sync::Mutex;

/// The budget series, on a registry of their own so a render can reset and refill them whole.
pub struct BudgetMetrics {
    registry: Registry,
    amount: GaugeVec,
    spend: GaugeVec,
    utilization: GaugeVec,
    forecast: GaugeVec,
    alerts: IntCounterVec,
    /// One render at a time: each resets and refills the series.
    render: Mutex<()>,
}

/// The exposition edge: a decimal as the float Prometheus carries.
fn float(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(f64::NAN)
}

impl BudgetMetrics {
    /// Registers the series.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let money = ["budget_id", "budget", "team", "currency"];
        let amount = GaugeVec::new(
            Opts::new(
                "tokenledger_budget_amount",
                "Budget amount of the period, by budget.",
            ),
            &money,
        )?;
        let spend = GaugeVec::new(
            Opts::new(
                "tokenledger_budget_spend",
                "Spend of the budget's current period.",
            ),
            &money,
        )?;
        let utilization = GaugeVec::new(
            Opts::new(
                "tokenledger_budget_utilization_ratio",
                "Spend of the current period divided by the amount (1 = 100%).",
            ),
            &["budget_id", "budget", "team"],
        )?;
        let forecast = GaugeVec::new(
            Opts::new(
                "tokenledger_budget_forecast_spend",
                "Projected spend at the end of the budget's current period.",
            ),
            &money,
        )?;
        let alerts = IntCounterVec::new(
            Opts::new(
                "tokenledger_budget_alerts_total",
                "Budget alerts stored, by budget and kind (threshold, forecast).",
            ),
            &["budget_id", "budget", "team", "kind"],
        )?;
        registry.register(Box::new(amount.clone()))?;
        registry.register(Box::new(spend.clone()))?;
        registry.register(Box::new(utilization.clone()))?;
        registry.register(Box::new(forecast.clone()))?;
        registry.register(Box::new(alerts.clone()))?;
        Ok(Self {
            registry,
            amount,
            spend,
            utilization,
            forecast,
            alerts,
            render: Mutex::new(()),
        })
    }

    /// The series of this snapshot in the Prometheus text format.
    pub fn render(&self, snapshot: &Snapshot) -> Result<String, prometheus::Error> {
        let _one = match self.render.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        for gauge in [&self.amount, &self.spend, &self.utilization, &self.forecast] {
            gauge.reset();
        }
        self.alerts.reset();
        for s in &snapshot.statuses {
            let id = s.budget.budget_id.to_string();
            let money = [id.as_str(), &s.budget.name, &s.budget.team, &s.budget.currency];
            self.amount.with_label_values(&money).set(float(s.budget.amount));
            self.spend.with_label_values(&money).set(float(s.spend));
            self.forecast
                .with_label_values(&money)
                .set(float(s.forecast_spend));
            self.utilization
                .with_label_values(&[id.as_str(), &s.budget.name, &s.budget.team])
                .set(float(s.utilization));
            for kind in ["threshold", "forecast"] {
                let n = snapshot
                    .alert_counts
                    .get(&(s.budget.budget_id, kind.to_owned()))
                    .copied()
                    .unwrap_or(0);
                self.alerts
                    .with_label_values(&[id.as_str(), &s.budget.name, &s.budget.team, kind])
                    .inc_by(u64::try_from(n).unwrap_or(0));
            }
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}
