//! Receipts, issues, shipments, scrap, returns, opening balances,
//! adjustments and transfers: each a [`StockOp`], posted by one path
//! ([`Factory::post`]) as one transaction of moves, balances and events —
//! `factory.stock.moved` for every one of them (`Posting::commit`) — run
//! again whole when it lost against another transaction
//! (`Db::retry_conflicts`).

use marimo_platform::Invalid;

use super::posting::{Begun, Key, MoveSpec, Posted, Posting, Requester};
use crate::{
    Factory, FactoryError,
    domain::{
        items::Reason,
        money::{MAX_VALUE, booked},
        valuation,
    },
    events,
    store::stock as stock_store,
};

fn key(sku: &str, warehouse: &str) -> Key {
    (sku.to_owned(), warehouse.to_owned())
}

fn inactive(sku: &str) -> FactoryError {
    FactoryError::unprocessable("ITEM_INACTIVE", format!("{sku} is inactive"))
}

/// What stock coming in is worth a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InCost {
    /// This unit cost (fine units).
    Given(i64),
    /// The bin's moving average; the item's standard cost when the bin is
    /// empty.
    Average,
    /// What the goods were shipped at under this shipment reference (the
    /// average of that item's `shipment` moves with the reference); the
    /// bin's average (as [`InCost::Average`]) when there is none.
    Shipped(String),
}

/// One stock transaction, as a client asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockOp {
    /// `qty` (> 0) comes into a bin: a receipt, an opening balance, a
    /// customer return, stock found (an adjustment).
    In {
        reason: Reason,
        sku: String,
        warehouse: String,
        qty: i64,
        cost: InCost,
        reference: Option<String>,
        note: Option<String>,
    },
    /// `qty` (> 0) leaves a bin at its moving average: an issue, a
    /// shipment, scrap, stock lost (an adjustment); with `from_reserved`,
    /// out of what is reserved.
    Out {
        reason: Reason,
        sku: String,
        warehouse: String,
        qty: i64,
        from_reserved: bool,
        reference: Option<String>,
        note: Option<String>,
    },
    /// `qty` (> 0) moves from one bin to another at the source's average.
    Transfer {
        sku: String,
        from: String,
        to: String,
        qty: i64,
        reference: Option<String>,
    },
}

/// Reasons stock comes in for, and goes out for, outside work orders.
const IN_REASONS: &[Reason] = &[
    Reason::Receipt,
    Reason::Opening,
    Reason::CustomerReturn,
    Reason::Adjustment,
];
const OUT_REASONS: &[Reason] = &[
    Reason::Issue,
    Reason::Shipment,
    Reason::Scrap,
    Reason::Adjustment,
];

fn check_reason(reason: Reason, allowed: &[Reason]) -> Result<(), FactoryError> {
    if allowed.contains(&reason) {
        return Ok(());
    }
    let names: Vec<_> = allowed.iter().map(|r| r.as_str()).collect();
    Err(Invalid::new(
        "reason",
        format!("reason must be one of {} here", names.join(", ")),
    )
    .into())
}

impl Factory {
    /// Posts `op` as one stock transaction (named `transaction` in
    /// `factory.stock.moved`, or `<reason>:<first move id>`), exactly
    /// once per `Idempotency-Key`.
    pub async fn post(
        &self,
        by: Requester<'_>,
        op: &StockOp,
        transaction: Option<&str>,
    ) -> Result<Posted, FactoryError> {
        self.db
            .retry_conflicts(|| self.post_once(by, op, transaction))
            .await
    }

