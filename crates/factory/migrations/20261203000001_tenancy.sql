-- Tenancy (docs/TENANCY.md): every business table gets `tenant_id`, and
-- every key leads with it, so two tenants may use the same SKU, warehouse
-- code or unit. Rows from before tenancy become the default tenant's.
--
-- Primary keys on natural codes (units, warehouses, settings, balances)
-- and the foreign keys that point at `items (sku)` must change, which
-- SQLite cannot do with ALTER TABLE: every table is rebuilt (new table,
-- copy, drop the old one, rename), children dropped before parents. The
-- foreign keys are composite on both backends — `(tenant_id, sku)
-- REFERENCES items (tenant_id, sku)` — so a row cannot point at another
-- tenant's row even by id. The append-only triggers and (PostgreSQL) the
-- row-level security policies are installed again from Rust after this
-- migration (src/store/schema.rs).
--
-- `idempotency_keys` is left as it is: the platform's idempotency code
-- owns its SQL and scopes its `caller` column by tenant
-- (`TenantId::scope`), so the keys of two tenants never meet.

CREATE TABLE factory_settings_new (
    tenant_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
INSERT INTO factory_settings_new (tenant_id, name, value, updated_at)
    SELECT 'default', name, value, updated_at FROM factory_settings;

CREATE TABLE units_new (
    tenant_id TEXT NOT NULL,
    code      TEXT NOT NULL,
    name      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, code)
);
INSERT INTO units_new (tenant_id, code, name) SELECT 'default', code, name FROM units;

CREATE TABLE items_new (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    sku           TEXT NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('raw_material', 'component', 'finished_good')),
    uom           TEXT NOT NULL,
    standard_cost BIGINT NOT NULL DEFAULT 0 CHECK (standard_cost >= 0),
    reorder_point BIGINT NOT NULL DEFAULT 0 CHECK (reorder_point >= 0),
    active        BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    status        TEXT NOT NULL DEFAULT 'planned'
                  CHECK (status IN ('planned', 'in_production', 'completed', 'discontinued')),
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    completed_at  TEXT,
    UNIQUE (tenant_id, sku),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, uom) REFERENCES units_new (tenant_id, code)
);
INSERT INTO items_new (id, tenant_id, sku, name, kind, uom, standard_cost, reorder_point, active,
                       status, created_by, created_at, updated_at, completed_at)
    SELECT id, 'default', sku, name, kind, uom, standard_cost, reorder_point, active,
           status, created_by, created_at, updated_at, completed_at FROM items;

CREATE TABLE warehouses_new (
    tenant_id  TEXT NOT NULL,
    code       TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, code)
);
INSERT INTO warehouses_new (tenant_id, code, name, created_by, created_at)
    SELECT 'default', code, name, created_by, created_at FROM warehouses;

CREATE TABLE stock_levels_new (
    tenant_id  TEXT NOT NULL,
    sku        TEXT NOT NULL,
    warehouse  TEXT NOT NULL,
    on_hand    BIGINT NOT NULL DEFAULT 0,
    reserved   BIGINT NOT NULL DEFAULT 0,
    value      BIGINT NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, sku, warehouse),
    FOREIGN KEY (tenant_id, sku) REFERENCES items_new (tenant_id, sku),
    FOREIGN KEY (tenant_id, warehouse) REFERENCES warehouses_new (tenant_id, code),
    CONSTRAINT stock_levels_on_hand_check CHECK (on_hand >= 0),
    CONSTRAINT stock_levels_reserved_check CHECK (reserved >= 0),
    CONSTRAINT stock_levels_reserved_le_on_hand CHECK (reserved <= on_hand),
    CONSTRAINT stock_levels_value_check CHECK (value >= 0),
    CONSTRAINT stock_levels_empty_has_no_value CHECK (on_hand > 0 OR value = 0)
);
INSERT INTO stock_levels_new (tenant_id, sku, warehouse, on_hand, reserved, value, updated_at)
    SELECT 'default', sku, warehouse, on_hand, reserved, value, updated_at FROM stock_levels;

