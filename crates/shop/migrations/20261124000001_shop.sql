-- The shop service's schema: catalog, orders, their history and payments,
-- the shop's own settings and remembered Idempotency-Keys.
--
-- One SQL text for SQLite and PostgreSQL: ids are UUIDv7 text, times are
-- fixed-width RFC 3339 text (platform::clock, sorts correctly as text),
-- money is BIGINT minor units next to an ISO 4217 code, flags are BIGINT
-- 0/1 (sqlx's Any driver cannot decode a SQLite BOOLEAN column).

CREATE TABLE products (
    id              TEXT PRIMARY KEY,
    -- Links the product to a finished good of the factory; unique when set
    -- (NULLs are distinct in both backends' unique indexes).
    sku             TEXT,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    -- Lower-cased copies (Unicode-aware, done in Rust) that catalog search
    -- matches with LIKE: SQLite's LOWER() only folds ASCII, PostgreSQL's
    -- folds everything, so folding in SQL would answer differently.
    name_key        TEXT NOT NULL,
    description_key TEXT NOT NULL DEFAULT '',
    price           BIGINT NOT NULL CHECK (price > 0),
    currency        TEXT NOT NULL,
    -- Units available to order. Orders reserve with a conditional update
    -- (`stock >= qty`); the check makes overselling impossible even for a
    -- statement that forgot the condition.
    stock           BIGINT NOT NULL CHECK (stock >= 0),
    category        TEXT NOT NULL DEFAULT '',
    image_url       TEXT NOT NULL DEFAULT '',
    active          BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX products_sku_key ON products (sku);
CREATE INDEX products_category_idx ON products (category, active);
CREATE INDEX products_created_idx ON products (created_at, id);

CREATE TABLE orders (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    -- From the caller's token at placement (for notifications).
    email      TEXT NOT NULL,
    status     TEXT NOT NULL
               CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'expired')),
    currency   TEXT NOT NULL,
    subtotal   BIGINT NOT NULL CHECK (subtotal >= 0),
    tax        BIGINT NOT NULL CHECK (tax >= 0),
    total      BIGINT NOT NULL,
    -- The rate applied, in millionths (8.25 % = 82500).
    tax_rate   BIGINT NOT NULL CHECK (tax_rate >= 0 AND tax_rate <= 1000000),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    -- A pending order releases its stock after this time.
    expires_at TEXT NOT NULL,
    CHECK (total = subtotal + tax)
);
CREATE INDEX orders_user_idx ON orders (user_id, created_at);
CREATE INDEX orders_created_idx ON orders (created_at);
-- The expiry sweep: pending orders by deadline.
CREATE INDEX orders_status_expires_idx ON orders (status, expires_at);

-- The lines of an order: a snapshot of what was charged. The foreign key
-- keeps a product that was ever ordered from being deleted (it is
-- deactivated instead).
CREATE TABLE order_items (
    order_id   TEXT NOT NULL REFERENCES orders (id),
    line_no    BIGINT NOT NULL,
    product_id TEXT NOT NULL REFERENCES products (id),
    sku        TEXT,
    name       TEXT NOT NULL,
    unit_price BIGINT NOT NULL CHECK (unit_price > 0),
    quantity   BIGINT NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    line_total BIGINT NOT NULL,
    PRIMARY KEY (order_id, line_no),
    CHECK (line_total = unit_price * quantity)
);
CREATE INDEX order_items_product_idx ON order_items (product_id);

-- Append-only history: one row per transition (placement included).
CREATE TABLE order_events (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    -- NULL for the placement.
    from_status TEXT,
    to_status   TEXT NOT NULL,
    -- A user id, or 'system' (expiry).
    actor       TEXT NOT NULL,
    reason      TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

-- Simulated payments: a capture when an order is paid, a refund when a
-- paid order is cancelled; at most one of each per order.
CREATE TABLE payments (
    id         TEXT PRIMARY KEY,
    order_id   TEXT NOT NULL REFERENCES orders (id),
    kind       TEXT NOT NULL CHECK (kind IN ('capture', 'refund')),
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    currency   TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX payments_order_kind_key ON payments (order_id, kind);

-- The shop's own settings (`tax_rate`, `order_ttl_minutes`), fed by
-- `config.setting.changed` events. `version` is the config service's
-- version of the value: an older one arriving late is ignored.
CREATE TABLE shop_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    version    BIGINT NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

-- `Idempotency-Key` of order placements, per user. Written in the
-- placement's transaction, so only placements that happened are
-- remembered.
CREATE TABLE idempotency_keys (
    user_id      TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
