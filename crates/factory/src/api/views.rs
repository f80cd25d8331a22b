//! Response views: the JSON of items, warehouses, stock, moves, BOMs and
//! work orders as typed structs (each a schema of the OpenAPI document).
//! Quantities are decimal strings with three places, money decimal
//! strings in the base currency, times RFC 3339 (UTC). The original API's
//! products and orders keep their shape (`quantity` a JSON number).

use marimo_platform::{money::Currency, openapi::PageFields};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    domain::{money, qty, valuation::Level},
    store::{
        boms::BomRecord,
        items::{ItemRecord, WarehouseRecord},
        stock::MoveRecord,
        work_orders::{Reservation, WorkOrderRecord},
    },
};

/// An item's category, as the document names it: the values of
/// `domain::items::Category` (a test keeps the two equal).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code, reason = "a schema only: views carry the name")]
pub(crate) enum ItemCategory {
    RawMaterial,
    SubAssembly,
    FinishedGood,
    Merchandise,
}

/// An item: a raw material, a component or a finished good.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a10", "sku": "WIDGET-1", "name": "Widget", "kind": "finished_good", "uom": "pcs", "standard_cost": "12.50", "reorder_point": "10.000", "active": true, "status": "planned", "created_by": "0192f1c4-0000-7000-8000-000000000001", "created_at": "2026-12-01T09:00:00.000000Z", "updated_at": "2026-12-01T09:00:00.000000Z"}))]
pub(crate) struct ItemView {
    /// UUIDv7 (the original API's product id).
    pub id: String,
    /// Its stock-keeping unit: the key of moves and BOMs; never changes.
    pub sku: String,
    pub name: String,
    /// `raw_material`, `component` or `finished_good`.
    pub kind: String,
    /// Which inventory account holds its value.
    #[schema(value_type = ItemCategory)]
    pub category: String,
    /// The unit of measure's code (`pcs`, `kg`).
    pub uom: String,
    /// Decimal string in the base currency: the currency's places, more
    /// when the cost has them (`0.0035`).
    pub standard_cost: String,
    /// The standard cost with every place kept (6 for USD: `0.003500`).
    #[schema(example = "12.500000")]
    pub standard_cost_exact: String,
    /// Decimal string, three places: below this on hand it is low stock.
    pub reorder_point: String,
    /// Inactive items take no new work orders.
    pub active: bool,
    /// `planned`, `in_production`, `completed` or `discontinued`.
    pub status: String,
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

pub(crate) fn item(r: &ItemRecord, c: &Currency) -> ItemView {
    let i = &r.item;
    ItemView {
        id: r.id.clone(),
        sku: i.sku.clone(),
        name: i.name.clone(),
        kind: i.kind.as_str().to_owned(),
        category: i.category.as_str().to_owned(),
        uom: i.uom.clone(),
        standard_cost: money::format_cost(c, i.standard_cost),
        standard_cost_exact: money::format_fine(c, i.standard_cost),
        reorder_point: qty::format(i.reorder_point),
        active: i.active,
        status: i.status.as_str().to_owned(),
        created_by: r.created_by.clone(),
        created_at: r.created_at.clone(),
        updated_at: r.updated_at.clone(),
    }
}

/// An item with its stock in every warehouse that holds it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ItemDetail {
    #[serde(flatten)]
    pub item: ItemView,
    /// On hand over every warehouse, decimal string.
    #[schema(example = "42.000")]
    pub on_hand: String,
    pub stock: Vec<LevelView>,
}

