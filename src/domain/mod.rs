//! Parse-don't-validate types. A value of these types is valid by construction: the ingest path
//! turns untrusted JSON into them once, and everything downstream can rely on them.
//!
//! The event model (`event`, `usage`, `money`, `names`) lives in the lean `tokenledger-events`
//! crate, with the pure half of the ingest path, so that it can be fuzzed on its own; it is
//! re-exported here at its old paths.

pub mod budget;
pub mod scope;

pub use tokenledger_events::{event, money, names, usage};

pub use event::{EventError, UsageEvent};
pub use names::{normalize_model, normalize_provider, ServiceTier};
pub use scope::Scope;
pub use usage::{Usage, UsageError};
