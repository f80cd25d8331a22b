-- Valuation for the perpetual inventory (docs/ARCHITECTURE.md, "Stock
-- valuation and postings").
--
-- 1. Costs at a fine scale. Unit costs and a bin's value are kept in
--    *fine units*: ten-thousandths of the currency's minor unit (millionths
--    of a dollar for USD), so a 0.0035 screw can be received. Existing
--    costs and values (minor units) are multiplied by 10 000: nothing is
--    lost, nothing is rounded. A bin's booked value (what the ledger
--    holds) is its fine value rounded half up to the minor unit; a move's
--    `value` is the change of that booked value, `fine_value` the exact
--    change at the fine scale.
-- 2. Item categories. Each item has a `category` (raw_material,
--    sub_assembly, finished_good, merchandise) that decides its inventory
--    account. It follows the item's `kind` (component → sub_assembly),
--    except that a bought item (kind raw_material) may be merchandise:
--    bought to be sold as it is. The column is added nullable because
--    SQLite checks an added column's CHECK against the rows already there
--    before they can be filled; the CHECK holds for every non-null value
--    and the store always writes one.
-- 3. New move reasons: scrap, customer_return and opening. The reason
--    CHECK is part of `stock_moves`, which SQLite cannot alter: the table
--    is rebuilt (new table, copy, drop, rename) as in the tenancy
--    migration; each move also records the category it was booked under,
--    so a later valuation groups it where the ledger posted it. The
--    append-only triggers and the PostgreSQL policies are installed again
--    from Rust (src/store/schema.rs).

ALTER TABLE items ADD COLUMN category TEXT
    CHECK (category IN ('raw_material', 'sub_assembly', 'finished_good', 'merchandise')
           AND (category = CASE kind WHEN 'component' THEN 'sub_assembly' ELSE kind END
                OR (kind = 'raw_material' AND category = 'merchandise')));
UPDATE items SET category = CASE kind WHEN 'component' THEN 'sub_assembly' ELSE kind END;

-- Unit costs and values to fine units (× 10 000).
UPDATE items SET standard_cost = standard_cost * 10000;
UPDATE stock_levels SET value = value * 10000;

CREATE TABLE stock_moves_v2 (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    sku           TEXT NOT NULL,
    warehouse     TEXT NOT NULL,
    qty           BIGINT NOT NULL CHECK (qty <> 0),
    -- Fine units per unit (the receipt's cost, or the average taken at).
    unit_cost     BIGINT NOT NULL CHECK (unit_cost >= 0),
    -- The change of the bin's booked value, minor units: what is published.
    value         BIGINT NOT NULL,
    -- The exact change of the bin's value, fine units.
    fine_value    BIGINT NOT NULL,
    category      TEXT NOT NULL
                  CHECK (category IN ('raw_material', 'sub_assembly', 'finished_good',
                                      'merchandise')),
    reason        TEXT NOT NULL
                  CHECK (reason IN ('receipt', 'issue', 'production_consume', 'production_output',
                                    'adjustment', 'transfer', 'shipment', 'scrap',
                                    'customer_return', 'opening')),
    reference     TEXT,
    note          TEXT,
    work_order_id TEXT,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    FOREIGN KEY (tenant_id, sku) REFERENCES items (tenant_id, sku),
    FOREIGN KEY (tenant_id, warehouse) REFERENCES warehouses (tenant_id, code),
    CONSTRAINT stock_moves_value_sign CHECK ((qty > 0 AND value >= 0) OR (qty < 0 AND value <= 0)),
    CONSTRAINT stock_moves_fine_value_sign
        CHECK ((qty > 0 AND fine_value >= 0) OR (qty < 0 AND fine_value <= 0)),
    CONSTRAINT stock_moves_reason_sign CHECK (
        (reason IN ('receipt', 'production_output', 'customer_return', 'opening') AND qty > 0)
        OR (reason IN ('issue', 'production_consume', 'shipment', 'scrap') AND qty < 0)
        OR reason IN ('adjustment', 'transfer'))
);
INSERT INTO stock_moves_v2 (id, tenant_id, sku, warehouse, qty, unit_cost, value, fine_value,
                            category, reason, reference, note, work_order_id, created_by,
                            created_at)
    SELECT m.id, m.tenant_id, m.sku, m.warehouse, m.qty, m.unit_cost * 10000, m.value,
           m.value * 10000, i.category, m.reason, m.reference, m.note, m.work_order_id,
           m.created_by, m.created_at
    FROM stock_moves m JOIN items i ON i.tenant_id = m.tenant_id AND i.sku = m.sku;

DROP TABLE stock_moves;
ALTER TABLE stock_moves_v2 RENAME TO stock_moves;

CREATE INDEX stock_moves_sku_idx ON stock_moves (tenant_id, sku, created_at);
CREATE INDEX stock_moves_created_idx ON stock_moves (tenant_id, created_at);
CREATE INDEX stock_moves_work_order_idx ON stock_moves (tenant_id, work_order_id);
