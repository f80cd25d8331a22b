//! Time in one format. Times are UTC and stored as fixed-width RFC 3339 text
//! (`2026-11-24T01:02:03.123456Z`), which sorts lexically in both SQLite and
//! PostgreSQL, so range filters work on plain text columns.

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

const STORAGE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

/// Now, UTC.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Formats a time for storage and JSON (fixed width, always `Z`).
pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(STORAGE)
        .expect("a UTC time always formats")
}

/// The current time, formatted for storage.
pub fn now_text() -> String {
    format(now())
}

/// Parses any RFC 3339 time (what clients send).
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Seconds since the Unix epoch.
/// Milliseconds since the Unix epoch (orders events within one second).
pub fn unix_now_ms() -> i64 {
    i64::try_from(now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub fn unix_now() -> i64 {
    now().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_format_is_fixed_width_and_round_trips() {
        let t = parse("2026-01-02T03:04:05+03:00").unwrap();
        let s = format(t);
        assert_eq!(s, "2026-01-02T00:04:05.000000Z");
        assert_eq!(parse(&s).unwrap(), t);
    }

    #[test]
    fn stored_times_sort_lexically() {
        let a = format(parse("2026-01-02T00:00:00Z").unwrap());
        let b = format(parse("2026-01-02T00:00:00.5Z").unwrap());
        let c = format(parse("2026-01-10T00:00:00Z").unwrap());
        assert!(a < b && b < c);
    }
}
