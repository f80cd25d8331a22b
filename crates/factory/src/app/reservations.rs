//! Holds of stock for the shop's orders: the factory is the one stock
//! authority, so an order reserves its stock here (docs/ARCHITECTURE.md,
//! "factory").
//!
//! - [`Factory::hold`]: the shop's synchronous call while it places an
//!   order (key: the order id; placing it again is the same hold): every
//!   line's bin reserved by a conditional update (`on_hand - reserved >=
//!   qty`), all or nothing, so shop replicas and work orders drawing on
//!   one bin never promise more than it holds.
//! - [`Factory::on_order`]: the order's events through the outbox:
//!   `shop.order.placed` confirms the hold, `.cancelled` (expired
//!   included) releases it, `.shipped` takes its stock out of the bin as a
//!   shipment move at the moving average, consuming the reservation.
//! - [`Factory::expire_holds`]: a hold never confirmed within
//!   [`HOLD_TTL`] (the shop's transaction failed after the hold) gives its
//!   stock back.
//!
//! Every bin change goes through [`Posting`], so each publishes
//! `factory.stock.changed` (and the shipment's move is recorded like every
//! other move).

use std::time::Duration;

use marimo_platform::{clock, db::Tx, tenant::TenantId};

use super::posting::{MoveSpec, Posting};
use crate::{
    Factory, FactoryError, Shortage,
    domain::{
        items::Reason,
        reservations::{self as rules, HoldStatus},
    },
    store::reservations::{self as store, HoldRecord},
};

/// How long a hold waits for its order's `shop.order.placed`.
pub const HOLD_TTL: Duration = Duration::from_secs(5 * 60);

/// What happened to an order, as the factory's holds see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStep {
    Placed,
    Cancelled,
    Shipped,
}

fn deadline(now: time::OffsetDateTime) -> Result<String, FactoryError> {
    time::Duration::try_from(HOLD_TTL)
        .ok()
        .and_then(|ttl| now.checked_add(ttl))
        .map(clock::format)
        .ok_or_else(|| FactoryError::Internal("hold deadline out of range".into()))
}

impl Factory {
    /// Holds `lines` (SKU, thousandths) of `warehouse` for shop order
    /// `order_id`, all or nothing: 409 `INSUFFICIENT_STOCK` naming every
    /// line the bin cannot cover. The same order held again answers its
    /// holds as they are (whatever their status since); with other lines,
    /// 409 `HOLD_MISMATCH`.
    pub async fn hold(
        &self,
        tenant: &TenantId,
        actor: &str,
        order_id: &str,
        warehouse: &str,
        lines: &[(String, i64)],
    ) -> Result<Vec<HoldRecord>, FactoryError> {
        let lines = rules::merge_lines(lines)?;
        self.db
            .retry_conflicts(|| self.hold_once(tenant, actor, order_id, warehouse, &lines))
            .await
    }

    async fn hold_once(
        &self,
        tenant: &TenantId,
        actor: &str,
        order_id: &str,
        warehouse: &str,
        lines: &[(String, i64)],
    ) -> Result<Vec<HoldRecord>, FactoryError> {
        let mut p = Posting::begin(self, tenant, actor).await?;
        let existing = store::of_order(&mut *p.tx, tenant, order_id).await?;
        if !existing.is_empty() {
            let same = existing.len() == lines.len()
                && existing.iter().zip(lines).all(|(h, (sku, qty))| {
                    &h.sku == sku && h.qty == *qty && h.warehouse == warehouse
                });
            return if same {
                Ok(existing)
            } else {
                Err(FactoryError::conflict(
                    "HOLD_MISMATCH",
                    format!("order {order_id} holds other lines already"),
                ))
            };
        }
        p.warehouse(warehouse).await?;
        let expires_at = deadline(clock::now())?;
        let mut shortages = Vec::new();
        let mut holds = Vec::with_capacity(lines.len());
        // In SKU order (merge_lines): the bins' lock order.
        for (sku, qty) in lines {
            if !p.item(sku).await?.item.active {
                return Err(FactoryError::unprocessable(
                    "ITEM_INACTIVE",
                    format!("{sku} is inactive"),
                ));
            }
            let key = (sku.clone(), warehouse.to_owned());
            if let Err(available) = p.reserve(&key, *qty).await? {
                shortages.push(Shortage {
                    sku: sku.clone(),
                    warehouse: warehouse.to_owned(),
                    required: *qty,
                    available: available.max(0),
                });
                continue;
            }
            holds.push(HoldRecord {
                order_id: order_id.to_owned(),
                sku: sku.clone(),
                warehouse: warehouse.to_owned(),
                qty: *qty,
                status: HoldStatus::Held,
                expires_at: expires_at.clone(),
                created_at: p.now.clone(),
                updated_at: p.now.clone(),
            });
        }
        if !shortages.is_empty() {
            // Dropping the posting rolls back what was reserved.
            return Err(FactoryError::InsufficientStock(shortages));
        }
        for h in &holds {
            store::insert(&mut *p.tx, tenant, h).await?;
        }
        p.commit().await?;
        Ok(holds)
    }

    /// An order's holds (none: an empty list).
    pub async fn holds(
        &self,
        tenant: &TenantId,
        order_id: &str,
    ) -> Result<Vec<HoldRecord>, FactoryError> {
        let mut tx = self.db.tenant(tenant).read().await?;
        Ok(store::of_order(&mut *tx, tenant, order_id).await?)
    }

