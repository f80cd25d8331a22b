//! Dates, periods and report ranges.
//!
//! Dates are calendar days written `YYYY-MM-DD`; periods are months written
//! `YYYY-MM`. Both sort correctly as text, which the SQL relies on. The
//! fiscal year is each tenant's ([`FiscalCalendar`]): twelve months from
//! the month it starts in, labelled by the calendar year it starts in.

use std::fmt;

use time::{Date, Month};

use super::Rejection;

/// Years the ledger accepts: four digits, so text order is date order.
pub const MIN_YEAR: i32 = 1900;
pub const MAX_YEAR: i32 = 9999;

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, b| {
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

/// Parses exactly `YYYY-MM-DD` (a real calendar day); `field` names the
/// input in the error.
pub fn parse_date(field: &str, s: &str) -> Result<Date, Rejection> {
    let bad = || Rejection::invalid(field, format!("{field}: '{s}' is not a date (YYYY-MM-DD)"));
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, m, d) = (
        digits(&b[0..4]).ok_or_else(bad)?,
        digits(&b[5..7]).ok_or_else(bad)?,
        digits(&b[8..10]).ok_or_else(bad)?,
    );
    let year = i32::try_from(y).map_err(|_| bad())?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(Rejection::invalid(
            field,
            format!("{field}: the year must be {MIN_YEAR}..={MAX_YEAR}"),
        ));
    }
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let day = u8::try_from(d).map_err(|_| bad())?;
    Date::from_calendar_date(year, month, day).map_err(|_| bad())
}

/// `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Today, UTC.
pub fn today() -> Date {
    marimo_platform::clock::now().date()
}

/// A month of the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: Month,
}

impl Period {
    /// The earliest period a posting can have.
    pub const MIN: Period = Period {
        year: MIN_YEAR,
        month: Month::January,
    };

    /// The latest period a posting can have.
    pub const MAX: Period = Period {
        year: MAX_YEAR,
        month: Month::December,
    };

    pub fn of(d: Date) -> Self {
        Self {
            year: d.year(),
            month: d.month(),
        }
    }

    /// Parses exactly `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Self, Rejection> {
        let bad = || Rejection::invalid("period", format!("'{s}' is not a period (YYYY-MM)"));
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' {
            return Err(bad());
        }
        let year = digits(&b[0..4])
            .and_then(|y| i32::try_from(y).ok())
            .filter(|y| (MIN_YEAR..=MAX_YEAR).contains(y))
            .ok_or_else(bad)?;
        let month = digits(&b[5..7])
            .and_then(|m| u8::try_from(m).ok())
            .and_then(|m| Month::try_from(m).ok())
            .ok_or_else(bad)?;
        Ok(Self { year, month })
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn first_day(self) -> Date {
        // Day 1 exists in every month of a valid year.
        Date::from_calendar_date(self.year, self.month, 1).unwrap_or(Date::MIN)
    }

    pub fn last_day(self) -> Date {
        let days = self.month.length(self.year);
        Date::from_calendar_date(self.year, self.month, days).unwrap_or(Date::MAX)
    }

    pub fn next(self) -> Self {
        match self.month {
            Month::December => Self {
                year: self.year + 1,
                month: Month::January,
            },
            m => Self {
                year: self.year,
                month: m.next(),
            },
        }
    }

    pub fn prev(self) -> Self {
        match self.month {
            Month::January => Self {
                year: self.year - 1,
                month: Month::December,
            },
            m => Self {
                year: self.year,
                month: m.previous(),
            },
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

/// A tenant's fiscal year: twelve months starting on the first day of
/// `start` (the tenant's `fiscal_year_start_month`; January by default,
/// when the fiscal year is the calendar year). A fiscal year is labelled
/// by the calendar year it **starts** in: with an April start, FY 2026 is
/// 2026-04-01 ..= 2027-03-31, so 2027-03-31 is in FY 2026 and 2027-04-01
/// in FY 2027. With a January start the label is the calendar year, as
/// before tenancy, so entry numbers of the default tenant do not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FiscalCalendar {
    start: Month,
}

impl Default for FiscalCalendar {
    fn default() -> Self {
        Self {
            start: Month::January,
        }
    }
}

impl FiscalCalendar {
    /// The calendar of a year starting in `month` (1–12); `None` outside.
    pub fn starting(month: u8) -> Option<Self> {
        Month::try_from(month).ok().map(|start| Self { start })
    }

    /// The month the fiscal year starts in, 1–12.
    pub fn start_month(self) -> u8 {
        u8::from(self.start)
    }

    /// The label of the fiscal year `d` is in.
    pub fn year_of(self, d: Date) -> i32 {
        if u8::from(d.month()) >= u8::from(self.start) {
            d.year()
        } else {
            d.year() - 1
        }
    }

    /// The first day of the fiscal year `d` is in.
    pub fn year_start(self, d: Date) -> Date {
        // Day 1 exists in every month; a year before MIN_YEAR is still a
        // valid `Date`.
        Date::from_calendar_date(self.year_of(d), self.start, 1).unwrap_or(Date::MIN)
    }
}

/// Where the totals of a date range come from: whole months from the
/// monthly balances, the partial months at either end from the lines. So a
/// report reads accounts × months rows plus at most two partial months of
/// lines, never the whole journal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangePlan {
    /// Whole months, inclusive.
    pub months: Option<(Period, Period)>,
    /// Day ranges, inclusive, each within one month.
    pub days: Vec<(Date, Date)>,
}

