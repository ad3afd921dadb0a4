//! Parse-don't-validate types. A value of these types is valid by construction: the ingest path
//! turns untrusted JSON into them once, and everything downstream can rely on them.

pub mod budget;
pub mod event;
pub mod money;
pub mod names;
pub mod scope;
pub mod usage;

pub use event::{EventError, UsageEvent};
pub use names::{normalize_model, normalize_provider, ServiceTier};
pub use scope::Scope;
pub use usage::{Usage, UsageError};
