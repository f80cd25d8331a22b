-- Who marked an order paid, and with what proof (issue 14.3): staff record
-- the method and reference of a payment received; the payment provider's
-- signed callback records its own reference. Refunds leave them NULL.
ALTER TABLE payments ADD COLUMN method TEXT;
ALTER TABLE payments ADD COLUMN reference TEXT;
ALTER TABLE payments ADD COLUMN recorded_by TEXT;

-- Provider callbacks already applied, by the provider's event id: a
-- replayed or retried callback changes nothing.
CREATE TABLE payment_callbacks (
    event_id    TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    received_at TEXT NOT NULL
);
