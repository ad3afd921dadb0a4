//! Budgets at run time: a budget's status from the spend of its period (`status`), the in-memory
//! view `GET /v1/check` answers from (`check`), and the Prometheus series of budgets (`metrics`).
//! The pure arithmetic is in `domain::budget`, the SQL in `store::budgets` and `store::alerts`,
//! the evaluator and webhook delivery in `jobs`.

pub mod check;
pub mod metrics;
pub mod status;

pub use check::CheckView;
pub use status::{current_statuses, status_of, BudgetStatus};
