//! `tokenledger bench ...`: measurements that print their figures (never timed assertions in
//! tests). Each writes a JSON file of what it measured beside the human table.

pub mod spend;

/// The `q`-quantile (0..=1) of sorted samples, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
