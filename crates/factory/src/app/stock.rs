//! Receipts, issues, adjustments and transfers: each one transaction of
//! moves, balances and events, run again whole when it lost against
//! another transaction (`Db::retry_conflicts`).

use marimo_platform::Invalid;

use super::posting::{Begun, Key, MoveSpec, Posted, Posting, Requester};
use crate::{
    Factory, FactoryError,
    domain::{items::Reason, money::MAX_VALUE, valuation},
    events,
};

fn key(sku: &str, warehouse: &str) -> Key {
    (sku.to_owned(), warehouse.to_owned())
}

fn inactive(sku: &str) -> FactoryError {
    FactoryError::unprocessable("ITEM_INACTIVE", format!("{sku} is inactive"))
}

impl Factory {
    /// Books a purchase: `qty` (> 0) at `unit_cost` minor units a unit,
    /// and publishes `factory.stock.received`.
    pub async fn receive(
        &self,
        by: Requester<'_>,
        sku: &str,
        warehouse: &str,
        qty: i64,
        unit_cost: i64,
        reference: Option<String>,
    ) -> Result<Posted, FactoryError> {
        self.db
            .retry_conflicts(|| {
                self.receive_once(by, sku, warehouse, qty, unit_cost, reference.clone())
            })
            .await
    }

    async fn receive_once(
        &self,
        by: Requester<'_>,
        sku: &str,
        warehouse: &str,
        qty: i64,
        unit_cost: i64,
        reference: Option<String>,
    ) -> Result<Posted, FactoryError> {
        let mut p = match Posting::begin_keyed(self, by).await? {
            Begun::Fresh(p) => p,
            Begun::Replayed(posted) => return Ok(posted),
        };
        if !p.item(sku).await?.item.active {
            return Err(inactive(sku));
        }
        p.warehouse(warehouse).await?;
        let value = valuation::receipt_value(qty, unit_cost)
            .ok_or_else(|| FactoryError::too_large("the receipt's value"))?;
        let mut spec = MoveSpec::new(Reason::Receipt);
        spec.reference = reference;
        let m = p
            .put(&key(sku, warehouse), qty, value, unit_cost, spec)
            .await?;
        p.event(events::stock_received(
            &events::Received {
                move_id: &m.id,
                sku,
                warehouse,
                qty,
                unit_cost,
                total_cost: value,
                reference: m.reference.as_deref(),
            },
            &p.currency,
        ));
        p.commit().await?;
        Ok(Posted::Moves(vec![m]))
    }

    /// Issues `qty` (> 0) of the available stock at the moving average.
    pub async fn issue(
        &self,
        by: Requester<'_>,
        sku: &str,
        warehouse: &str,
        qty: i64,
        reference: Option<String>,
    ) -> Result<Posted, FactoryError> {
        self.db
            .retry_conflicts(|| self.issue_once(by, sku, warehouse, qty, reference.clone()))
            .await
    }

    async fn issue_once(
        &self,
        by: Requester<'_>,
        sku: &str,
        warehouse: &str,
        qty: i64,
        reference: Option<String>,
    ) -> Result<Posted, FactoryError> {
        let mut p = match Posting::begin_keyed(self, by).await? {
            Begun::Fresh(p) => p,
            Begun::Replayed(posted) => return Ok(posted),
        };
        p.item(sku).await?;
        p.warehouse(warehouse).await?;
        let mut spec = MoveSpec::new(Reason::Issue);
        spec.reference = reference;
        let m = p.take(&key(sku, warehouse), qty, false, spec).await?;
        p.commit().await?;
        Ok(Posted::Moves(vec![m]))
    }

    /// Corrects a balance by `qty` (signed, ≠ 0), saying why in `note`
    /// (required: the ledger is the audit trail). Stock found comes in at
    /// the current average (the standard cost when none is on hand); stock
    /// lost leaves at the average, like an issue.
    pub async fn adjust(
        &self,
        by: Requester<'_>,
        sku: &str,
        warehouse: &str,
        qty: i64,
        note: Option<String>,
    ) -> Result<Posted, FactoryError> {
        self.db
            .retry_conflicts(|| self.adjust_once(by, sku, warehouse, qty, note.clone()))
            .await
    }

    async fn adjust_once(
        &self,
        by: Requester<'_>,
        sku: &str,
        warehouse: &str,
        qty: i64,
        note: Option<String>,
    ) -> Result<Posted, FactoryError> {
        if qty == 0 {
            return Err(Invalid::new("qty", "qty must not be zero").into());
        }
        let note = note.ok_or_else(|| Invalid::new("reason_note", "reason_note is required"))?;
        let mut p = match Posting::begin_keyed(self, by).await? {
            Begun::Fresh(p) => p,
            Begun::Replayed(posted) => return Ok(posted),
        };
        let item = p.item(sku).await?.item;
        p.warehouse(warehouse).await?;
        let k = key(sku, warehouse);
        let mut spec = MoveSpec::new(Reason::Adjustment);
        spec.note = Some(note);
        let m = if qty > 0 {
            p.lock([k.clone()]).await?;
            let level = p.level(&k);
            let (value, unit_cost) = if level.on_hand > 0 {
                let unit = level.average_unit_cost().unwrap_or(0);
                let value = marimo_platform::money::mul_div_round(level.value, qty, level.on_hand)
                    .filter(|v| *v <= MAX_VALUE)
                    .ok_or_else(|| FactoryError::too_large("the adjustment's value"))?;
                (value, unit)
            } else {
                let value = valuation::receipt_value(qty, item.standard_cost)
                    .ok_or_else(|| FactoryError::too_large("the adjustment's value"))?;
                (value, item.standard_cost)
            };
            p.put(&k, qty, value, unit_cost, spec).await?
        } else {
            p.take(&k, -qty, false, spec).await?
        };
        p.commit().await?;
        Ok(Posted::Moves(vec![m]))
    }

    /// Moves `qty` (> 0) from one warehouse to another: two moves in one
    /// transaction; the value travels at the source's moving average.
    pub async fn transfer(
        &self,
        by: Requester<'_>,
        sku: &str,
        from: &str,
        to: &str,
        qty: i64,
        reference: Option<String>,
    ) -> Result<Posted, FactoryError> {
        self.db
            .retry_conflicts(|| self.transfer_once(by, sku, from, to, qty, reference.clone()))
            .await
    }

    async fn transfer_once(
        &self,
        by: Requester<'_>,
        sku: &str,
        from: &str,
        to: &str,
        qty: i64,
        reference: Option<String>,
    ) -> Result<Posted, FactoryError> {
        if from == to {
            return Err(Invalid::new("to", "from and to must be different warehouses").into());
        }
        let mut p = match Posting::begin_keyed(self, by).await? {
            Begun::Fresh(p) => p,
            Begun::Replayed(posted) => return Ok(posted),
        };
        p.item(sku).await?;
        p.warehouse(from).await?;
        p.warehouse(to).await?;
        let (src, dst) = (key(sku, from), key(sku, to));
        // Both rows, in the global order, before either changes.
        p.lock([src.clone(), dst.clone()]).await?;
        let mut spec = MoveSpec::new(Reason::Transfer);
        spec.reference = reference;
        let out = p.take(&src, qty, false, spec.clone()).await?;
        p.put(&dst, qty, -out.value, out.unit_cost, spec).await?;
        Ok(Posted::Moves(p.commit().await?))
    }
}