    /// Applies an order's step to its holds in `tx` (the consumer's, which
    /// recorded the event in the inbox) and commits. An order without
    /// holds (placed before the factory held stock for the shop) changes
    /// nothing.
    pub async fn on_order(
        &self,
        tx: Tx,
        tenant: &TenantId,
        actor: &str,
        order_id: &str,
        step: OrderStep,
    ) -> Result<(), FactoryError> {
        let mut p = Posting::in_tx(self, tenant, actor, tx).await?;
        if matches!(step, OrderStep::Shipped) {
            // One stock transaction per order shipped: the ledger's COGS
            // entry is `factory:shipment:<order id>`.
            p.transaction = Some(format!("shipment:{order_id}"));
        }
        let holds = store::of_order(&mut *p.tx, tenant, order_id).await?;
        if holds.is_empty() {
            tracing::info!(%tenant, order_id, ?step, "an order without stock holds");
        }
        for h in &holds {
            match step {
                OrderStep::Placed => confirm(&mut p, h).await?,
                OrderStep::Cancelled => {
                    release(&mut p, h, HoldStatus::Released).await?;
                }
                OrderStep::Shipped => ship(&mut p, h).await?,
            }
        }
        p.commit().await?;
        Ok(())
    }

    /// Gives back the stock of holds not confirmed by their deadline, at
    /// most `limit` orders' worth; how many orders' holds expired.
    pub async fn expire_holds(&self, limit: i64) -> Result<usize, FactoryError> {
        let now = clock::now_text();
        let due = {
            let mut tx = self.db.all_tenants().read().await?;
            store::due(&mut *tx, &now, limit).await?
        };
        let mut expired = 0;
        for (tenant, order_id) in due {
            let done = self
                .db
                .retry_conflicts(|| self.expire_order(&tenant, &order_id, &now))
                .await?;
            expired += usize::from(done);
        }
        Ok(expired)
    }

    async fn expire_order(
        &self,
        tenant: &TenantId,
        order_id: &str,
        now: &str,
    ) -> Result<bool, FactoryError> {
        let mut p = Posting::begin(self, tenant, "system").await?;
        let mut any = false;
        for h in store::of_order(&mut *p.tx, tenant, order_id).await? {
            if h.status == HoldStatus::Held && h.expires_at.as_str() <= now {
                any |= release(&mut p, &h, HoldStatus::Expired).await?;
            }
        }
        p.commit().await?;
        Ok(any)
    }
}

fn key_of(h: &HoldRecord) -> (String, String) {
    (h.sku.clone(), h.warehouse.clone())
}

/// `shop.order.placed`: the hold stays. One that expired meanwhile (the
/// event came later than [`HOLD_TTL`]) reserves again if the bin still
/// can; if not, the order is short and the factory says so loudly.
async fn confirm(p: &mut Posting<'_>, h: &HoldRecord) -> Result<(), FactoryError> {
    match h.status {
        HoldStatus::Held => {
            store::set_status(
                &mut *p.tx,
                &p.tenant,
                h,
                HoldStatus::Held,
                HoldStatus::Confirmed,
                &p.now,
            )
            .await?;
        }
        HoldStatus::Expired => match p.reserve(&key_of(h), h.qty).await? {
            Ok(()) => {
                store::set_status(
                    &mut *p.tx,
                    &p.tenant,
                    h,
                    HoldStatus::Expired,
                    HoldStatus::Confirmed,
                    &p.now,
                )
                .await?;
            }
            Err(available) => tracing::error!(
                order_id = %h.order_id, sku = %h.sku, warehouse = %h.warehouse,
                qty = h.qty, available,
                "an order was placed after its stock hold expired and the stock is gone"
            ),
        },
        HoldStatus::Confirmed | HoldStatus::Released | HoldStatus::Shipped => {}
    }
    Ok(())
}

/// Gives a live hold's stock back (`to`: released or expired); `true`
/// when it did.
async fn release(
    p: &mut Posting<'_>,
    h: &HoldRecord,
    to: HoldStatus,
) -> Result<bool, FactoryError> {
    if !h.status.reserves() {
        return Ok(false);
    }
    if !store::set_status(&mut *p.tx, &p.tenant, h, h.status, to, &p.now).await? {
        return Ok(false);
    }
    p.unreserve(&key_of(h), h.qty).await?;
    Ok(true)
}

/// `shop.order.shipped`: the held stock leaves the bin, consuming the
/// reservation, valued at the bin's moving average now (reason
/// `shipment`, reference the order). A hold that no longer reserves
/// (it expired and could not be renewed) ships from what is available, or
/// waits for stock (409, retried by the bus).
async fn ship(p: &mut Posting<'_>, h: &HoldRecord) -> Result<(), FactoryError> {
    if h.status == HoldStatus::Shipped || h.status == HoldStatus::Released {
        return Ok(());
    }
    let mut spec = MoveSpec::new(Reason::Shipment);
    spec.reference = Some(h.order_id.clone());
    p.take(&key_of(h), h.qty, h.status.reserves(), spec).await?;
    store::set_status(
        &mut *p.tx,
        &p.tenant,
        h,
        h.status,
        HoldStatus::Shipped,
        &p.now,
    )
    .await?;
    Ok(())
}
