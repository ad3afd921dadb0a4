//! What an API key may do.

use serde::{Deserialize, Serialize};

/// The one scope of an API key. `Admin` may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Write usage events, call the budget check.
    Ingest,
    /// Query spend, events, prices and budgets (optionally of one team only).
    Read,
    /// Everything, including keys and prices.
    Admin,
}

impl Scope {
    /// Parses a stored or requested scope name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ingest" => Some(Self::Ingest),
            "read" => Some(Self::Read),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Read => "read",
            Self::Admin => "admin",
        }
    }

    /// Whether a key of this scope may act where `needed` is required.
    pub fn allows(self, needed: Scope) -> bool {
        self == Self::Admin || self == needed
    }
}
