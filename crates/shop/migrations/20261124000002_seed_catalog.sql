-- The original Marimo catalog (API-COMPAT.md): "Premium Widget" 29.99
-- (stock 50) and "Deluxe Gadget" 49.99 (stock 30), category Electronics,
-- in USD. Seeded by a migration so that it happens exactly once, even when
-- replicas start together (sqlx serialises migrations), and never again
-- after an admin changed or removed these products. Fixed UUIDv7 ids.

INSERT INTO products (id, sku, name, description, name_key, description_key, price, currency,
                      stock, category, image_url, active, created_at, updated_at)
VALUES
    ('0193a0c0-0000-7000-8000-000000000001', 'WIDGET-PREMIUM', 'Premium Widget',
     'High-quality premium widget', 'premium widget', 'high-quality premium widget',
     2999, 'USD', 50, 'Electronics', '', 1,
     '2026-11-24T00:00:00.000000Z', '2026-11-24T00:00:00.000000Z'),
    ('0193a0c0-0000-7000-8000-000000000002', 'GADGET-DELUXE', 'Deluxe Gadget',
     'Deluxe gadget with advanced features', 'deluxe gadget', 'deluxe gadget with advanced features',
     4999, 'USD', 30, 'Electronics', '', 1,
     '2026-11-24T00:00:00.000000Z', '2026-11-24T00:00:00.000000Z');
