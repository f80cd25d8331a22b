//! The accounting service: journal-entry events and its `/summary`.

use serde::{Deserialize, Serialize};

use crate::{
    Topic,
    ids::EntryId,
    values::{Currency, Money},
};

pub const ENTRY_POSTED: Topic<EntryPosted> = Topic::new("accounting.entry.posted", 1);
pub const ENTRY_REVERSED: Topic<EntryReversed> = Topic::new("accounting.entry.reversed", 1);

/// `accounting.entry.posted`: a journal entry was posted (by the API, the
/// original API, an event, or as a reversal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryPosted {
    /// The entry.
    pub entry_id: EntryId,
    /// Its human number in the gapless series (`JE-000001`). Defaults
    /// when absent.
    #[serde(default)]
    pub number: String,
    /// Its accounting date (`YYYY-MM-DD`). Defaults when absent.
    #[serde(default)]
    pub date: String,
    /// The source document it books (`shop:order:<id>`, `INV-7`), if any.
    /// Defaults when absent.
    #[serde(default)]
    pub reference: Option<String>,
    /// The sum of its debits (= of its credits), in `currency`. Defaults
    /// when absent.
    #[serde(default)]
    pub total: Money,
    /// The ledger's base currency. Defaults when absent.
    #[serde(default)]
    pub currency: Currency,
    /// The path that posted it: `api`, `compat`, `event` or `reversal`.
    /// Defaults when absent.
    #[serde(default)]
    pub source: String,
}

/// `accounting.entry.reversed`: a posted entry was reversed by a new
/// entry (which also has its own `accounting.entry.posted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryReversed {
    /// The original entry, the one reversed.
    pub entry_id: EntryId,
    /// The original's number. Defaults when absent.
    #[serde(default)]
    pub number: String,
    /// The date of the reversal (`YYYY-MM-DD`). Defaults when absent.
    #[serde(default)]
    pub date: String,
    /// The original's reference, if any. Defaults when absent.
    #[serde(default)]
    pub reference: Option<String>,
    /// The original's total, in `currency`. Defaults when absent.
    #[serde(default)]
    pub total: Money,
    /// The ledger's base currency. Defaults when absent.
    #[serde(default)]
    pub currency: Currency,
    /// The path that posted the original. Defaults when absent.
    #[serde(default)]
    pub source: String,
    /// The reversing entry. Defaults when absent.
    #[serde(default)]
    pub reversal_entry_id: EntryId,
    /// The reversing entry's number. Defaults when absent.
    #[serde(default)]
    pub reversal_number: String,
}

/// `GET /api/accounting/summary` (inside [`crate::Success`]): revenue
/// figures for the dashboard, in the ledger's currency. Every field
/// defaults when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Summary {
    /// The ledger's base currency.
    pub currency: Currency,
    /// Revenue posted for today (UTC).
    pub revenue_today: Money,
    /// Revenue of the current calendar month.
    pub revenue_month: Money,
    /// Revenue per day over the last 30 days, oldest first, every day
    /// present.
    pub revenue_by_day: Vec<RevenueDay>,
    /// How many entries the ledger holds.
    pub entries_posted: i64,
}

/// One day of [`Summary::revenue_by_day`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RevenueDay {
    /// The day (`YYYY-MM-DD`).
    pub date: String,
    /// Revenue posted on it.
    pub amount: Money,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::golden::round_trip;

    #[test]
    fn golden_payloads() {
        let p: EntryPosted = round_trip(json!({"entry_id": "e1", "number": "JE-000001",
            "date": "2026-03-10", "reference": "shop:order:o1", "total": "108.25",
            "currency": "USD", "source": "event"}));
        assert_eq!(p.total.to_scaled(2), Ok(10825));
        round_trip::<EntryPosted>(json!({"entry_id": "e1", "number": "JE-000001",
            "date": "2026-03-10", "reference": null, "total": "1.00", "currency": "USD",
            "source": "api"}));
        let r: EntryReversed = round_trip(json!({"entry_id": "e1", "number": "JE-000001",
            "date": "2026-03-11", "reference": "INV-7", "total": "100.00", "currency": "USD",
            "source": "api", "reversal_entry_id": "e2", "reversal_number": "JE-000002"}));
        assert_eq!(r.reversal_entry_id, "e2");
    }

    #[test]
    fn golden_summary() {
        let s: Summary = round_trip(json!({"currency": "USD", "revenue_today": "0.00",
            "revenue_month": "108.25", "revenue_by_day": [{"date": "2026-03-10",
            "amount": "108.25"}], "entries_posted": 4}));
        assert_eq!(s.revenue_by_day[0].amount.as_str(), "108.25");
        let partial: Summary = serde_json::from_value(json!({"currency": "EUR"})).unwrap();
        assert_eq!(partial.entries_posted, 0);
    }

    #[test]
    fn an_entry_needs_its_id() {
        let audit_sample = json!({"entry_id": "e-1", "number": "JE-000001",
                                  "reference": "INV-7", "total": "100.00"});
        let p: EntryPosted = serde_json::from_value(audit_sample).unwrap();
        assert_eq!((p.source.as_str(), p.currency.is_empty()), ("", true));
        assert!(serde_json::from_value::<EntryPosted>(json!({"number": "JE-1"})).is_err());
    }
}