/// Plans the range `[from, to]` (`from = None`: since the beginning). An
/// empty range (`from > to`) has an empty plan.
pub fn plan_range(from: Option<Date>, to: Date) -> RangePlan {
    let from = from.unwrap_or(Period::MIN.first_day());
    if from > to {
        return RangePlan::default();
    }
    let (fp, tp) = (Period::of(from), Period::of(to));
    let whole_first = from == fp.first_day();
    let whole_last = to == tp.last_day();
    if fp == tp {
        return if whole_first && whole_last {
            RangePlan {
                months: Some((fp, fp)),
                days: vec![],
            }
        } else {
            RangePlan {
                months: None,
                days: vec![(from, to)],
            }
        };
    }
    let mut days = Vec::new();
    let start = if whole_first {
        fp
    } else {
        days.push((from, fp.last_day()));
        fp.next()
    };
    let end = if whole_last {
        tp
    } else {
        days.push((tp.first_day(), to));
        tp.prev()
    };
    RangePlan {
        months: (start <= end).then_some((start, end)),
        days,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn d(s: &str) -> Date {
        parse_date("date", s).unwrap()
    }

    #[test]
    fn dates_are_strict() {
        assert_eq!(format_date(d("2026-02-28")), "2026-02-28");
        for bad in [
            "2026-02-30",
            "2026-2-01",
            "2026-13-01",
            "2026-00-10",
            "26-01-01",
            "2026-01-01T00:00:00Z",
            "",
            "abcd-ef-gh",
            "+026-01-01",
            "1899-12-31",
            "2026-01-0x",
        ] {
            assert!(parse_date("date", bad).is_err(), "{bad}");
        }
        assert!(parse_date("date", "2024-02-29").is_ok());
    }

    #[test]
    fn periods_parse_and_step() {
        let p = Period::parse("2026-12").unwrap();
        assert_eq!(p.to_string(), "2026-12");
        assert_eq!(p.next().to_string(), "2027-01");
        assert_eq!(p.next().prev(), p);
        assert_eq!(format_date(p.last_day()), "2026-12-31");
        assert_eq!(
            format_date(Period::parse("2024-02").unwrap().last_day()),
            "2024-02-29"
        );
        for bad in ["2026-13", "2026-1", "2026/01", "202601", "x", "2026-00"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plans_split_whole_and_partial_months() {
        let plan = plan_range(Some(d("2026-01-15")), d("2026-04-10"));
        assert_eq!(
            plan.months,
            Some((
                Period::parse("2026-02").unwrap(),
                Period::parse("2026-03").unwrap()
            ))
        );
        assert_eq!(
            plan.days,
            vec![
                (d("2026-01-15"), d("2026-01-31")),
                (d("2026-04-01"), d("2026-04-10"))
            ]
        );
        let whole = plan_range(Some(d("2026-01-01")), d("2026-01-31"));
        assert_eq!(
            whole.months.map(|m| m.0.to_string()),
            Some("2026-01".into())
        );
        assert!(whole.days.is_empty());
        let as_of = plan_range(None, d("2026-03-31"));
        assert_eq!(
            as_of.months,
            Some((Period::MIN, Period::parse("2026-03").unwrap()))
        );
        assert_eq!(
            plan_range(Some(d("2026-02-01")), d("2026-01-31")),
            RangePlan::default()
        );
    }

    #[test]
    fn fiscal_years_are_labelled_by_the_year_they_start_in() {
        let april = FiscalCalendar::starting(4).unwrap();
        // FY 2026 = 2026-04-01 ..= 2027-03-31.
        assert_eq!(april.year_of(d("2027-03-31")), 2026);
        assert_eq!(april.year_of(d("2027-04-01")), 2027);
        assert_eq!(april.year_of(d("2026-04-01")), 2026);
        assert_eq!(format_date(april.year_start(d("2027-03-31"))), "2026-04-01");
        assert_eq!(format_date(april.year_start(d("2027-12-31"))), "2027-04-01");
        // January: the calendar year, as before.
        let jan = FiscalCalendar::default();
        assert_eq!(jan.start_month(), 1);
        assert_eq!(jan.year_of(d("2027-01-01")), 2027);
        assert_eq!(jan.year_of(d("2027-12-31")), 2027);
        assert_eq!(format_date(jan.year_start(d("2027-07-15"))), "2027-01-01");
        let dec = FiscalCalendar::starting(12).unwrap();
        assert_eq!(dec.year_of(d("2027-11-30")), 2026);
        assert_eq!(dec.year_of(d("2027-12-01")), 2027);
        for bad in [0, 13, 255] {
            assert!(FiscalCalendar::starting(bad).is_none(), "{bad}");
        }
    }

    fn day_strategy() -> impl Strategy<Value = Date> {
        // 2023-11-01 .. about 2027: spans year ends and a leap day.
        (0i64..1300).prop_map(|n| d("2023-11-01") + time::Duration::days(n))
    }

    proptest! {
        /// Every day of the range is counted exactly once, and nothing
        /// outside it: whole months and day ranges tile the range.
        #[test]
        fn plans_tile_the_range_exactly(a in day_strategy(), b in day_strategy(), open_start in any::<bool>()) {
            let (from, to) = if a <= b { (a, b) } else { (b, a) };
            let from_opt = (!open_start).then_some(from);
            let plan = plan_range(from_opt, to);
            let lo = d("2023-10-01");
            let mut day = lo;
            while day <= to + time::Duration::days(40) {
                let in_months = plan.months.is_some_and(|(s, e)| {
                    let p = Period::of(day);
                    s <= p && p <= e
                });
                let in_days = plan.days.iter().filter(|(s, e)| *s <= day && day <= *e).count();
                let covered = usize::from(in_months) + in_days;
                let wanted = usize::from((open_start || day >= from) && day <= to);
                prop_assert_eq!(covered, wanted, "day {}", format_date(day));
                day += time::Duration::days(1);
            }
            for (s, e) in &plan.days {
                prop_assert_eq!(Period::of(*s), Period::of(*e));
                prop_assert!(s <= e);
            }
        }
    }
}
