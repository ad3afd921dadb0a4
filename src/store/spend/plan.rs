//! Which table answers which part of a spend range.
//!
//! A range `[from, to)` is cut into pieces read from three sources: whole UTC days from
//! `rollup_daily`, whole UTC hours from `rollup_hourly`, and the rest from raw `events`. A piece
//! may come from a rollup only if every event in it falls in the same answer bucket: a bucket
//! boundary of the asked time zone inside an hour (Asia/Kolkata's days start at :30 UTC) sends that
//! hour to the raw events; one inside a UTC day sends the day to the hourly rollup. The edges of a
//! range that are not whole hours are raw too, so any range is answered exactly.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::ops::Range;

/// Where each part of a range is read from. Ranges are half-open, sorted and merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub daily: Vec<Range<DateTime<Utc>>>,
    pub hourly: Vec<Range<DateTime<Utc>>>,
    pub raw: Vec<Range<DateTime<Utc>>>,
}

/// Plans `[from, to)`. `cuts` are the bucket boundaries strictly inside the range, sorted;
/// `daily_allowed` is false when the question needs a dimension the daily rollup lacks.
pub fn plan(from: DateTime<Utc>, to: DateTime<Utc>, cuts: &[DateTime<Utc>], daily_allowed: bool) -> Plan {
    let mut plan = Plan::default();
    let hour = TimeDelta::hours(1);
    let day = TimeDelta::days(1);
    let (Ok(first_hour), Ok(last_hour)) = (ceil(from, hour), to.duration_trunc(hour)) else {
        push(&mut plan.raw, from..to);
        return plan;
    };
    if first_hour >= last_hour {
        push(&mut plan.raw, from..to);
        return plan;
    }
    push(&mut plan.raw, from..first_hour);
    // A cut strictly inside (a, b).
    let cut_inside = |a: DateTime<Utc>, b: DateTime<Utc>| {
        let i = cuts.partition_point(|c| *c <= a);
        cuts.get(i).is_some_and(|c| *c < b)
    };
    let mut day_start = first_hour.duration_trunc(day).unwrap_or(first_hour);
    while day_start < last_hour {
        let day_end = day_start + day;
        if daily_allowed && day_start >= first_hour && day_end <= last_hour && !cut_inside(day_start, day_end)
        {
            push(&mut plan.daily, day_start..day_end);
        } else {
            let mut h = day_start.max(first_hour);
            while h < day_end.min(last_hour) {
                if cut_inside(h, h + hour) {
                    push(&mut plan.raw, h..h + hour);
                } else {
                    push(&mut plan.hourly, h..h + hour);
                }
                h += hour;
            }
        }
        day_start = day_end;
    }
    push(&mut plan.raw, last_hour..to);
    plan
}

/// The smallest multiple of `unit` at or after `t`.
fn ceil(t: DateTime<Utc>, unit: TimeDelta) -> Result<DateTime<Utc>, chrono::RoundingError> {
    let down = t.duration_trunc(unit)?;
    Ok(if down == t { t } else { down + unit })
}

/// Appends a range, merging it into the last one when they touch; empty ranges are dropped.
fn push(ranges: &mut Vec<Range<DateTime<Utc>>>, range: Range<DateTime<Utc>>) {
    if range.start >= range.end {
        return;
    }
    match ranges.last_mut() {
        Some(last) if last.end == range.start => last.end = range.end,
        _ => ranges.push(range),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn whole_utc_days_come_from_the_daily_rollup_and_ragged_edges_from_raw_events() {
        let p = plan(t("2026-11-01T10:15:00Z"), t("2026-11-05T03:30:00Z"), &[], true);
        assert_eq!(
            p.raw,
            vec![
                t("2026-11-01T10:15:00Z")..t("2026-11-01T11:00:00Z"),
                t("2026-11-05T03:00:00Z")..t("2026-11-05T03:30:00Z"),
            ]
        );
        assert_eq!(
            p.hourly,
            vec![
                t("2026-11-01T11:00:00Z")..t("2026-11-02T00:00:00Z"),
                t("2026-11-05T00:00:00Z")..t("2026-11-05T03:00:00Z"),
            ]
        );
        assert_eq!(
            p.daily,
            vec![t("2026-11-02T00:00:00Z")..t("2026-11-05T00:00:00Z")]
        );
    }

    #[test]
    fn a_half_hour_zone_sends_the_hours_its_days_start_in_to_raw_events() {
        // Asia/Kolkata days start at 18:30 UTC.
        let cuts = [t("2026-11-01T18:30:00Z"), t("2026-11-02T18:30:00Z")];
        let p = plan(t("2026-11-01T00:00:00Z"), t("2026-11-03T00:00:00Z"), &cuts, true);
        assert_eq!(
            p.raw,
            vec![
                t("2026-11-01T18:00:00Z")..t("2026-11-01T19:00:00Z"),
                t("2026-11-02T18:00:00Z")..t("2026-11-02T19:00:00Z"),
            ]
        );
        assert!(p.daily.is_empty());
        assert_eq!(p.hourly.len(), 3);
    }

    #[test]
    fn days_of_a_whole_hour_zone_use_hourly_rollups_only() {
        let cuts = [t("2026-11-02T05:00:00Z")];
        let p = plan(t("2026-11-01T00:00:00Z"), t("2026-11-04T00:00:00Z"), &cuts, true);
        assert!(p.raw.is_empty());
        assert_eq!(
            p.hourly,
            vec![t("2026-11-02T00:00:00Z")..t("2026-11-03T00:00:00Z")]
        );
        assert_eq!(
            p.daily,
            vec![
                t("2026-11-01T00:00:00Z")..t("2026-11-02T00:00:00Z"),
                t("2026-11-03T00:00:00Z")..t("2026-11-04T00:00:00Z"),
            ]
        );
    }

    #[test]
    fn without_the_daily_rollup_whole_days_come_from_hourly_rollups() {
        let p = plan(t("2026-11-01T00:00:00Z"), t("2026-11-03T00:00:00Z"), &[], false);
        assert_eq!(
            p.hourly,
            vec![t("2026-11-01T00:00:00Z")..t("2026-11-03T00:00:00Z")]
        );
        assert!(p.daily.is_empty() && p.raw.is_empty());
    }

    #[test]
    fn a_range_inside_one_hour_is_all_raw() {
        let p = plan(t("2026-11-01T10:05:00Z"), t("2026-11-01T10:55:00Z"), &[], true);
        assert_eq!(p.raw, vec![t("2026-11-01T10:05:00Z")..t("2026-11-01T10:55:00Z")]);
        assert!(p.hourly.is_empty() && p.daily.is_empty());
    }
}
