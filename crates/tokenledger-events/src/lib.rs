//! The usage event of tokenledger and the pure part of its ingest path: a request body is
//! decoded into raw events (`decode`), each event's usage block is normalized from its native
//! format to canonical counts (`normalize`), and the event is validated into a [`UsageEvent`]
//! (`validate`). No I/O: the service (`tokenledger::ingest`) prices, writes and acknowledges.
//!
//! This is its own crate so that it can be fuzzed (`fuzz/`) without building the service's
//! dependencies instrumented. The service re-exports every module at its old path
//! (`tokenledger::domain::usage`, `tokenledger::ingest::decode`, ...).

pub mod decode;
pub mod event;
pub mod money;
pub mod names;
pub mod normalize;
pub mod usage;
pub mod validate;

pub use event::{EventError, UsageEvent};
pub use names::{normalize_model, normalize_provider, ServiceTier};
pub use usage::{Usage, UsageError};
