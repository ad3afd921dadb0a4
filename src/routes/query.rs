//! Query strings with repeatable parameters (`team=a&team=b`) and comma lists (`team=a,b`).

use crate::error::ApiError;
use chrono::{DateTime, Utc};

/// The decoded pairs of a query string.
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(query: &str) -> Self {
        Self(form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }

    /// Every value of a parameter, comma lists split, empty items dropped.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The single value of a parameter; 400 if given more than once.
    pub fn one(&self, name: &str) -> Result<Option<String>, ApiError> {
        let mut values = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("{name} may be given only once"),
            ));
        }
        Ok(first)
    }

    /// An RFC 3339 time parameter.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.one(name)?
            .map(|v| {
                DateTime::parse_from_rfc3339(v.trim())
                    .map(|t| t.to_utc())
                    .map_err(|e| {
                        ApiError::bad_request(
                            "invalid_query",
                            format!("{name}={v:?} is not an RFC 3339 time: {e}"),
                        )
                    })
            })
            .transpose()
    }
}
