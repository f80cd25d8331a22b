//! Events the factory publishes (docs/EVENTS.md), always through the
//! outbox in the transaction of the change they report, and the ones it
//! consumes: `config.reference.changed` for units of measure, which keeps
//! the factory's copy of the config service's units (items are validated
//! against it, by a foreign key), `users.tenant.created`, which seeds
//! a new tenant's units, main warehouse and settings (its currency),
//! `users.tenant.updated`, whose currency replaces the tenant's while its
//! stock holds no value, and the shop's `shop.order.placed`, `.cancelled`
//! and `.shipped`, which confirm, release and ship the order's stock
//! holds. Each is applied in the envelope's tenant. Payloads are the types
//! of `marimo_contracts`;
//! quantities and amounts are decimal strings, as in the API.

use marimo_contracts::{
    Topic,
    config::{REFERENCE_CHANGED as REFERENCE, RefKind},
    factory::{
        self as contract, StockChanged, StockLow, StockMoved, StockReceived, ValuedMove, WorkOrder,
        WorkOrderCompleted,
    },
    ids::{MoveId, Sku, WarehouseCode, WorkOrderId},
    shop::{ORDER_CANCELLED, ORDER_PLACED, ORDER_SHIPPED},
    users::{TENANT_CREATED, TENANT_UPDATED},
    values::{self, Money, Qty, UnitCost},
};
use marimo_platform::{
    bus::{Envelope, HandlerError, inbox},
    money::Currency,
};

use crate::{app::reservations::OrderStep, store::stock::MoveRecord};

pub const SOURCE: &str = "factory";

pub const STOCK_RECEIVED: &str = contract::STOCK_RECEIVED.name();
pub const STOCK_LOW: &str = contract::STOCK_LOW.name();
pub const STOCK_MOVED: &str = contract::STOCK_MOVED.name();
/// The three steps of a work order before completion share a payload.
pub const WORK_ORDER_RELEASED: Topic<WorkOrder> = contract::WORK_ORDER_RELEASED;
pub const WORK_ORDER_STARTED: Topic<WorkOrder> = contract::WORK_ORDER_STARTED;
pub const WORK_ORDER_CANCELLED: Topic<WorkOrder> = contract::WORK_ORDER_CANCELLED;
pub const WORK_ORDER_COMPLETED: &str = contract::WORK_ORDER_COMPLETED.name();

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

fn money(currency: &Currency, units: i64) -> Money {
    Money::from_minor(units, currency.scale())
}

pub fn stock_received(r: &Received<'_>, currency: &Currency) -> Envelope {
    let payload = StockReceived {
        move_id: MoveId::new(r.move_id),
        sku: Sku::new(r.sku),
        warehouse: WarehouseCode::new(r.warehouse),
        qty: Qty::from_thousandths(r.qty),
        unit_cost: UnitCost::from_minor(r.unit_cost, currency.scale()),
        total_cost: money(currency, r.total_cost),
        currency: values::Currency::new(currency.code()),
        reference: r.reference.map(str::to_owned),
    };
    Envelope::of(contract::STOCK_RECEIVED, &payload)
}

/// `factory.stock.moved`: the stock transaction `transaction` and the
/// change of booked value of every bin it moved (`moves`, in the order
/// written; the first one's reference describes it).
pub fn stock_moved(transaction: &str, moves: &[MoveRecord], currency: &Currency) -> Envelope {
    let payload = StockMoved {
        transaction: transaction.to_owned(),
        reference: moves.iter().find_map(|m| m.reference.clone()),
        currency: values::Currency::new(currency.code()),
        moves: moves
            .iter()
            .map(|m| ValuedMove {
                move_id: MoveId::new(&m.id),
                reason: m.reason.contract(),
                sku: Sku::new(&m.sku),
                category: m.category.contract(),
                warehouse: WarehouseCode::new(&m.warehouse),
                qty: Qty::from_thousandths(m.qty),
                value: money(currency, m.value),
            })
            .collect(),
    };
    Envelope::of(contract::STOCK_MOVED, &payload)
}

/// A warehouse's on hand of an item fell below its reorder point.
pub fn stock_low(sku: &str, warehouse: &str, on_hand: i64, reorder_point: i64) -> Envelope {
    let payload = StockLow {
        sku: Sku::new(sku),
        warehouse: WarehouseCode::new(warehouse),
        on_hand: Qty::from_thousandths(on_hand),
        reorder_point: Qty::from_thousandths(reorder_point),
    };
    Envelope::of(contract::STOCK_LOW, &payload)
}