/// A warehouse.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"code": "MAIN", "name": "Main warehouse", "created_by": "system", "created_at": "2026-12-01T09:00:00.000000Z"}))]
pub(crate) struct WarehouseView {
    pub code: String,
    pub name: String,
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

pub(crate) fn warehouse(w: &WarehouseRecord) -> WarehouseView {
    WarehouseView {
        code: w.code.clone(),
        name: w.name.clone(),
        created_by: w.created_by.clone(),
        created_at: w.created_at.clone(),
    }
}

/// The stock of an item in a warehouse.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"sku": "STEEL", "warehouse": "MAIN", "on_hand": "100.000", "reserved": "20.000", "available": "80.000", "value": "250.00"}))]
pub(crate) struct LevelView {
    pub sku: String,
    pub warehouse: String,
    /// Decimal string, three places.
    pub on_hand: String,
    /// Held by released work orders, decimal string.
    pub reserved: String,
    /// On hand minus reserved, decimal string.
    pub available: String,
    /// The stock's booked value at moving average cost, base currency:
    /// its exact value rounded to the currency's places.
    pub value: String,
}

pub(crate) fn level(sku: &str, warehouse: &str, l: &Level, c: &Currency) -> LevelView {
    LevelView {
        sku: sku.to_owned(),
        warehouse: warehouse.to_owned(),
        on_hand: qty::format(l.on_hand),
        reserved: qty::format(l.reserved),
        available: qty::format(l.available()),
        value: c.format(l.booked()),
    }
}

/// A stock move: an immutable fact of the stock ledger.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a11", "sku": "STEEL", "warehouse": "MAIN", "qty": "10.000", "unit_cost": "2.50", "value": "25.00", "reason": "receipt", "reference": "PO-17", "note": null, "work_order_id": null, "created_by": "0192f1c4-0000-7000-8000-000000000001", "created_at": "2026-12-01T09:00:00.000000Z"}))]
pub(crate) struct MoveView {
    pub id: String,
    pub sku: String,
    pub warehouse: String,
    /// Signed decimal string: in > 0, out < 0.
    pub qty: String,
    /// Per unit, base currency: the currency's places, more when the cost
    /// has them.
    pub unit_cost: String,
    /// The unit cost with every place kept (6 for USD).
    #[schema(example = "2.500000")]
    pub unit_cost_exact: String,
    /// Signed: the change of the stock's booked value (what the ledger
    /// books for this move).
    pub value: String,
    /// The item's category the move was booked under.
    #[schema(value_type = ItemCategory)]
    pub category: String,
    /// `receipt`, `issue`, `adjustment`, `transfer` (out of one
    /// warehouse, into another), `production_consume`,
    /// `production_output`, `shipment`, `scrap`, `customer_return` or
    /// `opening`.
    pub reason: String,
    pub reference: Option<String>,
    pub note: Option<String>,
    /// The work order that made it, if any.
    pub work_order_id: Option<String>,
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

pub(crate) fn stock_move(m: &MoveRecord, c: &Currency) -> MoveView {
    MoveView {
        id: m.id.clone(),
        sku: m.sku.clone(),
        warehouse: m.warehouse.clone(),
        qty: qty::format(m.qty),
        unit_cost: money::format_cost(c, m.unit_cost),
        unit_cost_exact: money::format_fine(c, m.unit_cost),
        value: c.format(m.value),
        category: m.category.as_str().to_owned(),
        reason: m.reason.as_str().to_owned(),
        reference: m.reference.clone(),
        note: m.note.clone(),
        work_order_id: m.work_order_id.clone(),
        created_by: m.created_by.clone(),
        created_at: m.created_at.clone(),
    }
}

/// A component line of a BOM.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ComponentView {
    pub sku: String,
    /// Per `output_qty` of the product, decimal string.
    #[schema(example = "2.500")]
    pub qty: String,
}

/// A bill of materials (a version of a product's recipe).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BomView {
    pub id: String,
    pub product_sku: String,
    /// From 1, per product; the newest is the active one.
    pub version: i64,
    /// How much of the product the components make, decimal string.
    #[schema(example = "1.000")]
    pub output_qty: String,
    /// Whether this is the product's newest version.
    pub active: bool,
    pub components: Vec<ComponentView>,
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

pub(crate) fn bom(b: &BomRecord) -> BomView {
    BomView {
        id: b.id.clone(),
        product_sku: b.product_sku.clone(),
        version: b.version,
        output_qty: qty::format(b.output_qty),
        active: b.active,
        components: b
            .components
            .iter()
            .map(|c| ComponentView {
                sku: c.sku.clone(),
                qty: qty::format(c.qty),
            })
            .collect(),
        created_by: b.created_by.clone(),
        created_at: b.created_at.clone(),
    }
}

/// A work order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkOrderView {
    pub id: String,
    pub product_sku: String,
    /// The product's item id.
    pub product_id: String,
    /// The BOM it was planned with (none for a product without one).
    pub bom_id: Option<String>,
    pub warehouse: String,
    /// Planned, decimal string.
    #[schema(example = "5.000")]
    pub qty: String,
    /// `planned`, `released`, `started`, `completed` or `cancelled`.
    pub status: String,
    /// Once completed, decimal string.
    pub produced_qty: Option<String>,
    /// Once completed, decimal string.
    pub scrap_qty: Option<String>,
    /// Once completed, base currency.
    pub unit_cost: Option<String>,
    /// Once completed, base currency.
    pub total_cost: Option<String>,
    /// The base currency's code.
    #[schema(example = "USD")]
    pub currency: String,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub released_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub cancelled_at: Option<String>,
}

