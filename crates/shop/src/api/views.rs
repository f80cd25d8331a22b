//! Response views: products and orders as typed structs (each a schema of
//! the OpenAPI document). Prices and totals are decimal strings in their
//! currency, quantities integers (as clients send them); the shapes are
//! the original API's plus sku, currency, active and times. Domain types
//! carry no JSON.

use marimo_platform::openapi::PageFields;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    domain::{
        catalog::Product,
        order::{Order, Status},
        pricing::format_money,
    },
    store::orders::{HistoryRow, PaymentRow},
};

/// A product of the catalog.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a10", "name": "Premium Widget", "description": "Our best widget", "price": "29.99", "currency": "USD", "stock": 50, "category": "Electronics", "image_url": "", "sku": "WIDGET-PREMIUM", "active": true, "created_at": "2026-12-01T09:00:00.000000Z", "updated_at": "2026-12-01T09:00:00.000000Z"}))]
pub(crate) struct ProductView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Decimal string in `currency`.
    pub price: String,
    pub currency: String,
    /// Units available to order.
    pub stock: i64,
    pub category: String,
    pub image_url: String,
    /// The factory item it is made as.
    pub sku: Option<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

pub(crate) fn product(p: &Product) -> ProductView {
    ProductView {
        id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        price: format_money(p.price, &p.currency),
        currency: p.currency.clone(),
        stock: p.stock,
        category: p.category.clone(),
        image_url: p.image_url.clone(),
        sku: p.sku.clone(),
        active: p.active,
        created_at: p.created_at.clone(),
        updated_at: p.updated_at.clone(),
    }
}

/// A line of an order, at the price it was ordered at.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderItemView {
    pub product_id: String,
    pub sku: Option<String>,
    pub name: String,
    pub quantity: i64,
    /// The unit price from the catalog, decimal string.
    pub price: String,
    pub line_total: String,
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderView {
    pub id: String,
    pub user_id: String,
    pub email: String,
    pub items: Vec<OrderItemView>,
    pub subtotal: String,
    pub tax: String,
    /// Percent, decimal string (`"8.25"`).
    pub tax_rate: String,
    pub total: String,
    pub currency: String,
    pub status: Status,
    pub created_at: String,
    pub updated_at: String,
    /// When an unpaid order expires (its stock is released).
    pub expires_at: String,
}

pub(crate) fn order(o: &Order) -> OrderView {
    let money = |units: i64| format_money(units, &o.currency);
    OrderView {
        id: o.id.clone(),
        user_id: o.user_id.clone(),
        email: o.email.clone(),
        items: o
            .items
            .iter()
            .map(|i| OrderItemView {
                product_id: i.product_id.clone(),
                sku: i.sku.clone(),
                name: i.name.clone(),
                quantity: i.quantity,
                price: money(i.unit_price),
                line_total: money(i.line_total),
            })
            .collect(),
        subtotal: money(o.subtotal),
        tax: money(o.tax),
        tax_rate: o.tax_rate.percent(),
        total: money(o.total),
        currency: o.currency.clone(),
        status: o.status,
        created_at: o.created_at.clone(),
        updated_at: o.updated_at.clone(),
        expires_at: o.expires_at.clone(),
    }
}

/// A page of orders, as both order lists answer it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderPage {
    pub success: bool,
    pub orders: Vec<OrderView>,
    #[serde(flatten)]
    pub page: PageFields,
}

pub(crate) fn order_page(list: &[Order], total: i64, page: u32, limit: u32) -> OrderPage {
    OrderPage {
        success: true,
        orders: list.iter().map(order).collect(),
        page: PageFields { total, page, limit },
    }
}

/// A page of products.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductPage {
    pub success: bool,
    pub products: Vec<ProductView>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// The product at the top level, as the original answered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductAnswer {
    pub success: bool,
    #[serde(flatten)]
    pub product: ProductView,
}

