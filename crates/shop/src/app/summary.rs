//! The dashboard's figures: orders by status, revenue kept per currency,
//! active products and how many of them run low. One tenant's figures.

use marimo_platform::tenant::TenantId;

use super::Shop;
use crate::{
    ShopError,
    domain::order::Status,
    store::{orders, products},
};

/// Active products with this many units or fewer count as low on stock.
pub const LOW_STOCK_THRESHOLD: i64 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Every status, in `Status::ALL` order, with its number of orders
    /// (0 included).
    pub by_status: Vec<(Status, i64)>,
    pub total_orders: i64,
    /// Orders not in a final status.
    pub open_orders: i64,
    pub pending_orders: i64,
    /// Totals (minor units) of orders paid and not refunded, per currency,
    /// in currency order.
    pub revenue: Vec<(String, i64)>,
    pub active_products: i64,
    /// Active products with at most [`Summary::low_stock_threshold`] units.
    pub low_stock_products: i64,
    pub low_stock_threshold: i64,
}

impl Shop {
    /// The tenant's figures, from one snapshot (they agree with each other
    /// while orders are placed).
    pub async fn summary(&self, t: &TenantId) -> Result<Summary, ShopError> {
        let mut tx = self.db.tenant(t).snapshot().await?;
        let counts = orders::count_by_status(&mut *tx, t).await?;
        let count = |s: Status| {
            counts
                .iter()
                .filter(|(c, _)| *c == s)
                .map(|(_, n)| n)
                .sum::<i64>()
        };
        let revenue = orders::revenue(&mut *tx, t).await?;
        let (active, low) = products::stock_counts(&mut *tx, t, LOW_STOCK_THRESHOLD).await?;
        drop(tx);
        Ok(Summary {
            by_status: Status::ALL.iter().map(|s| (*s, count(*s))).collect(),
            total_orders: counts.iter().map(|(_, n)| n).sum(),
            open_orders: Status::ALL
                .iter()
                .filter(|s| s.is_open())
                .map(|s| count(*s))
                .sum(),
            pending_orders: count(Status::Pending),
            revenue,
            active_products: active,
            low_stock_products: low,
            low_stock_threshold: LOW_STOCK_THRESHOLD,
        })
    }
}
