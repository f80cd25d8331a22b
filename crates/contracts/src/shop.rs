//! The shop: order and product events, and its `/summary`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    Topic,
    ids::{EventId, OrderId, ProductId, Sku, UserId},
    values::{Currency, Money, Qty},
};

pub const ORDER_PLACED: Topic<Order> = Topic::new("shop.order.placed", 1);
pub const ORDER_PAID: Topic<Order> = Topic::new("shop.order.paid", 1);
pub const ORDER_CANCELLED: Topic<Order> = Topic::new("shop.order.cancelled", 1);
pub const ORDER_SHIPPED: Topic<Order> = Topic::new("shop.order.shipped", 1);
pub const ORDER_DELIVERED: Topic<Order> = Topic::new("shop.order.delivered", 1);
pub const PRODUCT_RESTOCKED: Topic<ProductRestocked> = Topic::new("shop.product.restocked", 1);

/// Every order event, in the order of the lifecycle.
pub const ORDER_TOPICS: [Topic<Order>; 5] = [
    ORDER_PLACED,
    ORDER_PAID,
    ORDER_SHIPPED,
    ORDER_DELIVERED,
    ORDER_CANCELLED,
];

/// `shop.order.placed`, `.paid`, `.shipped`, `.delivered`, `.cancelled`:
/// an order reached a status. An unpaid order that expired is published
/// as cancelled with `status: "expired"` and `reason: "expired"`.
///
/// Amounts are in `currency`, with its minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order.
    pub order_id: OrderId,
    /// The customer. Defaults when absent.
    #[serde(default)]
    pub user_id: UserId,
    /// The customer's email address (confirmations go there). Defaults
    /// when absent.
    #[serde(default)]
    pub email: String,
    /// Its status now: `pending`, `paid`, `shipped`, `delivered`,
    /// `cancelled` or `expired`. Defaults when absent.
    #[serde(default)]
    pub status: String,
    /// The order's currency. Defaults when absent.
    #[serde(default)]
    pub currency: Currency,
    /// The sum of the lines. Defaults when absent.
    #[serde(default)]
    pub subtotal: Money,
    /// The tax on the subtotal. Defaults when absent.
    #[serde(default)]
    pub tax: Money,
    /// `subtotal + tax`. Defaults when absent.
    #[serde(default)]
    pub total: Money,
    /// Its lines. Defaults when absent.
    #[serde(default)]
    pub items: Vec<OrderItem>,
    /// Cancelled only: whether it had been paid (then accounting reverses
    /// the revenue). Absent on the other events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was_paid: Option<bool>,
    /// Cancelled only, when there is one: why (`expired`). Absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One line of an [`Order`]. Every field defaults when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderItem {
    /// The product bought.
    pub product_id: ProductId,
    /// Its SKU, if it has one.
    pub sku: Option<Sku>,
    /// Its name when the order was placed.
    pub name: String,
    /// How many, in whole units (`"2"`).
    pub quantity: Qty,
    /// The price of one, when the order was placed.
    pub unit_price: Money,
    /// `quantity × unit_price`.
    pub line_total: Money,
}

/// `shop.product.restocked`: a product's stock grew because of another
/// event (published after the stock changed; caches of the catalog drop
/// their copies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRestocked {
    /// The product's SKU.
    pub sku: Sku,
    /// How many units were added: a JSON integer, the one quantity of the
    /// catalog that is not a decimal string (v1 as published).
    pub qty: i64,
    /// The event that caused it (a `factory.work_order.completed`).
    /// Defaults when absent.
    #[serde(default)]
    pub source_event: EventId,
}

/// `GET /api/shop/summary` (inside [`crate::Success`]): order and
/// catalog figures for the dashboard. Every field defaults when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Summary {
    /// Every order.
    pub total_orders: i64,
    /// Orders not yet delivered, cancelled or expired.
    pub open_orders: i64,
    /// Orders waiting for payment.
    pub pending_orders: i64,
    /// Orders per status; every status appears, zero or not.
    pub orders_by_status: BTreeMap<String, i64>,
    /// Paid revenue per currency (orders keep the currency they were
    /// placed in).
    pub revenue: BTreeMap<Currency, Money>,
    /// Products on the catalog.
    pub active_products: i64,
    /// Active products with at most `low_stock_threshold` in stock.
    pub low_stock_products: i64,
    /// The stock at or below which a product counts as low.
    pub low_stock_threshold: i64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::golden::round_trip;

    #[test]
    fn golden_payloads() {
        // As the shop's own tests see them (shop/src/events.rs).
        let o: Order = round_trip(json!({"order_id": "o1", "user_id": "u1",
            "email": "ann@example.com", "status": "cancelled", "currency": "USD",
            "subtotal": "59.98", "tax": "4.95", "total": "64.93", "was_paid": true,
            "items": [{"product_id": "p1", "sku": "WIDGET-PREMIUM", "name": "Premium Widget",
                       "quantity": "2", "unit_price": "29.99", "line_total": "59.98"}]}));
        assert_eq!(o.items[0].quantity.to_scaled(0), Ok(2));
        let placed: Order = round_trip(json!({"order_id": "o1", "user_id": "u1",
            "email": "ann@example.com", "status": "pending", "currency": "JPY",
            "subtotal": "500", "tax": "0", "total": "500",
            "items": [{"product_id": "p1", "sku": null, "name": "Tea",
                       "quantity": "1", "unit_price": "500", "line_total": "500"}]}));
        assert_eq!(placed.was_paid, None);
        round_trip::<Order>(json!({"order_id": "o2", "user_id": "u1", "email": "a@b.c",
            "status": "expired", "currency": "USD", "subtotal": "1.00", "tax": "0.00",
            "total": "1.00", "items": [], "was_paid": false, "reason": "expired"}));
        let r: ProductRestocked = round_trip(json!({"sku": "WIDGET-PREMIUM", "qty": 12,
                                                    "source_event": "e1"}));
        assert_eq!(r.qty, 12);
    }

    #[test]
    fn orders_read_tolerantly() {
        let o: Order = serde_json::from_value(json!({"order_id": "o1", "user_id": "u1",
            "total": "12.50", "currency": "EUR",
            "items": [{"name": "Mug", "quantity": 2, "unit_price": "6.25", "line_total": "12.50",
                       "sku": "M"}], "extra": {"x": 1}}))
        .unwrap();
        assert_eq!(
            (o.total.as_str(), o.items[0].quantity.as_str()),
            ("12.50", "2")
        );
        assert!(o.email.is_empty());
        assert!(serde_json::from_value::<Order>(json!({"total": {}})).is_err());
    }

    #[test]
    fn golden_summary() {
        let s: Summary = round_trip(json!({"total_orders": 5, "open_orders": 2,
            "pending_orders": 1,
            "orders_by_status": {"pending": 1, "paid": 1, "shipped": 0, "delivered": 2,
                                 "cancelled": 1, "expired": 0},
            "revenue": {"EUR": "2.50", "USD": "1.00"}, "active_products": 4,
            "low_stock_products": 1, "low_stock_threshold": 10}));
        assert_eq!(s.revenue[&Currency::new("EUR")].as_str(), "2.50");
    }
}