/// A bin's on hand or reserved changed: its whole state and change
/// counter (the shop's availability read model).
pub fn stock_changed(sku: &str, warehouse: &str, bin: crate::store::stock::BinState) -> Envelope {
    let payload = StockChanged {
        sku: Sku::new(sku),
        warehouse: WarehouseCode::new(warehouse),
        on_hand: Qty::from_thousandths(bin.on_hand),
        reserved: Qty::from_thousandths(bin.reserved),
        available: Qty::from_thousandths(bin.on_hand - bin.reserved),
        seq: bin.seq,
    };
    Envelope::of(contract::STOCK_CHANGED, &payload)
}

/// `factory.work_order.released|started|cancelled`.
pub fn work_order(step: Topic<WorkOrder>, id: &str, sku: &str, qty: i64) -> Envelope {
    let payload = WorkOrder {
        work_order_id: WorkOrderId::new(id),
        sku: Sku::new(sku),
        qty: Qty::from_thousandths(qty),
    };
    Envelope::of(step, &payload)
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
    let consumed = c
        .consumed
        .iter()
        .map(|x| contract::Consumed {
            sku: Sku::new(&x.sku),
            qty: Qty::from_thousandths(x.qty),
            total_cost: money(currency, x.total_cost),
        })
        .collect();
    let payload = WorkOrderCompleted {
        work_order_id: WorkOrderId::new(c.work_order_id),
        sku: Sku::new(c.sku),
        qty: Qty::from_thousandths(c.produced),
        scrap_qty: Qty::from_thousandths(c.scrap),
        warehouse: WarehouseCode::new(c.warehouse),
        unit_cost: UnitCost::from_minor(c.unit_cost, currency.scale()),
        total_cost: money(currency, c.total_cost),
        currency: values::Currency::new(currency.code()),
        consumed,
    };
    Envelope::of(contract::WORK_ORDER_COMPLETED, &payload)
}

// ------------------------------------------------------------ consumed

/// The factory's queue.
pub const QUEUE: &str = "factory";
pub const REFERENCE_CHANGED: &str = REFERENCE.name();
pub const TENANT_CREATED_EVENT: &str = TENANT_CREATED.name();
pub const TENANT_UPDATED_EVENT: &str = TENANT_UPDATED.name();

/// The shop's order events: they confirm, release and ship the stock
/// holds of their order.
pub const ORDER_EVENTS: [&str; 3] = [
    ORDER_PLACED.name(),
    ORDER_CANCELLED.name(),
    ORDER_SHIPPED.name(),
];

/// Subscribes the factory's queue.
pub async fn subscribe(
    ctx: &marimo_platform::service::ServiceContext,
    factory: std::sync::Arc<crate::Factory>,
) -> Result<(), marimo_platform::bus::BusError> {
    let bus_db = factory.db.clone();
    ctx.bus
        .subscribe(
            &bus_db,
            QUEUE,
            &[
                REFERENCE_CHANGED,
                TENANT_CREATED_EVENT,
                TENANT_UPDATED_EVENT,
                ORDER_EVENTS[0],
                ORDER_EVENTS[1],
                ORDER_EVENTS[2],
            ],
            move |env: Envelope| {
                let factory = factory.clone();
                async move { handle(&factory, env).await }
            },
        )
        .await
}

/// Applies one event exactly once, in the envelope's tenant.
pub async fn handle(factory: &crate::Factory, env: Envelope) -> Result<(), HandlerError> {
    let db = &factory.db;
    if env.is(TENANT_CREATED) {
        return seed_tenant(db, env).await;
    }
    if env.is(TENANT_UPDATED) {
        return tenant_currency(db, env).await;
    }
    for (topic, step) in [
        (ORDER_PLACED, OrderStep::Placed),
        (ORDER_CANCELLED, OrderStep::Cancelled),
        (ORDER_SHIPPED, OrderStep::Shipped),
    ] {
        if env.is(topic) {
            return order_step(factory, &env, topic, step).await;
        }
    }
    if !env.is(REFERENCE) {
        return Err(HandlerError::Permanent(format!(
            "{} v{} is not an event the factory consumes",
            env.event_type, env.version
        )));
    }
    let change = env.decode(REFERENCE)?;
    if change.kind != RefKind::Units {
        return Ok(());
    }
    fn unit<'a>(field: &str, value: &'a str) -> Result<&'a str, HandlerError> {
        Some(value.trim())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| HandlerError::Permanent(format!("a unit without `{field}`")))
    }
    let code = crate::domain::items::parse_unit(unit("code", change.item.code())?)
        .map_err(|e| HandlerError::Permanent(e.message.clone()))?;
    let name = unit("name", change.item.name())?;
    let tenant = &env.tenant;
    let Some(mut tx) = inbox::begin_in(&db.tenant(tenant), QUEUE, &env.id).await? else {
        return Ok(());
    };
    crate::store::items::upsert_unit(&mut *tx, tenant, &code, name).await?;
    tx.commit().await?;
    tracing::info!(%code, %tenant, "unit of measure from the config service");
    Ok(())
}

