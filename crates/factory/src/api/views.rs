//! How records look in JSON: quantities as decimal strings with three
//! places, money as decimal strings in the base currency, times RFC 3339.

use marimo_platform::money::Currency;
use serde_json::{Value, json};

use crate::{
    domain::{qty, valuation::Level},
    store::{
        boms::BomRecord,
        items::{ItemRecord, WarehouseRecord},
        stock::MoveRecord,
        work_orders::{Reservation, WorkOrderRecord},
    },
};

/// A page of a list: `{success, <key>: [...], total, page, limit}`.
pub fn page(key: &str, list: Vec<Value>, total: i64, page: u32, limit: u32) -> Value {
    let mut body = json!({"success": true, "total": total, "page": page, "limit": limit});
    body[key] = Value::Array(list);
    body
}

pub fn item(r: &ItemRecord, c: &Currency) -> Value {
    let i = &r.item;
    json!({
        "id": r.id,
        "sku": i.sku,
        "name": i.name,
        "kind": i.kind.as_str(),
        "uom": i.uom,
        "standard_cost": c.format(i.standard_cost),
        "reorder_point": qty::format(i.reorder_point),
        "active": i.active,
        "status": i.status.as_str(),
        "created_by": r.created_by,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    })
}

pub fn warehouse(w: &WarehouseRecord) -> Value {
    json!({
        "code": w.code,
        "name": w.name,
        "created_by": w.created_by,
        "created_at": w.created_at,
    })
}

pub fn level(sku: &str, warehouse: &str, l: &Level, c: &Currency) -> Value {
    json!({
        "sku": sku,
        "warehouse": warehouse,
        "on_hand": qty::format(l.on_hand),
        "reserved": qty::format(l.reserved),
        "available": qty::format(l.available()),
        "value": c.format(l.value),
    })
}

pub fn stock_move(m: &MoveRecord, c: &Currency) -> Value {
    json!({
        "id": m.id,
        "sku": m.sku,
        "warehouse": m.warehouse,
        "qty": qty::format(m.qty),
        "unit_cost": c.format(m.unit_cost),
        "value": c.format(m.value),
        "reason": m.reason.as_str(),
        "reference": m.reference,
        "note": m.note,
        "work_order_id": m.work_order_id,
        "created_by": m.created_by,
        "created_at": m.created_at,
    })
}

pub fn bom(b: &BomRecord) -> Value {
    let components: Vec<Value> = b
        .components
        .iter()
        .map(|c| json!({"sku": c.sku, "qty": qty::format(c.qty)}))
        .collect();
    json!({
        "id": b.id,
        "product_sku": b.product_sku,
        "version": b.version,
        "output_qty": qty::format(b.output_qty),
        "active": b.active,
        "components": components,
        "created_by": b.created_by,
        "created_at": b.created_at,
    })
}

pub fn work_order(w: &WorkOrderRecord, c: &Currency) -> Value {
    json!({
        "id": w.id,
        "product_sku": w.product_sku,
        "product_id": w.product_id,
        "bom_id": w.bom_id,
        "warehouse": w.warehouse,
        "qty": qty::format(w.qty),
        "status": w.status.as_str(),
        "produced_qty": w.produced_qty.map(qty::format),
        "scrap_qty": w.scrap_qty.map(qty::format),
        "unit_cost": w.unit_cost.map(|v| c.format(v)),
        "total_cost": w.total_cost.map(|v| c.format(v)),
        "currency": c.code(),
        "created_by": w.created_by,
        "created_at": w.created_at,
        "updated_at": w.updated_at,
        "released_at": w.released_at,
        "started_at": w.started_at,
        "completed_at": w.completed_at,
        "cancelled_at": w.cancelled_at,
    })
}

pub fn reservation(r: &Reservation) -> Value {
    json!({"sku": r.sku, "warehouse": r.warehouse, "qty": qty::format(r.qty)})
}

/// The original API's product: `quantity` is the on hand over every
/// warehouse, as a JSON number.
pub fn product(r: &ItemRecord, on_hand: i64) -> Value {
    let mut v = json!({
        "id": r.id,
        "name": r.item.name,
        "sku": r.item.sku,
        "quantity": qty::json_number(on_hand),
        "status": r.item.status.as_str(),
        "created_by": r.created_by,
        "created_at": r.created_at,
    });
    if let Some(at) = &r.completed_at {
        v["completed_at"] = json!(at);
    }
    v
}

/// The original API's production order.
pub fn order(w: &WorkOrderRecord) -> Value {
    json!({
        "id": w.id,
        "product_id": w.product_id,
        "product_sku": w.product_sku,
        "quantity": qty::json_number(w.qty),
        "status": w.status.as_str(),
        "created_by": w.created_by,
        "created_at": w.created_at,
    })
}
