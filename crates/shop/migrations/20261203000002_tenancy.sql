-- Tenancy (issue 19, docs/TENANCY.md): every business row carries its
-- tenant. Rows from before tenancy belong to the default tenant (the
-- column default), so a single business notices nothing. Every unique key
-- and index leads with tenant_id, so two tenants may use the same SKU,
-- setting key or provider event id. The row policies and the composite
-- foreign keys are PostgreSQL-only: they are a schema part of their own
-- (src/tenancy.rs), applied after the migrations.

ALTER TABLE products ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE orders ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE order_items ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE order_events ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE payments ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE payment_callbacks ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';

-- What the composite foreign keys point at: (tenant_id, id) of a parent.
-- (The ids alone stay primary keys: UUIDv7s do not collide.)
CREATE UNIQUE INDEX products_tenant_id_key ON products (tenant_id, id);
CREATE UNIQUE INDEX orders_tenant_id_key ON orders (tenant_id, id);

DROP INDEX products_sku_key;
CREATE UNIQUE INDEX products_sku_key ON products (tenant_id, sku);
DROP INDEX products_category_idx;
CREATE INDEX products_category_idx ON products (tenant_id, category, active);
DROP INDEX products_created_idx;
CREATE INDEX products_created_idx ON products (tenant_id, created_at, id);

DROP INDEX orders_user_idx;
CREATE INDEX orders_user_idx ON orders (tenant_id, user_id, created_at);
DROP INDEX orders_created_idx;
CREATE INDEX orders_created_idx ON orders (tenant_id, created_at);
-- The expiry sweep looks across tenants by deadline: this one stays
-- without tenant_id in front.
DROP INDEX orders_status_expires_idx;
CREATE INDEX orders_status_expires_idx ON orders (status, expires_at);

DROP INDEX order_items_product_idx;
CREATE INDEX order_items_product_idx ON order_items (tenant_id, product_id);
DROP INDEX order_events_order_idx;
CREATE INDEX order_events_order_idx ON order_events (tenant_id, order_id, id);
DROP INDEX payments_order_kind_key;
CREATE UNIQUE INDEX payments_order_kind_key ON payments (tenant_id, order_id, kind);

-- Provider callbacks were keyed by event id alone; now per tenant. The
-- primary key cannot change in place on SQLite: the table is rebuilt.
CREATE TABLE payment_callbacks_new (
    tenant_id   TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
INSERT INTO payment_callbacks_new (tenant_id, event_id, order_id, received_at)
    SELECT tenant_id, event_id, order_id, received_at FROM payment_callbacks;
DROP TABLE payment_callbacks;
ALTER TABLE payment_callbacks_new RENAME TO payment_callbacks;

-- The shop's settings, per tenant (each business its tax rate and order
-- time-to-live); rebuilt for the same reason.
CREATE TABLE shop_settings_new (
    tenant_id  TEXT NOT NULL DEFAULT 'default',
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    version    BIGINT NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
INSERT INTO shop_settings_new (tenant_id, key, value, version, updated_at)
    SELECT 'default', key, value, version, updated_at FROM shop_settings;
DROP TABLE shop_settings;
ALTER TABLE shop_settings_new RENAME TO shop_settings;

-- idempotency_keys keeps its shape (platform::idempotency): the platform's
-- layer reaches it outside any tenant transaction, so it carries the
-- tenant in its `caller` scope (`TenantId::scope`, `<tenant>/<user>`)
-- rather than in a column under a row policy. Its rows are only ever
-- read back by that exact scope and key, never listed.
