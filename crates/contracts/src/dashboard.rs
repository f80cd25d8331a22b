//! The main service's answers, composed from the other services'
//! summaries and read by the web UI: `GET /api/main/dashboard` and
//! `GET /api/main/stats`.
//!
//! A figure is `null` when the service that knows it did not answer (it
//! is down, or the caller may not read it); `degraded` names the services
//! that were down, slow or failing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    ids::UserId,
    values::{Currency, Money},
};

/// `GET /api/main/dashboard` (inside [`crate::Success`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dashboard {
    /// `Welcome, <email>`. Defaults when absent.
    #[serde(default)]
    pub welcome: String,
    /// The caller.
    pub user: DashboardUser,
    /// The UI modules the caller's role may open. Defaults when absent.
    #[serde(default)]
    pub modules: Vec<Module>,
    /// The key figures.
    pub kpis: Kpis,
    /// Services that were down, slow or failing (`users`, `accounting`,
    /// `shop`, `factory`). Defaults when absent.
    #[serde(default)]
    pub degraded: Vec<String>,
}

/// The caller, as the dashboard greets them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DashboardUser {
    pub id: UserId,
    pub email: String,
    /// `admin`, `manager`, `accountant`, `shop_manager` or `user`.
    pub role: String,
}

/// A module of the web UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Module {
    /// `dashboard`, `users`, `config`, ...
    pub key: String,
    /// Its English name.
    pub name: String,
    /// Its path in the UI (`/dashboard`).
    pub path: String,
}

/// The dashboard's key figures; each `null` when unknown, and defaults
/// (to `null`) when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Kpis {
    /// Revenue posted today, in `currency` (accounting).
    pub revenue_today: Option<Money>,
    /// Revenue of this calendar month, in `currency` (accounting).
    pub revenue_month: Option<Money>,
    /// The ledger's base currency (accounting).
    pub currency: Option<Currency>,
    /// Orders not yet delivered, cancelled or expired (shop).
    pub open_orders: Option<i64>,
    /// Orders waiting for payment (shop).
    pub pending_orders: Option<i64>,
    /// Work orders released or started (factory).
    pub work_orders_in_progress: Option<i64>,
    /// Items below their reorder point (factory).
    pub low_stock_items: Option<i64>,
    /// Every account (users).
    pub users_total: Option<i64>,
}

/// `GET /api/main/stats` (inside [`crate::Success`]): the original API's
/// statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatsAnswer {
    pub stats: Stats,
    /// As [`Dashboard::degraded`]. Defaults when absent.
    #[serde(default)]
    pub degraded: Vec<String>,
}

/// The original API's statistics; each `null` when unknown, and defaults
/// (to `null`) when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Stats {
    /// Every account (users).
    pub total_users: Option<i64>,
    /// Every order (shop).
    pub total_orders: Option<i64>,
    /// Paid revenue in `currency` (shop).
    pub total_revenue: Option<Money>,
    /// The ledger's currency when the shop sold in it, else the shop's
    /// only (or alphabetically first) currency.
    pub currency: Option<Currency>,
    /// Paid revenue per currency (shop).
    pub revenue_by_currency: Option<BTreeMap<Currency, Money>>,
    /// Products on the catalog (shop).
    pub active_products: Option<i64>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Success, golden::round_trip};

    #[test]
    fn golden_answers() {
        let d: Success<Dashboard> = round_trip(json!({"success": true,
            "welcome": "Welcome, ann@example.com",
            "user": {"id": "u1", "email": "ann@example.com", "role": "manager"},
            "modules": [{"key": "dashboard", "name": "Dashboard", "path": "/dashboard"}],
            "kpis": {"revenue_today": "0.00", "revenue_month": "10.00", "currency": "USD",
                     "open_orders": 2, "pending_orders": 1, "work_orders_in_progress": 0,
                     "low_stock_items": 3, "users_total": null},
            "degraded": ["users"]}));
        assert_eq!(d.body.kpis.users_total, None);
        let s: Success<StatsAnswer> = round_trip(json!({"success": true,
            "stats": {"total_users": 3, "total_orders": 5, "total_revenue": "2.50",
                      "currency": "EUR", "revenue_by_currency": {"EUR": "2.50", "USD": "1.00"},
                      "active_products": 4},
            "degraded": []}));
        assert_eq!(s.body.stats.total_revenue.unwrap().as_str(), "2.50");
    }
}
