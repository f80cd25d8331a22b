//! Bills of materials: new versions (cycle-checked) and explosions.

use std::collections::HashSet;

use marimo_platform::{ids, tenant::TenantId};
use serde_json::json;

use crate::{
    Factory, FactoryError,
    domain::{
        bom::{self, Component, ExplodeError, Explosion},
        items::Kind,
    },
    store::{
        boms::{self as store, BomRecord},
        items as item_store,
    },
};

/// A validated new BOM (components non-empty, each SKU once, quantities
/// positive).
#[derive(Debug, Clone)]
pub struct NewBom {
    pub product_sku: String,
    pub output_qty: i64,
    pub components: Vec<Component>,
}

impl Factory {
    /// Creates the product's next BOM version, which becomes its active
    /// BOM. Refused with `BOM_CYCLE` when the product would (through the
    /// active BOMs of its components, at any depth) need itself.
    pub async fn create_bom(
        &self,
        t: &TenantId,
        actor: &str,
        new: NewBom,
    ) -> Result<BomRecord, FactoryError> {
        let mut tx = self.db.tenant(t).begin().await?;
        // Serialises BOM creation: the cycle check below must see every
        // BOM committed before this one is.
        store::lock(&mut *tx, t).await?;
        let product = item_store::find_by_sku(&mut *tx, t, &new.product_sku)
            .await?
            .ok_or_else(|| {
                FactoryError::not_found(format!("no item with SKU {}", new.product_sku))
            })?;
        let product = &product.item;
        if product.kind == Kind::RawMaterial {
            return Err(FactoryError::unprocessable(
                "INVALID_BOM",
                format!("{} is a raw material: it is bought, not made", product.sku),
            ));
        }
        if !product.active {
            return Err(FactoryError::unprocessable(
                "ITEM_INACTIVE",
                format!("{} is inactive", product.sku),
            ));
        }
        let mut unknown = Vec::new();
        for c in &new.components {
            if item_store::find_by_sku(&mut *tx, t, &c.sku)
                .await?
                .is_none()
            {
                unknown.push(c.sku.clone());
            }
        }
        if !unknown.is_empty() {
            return Err(FactoryError::Unprocessable {
                code: "UNKNOWN_ITEM",
                message: format!("no item with SKU {}", unknown.join(", ")),
                details: Some(json!({"field": "components", "skus": unknown})),
            });
        }
        let graph = store::active_graph(&mut *tx, t).await?;
        if let Some(path) = bom::find_cycle(&graph, &new.product_sku, &new.components) {
            return Err(FactoryError::BomCycle(path));
        }
        let version = store::max_version(&mut *tx, t, &new.product_sku).await? + 1;
        let record = BomRecord {
            id: ids::new_id(),
            product_sku: new.product_sku,
            version,
            output_qty: new.output_qty,
            components: new.components,
            created_by: actor.to_owned(),
            created_at: marimo_platform::clock::now_text(),
            active: true,
        };
        store::insert_header(&mut *tx, t, &record).await?;
        for (line, c) in record.components.iter().enumerate() {
            store::insert_component(&mut *tx, t, &record.id, line as i64 + 1, c).await?;
        }
        tx.commit().await?;
        Ok(record)
    }

    /// Total leaf requirements of making `qty` thousandths with BOM `id`,
    /// through every level of active BOMs below it.
    pub async fn explode(
        &self,
        t: &TenantId,
        id: &str,
        qty: i64,
    ) -> Result<(BomRecord, Explosion), FactoryError> {
        let mut tx = self.db.tenant(t).snapshot().await?;
        let bom = store::find(&mut tx, t, id)
            .await?
            .ok_or_else(|| FactoryError::not_found("no such bill of materials"))?;
        let graph = store::active_graph(&mut *tx, t).await?;
        let explosion =
            bom::explode(&graph, &bom.product_sku, &bom.bom(), qty).map_err(|e| match e {
                ExplodeError::Cycle(path) => FactoryError::BomCycle(path),
                ExplodeError::TooLarge => FactoryError::too_large("the requirement"),
            })?;
        Ok((bom, explosion))
    }
}

/// Duplicate SKUs of a component list, in order of first repetition.
pub fn duplicates(components: &[Component]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut dups = Vec::new();
    for c in components {
        if !seen.insert(c.sku.as_str()) && !dups.contains(&c.sku) {
            dups.push(c.sku.clone());
        }
    }
    dups
}
