//! Events (docs/EVENTS.md): the order events the shop publishes, always
//! through the outbox in the transaction of the change, and the events it
//! consumes on its queue `shop`, each applied exactly once (`inbox::begin`
//! in the transaction of the effect):
//!
//! | event | effect |
//! |---|---|
//! | `factory.work_order.completed` `{sku, qty}` | the stock of the product linked by `sku` grows by `qty` (whole units; unknown sku: ignored) |
//! | `config.setting.changed` `{key, version, value}` | `tax_rate` / `order_ttl_minutes` in `shop_settings` (other keys ignored) |
//! | `factory.stock.changed` `{sku, warehouse, on_hand, reserved, seq}` | the availability read model's row of the bin, unless it holds a higher `seq` already |
//!
//! Published: `shop.order.placed`, `.paid`, `.shipped`, `.delivered`,
//! `.cancelled` (with `was_paid`). An order that expires unpaid is
//! published as `shop.order.cancelled` with `status: "expired"`, `was_paid:
//! false` and `reason: "expired"`: the catalog has no expiry event, and for
//! every consumer it is a cancellation by the shop (stock released, no
//! money moved).

use std::sync::Arc;

use marimo_contracts::{
    Topic,
    config::SETTING_CHANGED as SETTING,
    factory::{STOCK_CHANGED, WORK_ORDER_COMPLETED as COMPLETED},
    ids::{EventId, OrderId, ProductId, Sku, UserId},
    shop::{self as contract, Order as OrderPayload, OrderItem, ProductRestocked},
    values::{Currency, Qty},
};
use marimo_platform::{
    bus::{BusError, Envelope, HandlerError, inbox},
    clock,
    service::ServiceContext,
};

use crate::{
    app::Shop,
    domain::{
        catalog::MAX_STOCK,
        order::{Order, Status},
        pricing::wire_money,
        settings,
    },
    store,
};

pub const SOURCE: &str = "shop";
pub const QUEUE: &str = "shop";

pub const PLACED: Topic<OrderPayload> = contract::ORDER_PLACED;
pub const PAID: Topic<OrderPayload> = contract::ORDER_PAID;
pub const SHIPPED: Topic<OrderPayload> = contract::ORDER_SHIPPED;
pub const DELIVERED: Topic<OrderPayload> = contract::ORDER_DELIVERED;
pub const CANCELLED: Topic<OrderPayload> = contract::ORDER_CANCELLED;

pub const WORK_ORDER_COMPLETED: &str = COMPLETED.name();
pub const SETTING_CHANGED: &str = SETTING.name();
pub const FACTORY_STOCK_CHANGED: &str = STOCK_CHANGED.name();
pub const BINDINGS: &[&str] = &[WORK_ORDER_COMPLETED, SETTING_CHANGED, FACTORY_STOCK_CHANGED];

/// The event announcing that an order reached `status`.
pub fn type_of(status: Status) -> Topic<OrderPayload> {
    match status {
        Status::Pending => PLACED,
        Status::Paid => PAID,
        Status::Shipped => SHIPPED,
        Status::Delivered => DELIVERED,
        Status::Cancelled | Status::Expired => CANCELLED,
    }
}

/// The v1 order payload: amounts and quantities as decimal strings.
pub fn order_payload(order: &Order, was_paid: Option<bool>, reason: Option<&str>) -> OrderPayload {
    let money = |units| wire_money(units, &order.currency);
    OrderPayload {
        order_id: OrderId::new(&order.id),
        user_id: UserId::new(&order.user_id),
        email: order.email.clone(),
        status: order.status.as_str().to_owned(),
        currency: Currency::new(&order.currency),
        subtotal: money(order.subtotal),
        tax: money(order.tax),
        total: money(order.total),
        items: order
            .items
            .iter()
            .map(|i| OrderItem {
                product_id: ProductId::new(&i.product_id),
                sku: i.sku.as_deref().map(Sku::new),
                name: i.name.clone(),
                quantity: Qty::whole(i.quantity),
                unit_price: money(i.unit_price),
                line_total: money(i.line_total),
            })
            .collect(),
        was_paid,
        reason: reason.map(str::to_owned),
    }
}

/// An order event; `actor` is the user who caused it (none for expiry).
pub fn order_event(
    topic: Topic<OrderPayload>,
    order: &Order,
    actor: Option<&str>,
    was_paid: Option<bool>,
    reason: Option<&str>,
) -> Envelope {
    let env = Envelope::of(topic, &order_payload(order, was_paid, reason));
    match actor {
        Some(a) => env.actor(a),
        None => env,
    }
}

