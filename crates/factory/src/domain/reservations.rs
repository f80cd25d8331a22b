//! Holds: a shop order's reservation of stock, one per order line's bin.
//!
//! ```text
//! held ──confirm──► confirmed ──ship──► shipped
//!   │                   │
//!   ├──expire──► expired│ (not confirmed in time: nothing reserved)
//!   └──release──► released ◄┘ (order cancelled or expired in the shop)
//! ```
//!
//! `held` and `confirmed` reserve their quantity in the bin; the others
//! reserve nothing. A hold is placed with the order's id as its key, so
//! placing it again is the same hold.

use std::{collections::BTreeMap, fmt, str::FromStr};

use marimo_platform::Invalid;

use super::items::string_enum;

string_enum!(
    /// Where a hold is in its life (above).
    HoldStatus {
        Held = "held",
        Confirmed = "confirmed",
        Released = "released",
        Expired = "expired",
        Shipped = "shipped",
    }
);

impl HoldStatus {
    /// Whether the hold's quantity is counted in the bin's `reserved`.
    pub fn reserves(self) -> bool {
        matches!(self, Self::Held | Self::Confirmed)
    }
}

/// The most lines one hold request may name (an order's lines).
pub const MAX_LINES: usize = 100;

/// An order's lines as bins to hold: one quantity per SKU (lines of the
/// same SKU added up), in SKU order — the order in which their bins are
/// locked, so two holds never wait on each other in a cycle.
pub fn merge_lines(lines: &[(String, i64)]) -> Result<Vec<(String, i64)>, Invalid> {
    if lines.is_empty() {
        return Err(Invalid::new("lines", "at least one line is required"));
    }
    if lines.len() > MAX_LINES {
        return Err(Invalid::new(
            "lines",
            format!("at most {MAX_LINES} lines are allowed"),
        ));
    }
    let mut merged: BTreeMap<String, i64> = BTreeMap::new();
    for (sku, qty) in lines {
        let sum = merged.entry(sku.clone()).or_default();
        *sum = sum
            .checked_add(*qty)
            .filter(|q| *q <= super::qty::MAX)
            .ok_or_else(|| Invalid::new("lines", format!("the quantity of {sku} is too large")))?;
    }
    Ok(merged.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_one_sku_are_added_up_in_sku_order() {
        let lines = vec![
            ("TABLE".to_owned(), 2000),
            ("CHAIR".to_owned(), 4000),
            ("TABLE".to_owned(), 1000),
        ];
        assert_eq!(
            merge_lines(&lines).unwrap(),
            vec![("CHAIR".to_owned(), 4000), ("TABLE".to_owned(), 3000)]
        );
        assert!(merge_lines(&[]).is_err());
        let too_many: Vec<_> = (0..=MAX_LINES).map(|i| (format!("S{i}"), 1)).collect();
        assert!(merge_lines(&too_many).is_err());
        let huge = vec![
            ("X".to_owned(), super::super::qty::MAX),
            ("X".to_owned(), 1),
        ];
        assert!(merge_lines(&huge).is_err());
    }

    #[test]
    fn only_live_holds_reserve() {
        let live: Vec<_> = HoldStatus::ALL.iter().filter(|s| s.reserves()).collect();
        assert_eq!(live, [&HoldStatus::Held, &HoldStatus::Confirmed]);
        assert_eq!("shipped".parse::<HoldStatus>(), Ok(HoldStatus::Shipped));
    }
}
