//! Work orders: plan, release (reserve), start, complete (consume and
//! produce), cancel — each one transaction, each along the state machine.

use marimo_platform::{ids, tenant::TenantId};

use super::posting::{Key, MoveSpec, Posting};
use crate::{
    Factory, FactoryError, Shortage,
    domain::{
        bom,
        items::Reason,
        money,
        work_order::{self, Action, InvalidTransition, Status},
    },
    events,
    store::{
        boms as bom_store,
        stock::MoveRecord,
        work_orders::{self as store, Reservation, WorkOrderRecord},
    },
};

/// What a completion reports; `None` takes the defaults (produced = the
/// planned quantity, no scrap).
#[derive(Debug, Clone, Copy, Default)]
pub struct Completion {
    pub produced_qty: Option<i64>,
    pub scrap_qty: Option<i64>,
}

fn no_such_order() -> FactoryError {
    FactoryError::not_found("no such work order")
}

/// Moves the order along `action` with a compare-and-set on its status,
/// inside `p`'s transaction; returns the order as it was and its new
/// status. A concurrent change is re-read and judged again.
async fn advance(
    p: &mut Posting<'_>,
    id: &str,
    action: Action,
) -> Result<(WorkOrderRecord, Status), FactoryError> {
    for _ in 0..3 {
        let wo = store::find(&mut *p.tx, &p.tenant, id)
            .await?
            .ok_or_else(no_such_order)?;
        let to = work_order::transition(wo.status, action)?;
        if store::set_status(&mut *p.tx, &p.tenant, id, wo.status, to, &p.now).await? {
            p.entered(to);
            return Ok((wo, to));
        }
    }
    let wo = store::find(&mut *p.tx, &p.tenant, id)
        .await?
        .ok_or_else(no_such_order)?;
    Err(InvalidTransition {
        from: wo.status,
        action,
    }
    .into())
}

impl Factory {
    /// Plans a work order for `qty` of `product_sku` in `warehouse`, with
    /// the product's active BOM (its id is kept: later BOM versions do not
    /// change the order). Without an active BOM: 422 `NO_ACTIVE_BOM`,
    /// unless `allow_no_bom` (the original API's orders, which had none).
    pub async fn create_work_order(
        &self,
        t: &TenantId,
        actor: &str,
        product_sku: &str,
        qty: i64,
        warehouse: &str,
        allow_no_bom: bool,
    ) -> Result<WorkOrderRecord, FactoryError> {
        let mut p = Posting::begin(self, t, actor).await?;
        let item = p.item(product_sku).await?;
        if !item.item.active {
            return Err(FactoryError::unprocessable(
                "ITEM_INACTIVE",
                format!("{product_sku} is inactive"),
            ));
        }
        p.warehouse(warehouse).await?;
        let bom_id = bom_store::active_id(&mut *p.tx, &p.tenant, product_sku).await?;
        if bom_id.is_none() && !allow_no_bom {
            return Err(FactoryError::unprocessable(
                "NO_ACTIVE_BOM",
                format!("{product_sku} has no bill of materials to make it with"),
            ));
        }
        let wo = WorkOrderRecord {
            id: ids::new_id(),
            product_sku: product_sku.to_owned(),
            product_id: item.id.clone(),
            bom_id,
            warehouse: warehouse.to_owned(),
            qty,
            status: Status::Planned,
            produced_qty: None,
            scrap_qty: None,
            unit_cost: None,
            total_cost: None,
            created_by: actor.to_owned(),
            created_at: p.now.clone(),
            updated_at: p.now.clone(),
            released_at: None,
            started_at: None,
            completed_at: None,
            cancelled_at: None,
        };
        store::insert(&mut *p.tx, &p.tenant, &wo).await?;
        p.entered(Status::Planned);
        p.commit().await?;
        Ok(wo)
    }