pub(crate) fn work_order(w: &WorkOrderRecord, c: &Currency) -> WorkOrderView {
    WorkOrderView {
        id: w.id.clone(),
        product_sku: w.product_sku.clone(),
        product_id: w.product_id.clone(),
        bom_id: w.bom_id.clone(),
        warehouse: w.warehouse.clone(),
        qty: qty::format(w.qty),
        status: w.status.as_str().to_owned(),
        produced_qty: w.produced_qty.map(qty::format),
        scrap_qty: w.scrap_qty.map(qty::format),
        unit_cost: w.unit_cost.map(|v| c.format(v)),
        total_cost: w.total_cost.map(|v| c.format(v)),
        currency: c.code().to_owned(),
        created_by: w.created_by.clone(),
        created_at: w.created_at.clone(),
        updated_at: w.updated_at.clone(),
        released_at: w.released_at.clone(),
        started_at: w.started_at.clone(),
        completed_at: w.completed_at.clone(),
        cancelled_at: w.cancelled_at.clone(),
    }
}

/// A work order with what it reserved and every move it made.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkOrderDetail {
    #[serde(flatten)]
    pub work_order: WorkOrderView,
    pub reservations: Vec<ReservationView>,
    pub moves: Vec<MoveView>,
}

/// Stock a released work order holds.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReservationView {
    pub sku: String,
    pub warehouse: String,
    /// Decimal string.
    pub qty: String,
}

pub(crate) fn reservation(r: &Reservation) -> ReservationView {
    ReservationView {
        sku: r.sku.clone(),
        warehouse: r.warehouse.clone(),
        qty: qty::format(r.qty),
    }
}

/// The original API's product: a finished-good item.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a10", "name": "Widget", "sku": "WIDGET-1", "quantity": 42, "status": "planned", "created_by": "0192f1c4-0000-7000-8000-000000000001", "created_at": "2026-12-01T09:00:00.000000Z"}))]
pub(crate) struct ProductView {
    pub id: String,
    pub name: String,
    pub sku: String,
    /// On hand over every warehouse, as a JSON number (the original's
    /// type): an integer when whole, else the exact decimal (3 places).
    #[schema(value_type = f64)]
    pub quantity: Value,
    /// `planned`, `in_production`, `completed` or `discontinued`.
    pub status: String,
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// When it was marked completed; absent before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

pub(crate) fn product(r: &ItemRecord, on_hand: i64) -> ProductView {
    ProductView {
        id: r.id.clone(),
        name: r.item.name.clone(),
        sku: r.item.sku.clone(),
        quantity: qty::json_number(on_hand),
        status: r.item.status.as_str().to_owned(),
        created_by: r.created_by.clone(),
        created_at: r.created_at.clone(),
        completed_at: r.completed_at.clone(),
    }
}

/// The original API's production order: a work order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderView {
    pub id: String,
    /// The product's id.
    pub product_id: String,
    pub product_sku: String,
    /// Planned, as a JSON number (the original's type).
    #[schema(value_type = f64, example = 5)]
    pub quantity: Value,
    /// `planned`, `released`, `started`, `completed` or `cancelled`.
    pub status: String,
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

pub(crate) fn order(w: &WorkOrderRecord) -> OrderView {
    OrderView {
        id: w.id.clone(),
        product_id: w.product_id.clone(),
        product_sku: w.product_sku.clone(),
        quantity: qty::json_number(w.qty),
        status: w.status.as_str().to_owned(),
        created_by: w.created_by.clone(),
        created_at: w.created_at.clone(),
    }
}

// ------------------------------------------------------------ answers

/// `{success, items, total, page, limit}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ItemPage {
    pub success: bool,
    pub items: Vec<ItemView>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// `{success, item}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ItemAnswer {
    pub success: bool,
    pub item: ItemView,
}

/// `{success, item}` with the item's stock.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ItemDetailAnswer {
    pub success: bool,
    pub item: ItemDetail,
}

/// A unit of measure.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UnitView {
    /// `pcs`, `kg`, ...
    pub code: String,
    pub name: String,
}

/// `{success, units}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UnitList {
    pub success: bool,
    pub units: Vec<UnitView>,
}

