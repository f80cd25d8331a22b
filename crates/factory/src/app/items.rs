//! Items, warehouses and the original API's products.

use marimo_platform::{clock, ids, tenant::TenantId};
use serde_json::json;

use super::posting::{MoveSpec, Posting};
use crate::{
    Factory, FactoryError,
    domain::items::{Category, Item, ItemChanges, Kind, ProductStatus, Reason},
    store::{
        boms as bom_store,
        items::{self as store, ItemRecord, WarehouseRecord},
        stock::{self as stock_store, LevelRecord},
    },
};

pub(crate) fn no_such_product() -> FactoryError {
    FactoryError::not_found("no such product")
}

fn duplicate_sku(sku: &str) -> FactoryError {
    FactoryError::Conflict {
        code: "CONFLICT",
        message: format!("an item with SKU {sku} already exists"),
        details: Some(json!({"field": "sku"})),
    }
}

async fn check_unit(p: &mut Posting<'_>, uom: &str) -> Result<(), FactoryError> {
    if store::unit_exists(&mut *p.tx, &p.tenant, uom).await? {
        return Ok(());
    }
    let known: Vec<String> = store::list_units(&mut *p.tx, &p.tenant)
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

/// A new item's record: a fresh id, created now by `actor`.
fn record(item: Item, actor: &str, now: &str) -> ItemRecord {
    ItemRecord {
        id: ids::new_id(),
        completed_at: (item.status == ProductStatus::Completed).then(|| now.to_owned()),
        item,
        created_by: actor.to_owned(),
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    }
}

impl Factory {
    pub async fn create_item(
        &self,
        t: &TenantId,
        actor: &str,
        new: Item,
    ) -> Result<ItemRecord, FactoryError> {
        self.create_item_with_stock(t, actor, new, 0).await
    }

    /// Creates an item; `opening` thousandths (> 0) are booked into the
    /// default warehouse as an opening-balance adjustment in the same
    /// transaction (the original API's `POST /products {quantity}`), at
    /// the item's standard cost.
    pub async fn create_item_with_stock(
        &self,
        t: &TenantId,
        actor: &str,
        new: Item,
        opening: i64,
    ) -> Result<ItemRecord, FactoryError> {
        let mut p = Posting::begin(self, t, actor).await?;
        check_unit(&mut p, &new.uom).await?;
        let record = record(new, actor, &p.now);
        let item = &record.item;
        if !store::insert_item(&mut *p.tx, &p.tenant, &record).await? {
            return Err(duplicate_sku(&item.sku));
        }
        if opening > 0 {
            let value = crate::domain::valuation::receipt_value(opening, item.standard_cost)
                .ok_or_else(|| FactoryError::too_large("the opening value"))?;
            // The original API's products showed this move as an
            // adjustment (its compat tests say so).
            let mut spec = MoveSpec::new(Reason::Adjustment);
            spec.note = Some("opening balance".to_owned());
            let key = (item.sku.clone(), crate::DEFAULT_WAREHOUSE.to_owned());
            p.put(&key, opening, value, item.standard_cost, spec)
                .await?;
        }
        p.commit().await?;
        Ok(record)
    }

    pub async fn update_item(
        &self,
        t: &TenantId,
        actor: &str,
        sku: &str,
        changes: ItemChanges,
    ) -> Result<ItemRecord, FactoryError> {
        let mut p = Posting::begin(self, t, actor).await?;
        let mut record = store::find_by_sku(&mut *p.tx, &p.tenant, sku)
            .await?
            .ok_or_else(|| FactoryError::not_found(format!("no item with SKU {sku}")))?;
        let item = &record.item;
        if let Some(uom) = changes.uom.as_deref().filter(|u| *u != item.uom) {
            check_unit(&mut p, uom).await?;
            // Quantities already booked were counted in the old unit.
            if store::has_moves(&mut *p.tx, &p.tenant, sku).await? {
                return Err(FactoryError::conflict(
                    "UOM_IN_USE",
                    format!(
                        "{sku} has stock moves counted in {}; its unit cannot change",
                        item.uom
                    ),
                ));
            }
        }
        if changes.kind == Some(Kind::RawMaterial)
            && item.kind != Kind::RawMaterial
            && bom_store::max_version(&mut *p.tx, &p.tenant, sku).await? > 0
        {
            return Err(FactoryError::conflict(
                "ITEM_HAS_BOM",
                format!("{sku} has a bill of materials; a raw material cannot"),
            ));
        }
        let merchandise = changes.merchandise;
        let category = item.category;
        record.item.apply(changes);
        Category::check_merchandise(record.item.kind, merchandise)?;
        // Moves are booked under the category they were made in: a
        // category changes only while no warehouse holds the item, so
        // every category's share of it is zero.
        if record.item.category != category {
            let levels = stock_store::list_levels(&mut *p.tx, &p.tenant, sku, "").await?;
            if levels.iter().any(|l| l.level.on_hand > 0) {
                return Err(FactoryError::conflict(
                    "CATEGORY_IN_USE",
                    format!("{sku} is held in stock as {category}; its category cannot change"),
                ));
            }
        }
        record.updated_at = p.now.clone();
        store::update_item(&mut *p.tx, &p.tenant, &record).await?;
        p.commit().await?;
        Ok(record)
    }

    /// The item with `sku` and its balance in every warehouse that ever
    /// held it.
    pub async fn item_with_stock(
        &self,
        t: &TenantId,
        sku: &str,
    ) -> Result<(ItemRecord, Vec<LevelRecord>), FactoryError> {
        let mut tx = self.db.tenant(t).read().await?;
        let record = store::find_by_sku(&mut *tx, t, sku)
            .await?
            .ok_or_else(|| FactoryError::not_found("no such item"))?;
        let levels = stock_store::list_levels(&mut *tx, t, sku, "").await?;
        Ok((record, levels))
    }

    /// The original API's product `id` (a finished good) with its on hand
    /// over every warehouse.
    pub async fn product(&self, t: &TenantId, id: &str) -> Result<(ItemRecord, i64), FactoryError> {
        let mut tx = self.db.tenant(t).read().await?;
        let record = store::find_product(&mut *tx, t, id)
            .await?
            .ok_or_else(no_such_product)?;
        let on_hand = store::on_hand_total(&mut *tx, t, &record.item.sku).await?;
        Ok((record, on_hand))
    }

    /// Sets the original API's status of a product (a finished good).
    /// `completed_at` is stamped when it becomes completed.
    pub async fn set_product_status(
        &self,
        t: &TenantId,
        actor: &str,
        id: &str,
        status: ProductStatus,
    ) -> Result<ItemRecord, FactoryError> {
        let mut p = Posting::begin(self, t, actor).await?;
        let mut record = store::find_product(&mut *p.tx, &p.tenant, id)
            .await?
            .ok_or_else(no_such_product)?;
        if record.item.status != status {
            record.completed_at = match status {
                ProductStatus::Completed => Some(p.now.clone()),
                _ => None,
            };
            record.item.status = status;
            record.updated_at = p.now.clone();
            store::update_item(&mut *p.tx, &p.tenant, &record).await?;
        }
        p.commit().await?;
        Ok(record)
    }

    pub async fn create_warehouse(
        &self,
        t: &TenantId,
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
        let mut tx = self.db.tenant(t).begin().await?;
        if !store::insert_warehouse(&mut *tx, t, &w).await? {
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