    /// The original API's order: a work order for `qty` of the product
    /// `product_id` in the default warehouse, with the product's active BOM
    /// if it has one (the original orders had none). An unknown product is
    /// a 404 and creates nothing.
    pub async fn create_product_order(
        &self,
        t: &TenantId,
        actor: &str,
        product_id: &str,
        qty: i64,
    ) -> Result<WorkOrderRecord, FactoryError> {
        let product = self
            .product(t, product_id)
            .await
            .map(|(record, _)| record)?;
        self.create_work_order(
            t,
            actor,
            &product.item.sku,
            qty,
            crate::DEFAULT_WAREHOUSE,
            true,
        )
        .await
    }

    pub async fn work_order(
        &self,
        t: &TenantId,
        id: &str,
    ) -> Result<WorkOrderRecord, FactoryError> {
        let mut tx = self.db.tenant(t).read().await?;
        store::find(&mut *tx, t, id)
            .await?
            .ok_or_else(no_such_order)
    }

    /// Reserves the single-level components (`qty × component /
    /// output_qty`, rounded up to a thousandth) in the order's warehouse:
    /// all or nothing. 409 `INSUFFICIENT_STOCK` lists every shortage.
    pub async fn release(
        &self,
        t: &TenantId,
        actor: &str,
        id: &str,
    ) -> Result<WorkOrderRecord, FactoryError> {
        // Run again, whole, when it lost against another transaction.
        self.db
            .retry_conflicts(|| self.release_once(t, actor, id))
            .await
    }

    async fn release_once(
        &self,
        t: &TenantId,
        actor: &str,
        id: &str,
    ) -> Result<WorkOrderRecord, FactoryError> {
        let mut p = Posting::begin(self, t, actor).await?;
        let (wo, _) = advance(&mut p, id, Action::Release).await?;
        let mut needs: Vec<(String, i64)> = match &wo.bom_id {
            Some(bom_id) => {
                let b = bom_store::find(&mut p.tx, &p.tenant, bom_id)
                    .await?
                    .ok_or_else(|| FactoryError::not_found("the work order's BOM is gone"))?;
                bom::single_level(&b.bom(), wo.qty)
                    .ok_or_else(|| FactoryError::too_large("the requirement"))?
            }
            None => Vec::new(),
        };
        // Lock order: by SKU, like every multi-row stock change.
        needs.sort();
        let mut shortages = Vec::new();
        for (sku, qty) in &needs {
            let key: Key = (sku.clone(), wo.warehouse.clone());
            if let Err(available) = p.reserve(&key, *qty).await? {
                shortages.push(Shortage {
                    sku: sku.clone(),
                    warehouse: wo.warehouse.clone(),
                    required: *qty,
                    available: available.max(0),
                });
            }
        }
        if !shortages.is_empty() {
            // Dropping the transaction rolls back the reservations made so
            // far and the status change: all or nothing.
            return Err(FactoryError::InsufficientStock(shortages));
        }
        for (sku, qty) in needs {
            let r = Reservation {
                sku,
                warehouse: wo.warehouse.clone(),
                qty,
            };
            store::insert_reservation(&mut *p.tx, &p.tenant, id, &r).await?;
        }
        p.event(events::work_order(
            events::WORK_ORDER_RELEASED,
            id,
            &wo.product_sku,
            wo.qty,
        ));
        p.commit().await?;
        self.work_order(t, id).await
    }

    pub async fn start(
        &self,
        t: &TenantId,
        actor: &str,
        id: &str,
    ) -> Result<WorkOrderRecord, FactoryError> {
        let mut p = Posting::begin(self, t, actor).await?;
        let (wo, _) = advance(&mut p, id, Action::Start).await?;
        p.event(events::work_order(
            events::WORK_ORDER_STARTED,
            id,
            &wo.product_sku,
            wo.qty,
        ));
        p.commit().await?;
        self.work_order(t, id).await
    }