    async fn post_once(
        &self,
        by: Requester<'_>,
        op: &StockOp,
        transaction: Option<&str>,
    ) -> Result<Posted, FactoryError> {
        let mut p = match Posting::begin_keyed(self, by).await? {
            Begun::Fresh(p) => p,
            Begun::Replayed(posted) => return Ok(posted),
        };
        p.transaction = transaction.map(str::to_owned);
        match op {
            StockOp::In {
                reason,
                sku,
                warehouse,
                qty,
                cost,
                reference,
                note,
            } => {
                check_reason(*reason, IN_REASONS)?;
                let item = p.item(sku).await?.item;
                if !item.active && matches!(reason, Reason::Receipt | Reason::Opening) {
                    return Err(inactive(sku));
                }
                p.warehouse(warehouse).await?;
                let k = key(sku, warehouse);
                p.lock([k.clone()]).await?;
                // At a given cost: qty × cost. Otherwise the exact share
                // of a known value (the shipment's, else the bin's), not a
                // rounded unit cost times qty; the standard cost when
                // neither is known.
                let known = match cost {
                    InCost::Given(_) | InCost::Average => None,
                    InCost::Shipped(shipment) => {
                        stock_store::shipped_at(&mut *p.tx, &p.tenant, sku, shipment).await?
                    }
                };
                let level = p.level(&k);
                let known = known.or((level.on_hand > 0).then_some((level.value, level.on_hand)));
                let (unit_cost, value) = match (cost, known) {
                    (InCost::Given(c), _) => (*c, valuation::receipt_value(*qty, *c)),
                    (_, Some((fine, of))) => (
                        valuation::unit_cost(fine, of),
                        marimo_platform::money::mul_div_round(fine, *qty, of),
                    ),
                    (_, None) => (
                        item.standard_cost,
                        valuation::receipt_value(*qty, item.standard_cost),
                    ),
                };
                let value = value
                    .filter(|v| *v <= MAX_VALUE)
                    .ok_or_else(|| FactoryError::too_large("the value"))?;
                let spec = MoveSpec {
                    reason: *reason,
                    reference: reference.clone(),
                    note: note.clone(),
                    work_order_id: None,
                };
                let m = p.put(&k, *qty, value, unit_cost, spec).await?;
                if *reason == Reason::Receipt {
                    // The old feed, which worker, audit and shop read.
                    p.event(events::stock_received(
                        &events::Received {
                            move_id: &m.id,
                            sku,
                            warehouse,
                            qty: *qty,
                            unit_cost: booked(unit_cost),
                            total_cost: m.value,
                            reference: m.reference.as_deref(),
                        },
                        &self.currency,
                    ));
                }
            }
            StockOp::Out {
                reason,
                sku,
                warehouse,
                qty,
                from_reserved,
                reference,
                note,
            } => {
                check_reason(*reason, OUT_REASONS)?;
                p.item(sku).await?;
                p.warehouse(warehouse).await?;
                let spec = MoveSpec {
                    reason: *reason,
                    reference: reference.clone(),
                    note: note.clone(),
                    work_order_id: None,
                };
                p.take(&key(sku, warehouse), *qty, *from_reserved, spec)
                    .await?;
            }
            StockOp::Transfer {
                sku,
                from,
                to,
                qty,
                reference,
            } => {
                if from == to {
                    return Err(
                        Invalid::new("to", "from and to must be different warehouses").into(),
                    );
                }
                p.item(sku).await?;
                p.warehouse(from).await?;
                p.warehouse(to).await?;
                let (src, dst) = (key(sku, from), key(sku, to));
                // Both rows, in the global order, before either changes.
                p.lock([src.clone(), dst.clone()]).await?;
                let mut spec = MoveSpec::new(Reason::Transfer);
                spec.reference = reference.clone();
                let out = p.take(&src, *qty, false, spec.clone()).await?;
                p.put(&dst, *qty, -out.fine_value, out.unit_cost, spec)
                    .await?;
            }
        }
        Ok(Posted::Moves(p.commit().await?))
    }

    /// Books stock in for `reason` (a receipt, an opening balance): `qty`
    /// (> 0) of `(sku, warehouse)` at `unit_cost` fine units a unit. A
    /// receipt also publishes `factory.stock.received`.
    pub async fn receive(
        &self,
        by: Requester<'_>,
        reason: Reason,
        (sku, warehouse): (&str, &str),
        qty: i64,
        unit_cost: i64,
        reference: Option<String>,
    ) -> Result<Posted, FactoryError> {
        let op = StockOp::In {
            reason,
            sku: sku.to_owned(),
            warehouse: warehouse.to_owned(),
            qty,
            cost: InCost::Given(unit_cost),
            reference,
            note: None,
        };
        self.post(by, &op, None).await
    }

    /// Takes `qty` (> 0) of the available stock out for `reason` (an
    /// issue, a shipment, scrap) at the moving average.
    pub async fn issue(
        &self,
        by: Requester<'_>,
        reason: Reason,
        sku: &str,
        warehouse: &str,
        qty: i64,
        reference: Option<String>,
    ) -> Result<Posted, FactoryError> {
        let op = StockOp::Out {
            reason,
            sku: sku.to_owned(),
            warehouse: warehouse.to_owned(),
            qty,
            from_reserved: false,
            reference,
            note: None,
        };
        self.post(by, &op, None).await
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
        if qty == 0 {
            return Err(Invalid::new("qty", "qty must not be zero").into());
        }
        let note = note.ok_or_else(|| Invalid::new("reason_note", "reason_note is required"))?;
        let (sku, warehouse) = (sku.to_owned(), warehouse.to_owned());
        let op = if qty > 0 {
            StockOp::In {
                reason: Reason::Adjustment,
                sku,
                warehouse,
                qty,
                cost: InCost::Average,
                reference: None,
                note: Some(note),
            }
        } else {
            StockOp::Out {
                reason: Reason::Adjustment,
                sku,
                warehouse,
                qty: -qty,
                from_reserved: false,
                reference: None,
                note: Some(note),
            }
        };
        self.post(by, &op, None).await
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
        let op = StockOp::Transfer {
            sku: sku.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            qty,
            reference,
        };
        self.post(by, &op, None).await
    }
}
