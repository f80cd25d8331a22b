//! The factory: stock and work-order events, and its `/summary`.
//!
//! Quantities are in the item's unit of measure with three places
//! (`"3.000"`); costs in the factory's currency (the `currency` field).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    Topic,
    ids::{MoveId, Sku, WarehouseCode, WorkOrderId},
    values::{Currency, Money, Qty, UnitCost},
};

pub const STOCK_RECEIVED: Topic<StockReceived> = Topic::new("factory.stock.received", 1);
pub const STOCK_LOW: Topic<StockLow> = Topic::new("factory.stock.low", 1);
pub const WORK_ORDER_RELEASED: Topic<WorkOrder> = Topic::new("factory.work_order.released", 1);
pub const WORK_ORDER_STARTED: Topic<WorkOrder> = Topic::new("factory.work_order.started", 1);
pub const WORK_ORDER_CANCELLED: Topic<WorkOrder> = Topic::new("factory.work_order.cancelled", 1);
pub const WORK_ORDER_COMPLETED: Topic<WorkOrderCompleted> =
    Topic::new("factory.work_order.completed", 1);
pub const STOCK_MOVED: Topic<StockMoved> = Topic::new("factory.stock.moved", 1);
pub const STOCK_CHANGED: Topic<StockChanged> = Topic::new("factory.stock.changed", 1);

/// `factory.stock.changed`: a bin's (item and warehouse's) on hand or
/// reserved quantity changed: a move, a hold for a shop order, its
/// release, a work order's reservation. The shop keeps its availability
/// read model from it.
///
/// Events may arrive twice or out of order: `seq` grows by one with every
/// change of the bin (it is counted on the bin's row, in the transaction
/// of the change), so a reader keeps the highest `seq` it saw per bin and
/// ignores older ones; the figures are the bin's whole state, not a delta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockChanged {
    /// The item.
    pub sku: Sku,
    /// The warehouse.
    pub warehouse: WarehouseCode,
    /// What the bin holds.
    pub on_hand: Qty,
    /// What of it is promised (shop holds, work orders).
    pub reserved: Qty,
    /// `on_hand - reserved`: what can still be promised.
    pub available: Qty,
    /// The bin's change counter (see above).
    pub seq: i64,
}

/// `factory.stock.moved`: one stock transaction of the factory (a receipt,
/// a work order's issue or completion, a shipment, a return, an
/// adjustment, scrap, a transfer, an opening balance) with the change in
/// booked value of every bin it touched. The perpetual-inventory feed:
/// accounting posts one journal entry per event (reference
/// `factory:<transaction>`), exactly once, mapping each move's
/// `category` (and `warehouse`) to its inventory account and its
/// `reason` to the counter-account; the ledger balance of an inventory
/// account is therefore the sum of the `value` of every move mapped to it.
///
/// Every value-changing move of the factory is in exactly one such event,
/// published in the transaction that records the moves (the outbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockMoved {
    /// The stock transaction, unique within the tenant and stable across
    /// redeliveries: `receipt:<move_id>`, `work_order:<id>:issue`,
    /// `work_order:<id>:complete`, `shipment:<order_id>`, ….
    pub transaction: String,
    /// What the transaction was about (a purchase document, an order, a
    /// work order), for the entry's description. Defaults when absent.
    #[serde(default)]
    pub reference: Option<String>,
    /// The factory's currency (of every `value`).
    pub currency: Currency,
    /// The moves, at least one.
    pub moves: Vec<ValuedMove>,
}

/// One bin's change in a [`StockMoved`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValuedMove {
    /// The stock move.
    pub move_id: MoveId,
    /// Why the stock moved; decides the counter-account.
    pub reason: MoveReason,
    /// The item.
    pub sku: Sku,
    /// The item's category; decides the inventory account.
    pub category: ItemCategory,
    /// The warehouse (bin) moved.
    pub warehouse: WarehouseCode,
    /// Signed quantity: in > 0, out < 0.
    pub qty: Qty,
    /// Signed change of the bin's booked value, in minor units exactly
    /// (in ≥ 0, out ≤ 0): what the inventory account moves by.
    pub value: Money,
}

/// Why stock moved, as the ledger needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveReason {
    /// Bought in: Dr inventory / Cr goods received not invoiced.
    Receipt,
    /// Issued to a work order: Dr work in progress / Cr inventory.
    ProductionIssue,
    /// Made by a work order: Dr inventory / Cr work in progress.
    ProductionOutput,
    /// Sent to a customer: Dr cost of goods sold / Cr inventory.
    Shipment,
    /// Came back from a customer: Dr inventory / Cr cost of goods sold.
    CustomerReturn,
    /// Counted differently: Dr/Cr inventory adjustment expense.
    Adjustment,
    /// Destroyed or spoilt: Dr inventory adjustment expense / Cr inventory.
    Scrap,
    /// Moved between warehouses: inventory to inventory (nothing when both
    /// bins map to one account).
    Transfer,
    /// Stock on hand when the books started: Dr inventory / Cr opening
    /// balance equity.
    Opening,
}