    /// Consumes the reserved components (at their moving average) and
    /// books the output at the total consumed value, so consumed value =
    /// produced value exactly; the unit cost is that total over the
    /// produced quantity.
    pub async fn complete(
        &self,
        t: &TenantId,
        actor: &str,
        id: &str,
        completion: Completion,
    ) -> Result<(WorkOrderRecord, Vec<MoveRecord>), FactoryError> {
        // Run again, whole, when it lost against another transaction.
        self.db
            .retry_conflicts(|| self.complete_once(t, actor, id, completion))
            .await
    }

    async fn complete_once(
        &self,
        t: &TenantId,
        actor: &str,
        id: &str,
        completion: Completion,
    ) -> Result<(WorkOrderRecord, Vec<MoveRecord>), FactoryError> {
        let mut p = Posting::begin(self, t, actor).await?;
        let (wo, _) = advance(&mut p, id, Action::Complete).await?;
        let produced = completion.produced_qty.unwrap_or(wo.qty);
        let scrap = completion.scrap_qty.unwrap_or(0);
        let reservations = store::reservations(&mut *p.tx, &p.tenant, id).await?;
        let output: Key = (wo.product_sku.clone(), wo.warehouse.clone());
        let mut keys: Vec<Key> = reservations
            .iter()
            .map(|r| (r.sku.clone(), r.warehouse.clone()))
            .collect();
        keys.push(output.clone());
        p.lock(keys).await?;
        let reference = format!("WO {id}");
        p.transaction = Some(format!("work_order:{id}:complete"));
        let mut consumed = Vec::with_capacity(reservations.len());
        // The output takes the exact (fine) value consumed; the event
        // reports the booked values.
        let (mut total, mut fine_total): (i64, i64) = (0, 0);
        for r in &reservations {
            let spec = MoveSpec {
                reason: Reason::ProductionConsume,
                reference: Some(reference.clone()),
                note: None,
                work_order_id: Some(id.to_owned()),
            };
            let m = p
                .take(&(r.sku.clone(), r.warehouse.clone()), r.qty, true, spec)
                .await?;
            (total, fine_total) = total
                .checked_add(-m.value)
                .zip(fine_total.checked_add(-m.fine_value))
                .ok_or_else(|| FactoryError::too_large("the consumed value"))?;
            consumed.push(events::Consumed {
                sku: r.sku.clone(),
                qty: r.qty,
                total_cost: -m.value,
            });
        }
        let fine_unit_cost = work_order::rolled_up_unit_cost(fine_total, produced);
        let unit_cost = money::booked(fine_unit_cost);
        let spec = MoveSpec {
            reason: Reason::ProductionOutput,
            reference: Some(reference),
            note: None,
            work_order_id: Some(id.to_owned()),
        };
        p.put(&output, produced, fine_total, fine_unit_cost, spec)
            .await?;
        store::set_result(&mut *p.tx, &p.tenant, id, produced, scrap, unit_cost, total).await?;
        p.event(events::work_order_completed(
            &events::Completed {
                work_order_id: id,
                sku: &wo.product_sku,
                produced,
                scrap,
                unit_cost,
                total_cost: total,
                warehouse: &wo.warehouse,
                consumed: &consumed,
            },
            &self.currency,
        ));
        let moves = p.commit().await?;
        Ok((self.work_order(t, id).await?, moves))
    }

    /// Cancels a planned, released or started order, giving back what a
    /// release reserved.
    pub async fn cancel(
        &self,
        t: &TenantId,
        actor: &str,
        id: &str,
    ) -> Result<WorkOrderRecord, FactoryError> {
        let mut p = Posting::begin(self, t, actor).await?;
        let (wo, _) = advance(&mut p, id, Action::Cancel).await?;
        if wo.status.holds_reservations() {
            for r in store::reservations(&mut *p.tx, &p.tenant, id).await? {
                p.unreserve(&(r.sku, r.warehouse), r.qty).await?;
            }
        }
        p.event(events::work_order(
            events::WORK_ORDER_CANCELLED,
            id,
            &wo.product_sku,
            wo.qty,
        ));
        p.commit().await?;
        self.work_order(t, id).await
    }
}