/// `{success, message, product}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductSaved {
    pub success: bool,
    pub message: String,
    pub product: ProductView,
}

/// `{success, message, deactivated}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductRemoved {
    pub success: bool,
    pub message: String,
    /// The product was ordered before, so it was deactivated instead of
    /// deleted.
    pub deactivated: bool,
}

/// A category and how many products it has.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CategoryView {
    pub name: String,
    pub count: i64,
}

/// `{success, categories}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CategoryList {
    pub success: bool,
    pub categories: Vec<CategoryView>,
}

/// `{success, message, order}`: an order placed (201) or moved.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderAnswer {
    pub success: bool,
    pub message: String,
    pub order: OrderView,
}

/// One step of an order's history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HistoryView {
    /// `null` for the order's creation.
    pub from: Option<String>,
    pub to: String,
    /// Who moved it (a user id, or `system`).
    pub actor: String,
    pub reason: Option<String>,
    /// RFC 3339, UTC.
    pub at: String,
}

pub(crate) fn history(h: HistoryRow) -> HistoryView {
    HistoryView {
        from: h.from,
        to: h.to,
        actor: h.actor,
        reason: h.reason,
        at: h.at,
    }
}

/// A payment of an order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PaymentView {
    pub id: String,
    /// `capture` or `refund`.
    pub kind: String,
    /// Decimal string.
    pub amount: String,
    pub currency: String,
    pub created_at: String,
    /// How a capture was received (`card`, `bank_transfer`, ...).
    pub method: Option<String>,
    pub reference: Option<String>,
}

pub(crate) fn payment(p: PaymentRow) -> PaymentView {
    PaymentView {
        amount: format_money(p.amount, &p.currency),
        id: p.id,
        kind: p.kind,
        currency: p.currency,
        created_at: p.created_at,
        method: p.method,
        reference: p.reference,
    }
}

/// The order at the top level (as the original), with its history and
/// payments.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderDetail {
    pub success: bool,
    #[serde(flatten)]
    pub order: OrderView,
    pub history: Vec<HistoryView>,
    pub payments: Vec<PaymentView>,
}

/// The values new orders use.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SettingsView {
    /// Percent, decimal string.
    pub tax_rate: String,
    /// Minutes an unpaid order holds its stock, decimal string.
    pub order_ttl_minutes: String,
}

/// `{success, settings}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SettingsAnswer {
    pub success: bool,
    pub settings: SettingsView,
}

/// The payment provider's acknowledgement: the order paid, or the event
/// `ignored` (another type) or a `duplicate` (applied before).
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct CallbackAnswer {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        order::{OrderItem, Status},
        pricing::TaxRate,
    };

    #[test]
    fn json_has_the_api_shape() {
        let o = Order {
            id: "o1".into(),
            user_id: "u1".into(),
            email: "a@b.c".into(),
            status: Status::Pending,
            currency: "USD".into(),
            subtotal: 5998,
            tax: 495,
            total: 6493,
            tax_rate: TaxRate::parse_percent("8.25").unwrap(),
            created_at: "t0".into(),
            updated_at: "t0".into(),
            expires_at: "t1".into(),
            items: vec![OrderItem {
                product_id: "p1".into(),
                sku: Some("WIDGET-PREMIUM".into()),
                name: "Premium Widget".into(),
                quantity: 2,
                unit_price: 2999,
                line_total: 5998,
            }],
        };
        let j = serde_json::to_value(order(&o)).unwrap();
        assert_eq!(j["status"], "pending");
        assert_eq!(j["subtotal"], "59.98");
        assert_eq!(j["tax"], "4.95");
        assert_eq!(j["total"], "64.93");
        assert_eq!(j["tax_rate"], "8.25");
        assert_eq!(j["items"][0]["price"], "29.99");
        assert_eq!(j["items"][0]["quantity"], 2);
        assert_eq!(j["items"][0]["line_total"], "59.98");
    }
}