/// An item's category: decides which inventory account holds its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemCategory {
    /// Bought to be made into something.
    RawMaterial,
    /// Made to be made into something.
    SubAssembly,
    /// Made to be sold.
    FinishedGood,
    /// Bought to be sold as it is.
    Merchandise,
}

/// `factory.stock.received`: stock was bought in (accounting books
/// inventory against payables at `total_cost`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReceived {
    /// The stock move that received it.
    pub move_id: MoveId,
    /// The item. Defaults when absent.
    #[serde(default)]
    pub sku: Sku,
    /// Where it went. Defaults when absent.
    #[serde(default)]
    pub warehouse: WarehouseCode,
    /// How much. Defaults when absent.
    #[serde(default)]
    pub qty: Qty,
    /// What one unit cost. Defaults when absent.
    #[serde(default)]
    pub unit_cost: UnitCost,
    /// What it all cost: `qty × unit_cost`, in minor units exactly.
    pub total_cost: Money,
    /// The factory's currency. Defaults when absent.
    #[serde(default)]
    pub currency: Currency,
    /// The purchase document (`PO-1`), if given. Defaults when absent.
    #[serde(default)]
    pub reference: Option<String>,
}

/// `factory.stock.low`: a warehouse's on hand of an item fell below the
/// item's reorder point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLow {
    /// The item.
    pub sku: Sku,
    /// The warehouse. Defaults when absent.
    #[serde(default)]
    pub warehouse: WarehouseCode,
    /// What it holds now. Defaults when absent.
    #[serde(default)]
    pub on_hand: Qty,
    /// The item's reorder point. Defaults when absent.
    #[serde(default)]
    pub reorder_point: Qty,
}

/// `factory.work_order.released`, `.started`, `.cancelled`: a work order
/// changed state.
///
/// Its fields are also the common part of every work-order event,
/// `.completed` included: a reader that needs only the work order, the
/// item and the quantity (audit, notifications) may read any of the four
/// as a `WorkOrder`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkOrder {
    /// The work order.
    pub work_order_id: WorkOrderId,
    /// The item it makes. Defaults when absent.
    #[serde(default)]
    pub sku: Sku,
    /// How much of it: planned (released, started, cancelled) or made
    /// (completed). Defaults when absent.
    #[serde(default)]
    pub qty: Qty,
}

/// `factory.work_order.completed`: a work order made its item. Accounting
/// moves `total_cost` from raw materials to finished goods; the shop adds
/// `qty` to the stock of the product linked by `sku`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkOrderCompleted {
    /// The work order.
    pub work_order_id: WorkOrderId,
    /// The item made.
    pub sku: Sku,
    /// How much was made (good output, scrap not included).
    pub qty: Qty,
    /// How much was scrapped. Defaults when absent.
    #[serde(default)]
    pub scrap_qty: Qty,
    /// Where the output went. Defaults when absent.
    #[serde(default)]
    pub warehouse: WarehouseCode,
    /// The cost of one good unit. Defaults when absent.
    #[serde(default)]
    pub unit_cost: UnitCost,
    /// The cost of the output: the components consumed, at cost.
    pub total_cost: Money,
    /// The factory's currency. Defaults when absent.
    #[serde(default)]
    pub currency: Currency,
    /// The components consumed. Defaults when absent.
    #[serde(default)]
    pub consumed: Vec<Consumed>,
}

/// One component a completion consumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumed {
    /// The component.
    pub sku: Sku,
    /// How much of it.
    pub qty: Qty,
    /// At what cost (its valuation when issued).
    pub total_cost: Money,
}

/// `GET /api/factory/summary` (inside [`crate::Success`]): production and
/// stock figures for the dashboard. Every field defaults when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Summary {
    /// Work orders per status; every status appears, zero or not.
    pub work_orders_by_status: BTreeMap<String, i64>,
    /// Work orders released or started.
    pub in_progress: i64,
    /// Active items whose on hand over all warehouses is below their
    /// reorder point.
    pub low_stock: Vec<LowStockItem>,
    /// How many items there are.
    pub items: i64,
    /// The value of all stock at cost, in `currency`.
    pub stock_value: Money,
    /// The factory's currency.
    pub currency: Currency,
}