/// `{success, warehouses}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WarehouseList {
    pub success: bool,
    pub warehouses: Vec<WarehouseView>,
}

/// `{success, warehouse}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WarehouseAnswer {
    pub success: bool,
    pub warehouse: WarehouseView,
}

/// `{success, stock}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LevelList {
    pub success: bool,
    pub stock: Vec<LevelView>,
}

/// `{success, moves, total, page, limit}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MovePage {
    pub success: bool,
    pub moves: Vec<MoveView>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// `{success, move}`: the answer of a receipt, issue or adjustment.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MovePosted {
    pub success: bool,
    #[serde(rename = "move")]
    pub stock_move: MoveView,
}

/// `{success, moves}`: the answer of a transfer (out, then in).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MovesPosted {
    pub success: bool,
    pub moves: Vec<MoveView>,
}

/// `{success, boms}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BomList {
    pub success: bool,
    pub boms: Vec<BomView>,
}

/// `{success, bom}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BomAnswer {
    pub success: bool,
    pub bom: BomView,
}

/// A raw material or bought component a BOM needs, over every level.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Requirement {
    pub sku: String,
    /// Decimal string, three places.
    pub qty: String,
    /// False when the exact requirement has more than three places and
    /// `qty` is it rounded up.
    pub exact: bool,
}

/// A BOM exploded down to what must be bought.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Explosion {
    pub success: bool,
    pub bom_id: String,
    pub product_sku: String,
    pub version: i64,
    /// How much of the product, decimal string.
    pub qty: String,
    /// Levels of sub-assemblies walked.
    pub depth: usize,
    pub requirements: Vec<Requirement>,
}

/// `{success, work_orders, total, page, limit}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkOrderPage {
    pub success: bool,
    pub work_orders: Vec<WorkOrderView>,
    #[serde(flatten)]
    pub page: PageFields,
}

/// `{success, work_order}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkOrderAnswer {
    pub success: bool,
    pub work_order: WorkOrderView,
}

/// `{success, work_order}` with reservations and moves.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkOrderDetailAnswer {
    pub success: bool,
    pub work_order: WorkOrderDetail,
}

/// `{success, work_order, moves}`: a completion and the moves it made.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WorkOrderCompleted {
    pub success: bool,
    pub work_order: WorkOrderView,
    pub moves: Vec<MoveView>,
}

/// The original API's `{success, total, products}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductList {
    pub success: bool,
    pub total: usize,
    pub products: Vec<ProductView>,
}

/// The original API's `{success, message, product}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductCreated {
    pub success: bool,
    pub message: String,
    pub product: ProductView,
}

/// The product itself at the top level, as the original answered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductAnswer {
    pub success: bool,
    #[serde(flatten)]
    pub product: ProductView,
}

/// The original API's `{success, total, orders}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderList {
    pub success: bool,
    pub total: usize,
    pub orders: Vec<OrderView>,
}

/// The original API's `{success, message, order}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderCreated {
    pub success: bool,
    pub message: String,
    pub order: OrderView,
}

/// The order itself at the top level, as the original answered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderAnswer {
    pub success: bool,
    #[serde(flatten)]
    pub order: OrderView,
}

/// A hold of stock for a shop order's line.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"order_id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a11", "sku": "TABLE", "warehouse": "MAIN", "qty": "2.000", "status": "held", "expires_at": "2026-12-01T09:05:00.000000Z"}))]
pub(crate) struct HoldView {
    pub order_id: String,
    pub sku: String,
    pub warehouse: String,
    /// Decimal string, three places.
    pub qty: String,
    /// `held`, `confirmed`, `released`, `expired` or `shipped`.
    pub status: String,
    /// When a `held` hold expires unless its order is placed.
    pub expires_at: String,
}

/// `{success, holds}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HoldList {
    pub success: bool,
    pub holds: Vec<HoldView>,
}

impl HoldList {
    pub(crate) fn of(holds: &[crate::store::reservations::HoldRecord]) -> Self {
        Self {
            success: true,
            holds: holds
                .iter()
                .map(|h| HoldView {
                    order_id: h.order_id.clone(),
                    sku: h.sku.clone(),
                    warehouse: h.warehouse.clone(),
                    qty: qty::format(h.qty),
                    status: h.status.as_str().to_owned(),
                    expires_at: h.expires_at.clone(),
                })
                .collect(),
        }
    }
}
