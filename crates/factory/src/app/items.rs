//! Items, warehouses and the original API's products.

use marimo_platform::{clock, ids};
use serde_json::json;

use super::posting::{MoveSpec, Posting};
use crate::{
    Factory, FactoryError,
    domain::items::{Kind, ProductStatus, Reason},
    store::{
        boms as bom_store,
        items::{self as store, ItemRecord, WarehouseRecord},
    },
};

/// A validated new item.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub sku: String,
    pub name: String,
    pub kind: Kind,
    pub uom: String,
    pub standard_cost: i64,
    pub reorder_point: i64,
    pub active: bool,
    /// The original API's product status (default planned).
    pub status: ProductStatus,
}

/// Validated changes to an item; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ItemChanges {
    pub name: Option<String>,
    pub kind: Option<Kind>,
    pub uom: Option<String>,
    pub standard_cost: Option<i64>,
    pub reorder_point: Option<i64>,
    pub active: Option<bool>,
}

fn duplicate_sku(sku: &str) -> FactoryError {
    FactoryError::Conflict {
        code: "CONFLICT",
        message: format!("an item with SKU {sku} already exists"),
        details: Some(json!({"field": "sku"})),
    }
}

async fn check_unit(p: &mut Posting<'_>, uom: &str) -> Result<(), FactoryError> {
    if store::unit_exists(&mut *p.tx, uom).await? {
        return Ok(());
    }
    let known: Vec<String> = store::list_units(&mut *p.tx)
        .await?
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    Err(FactoryError::Unprocessable {
        code: "UNKNOWN_UNIT",
        message: format!("unknown unit of measure '{uom}'"),
        details: Some(json!({"field": "uom", "allowed": known})),
    })
}

fn record(new: NewItem, actor: &str, now: &str) -> ItemRecord {
    ItemRecord {
        id: ids::new_id(),
        sku: new.sku,
        name: new.name,
        kind: new.kind,
        uom: new.uom,
        standard_cost: new.standard_cost,
        reorder_point: new.reorder_point,
        active: new.active,
        completed_at: (new.status == ProductStatus::Completed).then(|| now.to_owned()),
        status: new.status,
        created_by: actor.to_owned(),
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    }
}

impl Factory {
    pub async fn create_item(&self, actor: &str, new: NewItem) -> Result<ItemRecord, FactoryError> {
        self.create_item_with_stock(actor, new, 0).await
    }

    /// Creates an item; `opening` thousandths (> 0) are booked into the
    /// default warehouse as an opening-balance adjustment in the same
    /// transaction (the original API's `POST /products {quantity}`), at
    /// the item's standard cost.
    pub async fn create_item_with_stock(
        &self,
        actor: &str,
        new: NewItem,
        opening: i64,
    ) -> Result<ItemRecord, FactoryError> {
        let mut p = Posting::begin(self, actor).await?;
        check_unit(&mut p, &new.uom).await?;
        let item = record(new, actor, &p.now);
        if !store::insert_item(&mut *p.tx, &item).await? {
            return Err(duplicate_sku(&item.sku));
        }
        if opening > 0 {
            let value = crate::domain::valuation::receipt_value(opening, item.standard_cost)
                .ok_or_else(|| FactoryError::too_large("the opening value"))?;
            let mut spec = MoveSpec::new(Reason::Adjustment);
            spec.note = Some("opening balance".to_owned());
            let key = (item.sku.clone(), crate::DEFAULT_WAREHOUSE.to_owned());
            p.put(&key, opening, value, item.standard_cost, spec)
                .await?;
        }
        p.commit().await?;
        Ok(item)
    }

    pub async fn update_item(
        &self,
        actor: &str,
        sku: &str,
        changes: ItemChanges,
    ) -> Result<ItemRecord, FactoryError> {
        let mut p = Posting::begin(self, actor).await?;
        let mut item = store::find_by_sku(&mut *p.tx, sku)
            .await?
            .ok_or_else(|| FactoryError::not_found(format!("no item with SKU {sku}")))?;
        if let Some(uom) = changes.uom.filter(|u| *u != item.uom) {
            check_unit(&mut p, &uom).await?;
            // Quantities already booked were counted in the old unit.
            if store::has_moves(&mut *p.tx, sku).await? {
                return Err(FactoryError::conflict(
                    "UOM_IN_USE",
                    format!(
                        "{sku} has stock moves counted in {}; its unit cannot change",
                        item.uom
                    ),
                ));
            }
            item.uom = uom;
        }
        if let Some(kind) = changes.kind {
            if kind == Kind::RawMaterial
                && item.kind != Kind::RawMaterial
                && bom_store::max_version(&mut *p.tx, sku).await? > 0
            {
                return Err(FactoryError::conflict(
                    "ITEM_HAS_BOM",
                    format!("{sku} has a bill of materials; a raw material cannot"),
                ));
            }
            item.kind = kind;
        }
        if let Some(name) = changes.name {
            item.name = name;
        }
        if let Some(c) = changes.standard_cost {
            item.standard_cost = c;
        }
        if let Some(r) = changes.reorder_point {
            item.reorder_point = r;
        }
        if let Some(a) = changes.active {
            item.active = a;
        }
        item.updated_at = p.now.clone();
        store::update_item(&mut *p.tx, &item).await?;
        p.commit().await?;
        Ok(item)
    }

    /// Sets the original API's status of a product (a finished good).
    /// `completed_at` is stamped when it becomes completed.
    pub async fn set_product_status(
        &self,
        actor: &str,
        id: &str,
        status: ProductStatus,
    ) -> Result<ItemRecord, FactoryError> {
        let mut p = Posting::begin(self, actor).await?;
        let mut item = store::find_by_id(&mut *p.tx, id)
            .await?
            .filter(|i| i.kind == Kind::FinishedGood)
            .ok_or_else(|| FactoryError::not_found("no such product"))?;
        if item.status != status {
            item.completed_at = match status {
                ProductStatus::Completed => Some(p.now.clone()),
                _ => None,
            };
            item.status = status;
            item.updated_at = p.now.clone();
            store::update_item(&mut *p.tx, &item).await?;
        }
        p.commit().await?;
        Ok(item)
    }

    pub async fn create_warehouse(
        &self,
        actor: &str,
        code: &str,
        name: &str,
    ) -> Result<WarehouseRecord, FactoryError> {
        let w = WarehouseRecord {
            code: code.to_owned(),
            name: name.to_owned(),
            created_by: actor.to_owned(),
            created_at: clock::now_text(),
        };
        let mut tx = self.db.begin().await?;
        if !store::insert_warehouse(&mut *tx, &w).await? {
            return Err(FactoryError::Conflict {
                code: "CONFLICT",
                message: format!("a warehouse {code} already exists"),
                details: Some(json!({"field": "code"})),
            });
        }
        tx.commit().await?;
        Ok(w)
    }
}
