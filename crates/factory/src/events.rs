//! Events the factory publishes (docs/EVENTS.md), always through the
//! outbox in the transaction of the change they report, and the one it
//! consumes: `config.reference.changed` for units of measure, which keeps
//! the factory's copy of the config service's units (items are validated
//! against it, by a foreign key). Quantities and amounts are decimal
//! strings, as in the API.

use marimo_platform::bus::{Envelope, HandlerError, inbox};
use serde_json::json;

use crate::domain::{money::Currency, qty};

pub const SOURCE: &str = "factory";

pub const STOCK_RECEIVED: &str = "factory.stock.received";
pub const STOCK_LOW: &str = "factory.stock.low";
pub const WORK_ORDER_RELEASED: &str = "factory.work_order.released";
pub const WORK_ORDER_STARTED: &str = "factory.work_order.started";
pub const WORK_ORDER_COMPLETED: &str = "factory.work_order.completed";
pub const WORK_ORDER_CANCELLED: &str = "factory.work_order.cancelled";

/// A receipt (purchase) of stock: accounting books inventory against
/// payables at `total_cost`.
pub struct Received<'a> {
    pub move_id: &'a str,
    pub sku: &'a str,
    pub warehouse: &'a str,
    pub qty: i64,
    pub unit_cost: i64,
    pub total_cost: i64,
    pub reference: Option<&'a str>,
}

pub fn stock_received(r: &Received<'_>, currency: &Currency) -> Envelope {
    Envelope::new(
        SOURCE,
        STOCK_RECEIVED,
        json!({
            "move_id": r.move_id,
            "sku": r.sku,
            "warehouse": r.warehouse,
            "qty": qty::format(r.qty),
            "unit_cost": currency.format(r.unit_cost),
            "total_cost": currency.format(r.total_cost),
            "currency": currency.code(),
            "reference": r.reference,
        }),
    )
}

/// A warehouse's on hand of an item fell below its reorder point.
pub fn stock_low(sku: &str, warehouse: &str, on_hand: i64, reorder_point: i64) -> Envelope {
    Envelope::new(
        SOURCE,
        STOCK_LOW,
        json!({
            "sku": sku,
            "warehouse": warehouse,
            "on_hand": qty::format(on_hand),
            "reorder_point": qty::format(reorder_point),
        }),
    )
}

/// `factory.work_order.released|started|cancelled`.
pub fn work_order(event_type: &'static str, id: &str, sku: &str, qty: i64) -> Envelope {
    Envelope::new(
        SOURCE,
        event_type,
        json!({"work_order_id": id, "sku": sku, "qty": qty::format(qty)}),
    )
}

/// One consumed component of a completion.
pub struct Consumed {
    pub sku: String,
    pub qty: i64,
    pub total_cost: i64,
}

pub struct Completed<'a> {
    pub work_order_id: &'a str,
    pub sku: &'a str,
    pub produced: i64,
    pub scrap: i64,
    pub unit_cost: i64,
    pub total_cost: i64,
    pub warehouse: &'a str,
    pub consumed: &'a [Consumed],
}

/// Accounting moves `total_cost` from raw materials to finished goods;
/// the shop adds `qty` to the linked product's stock.
pub fn work_order_completed(c: &Completed<'_>, currency: &Currency) -> Envelope {
    let consumed: Vec<_> = c
        .consumed
        .iter()
        .map(|x| {
            json!({
                "sku": x.sku,
                "qty": qty::format(x.qty),
                "total_cost": currency.format(x.total_cost),
            })
        })
        .collect();
    Envelope::new(
        SOURCE,
        WORK_ORDER_COMPLETED,
        json!({
            "work_order_id": c.work_order_id,
            "sku": c.sku,
            "qty": qty::format(c.produced),
            "scrap_qty": qty::format(c.scrap),
            "warehouse": c.warehouse,
            "unit_cost": currency.format(c.unit_cost),
            "total_cost": currency.format(c.total_cost),
            "currency": currency.code(),
            "consumed": consumed,
        }),
    )
}

// ------------------------------------------------------------ consumed

