//! The PostgreSQL-only part of the shop's tenancy (docs/TENANCY.md): the
//! row policies on every business table and the composite foreign keys
//! that keep a row from pointing at another tenant's row even by id.
//! SQLite has neither; there the store layer's `tenant_id = $n` filters
//! are the isolation (migration `20261203000002_tenancy.sql` adds the
//! columns and the per-tenant keys on both backends).

use marimo_platform::{
    db::{Db, DbError, DbKind, Prepared, Schema},
    tenant::rls_ddl,
};

/// Every table of the shop's whose rows belong to a tenant.
/// `idempotency_keys` is not one: the platform's layer reaches it outside
/// any tenant transaction, so its rows carry the tenant in their scope
/// (`TenantId::scope`) instead.
pub const TABLES: &[&str] = &[
    "products",
    "orders",
    "order_items",
    "order_events",
    "payments",
    "payment_callbacks",
    "shop_settings",
    "stock_availability",
];

/// `(table, constraint, columns, parent)`: `(tenant_id, column)` of the
/// table references `(tenant_id, id)` of the parent.
const TENANT_FKS: &[(&str, &str, &str, &str)] = &[
    (
        "order_items",
        "order_items_order_tenant_fk",
        "order_id",
        "orders",
    ),
    (
        "order_items",
        "order_items_product_tenant_fk",
        "product_id",
        "products",
    ),
    (
        "order_events",
        "order_events_order_tenant_fk",
        "order_id",
        "orders",
    ),
    ("payments", "payments_order_tenant_fk", "order_id", "orders"),
    (
        "payment_callbacks",
        "payment_callbacks_order_tenant_fk",
        "order_id",
        "orders",
    ),
];

/// The DDL of the part: idempotent (policies are dropped and created
/// again; a foreign key is added only when missing).
pub fn postgres_ddl() -> String {
    let mut ddl = rls_ddl(TABLES);
    for (table, name, column, parent) in TENANT_FKS {
        ddl.push_str(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_constraint
                              WHERE conname = '{name}' AND conrelid = '{table}'::regclass) THEN
                 ALTER TABLE {table} ADD CONSTRAINT {name}
                   FOREIGN KEY (tenant_id, {column}) REFERENCES {parent} (tenant_id, id);
               END IF;
             END $$;\n"
        ));
    }
    ddl
}

/// Applies the part on PostgreSQL (nothing but reads when current);
/// nothing on SQLite.
pub async fn install(db: &Db) -> Result<Option<Prepared>, DbError> {
    if db.kind() != DbKind::Postgres {
        return Ok(None);
    }
    db.prepare(&Schema::new().part("tenancy", postgres_ddl()))
        .await
        .map(Some)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_business_table_is_under_the_policy_and_keys_are_composite() {
        let ddl = super::postgres_ddl();
        for table in super::TABLES {
            assert!(
                ddl.contains(&format!("CREATE POLICY tenant_isolation ON {table} ")),
                "{table}"
            );
        }
        assert!(!ddl.contains("ON idempotency_keys"));
        assert!(
            ddl.contains("FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)")
        );
        assert_eq!(ddl.matches("FOREIGN KEY (tenant_id, order_id)").count(), 4);
    }
}