CREATE TABLE stock_moves_new (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    sku           TEXT NOT NULL,
    warehouse     TEXT NOT NULL,
    qty           BIGINT NOT NULL CHECK (qty <> 0),
    unit_cost     BIGINT NOT NULL CHECK (unit_cost >= 0),
    value         BIGINT NOT NULL,
    reason        TEXT NOT NULL
                  CHECK (reason IN ('receipt', 'issue', 'production_consume', 'production_output',
                                    'adjustment', 'transfer', 'shipment')),
    reference     TEXT,
    note          TEXT,
    work_order_id TEXT,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    FOREIGN KEY (tenant_id, sku) REFERENCES items_new (tenant_id, sku),
    FOREIGN KEY (tenant_id, warehouse) REFERENCES warehouses_new (tenant_id, code),
    CONSTRAINT stock_moves_value_sign CHECK ((qty > 0 AND value >= 0) OR (qty < 0 AND value <= 0)),
    CONSTRAINT stock_moves_reason_sign CHECK (
        (reason IN ('receipt', 'production_output') AND qty > 0)
        OR (reason IN ('issue', 'production_consume', 'shipment') AND qty < 0)
        OR reason IN ('adjustment', 'transfer'))
);
INSERT INTO stock_moves_new (id, tenant_id, sku, warehouse, qty, unit_cost, value, reason,
                             reference, note, work_order_id, created_by, created_at)
    SELECT id, 'default', sku, warehouse, qty, unit_cost, value, reason,
           reference, note, work_order_id, created_by, created_at FROM stock_moves;

CREATE TABLE boms_new (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    product_sku TEXT NOT NULL,
    version     BIGINT NOT NULL CHECK (version >= 1),
    output_qty  BIGINT NOT NULL CHECK (output_qty > 0),
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    CONSTRAINT boms_tenant_product_version_key UNIQUE (tenant_id, product_sku, version),
    FOREIGN KEY (tenant_id, product_sku) REFERENCES items_new (tenant_id, sku)
);
INSERT INTO boms_new (id, tenant_id, product_sku, version, output_qty, created_by, created_at)
    SELECT id, 'default', product_sku, version, output_qty, created_by, created_at FROM boms;

CREATE TABLE bom_components_new (
    tenant_id TEXT NOT NULL,
    bom_id    TEXT NOT NULL,
    line      BIGINT NOT NULL,
    sku       TEXT NOT NULL,
    qty       BIGINT NOT NULL CHECK (qty > 0),
    PRIMARY KEY (tenant_id, bom_id, sku),
    FOREIGN KEY (tenant_id, bom_id) REFERENCES boms_new (tenant_id, id),
    FOREIGN KEY (tenant_id, sku) REFERENCES items_new (tenant_id, sku)
);
INSERT INTO bom_components_new (tenant_id, bom_id, line, sku, qty)
    SELECT 'default', bom_id, line, sku, qty FROM bom_components;