fn permanent(msg: impl Into<String>) -> HandlerError {
    HandlerError::Permanent(msg.into())
}

/// `factory.work_order.completed` → (sku, whole units). Finished goods are
/// whole units: a fraction, a negative or an absurd quantity can never be
/// applied (permanent).
pub fn planned_restock(env: &Envelope) -> Result<(String, i64), HandlerError> {
    let p = env.decode(COMPLETED)?;
    let qty = p.qty.to_scaled(0).map_err(|_| {
        permanent(format!(
            "work order qty {} of {} is not a whole number of units",
            p.qty, p.sku
        ))
    })?;
    if !(0..=MAX_STOCK).contains(&qty) {
        return Err(permanent(format!(
            "work order qty {} of {} is out of range",
            p.qty, p.sku
        )));
    }
    Ok((p.sku.into_string(), qty))
}

/// Subscribes the shop's queue.
pub async fn subscribe(ctx: &ServiceContext, shop: Arc<Shop>) -> Result<(), BusError> {
    let db = shop.db.clone();
    ctx.bus
        .subscribe(&db, QUEUE, BINDINGS, move |env: Envelope| {
            let shop = shop.clone();
            async move { handle(&shop, env).await }
        })
        .await
}

/// Applies one event exactly once.
pub async fn handle(shop: &Shop, env: Envelope) -> Result<(), HandlerError> {
    if env.version != 1 {
        return Err(permanent(format!(
            "{} v{} is not understood (v1 only)",
            env.event_type, env.version
        )));
    }
    if env.event_type == WORK_ORDER_COMPLETED {
        finished_goods(shop, &env).await
    } else if env.event_type == SETTING_CHANGED {
        setting_changed(shop, &env).await
    } else if env.event_type == FACTORY_STOCK_CHANGED {
        stock_changed(shop, &env).await
    } else {
        Err(permanent(format!(
            "{} is not an event the shop consumes",
            env.event_type
        )))
    }
}

async fn finished_goods(shop: &Shop, env: &Envelope) -> Result<(), HandlerError> {
    let (sku, qty) = planned_restock(env)?;
    // In the event's tenant: only that tenant's product with this sku
    // moves, and the restock event carries the tenant on.
    let t = &env.tenant;
    let Some(mut tx) = inbox::begin_in(&shop.db.tenant(t), QUEUE, &env.id).await? else {
        return Ok(());
    };
    let changed = if qty > 0 {
        store::products::add_stock_by_sku(&mut *tx, t, &sku, qty, &clock::now_text()).await?
    } else {
        0
    };
    if changed > 0 {
        // Announced after the stock really changed, so caches of the
        // catalog (the gateway's) drop their copies only once it is stale.
        let restocked = Envelope::of(
            contract::PRODUCT_RESTOCKED,
            &ProductRestocked {
                sku: Sku::new(&sku),
                qty,
                source_event: EventId::new(&env.id),
            },
        );
        shop.outbox.publish(&mut tx, &restocked).await?;
    }
    tx.commit().await?;
    if changed > 0 {
        shop.outbox.wake();
    }
    if changed == 0 && qty > 0 {
        tracing::info!(%sku, qty, event = %env.id, "no product is linked to this sku; stock not changed");
    } else {
        tracing::info!(%sku, qty, event = %env.id, "finished goods added to stock");
    }
    Ok(())
}

/// `factory.stock.changed`: the bin's state into the availability read
/// model, unless a newer one (higher `seq`) is there already.
async fn stock_changed(shop: &Shop, env: &Envelope) -> Result<(), HandlerError> {
    let p = env.decode(STOCK_CHANGED)?;
    let thousandths = |field: &str, q: &Qty| {
        q.to_scaled(3)
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| permanent(format!("{field} {q} of {} is not a quantity", p.sku)))
    };
    let bin = store::availability::Bin {
        sku: p.sku.as_str().to_owned(),
        warehouse: p.warehouse.as_str().to_owned(),
        on_hand: thousandths("on_hand", &p.on_hand)?,
        reserved: thousandths("reserved", &p.reserved)?,
        seq: p.seq,
    };
    if bin.reserved > bin.on_hand || bin.seq < 0 {
        return Err(permanent(format!("an impossible state of {}", p.sku)));
    }
    let t = &env.tenant;
    let Some(mut tx) = inbox::begin_in(&shop.db.tenant(t), QUEUE, &env.id).await? else {
        return Ok(());
    };
    let applied = store::availability::apply(&mut *tx, t, &bin, &clock::now_text()).await?;
    tx.commit().await?;
    if !applied {
        tracing::debug!(sku = %bin.sku, seq = bin.seq, "an older stock report ignored");
    }
    Ok(())
}

