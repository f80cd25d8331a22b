//! The one rule for `from`/`to` filters on lists of things that happened
//! (orders, stock moves, audit records):
//!
//! - each bound is an RFC 3339 time or a UTC date `YYYY-MM-DD`;
//! - **both bounds are inclusive**: `from` is the first instant that
//!   counts, `to` the last; a date as `to` means the whole of that day;
//! - `from` after `to` is a 400.
//!
//! Internally the range is half-open, `[start, end)`: `end` is the instant
//! just after `to` at storage precision (1 µs), or the next midnight for a
//! date, so a store compares `at >= start AND at < end` on the fixed-width
//! storage text of [`crate::clock`].

use serde_json::json;
use time::{Date, Duration, OffsetDateTime, Time, macros::format_description};

use crate::{ApiError, clock};

/// A filter on when something happened; `None` bounds are open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// The first instant that counts.
    pub start: Option<OffsetDateTime>,
    /// The first instant that no longer counts (exclusive).
    pub end: Option<OffsetDateTime>,
}

impl TimeRange {
    /// Parses the `from` and `to` query values (absent or blank = open).
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, ApiError> {
        let start = bound("from", from, Side::Start)?;
        let end = bound("to", to, Side::End)?;
        if let (Some(s), Some(e)) = (start, end)
            && s >= e
        {
            return Err(ApiError::validation("from must not be after to")
                .with_details(json!({"field": "from"})));
        }
        Ok(Self { start, end })
    }

    /// `start` in storage format (inclusive), if bounded.
    pub fn start_text(&self) -> Option<String> {
        self.start.map(clock::format)
    }

    /// `end` in storage format (exclusive), if bounded.
    pub fn end_text(&self) -> Option<String> {
        self.end.map(clock::format)
    }

    /// True when `t` lies in the range.
    pub fn contains(&self, t: OffsetDateTime) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }
}

#[derive(Clone, Copy)]
enum Side {
    Start,
    End,
}

fn bound(field: &str, text: Option<&str>, side: Side) -> Result<Option<OffsetDateTime>, ApiError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::validation(format!(
            "{field} must be an RFC 3339 time or a date YYYY-MM-DD"
        ))
        .with_details(json!({ "field": field }))
    };
    let instant = if let Some(t) = clock::parse(text) {
        match side {
            Side::Start => t,
            // Storage keeps microseconds: the next representable instant.
            Side::End => t.checked_add(Duration::microseconds(1)).ok_or_else(bad)?,
        }
    } else {
        let day =
            Date::parse(text, format_description!("[year]-[month]-[day]")).map_err(|_| bad())?;
        let day = match side {
            Side::Start => day,
            Side::End => day.next_day().ok_or_else(bad)?,
        };
        OffsetDateTime::new_utc(day, Time::MIDNIGHT)
    };
    Ok(Some(instant))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> OffsetDateTime {
        clock::parse(s).unwrap()
    }

    #[test]
    fn both_bounds_are_inclusive() {
        let r =
            TimeRange::parse(Some("2026-03-01T10:00:00Z"), Some("2026-03-01T12:00:00Z")).unwrap();
        assert!(r.contains(at("2026-03-01T10:00:00Z")));
        assert!(r.contains(at("2026-03-01T12:00:00Z")));
        assert!(!r.contains(at("2026-03-01T12:00:00.000001Z")));
        assert!(!r.contains(at("2026-03-01T09:59:59.999999Z")));
    }

    #[test]
    fn a_date_to_means_the_whole_day() {
        let r = TimeRange::parse(Some("2026-03-01"), Some("2026-03-01")).unwrap();
        assert!(r.contains(at("2026-03-01T00:00:00Z")));
        assert!(r.contains(at("2026-03-01T23:59:59.999999Z")));
        assert!(!r.contains(at("2026-03-02T00:00:00Z")));
        assert_eq!(r.start_text().unwrap(), "2026-03-01T00:00:00.000000Z");
        assert_eq!(r.end_text().unwrap(), "2026-03-02T00:00:00.000000Z");
    }

    #[test]
    fn open_and_refused_ranges() {
        assert_eq!(
            TimeRange::parse(None, Some(" ")).unwrap(),
            TimeRange::default()
        );
        let e = TimeRange::parse(Some("yesterday"), None).unwrap_err();
        assert_eq!(e.details, Some(json!({"field": "from"})));
        let e = TimeRange::parse(Some("2026-03-02"), Some("2026-03-01")).unwrap_err();
        assert_eq!(e.message, "from must not be after to");
        // The same instant as both bounds is a one-instant range, not an error.
        assert!(
            TimeRange::parse(Some("2026-03-01T10:00:00Z"), Some("2026-03-01T10:00:00Z")).is_ok()
        );
    }
}