/// The factory's queue.
pub const QUEUE: &str = "factory";
pub const REFERENCE_CHANGED: &str = "config.reference.changed";

/// Subscribes the factory's queue.
pub async fn subscribe(
    ctx: &marimo_platform::service::ServiceContext,
    db: marimo_platform::db::Db,
) -> Result<(), marimo_platform::bus::BusError> {
    let bus_db = db.clone();
    ctx.bus
        .subscribe(
            &bus_db,
            QUEUE,
            &[REFERENCE_CHANGED],
            move |env: Envelope| {
                let db = db.clone();
                async move { handle(&db, env).await }
            },
        )
        .await
}

/// Applies one event exactly once.
pub async fn handle(db: &marimo_platform::db::Db, env: Envelope) -> Result<(), HandlerError> {
    if env.event_type != REFERENCE_CHANGED || env.version != 1 {
        return Err(HandlerError::Permanent(format!(
            "{} v{} is not an event the factory consumes",
            env.event_type, env.version
        )));
    }
    if env.payload["kind"] != "units" {
        return Ok(());
    }
    let unit = |field: &str| {
        env.payload["item"][field]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| HandlerError::Permanent(format!("a unit without `{field}`")))
    };
    let code = crate::domain::items::parse_unit(unit("code")?)
        .map_err(|e| HandlerError::Permanent(e.message.clone()))?;
    let name = unit("name")?;
    let Some(mut tx) = inbox::begin(db, QUEUE, &env.id).await? else {
        return Ok(());
    };
    crate::store::items::upsert_unit(&mut *tx, &code, name).await?;
    tx.commit().await?;
    tracing::info!(%code, "unit of measure from the config service");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_follow_the_catalog() {
        let usd = Currency::new("USD").unwrap();
        let e = stock_received(
            &Received {
                move_id: "m1",
                sku: "STEEL",
                warehouse: "MAIN",
                qty: 3000,
                unit_cost: 250,
                total_cost: 750,
                reference: Some("PO-1"),
            },
            &usd,
        );
        assert_eq!(
            (e.event_type.as_str(), e.source.as_str()),
            (STOCK_RECEIVED, "factory")
        );
        assert_eq!(
            e.payload,
            json!({"move_id": "m1", "sku": "STEEL", "warehouse": "MAIN", "qty": "3.000",
                   "unit_cost": "2.50", "total_cost": "7.50", "currency": "USD", "reference": "PO-1"})
        );
        let e = stock_low("STEEL", "MAIN", 4500, 5000);
        assert_eq!(
            e.payload,
            json!({"sku": "STEEL", "warehouse": "MAIN", "on_hand": "4.500", "reorder_point": "5.000"})
        );
        let e = work_order(WORK_ORDER_RELEASED, "w1", "BIKE", 2000);
        assert_eq!(
            e.payload,
            json!({"work_order_id": "w1", "sku": "BIKE", "qty": "2.000"})
        );
        let consumed = [Consumed {
            sku: "STEEL".into(),
            qty: 3000,
            total_cost: 750,
        }];
        let e = work_order_completed(
            &Completed {
                work_order_id: "w1",
                sku: "BIKE",
                produced: 2000,
                scrap: 0,
                unit_cost: 375,
                total_cost: 750,
                warehouse: "MAIN",
                consumed: &consumed,
            },
            &usd,
        );
        assert_eq!(e.payload["qty"], "2.000");
        assert_eq!(e.payload["unit_cost"], "3.75");
        assert_eq!(e.payload["total_cost"], "7.50");
        assert_eq!(e.payload["currency"], "USD");
        assert_eq!(
            e.payload["consumed"],
            json!([{"sku": "STEEL", "qty": "3.000", "total_cost": "7.50"}])
        );
        for t in [
            STOCK_RECEIVED,
            STOCK_LOW,
            WORK_ORDER_RELEASED,
            WORK_ORDER_STARTED,
            WORK_ORDER_COMPLETED,
            WORK_ORDER_CANCELLED,
        ] {
            assert_eq!(t.split('.').count(), 3);
        }
    }
}
