//! Response views: the JSON of products and orders. Prices and totals
//! are decimal strings in their currency, quantities integers (as clients
//! send them); the shapes are the original API's plus
//! sku, currency, active and times. Domain types carry no JSON.

use serde_json::{Value, json};

use crate::domain::{catalog::Product, order::Order, pricing::format_money};

pub(crate) fn product(p: &Product) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "price": format_money(p.price, &p.currency),
        "currency": p.currency,
        "stock": p.stock,
        "category": p.category,
        "image_url": p.image_url,
        "sku": p.sku,
        "active": p.active,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    })
}

/// A page of orders, as both order lists answer it.
pub(crate) fn order_page(list: &[Order], total: i64, page: u32, limit: u32) -> Value {
    json!({
        "success": true,
        "orders": list.iter().map(order).collect::<Vec<_>>(),
        "total": total,
        "page": page,
        "limit": limit,
    })
}

pub(crate) fn order(o: &Order) -> Value {
    let money = |units: i64| format_money(units, &o.currency);
    let items: Vec<Value> = o
        .items
        .iter()
        .map(|i| {
            json!({
                "product_id": i.product_id,
                "sku": i.sku,
                "name": i.name,
                "quantity": i.quantity,
                "price": money(i.unit_price),
                "line_total": money(i.line_total),
            })
        })
        .collect();
    json!({
        "id": o.id,
        "user_id": o.user_id,
        "email": o.email,
        "items": items,
        "subtotal": money(o.subtotal),
        "tax": money(o.tax),
        "tax_rate": o.tax_rate.percent(),
        "total": money(o.total),
        "currency": o.currency,
        "status": o.status,
        "created_at": o.created_at,
        "updated_at": o.updated_at,
        "expires_at": o.expires_at,
    })
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
        let j = order(&o);
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
