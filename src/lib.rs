//! tokenledger: usage metering and exact cost accounting for multi-provider AI.
//!
//! The path of an event through the code follows the folders: `routes::events` receives it,
//! `ingest` decodes, normalizes, validates and prices it (with `pricing`), `store` writes it, and
//! `routes::spend` reads it back. `ingest/mod.rs` tells that story in full.

pub mod auth;
pub mod bench;
pub mod budgets;
pub mod catalog;
pub mod config;
pub mod domain;
pub mod embedded_postgres;
pub mod error;
pub mod ingest;
pub mod jobs;
pub mod metrics;
pub mod pricing;
pub mod reprice;
pub mod routes;
pub mod seed;
pub mod startup;
pub mod store;
pub mod telemetry;