/// A shop order's step, applied to its stock holds in the event's tenant.
async fn order_step(
    factory: &crate::Factory,
    env: &Envelope,
    topic: Topic<marimo_contracts::shop::Order>,
    step: OrderStep,
) -> Result<(), HandlerError> {
    let order = env.decode(topic)?;
    let tenant = &env.tenant;
    let Some(tx) = inbox::begin_in(&factory.db.tenant(tenant), QUEUE, &env.id).await? else {
        return Ok(());
    };
    let actor = env.actor.as_deref().unwrap_or("shop");
    factory
        .on_order(tx, tenant, actor, order.order_id.as_str(), step)
        .await
        .map_err(|e| match e {
            crate::FactoryError::Db(e) => HandlerError::from_db(e),
            // Shipping what the bin does not hold (yet): stock may come.
            crate::FactoryError::InsufficientStock(_) => HandlerError::Deferred(e.to_string()),
            other => HandlerError::Permanent(other.to_string()),
        })
}

/// The tenant's currency as announced, or a permanent error: an event
/// naming another tenant than it travels in (it is published in the
/// tenant it is about) or an unknown currency is refused rather than
/// applied to either.
fn announced_currency(
    env: &Envelope,
    tenant_id: &str,
    code: &str,
) -> Result<Currency, HandlerError> {
    if tenant_id != env.tenant.as_str() {
        return Err(HandlerError::Permanent(format!(
            "{} for tenant {tenant_id} arrived in tenant {}",
            env.event_type, env.tenant
        )));
    }
    Currency::new(code).ok_or_else(|| {
        HandlerError::Permanent(format!("tenant {tenant_id}: unknown currency '{code}'"))
    })
}

/// `users.tenant.created`: gives the new tenant what the default tenant
/// got at installation (units, the main warehouse) and its currency as
/// its base currency. Idempotent twice over: the inbox applies an event
/// once, and the seeds leave existing rows alone.
async fn seed_tenant(db: &marimo_platform::db::Db, env: Envelope) -> Result<(), HandlerError> {
    let created = env.decode(TENANT_CREATED)?;
    let currency = announced_currency(&env, &created.tenant_id, &created.currency)?;
    let tenant = &env.tenant;
    let Some(mut tx) = inbox::begin_in(&db.tenant(tenant), QUEUE, &env.id).await? else {
        return Ok(());
    };
    crate::store::schema::seed(&mut tx, tenant, currency.code(), crate::DEFAULT_WAREHOUSE).await?;
    tx.commit().await?;
    tracing::info!(%tenant, slug = %created.slug, currency = currency.code(), "tenant seeded");
    Ok(())
}

/// `users.tenant.updated`: the tenant's new currency becomes the
/// factory's base currency for it while its stock holds no value; with
/// valued stock it stays (revaluing is not a setting change) and the
/// refusal is logged. An update that overtook the creation is deferred,
/// so the creation's seed cannot undo it.
async fn tenant_currency(db: &marimo_platform::db::Db, env: Envelope) -> Result<(), HandlerError> {
    let updated = env.decode(TENANT_UPDATED)?;
    let currency = announced_currency(&env, &updated.tenant_id, &updated.currency)?;
    let tenant = &env.tenant;
    let Some(mut tx) = inbox::begin_in(&db.tenant(tenant), QUEUE, &env.id).await? else {
        return Ok(());
    };
    if !crate::store::items::warehouse_exists(&mut *tx, tenant, crate::DEFAULT_WAREHOUSE).await? {
        return Err(HandlerError::Deferred(format!(
            "tenant {tenant} is not seeded in the factory yet"
        )));
    }
    let current = crate::store::schema::currency_in(&mut tx, tenant).await?;
    if current != currency {
        if crate::store::schema::set_currency_if_unvalued(
            &mut tx,
            db.kind(),
            tenant,
            currency.code(),
        )
        .await?
        {
            tracing::info!(%tenant, from = current.code(), to = currency.code(), "base currency changed");
        } else {
            tracing::warn!(
                %tenant,
                base = current.code(),
                requested = currency.code(),
                "the stock holds value; its base currency stays"
            );
        }
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
            WORK_ORDER_RELEASED.name(),
            WORK_ORDER_STARTED.name(),
            WORK_ORDER_COMPLETED,
            WORK_ORDER_CANCELLED.name(),
        ] {
            assert_eq!(t.split('.').count(), 3);
        }
    }
}
