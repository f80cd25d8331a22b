-- One stock authority (docs/ARCHITECTURE.md): the factory owns on hand,
-- reserved and available per item and warehouse; the shop keeps a read
-- model of them, fed by `factory.stock.changed`.
--
-- One row per tenant and bin (SKU, warehouse), quantities in thousandths
-- as the factory counts them. `seq` is the bin's change counter from the
-- event: a row is only ever replaced by a higher one, so an event that
-- arrives late or twice changes nothing.
CREATE TABLE stock_availability (
    tenant_id  TEXT NOT NULL,
    sku        TEXT NOT NULL,
    warehouse  TEXT NOT NULL,
    on_hand    BIGINT NOT NULL CHECK (on_hand >= 0),
    reserved   BIGINT NOT NULL CHECK (reserved >= 0 AND reserved <= on_hand),
    seq        BIGINT NOT NULL CHECK (seq >= 0),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, sku, warehouse)
);
