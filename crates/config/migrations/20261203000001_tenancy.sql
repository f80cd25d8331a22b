-- Tenancy (docs/TENANCY.md): settings, their history, units and tax rates
-- belong to a tenant; the default tenant's rows are the installation's
-- defaults, which every other tenant reads where it has no row of its
-- own. Rows from before tenancy become the default tenant's. Currencies
-- stay shared ISO reference data (no tenant_id).
--
-- SQLite cannot change a primary key in place, so settings, units and
-- tax_rates are rebuilt (new table, copy, drop, rename) on both backends.

CREATE TABLE settings_by_tenant (
    tenant_id   TEXT NOT NULL DEFAULT 'default',
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    type        TEXT NOT NULL DEFAULT 'app' CHECK (type IN ('system', 'app', 'user')),
    value_type  TEXT NOT NULL DEFAULT 'string'
                CHECK (value_type IN ('string', 'int', 'decimal', 'bool', 'json')),
    description TEXT NOT NULL DEFAULT '',
    version     BIGINT NOT NULL CHECK (version >= 1),
    updated_by  TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
INSERT INTO settings_by_tenant
    (tenant_id, key, value, type, value_type, description, version, updated_by, updated_at)
    SELECT 'default', key, value, type, value_type, description, version, updated_by, updated_at
    FROM settings;
DROP TABLE settings;
ALTER TABLE settings_by_tenant RENAME TO settings;

-- config_history is append-only (triggers): it gains the column and its
-- unique key leads with the tenant, so each tenant's key has its own
-- versions.
ALTER TABLE config_history ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
DROP INDEX config_history_key_version;
CREATE UNIQUE INDEX config_history_key_version ON config_history (tenant_id, key, version);

CREATE TABLE units_by_tenant (
    tenant_id   TEXT NOT NULL DEFAULT 'default',
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    updated_by  TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, code)
);
INSERT INTO units_by_tenant (tenant_id, code, name, updated_by, updated_at)
    SELECT 'default', code, name, updated_by, updated_at FROM units;
DROP TABLE units;
ALTER TABLE units_by_tenant RENAME TO units;

CREATE TABLE tax_rates_by_tenant (
    tenant_id   TEXT NOT NULL DEFAULT 'default',
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    rate        BIGINT NOT NULL CHECK (rate BETWEEN 0 AND 1000000),
    updated_by  TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, code)
);
INSERT INTO tax_rates_by_tenant (tenant_id, code, name, rate, updated_by, updated_at)
    SELECT 'default', code, name, rate, updated_by, updated_at FROM tax_rates;
DROP TABLE tax_rates;
ALTER TABLE tax_rates_by_tenant RENAME TO tax_rates;
