//! Prices and the cost of a call. Everything here is pure: Decimal in, Decimal out, no I/O.
//! `store::prices` loads the catalog from the database; `ingest` asks it for the price of an event;
//! `reprice` decides what stored events cost with today's catalog.

pub mod adjustments;
pub mod aliases;
pub mod catalog;
pub mod cost;
pub mod import;
pub mod litellm;
pub mod reprice;

pub use aliases::{Alias, Rule};
pub use catalog::{Catalog, CatalogHandle, Payer, PricedCost, Resolution, Via};
pub use cost::{cost_of, PriceRates, Rates};

use crate::domain::ServiceTier;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// The start of time for prices: a price effective from here applies to every past event.
pub fn beginning_of_time() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

/// Prices are stored per million tokens with at most this many decimals, so that the cost of any
/// call is exact at the database's 12 decimals.
pub const PRICE_SCALE: u32 = 6;

/// One row of the catalog: the rates of a (provider, model) version for one service tier and
/// context size.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceRow {
    pub provider: String,
    pub model: String,
    pub effective_from: DateTime<Utc>,
    pub service_tier: ServiceTier,
    /// The row applies to requests with more input tokens than this; 0 applies to all.
    pub above_input_tokens: u64,
    pub currency: String,
    pub rates: PriceRates,
}

/// A row as stored, with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPrice {
    pub price_id: i64,
    pub row: PriceRow,
}

/// Rounds a per-million price to `PRICE_SCALE` decimals, half up (removes float noise such as
/// `2.0000000000000003` in imported data).
pub fn round_price(per_million: Decimal) -> Decimal {
    per_million
        .round_dp_with_strategy(PRICE_SCALE, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}
