-- Perpetual inventory (docs/ARCHITECTURE.md "Postings"): the accounts it
-- needs in every tenant's chart, and each tenant's inventory-account
-- mapping, which decides where a `factory.stock.moved` posts.

-- 1. The accounts perpetual inventory adds to the standard chart, for
-- every tenant that has books (a `currency` setting). An account a tenant
-- already has under one of these codes is left exactly as it is; if its
-- type does not fit, the mapping below simply does not use it, and the
-- accountant maps another account.
INSERT INTO accounts (tenant_id, code, name, account_type, parent_code, active, created_at, updated_at)
SELECT s.tenant_id, d.code, d.name, d.account_type, NULL, 1,
       '2026-12-31T00:00:00.000000Z', '2026-12-31T00:00:00.000000Z'
FROM ledger_settings s
CROSS JOIN (
    SELECT '1230' AS code, 'Sub-assemblies inventory' AS name, 'asset' AS account_type
    UNION ALL SELECT '1240', 'Merchandise inventory', 'asset'
    UNION ALL SELECT '2050', 'Goods received not invoiced', 'liability'
    UNION ALL SELECT '3900', 'Opening balance equity', 'equity'
    UNION ALL SELECT '5100', 'Inventory adjustments', 'expense'
) d
WHERE s.name = 'currency'
ON CONFLICT (tenant_id, code) DO NOTHING;

-- 2. The target of the mapping's composite foreign key: a mapping row
-- names the account's type too, so the database itself refuses a row
-- whose account has another type than the row says, and (by the CHECK
-- below) a type its role cannot use; an account's type cannot change
-- while a mapping row names it.
CREATE UNIQUE INDEX accounts_code_type_key ON accounts (tenant_id, code, account_type);

-- 3. The mapping. `role` is an item category (its inventory account) or
-- a counter-account of the moves' reasons: `grni` (receipts), `wip`
-- (production issues and output), `cogs` (shipments, customer returns),
-- `adjustments` (counts, scrap, transfer rounding), `opening` (opening
-- stock). `warehouse` is empty for a role's own account, or a warehouse
-- code for a category's override in that warehouse.
CREATE TABLE inventory_accounts (
    tenant_id    TEXT NOT NULL DEFAULT 'default',
    role         TEXT NOT NULL CHECK (role IN ('raw_material', 'sub_assembly', 'finished_good',
                     'merchandise', 'grni', 'wip', 'cogs', 'adjustments', 'opening')),
    warehouse    TEXT NOT NULL DEFAULT '',
    account_code TEXT NOT NULL,
    account_type TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    CHECK (warehouse = ''
        OR role IN ('raw_material', 'sub_assembly', 'finished_good', 'merchandise')),
    CHECK ((role IN ('raw_material', 'sub_assembly', 'finished_good', 'merchandise', 'wip')
            AND account_type = 'asset')
        OR (role = 'grni' AND account_type = 'liability')
        OR (role IN ('cogs', 'adjustments') AND account_type = 'expense')
        OR (role = 'opening' AND account_type = 'equity')),
    CONSTRAINT inventory_accounts_key PRIMARY KEY (tenant_id, role, warehouse),
    CONSTRAINT inventory_accounts_account_fk FOREIGN KEY (tenant_id, account_code, account_type)
        REFERENCES accounts (tenant_id, code, account_type)
);

CREATE INDEX inventory_accounts_account_idx ON inventory_accounts (tenant_id, account_code);

-- 4. The default mapping for every tenant with books, onto active
-- accounts of the right type only (domain::inventory::DEFAULT_MAPPING).
INSERT INTO inventory_accounts (tenant_id, role, warehouse, account_code, account_type, updated_at)
SELECT a.tenant_id, d.role, '', a.code, a.account_type, '2026-12-31T00:00:00.000000Z'
FROM (
    SELECT 'raw_material' AS role, '1200' AS code, 'asset' AS account_type
    UNION ALL SELECT 'sub_assembly', '1230', 'asset'
    UNION ALL SELECT 'finished_good', '1220', 'asset'
    UNION ALL SELECT 'merchandise', '1240', 'asset'
    UNION ALL SELECT 'grni', '2050', 'liability'
    UNION ALL SELECT 'wip', '1210', 'asset'
    UNION ALL SELECT 'cogs', '5000', 'expense'
    UNION ALL SELECT 'adjustments', '5100', 'expense'
    UNION ALL SELECT 'opening', '3900', 'equity'
) d
JOIN accounts a ON a.code = d.code AND a.account_type = d.account_type AND a.active = 1
-- (SQLite reads an upsert's ON as the join's without a WHERE between.)
WHERE true
ON CONFLICT (tenant_id, role, warehouse) DO NOTHING;

-- 5. A stock transaction posts once: besides the inbox (one event id
-- once) and the consumer's look-up of the reference, the database holds
-- one original entry per `factory:` reference and tenant, so even two
-- events of one transaction under different ids cannot both post.
CREATE UNIQUE INDEX journal_entries_factory_reference_key
    ON journal_entries (tenant_id, reference)
    WHERE source = 'event' AND reverses_id IS NULL AND reference LIKE 'factory:%';
