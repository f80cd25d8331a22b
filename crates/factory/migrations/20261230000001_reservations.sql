-- One stock authority (docs/ARCHITECTURE.md, "factory"): the shop's
-- orders reserve stock here, as holds.
--
-- A hold is one order line's reservation of a bin (item, warehouse),
-- keyed by the shop's order id: placing the hold twice with the same order
-- is the same hold (idempotent). It lives `held` until the order's
-- `shop.order.placed` confirms it, or expires when that never comes (the
-- shop's transaction failed after the hold); `shop.order.cancelled`
-- releases it and `shop.order.shipped` turns it into a shipment move. The
-- quantity it reserves is counted in `stock_levels.reserved` in the same
-- transaction as every change of its status.
CREATE TABLE stock_holds (
    tenant_id  TEXT NOT NULL,
    order_id   TEXT NOT NULL,
    sku        TEXT NOT NULL,
    warehouse  TEXT NOT NULL,
    qty        BIGINT NOT NULL CHECK (qty > 0),
    status     TEXT NOT NULL
               CHECK (status IN ('held', 'confirmed', 'released', 'expired', 'shipped')),
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, order_id, sku, warehouse),
    FOREIGN KEY (tenant_id, sku) REFERENCES items (tenant_id, sku),
    FOREIGN KEY (tenant_id, warehouse) REFERENCES warehouses (tenant_id, code)
);
-- The expiry sweep looks across tenants for holds past their deadline
-- (like the shop's order expiry), so this one index is led by status.
CREATE INDEX stock_holds_due_idx ON stock_holds (status, expires_at);

-- A bin's change counter: one more with every change of on hand or
-- reserved, in the transaction of the change, so readers of
-- `factory.stock.changed` can tell an older event from a newer one.
ALTER TABLE stock_levels ADD COLUMN seq BIGINT NOT NULL DEFAULT 0 CHECK (seq >= 0);