-- One row per tenant: BOM creations of one tenant serialise on it (a
-- tenant's graph is its own, so tenants do not wait for each other).
CREATE TABLE bom_lock_new (
    tenant_id TEXT NOT NULL,
    id        BIGINT NOT NULL,
    bumps     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
INSERT INTO bom_lock_new (tenant_id, id, bumps) SELECT 'default', id, bumps FROM bom_lock;

CREATE TABLE work_orders_new (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    product_sku  TEXT NOT NULL,
    bom_id       TEXT,
    warehouse    TEXT NOT NULL,
    qty          BIGINT NOT NULL CHECK (qty > 0),
    status       TEXT NOT NULL
                 CHECK (status IN ('planned', 'released', 'started', 'completed', 'cancelled')),
    produced_qty BIGINT CHECK (produced_qty > 0),
    scrap_qty    BIGINT CHECK (scrap_qty >= 0),
    unit_cost    BIGINT,
    total_cost   BIGINT,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    released_at  TEXT,
    started_at   TEXT,
    completed_at TEXT,
    cancelled_at TEXT,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, product_sku) REFERENCES items_new (tenant_id, sku),
    FOREIGN KEY (tenant_id, bom_id) REFERENCES boms_new (tenant_id, id),
    FOREIGN KEY (tenant_id, warehouse) REFERENCES warehouses_new (tenant_id, code)
);
INSERT INTO work_orders_new (id, tenant_id, product_sku, bom_id, warehouse, qty, status,
                             produced_qty, scrap_qty, unit_cost, total_cost, created_by,
                             created_at, updated_at, released_at, started_at, completed_at,
                             cancelled_at)
    SELECT id, 'default', product_sku, bom_id, warehouse, qty, status,
           produced_qty, scrap_qty, unit_cost, total_cost, created_by,
           created_at, updated_at, released_at, started_at, completed_at,
           cancelled_at FROM work_orders;

CREATE TABLE work_order_reservations_new (
    tenant_id     TEXT NOT NULL,
    work_order_id TEXT NOT NULL,
    sku           TEXT NOT NULL,
    warehouse     TEXT NOT NULL,
    qty           BIGINT NOT NULL CHECK (qty > 0),
    PRIMARY KEY (tenant_id, work_order_id, sku),
    FOREIGN KEY (tenant_id, work_order_id) REFERENCES work_orders_new (tenant_id, id),
    FOREIGN KEY (tenant_id, sku) REFERENCES items_new (tenant_id, sku),
    FOREIGN KEY (tenant_id, warehouse) REFERENCES warehouses_new (tenant_id, code)
);
INSERT INTO work_order_reservations_new (tenant_id, work_order_id, sku, warehouse, qty)
    SELECT 'default', work_order_id, sku, warehouse, qty FROM work_order_reservations;

-- Children before parents (their foreign keys point at the old tables).
DROP TABLE work_order_reservations;
DROP TABLE work_orders;
DROP TABLE bom_components;
DROP TABLE boms;
DROP TABLE bom_lock;
DROP TABLE stock_moves;
DROP TABLE stock_levels;
DROP TABLE items;
DROP TABLE warehouses;
DROP TABLE units;
DROP TABLE factory_settings;

-- Renaming a table carries the foreign keys that point at it (PostgreSQL
-- refers by identity, SQLite rewrites the referring tables' text).
ALTER TABLE factory_settings_new RENAME TO factory_settings;
ALTER TABLE units_new RENAME TO units;
ALTER TABLE items_new RENAME TO items;
ALTER TABLE warehouses_new RENAME TO warehouses;
ALTER TABLE stock_levels_new RENAME TO stock_levels;
ALTER TABLE stock_moves_new RENAME TO stock_moves;
ALTER TABLE boms_new RENAME TO boms;
ALTER TABLE bom_components_new RENAME TO bom_components;
ALTER TABLE bom_lock_new RENAME TO bom_lock;
ALTER TABLE work_orders_new RENAME TO work_orders;
ALTER TABLE work_order_reservations_new RENAME TO work_order_reservations;

CREATE INDEX items_kind_idx ON items (tenant_id, kind, sku);
CREATE INDEX stock_levels_warehouse_idx ON stock_levels (tenant_id, warehouse, sku);
CREATE INDEX stock_moves_sku_idx ON stock_moves (tenant_id, sku, created_at);
CREATE INDEX stock_moves_created_idx ON stock_moves (tenant_id, created_at);
CREATE INDEX stock_moves_work_order_idx ON stock_moves (tenant_id, work_order_id);
CREATE INDEX bom_components_sku_idx ON bom_components (tenant_id, sku);
CREATE INDEX work_orders_status_idx ON work_orders (tenant_id, status, created_at);
CREATE INDEX work_orders_created_idx ON work_orders (tenant_id, created_at, id);