/// One item of [`Summary::low_stock`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct LowStockItem {
    /// The item.
    pub sku: Sku,
    /// Its name.
    pub name: String,
    /// On hand over all warehouses.
    pub on_hand: Qty,
    /// Its reorder point.
    pub reorder_point: Qty,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::golden::round_trip;

    #[test]
    fn golden_payloads() {
        // As the factory's own tests see them (factory/src/events.rs).
        let r: StockReceived = round_trip(json!({"move_id": "m1", "sku": "STEEL",
            "warehouse": "MAIN", "qty": "3.000", "unit_cost": "2.50", "total_cost": "7.50",
            "currency": "USD", "reference": "PO-1"}));
        assert_eq!(r.qty.to_scaled(3), Ok(3000));
        round_trip::<StockReceived>(json!({"move_id": "m1", "sku": "STEEL",
            "warehouse": "MAIN", "qty": "1.000", "unit_cost": "1.00", "total_cost": "1.00",
            "currency": "USD", "reference": null}));
        round_trip::<StockLow>(
            json!({"sku": "STEEL", "warehouse": "MAIN", "on_hand": "4.500",
                                      "reorder_point": "5.000"}),
        );
        round_trip::<WorkOrder>(json!({"work_order_id": "w1", "sku": "BIKE", "qty": "2.000"}));
        let c: WorkOrderCompleted = round_trip(json!({"work_order_id": "w1", "sku": "BIKE",
            "qty": "2.000", "scrap_qty": "0.000", "warehouse": "MAIN", "unit_cost": "3.75",
            "total_cost": "7.50", "currency": "USD",
            "consumed": [{"sku": "STEEL", "qty": "3.000", "total_cost": "7.50"}]}));
        assert_eq!(c.consumed[0].sku, "STEEL");
    }

    #[test]
    fn golden_stock_moved() {
        let m: StockMoved = round_trip(json!({"transaction": "work_order:w1:complete",
            "reference": "WO-1", "currency": "USD", "moves": [
                {"move_id": "m1", "reason": "production_issue", "sku": "LEG",
                 "category": "sub_assembly", "warehouse": "MAIN", "qty": "-4.000",
                 "value": "-60.00"},
                {"move_id": "m2", "reason": "production_output", "sku": "TABLE",
                 "category": "finished_good", "warehouse": "MAIN", "qty": "1.000",
                 "value": "60.00"}]}));
        assert_eq!(m.moves[0].reason, MoveReason::ProductionIssue);
        assert_eq!(m.moves[1].category, ItemCategory::FinishedGood);
        assert_eq!(m.moves[0].value.to_scaled(2), Ok(-6000));
    }

    #[test]
    fn golden_stock_changed() {
        let c: StockChanged = round_trip(json!({"sku": "TABLE", "warehouse": "MAIN",
            "on_hand": "10.000", "reserved": "3.000", "available": "7.000", "seq": 4}));
        assert_eq!(c.available.to_scaled(3), Ok(7000));
        assert_eq!(c.seq, 4);
        // Without its counter a change cannot be ordered: malformed.
        assert!(
            serde_json::from_value::<StockChanged>(json!({"sku": "TABLE", "warehouse": "MAIN",
                "on_hand": "1", "reserved": "0", "available": "1"}))
            .is_err()
        );
    }

    #[test]
    fn a_completion_is_also_a_work_order() {
        let done = json!({"work_order_id": "w1", "sku": "BIKE", "qty": "2.000",
            "scrap_qty": "0.000", "warehouse": "MAIN", "unit_cost": "3.75",
            "total_cost": "7.50", "currency": "USD", "consumed": []});
        let w: WorkOrder = serde_json::from_value(done).unwrap();
        assert_eq!((w.sku.as_str(), w.qty.as_str()), ("BIKE", "2.000"));
        // A completion without its cost cannot be booked.
        assert!(
            serde_json::from_value::<WorkOrderCompleted>(
                json!({"work_order_id": "w1", "sku": "BIKE", "qty": "2"})
            )
            .is_err()
        );
    }

    #[test]
    fn golden_summary() {
        let s: Summary = round_trip(json!({
            "work_orders_by_status": {"draft": 1, "released": 2, "started": 0,
                                      "completed": 3, "cancelled": 0},
            "in_progress": 2,
            "low_stock": [{"sku": "STEEL", "name": "Steel", "on_hand": "4.500",
                           "reorder_point": "5.000"}],
            "items": 7, "stock_value": "1234.50", "currency": "USD"}));
        assert_eq!(s.low_stock.len(), 1);
        let partial: Summary =
            serde_json::from_value(json!({"in_progress": 2, "low_stock": [{}, {}, {}]})).unwrap();
        assert_eq!(partial.low_stock.len(), 3);
    }
}
