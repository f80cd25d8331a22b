//! Catalog changes by shop managers and admins, and stock arriving from
//! the factory. Each in one tenant's transaction: the caller's, or the
//! event's.

use marimo_platform::{clock, ids, tenant::TenantId};

use super::Shop;
use crate::{
    ShopError,
    domain::{
        Invalid,
        catalog::{self, MAX_STOCK, Product, ProductFields},
    },
    store::products,
};

const NO_SUCH_PRODUCT: &str = "no such product";

/// A taken sku is the only unique violation products can hit.
fn sku_taken(e: sqlx::Error, sku: Option<&str>) -> ShopError {
    match (&e, sku) {
        (sqlx::Error::Database(db), Some(sku)) if db.is_unique_violation() => {
            ShopError::DuplicateSku(sku.to_owned())
        }
        _ => e.into(),
    }
}

impl Shop {
    pub async fn create_product(
        &self,
        t: &TenantId,
        f: &ProductFields,
    ) -> Result<Product, ShopError> {
        let product = catalog::new_product(f, ids::new_id(), &clock::now_text())?;
        let mut tx = self.db.tenant(t).begin().await?;
        products::insert(&mut *tx, t, &product)
            .await
            .map_err(|e| sku_taken(e, product.sku.as_deref()))?;
        tx.commit().await?;
        Ok(product)
    }

    /// A partial change; the stock, when given, is set to that level.
    pub async fn update_product(
        &self,
        t: &TenantId,
        id: &str,
        f: &ProductFields,
    ) -> Result<Product, ShopError> {
        if !ids::is_uuid(id) {
            return Err(ShopError::NotFound(NO_SUCH_PRODUCT));
        }
        let now = clock::now_text();
        let mut tx = self.db.tenant(t).begin().await?;
        let Some(current) = products::find(&mut *tx, t, id).await? else {
            return Err(ShopError::NotFound(NO_SUCH_PRODUCT));
        };
        let (mut product, stock) = catalog::changed_product(&current, f, &now)?;
        products::update_fields(&mut *tx, t, &product)
            .await
            .map_err(|e| sku_taken(e, product.sku.as_deref()))?;
        if let Some(stock) = stock {
            products::set_stock(&mut *tx, t, id, stock, &now).await?;
        }
        // The stock as it is now (orders may have moved it since the read).
        product.stock = products::find(&mut *tx, t, id)
            .await?
            .map_or(product.stock, |p| p.stock);
        tx.commit().await?;
        Ok(product)
    }

    /// Deletes a product nobody ever ordered; a product that was ordered is
    /// deactivated instead (orders keep their snapshot of name and price,
    /// and the order lines' foreign key refuses the delete anyway).
    /// Returns whether it was deactivated.
    pub async fn delete_product(&self, t: &TenantId, id: &str) -> Result<bool, ShopError> {
        if !ids::is_uuid(id) {
            return Err(ShopError::NotFound(NO_SUCH_PRODUCT));
        }
        let now = clock::now_text();
        let mut tx = self.db.tenant(t).begin().await?;
        if products::find(&mut *tx, t, id).await?.is_none() {
            return Err(ShopError::NotFound(NO_SUCH_PRODUCT));
        }
        if products::ever_ordered(&mut *tx, t, id).await? {
            products::deactivate(&mut *tx, t, id, &now).await?;
            tx.commit().await?;
            return Ok(true);
        }
        match products::delete(&mut *tx, t, id).await {
            Ok(_) => {
                tx.commit().await?;
                Ok(false)
            }
            // An order committed between the check and the delete
            // (PostgreSQL): the foreign key refused it; deactivate instead.
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                drop(tx);
                let mut tx = self.db.tenant(t).begin().await?;
                let deactivated = products::deactivate(&mut *tx, t, id, &now).await?;
                tx.commit().await?;
                if deactivated {
                    Ok(true)
                } else {
                    Err(ShopError::NotFound(NO_SUCH_PRODUCT))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Adds `quantity` units to the stock.
    pub async fn restock(
        &self,
        t: &TenantId,
        id: &str,
        quantity: i64,
    ) -> Result<Product, ShopError> {
        if !ids::is_uuid(id) {
            return Err(ShopError::NotFound(NO_SUCH_PRODUCT));
        }
        let now = clock::now_text();
        let mut tx = self.db.tenant(t).begin().await?;
        if let Some(p) = products::add_stock(&mut *tx, t, id, quantity, MAX_STOCK, &now).await? {
            tx.commit().await?;
            return Ok(p);
        }
        match products::find(&mut *tx, t, id).await? {
            None => Err(ShopError::NotFound(NO_SUCH_PRODUCT)),
            Some(p) => Err(Invalid::new(
                "quantity",
                format!(
                    "the stock would pass {MAX_STOCK} units ({} in stock)",
                    p.stock
                ),
            )
            .into()),
        }
    }
}
