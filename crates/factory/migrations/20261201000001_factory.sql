-- The factory service's schema. One SQL text for SQLite and PostgreSQL:
-- ids are UUIDv7 text, times fixed-width RFC 3339 text (platform::clock),
-- flags BIGINT 0/1 (sqlx's Any driver cannot decode a SQLite BOOLEAN),
-- quantities BIGINT thousandths of the item's unit (1.5 kg = 1500), money
-- BIGINT minor units of the base currency (factory_settings.currency).
--
-- Guards that need backend-specific DDL (append-only stock moves and BOMs)
-- are installed from Rust at every start: see src/store/schema.rs.

CREATE TABLE factory_settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Units of measure. Reference data belongs to the config service; until it
-- publishes units, the factory keeps this copy (seeded: pcs, kg, g, m, l,
-- h) and validates items against it.
CREATE TABLE units (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE items (
    id            TEXT PRIMARY KEY,
    sku           TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('raw_material', 'component', 'finished_good')),
    uom           TEXT NOT NULL REFERENCES units (code),
    standard_cost BIGINT NOT NULL DEFAULT 0 CHECK (standard_cost >= 0),
    reorder_point BIGINT NOT NULL DEFAULT 0 CHECK (reorder_point >= 0),
    active        BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    -- The original API's product status (meaningful for finished goods).
    status        TEXT NOT NULL DEFAULT 'planned'
                  CHECK (status IN ('planned', 'in_production', 'completed', 'discontinued')),
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    completed_at  TEXT
);
CREATE INDEX items_kind_idx ON items (kind, sku);

CREATE TABLE warehouses (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- One item in one warehouse. Maintained in the transaction of every move;
-- decrements are conditional updates, so these checks are the last line,
-- never the first.
CREATE TABLE stock_levels (
    sku        TEXT NOT NULL REFERENCES items (sku),
    warehouse  TEXT NOT NULL REFERENCES warehouses (code),
    on_hand    BIGINT NOT NULL DEFAULT 0,
    reserved   BIGINT NOT NULL DEFAULT 0,
    value      BIGINT NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (sku, warehouse),
    CONSTRAINT stock_levels_on_hand_check CHECK (on_hand >= 0),
    CONSTRAINT stock_levels_reserved_check CHECK (reserved >= 0),
    CONSTRAINT stock_levels_reserved_le_on_hand CHECK (reserved <= on_hand),
    CONSTRAINT stock_levels_value_check CHECK (value >= 0),
    -- Moving average: an empty bin holds no value.
    CONSTRAINT stock_levels_empty_has_no_value CHECK (on_hand > 0 OR value = 0)
);
CREATE INDEX stock_levels_warehouse_idx ON stock_levels (warehouse, sku);

-- The stock ledger: append-only (triggers refuse UPDATE and DELETE).
-- qty and value are signed: in > 0, out < 0.
CREATE TABLE stock_moves (
    id            TEXT PRIMARY KEY,
    sku           TEXT NOT NULL REFERENCES items (sku),
    warehouse     TEXT NOT NULL REFERENCES warehouses (code),
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
    CONSTRAINT stock_moves_value_sign CHECK ((qty > 0 AND value >= 0) OR (qty < 0 AND value <= 0)),
    CONSTRAINT stock_moves_reason_sign CHECK (
        (reason IN ('receipt', 'production_output') AND qty > 0)
        OR (reason IN ('issue', 'production_consume', 'shipment') AND qty < 0)
        OR reason IN ('adjustment', 'transfer'))
);
CREATE INDEX stock_moves_sku_idx ON stock_moves (sku, created_at);
CREATE INDEX stock_moves_created_idx ON stock_moves (created_at);
CREATE INDEX stock_moves_work_order_idx ON stock_moves (work_order_id);

-- Bills of materials: immutable (triggers); a change is a new version, and
-- a product's active BOM is its highest version.
CREATE TABLE boms (
    id          TEXT PRIMARY KEY,
    product_sku TEXT NOT NULL REFERENCES items (sku),
    version     BIGINT NOT NULL CHECK (version >= 1),
    output_qty  BIGINT NOT NULL CHECK (output_qty > 0),
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT boms_product_version_key UNIQUE (product_sku, version)
);

CREATE TABLE bom_components (
    bom_id TEXT NOT NULL REFERENCES boms (id),
    line   BIGINT NOT NULL,
    sku    TEXT NOT NULL REFERENCES items (sku),
    qty    BIGINT NOT NULL CHECK (qty > 0),
    PRIMARY KEY (bom_id, sku)
);
CREATE INDEX bom_components_sku_idx ON bom_components (sku);

-- One row, bumped by every BOM creation: it serialises them, so two
-- concurrent new BOMs cannot each miss the cycle the other closes.
CREATE TABLE bom_lock (
    id    BIGINT PRIMARY KEY,
    bumps BIGINT NOT NULL
);
INSERT INTO bom_lock (id, bumps) VALUES (1, 0);

CREATE TABLE work_orders (
    id           TEXT PRIMARY KEY,
    product_sku  TEXT NOT NULL REFERENCES items (sku),
    -- The BOM as it was when the order was planned (NULL only for orders
    -- of the original API on a product that has no BOM).
    bom_id       TEXT REFERENCES boms (id),
    warehouse    TEXT NOT NULL REFERENCES warehouses (code),
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
    cancelled_at TEXT
);
CREATE INDEX work_orders_status_idx ON work_orders (status, created_at);
CREATE INDEX work_orders_created_idx ON work_orders (created_at, id);

-- What a release reserved, per component (kept as history after the order
-- completes or is cancelled).
CREATE TABLE work_order_reservations (
    work_order_id TEXT NOT NULL REFERENCES work_orders (id),
    sku           TEXT NOT NULL REFERENCES items (sku),
    warehouse     TEXT NOT NULL REFERENCES warehouses (code),
    qty           BIGINT NOT NULL CHECK (qty > 0),
    PRIMARY KEY (work_order_id, sku)
);