async fn setting_changed(shop: &Shop, env: &Envelope) -> Result<(), HandlerError> {
    let payload = env.decode(SETTING)?;
    let Some(change) = settings::change_from_event(&payload).map_err(permanent)? else {
        return Ok(());
    };
    // The event's tenant's settings only.
    let t = &env.tenant;
    let Some(mut tx) = inbox::begin_in(&shop.db.tenant(t), QUEUE, &env.id).await? else {
        return Ok(());
    };
    let applied = store::settings::apply(&mut tx, t, &change, &clock::now_text()).await?;
    tx.commit().await?;
    if applied {
        tracing::info!(key = change.key, value = ?change.value, version = ?change.version, "shop setting changed");
    } else {
        tracing::info!(key = change.key, version = ?change.version, "older setting version ignored");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::{order::OrderItem, pricing::TaxRate};

    fn order() -> Order {
        Order {
            id: "o1".into(),
            user_id: "u1".into(),
            email: "ann@example.com".into(),
            status: Status::Cancelled,
            currency: "USD".into(),
            subtotal: 5998,
            tax: 495,
            total: 6493,
            tax_rate: TaxRate::parse_percent("8.25").unwrap(),
            created_at: "t".into(),
            updated_at: "t".into(),
            expires_at: "t".into(),
            items: vec![OrderItem {
                product_id: "p1".into(),
                sku: Some("WIDGET-PREMIUM".into()),
                name: "Premium Widget".into(),
                quantity: 2,
                unit_price: 2999,
                line_total: 5998,
            }],
        }
    }

    #[test]
    fn order_payloads_follow_the_catalog() {
        let e = order_event(CANCELLED, &order(), Some("admin"), Some(true), None);
        assert_eq!(
            (e.event_type.as_str(), e.source.as_str(), e.version),
            (CANCELLED.name(), "shop", 1)
        );
        assert_eq!(e.actor.as_deref(), Some("admin"));
        let p = &e.payload;
        assert_eq!(p["order_id"], "o1");
        assert_eq!(p["user_id"], "u1");
        assert_eq!(p["email"], "ann@example.com");
        assert_eq!(p["status"], "cancelled");
        assert_eq!(p["currency"], "USD");
        assert_eq!(
            (&p["subtotal"], &p["tax"], &p["total"]),
            (&json!("59.98"), &json!("4.95"), &json!("64.93"))
        );
        assert_eq!(p["was_paid"], true);
        assert_eq!(
            p["items"][0],
            json!({"product_id": "p1", "sku": "WIDGET-PREMIUM", "name": "Premium Widget",
                   "quantity": "2", "unit_price": "29.99", "line_total": "59.98"})
        );
        let placed = order_event(PLACED, &order(), None, None, None);
        assert!(placed.payload.get("was_paid").is_none());
        assert_eq!(placed.actor, None);
        assert_eq!(type_of(Status::Expired), CANCELLED);
        assert_eq!(type_of(Status::Pending), PLACED);
    }

    fn completed(qty: Value) -> Envelope {
        Envelope::new(
            "factory",
            WORK_ORDER_COMPLETED,
            json!({"work_order_id": "w1", "sku": "WIDGET-PREMIUM", "qty": qty, "unit_cost": "1.00",
                   "total_cost": "1.00"}),
        )
    }

    #[test]
    fn work_orders_restock_whole_units_only() {
        assert_eq!(
            planned_restock(&completed(json!("12"))).unwrap(),
            ("WIDGET-PREMIUM".into(), 12)
        );
        assert_eq!(planned_restock(&completed(json!("12.000"))).unwrap().1, 12);
        assert_eq!(planned_restock(&completed(json!(3))).unwrap().1, 3);
        for bad in [
            json!("1.5"),
            json!("-2"),
            json!("abc"),
            json!(null),
            json!("99999999999"),
        ] {
            assert!(
                matches!(
                    planned_restock(&completed(bad.clone())),
                    Err(HandlerError::Permanent(_))
                ),
                "{bad}"
            );
        }
        let no_sku = Envelope::new("factory", WORK_ORDER_COMPLETED, json!({"qty": "1"}));
        assert!(matches!(
            planned_restock(&no_sku),
            Err(HandlerError::Permanent(_))
        ));
    }
}
