-- Tenancy (issue 19, docs/TENANCY.md): businesses and who belongs to them.
-- People (users, their emails and passwords) stay global: one account can
-- belong to several businesses, with a role in each (a membership).

-- The registry of businesses. Global (no tenant policy): sign-in and
-- sign-up look tenants up by slug before any tenant is known.
CREATE TABLE tenants (
    -- `default` for the installation's first business, else a UUIDv7.
    id                      TEXT PRIMARY KEY,
    -- Lower-case letters, digits and '-', unique (domain::parse_slug).
    slug                    TEXT NOT NULL,
    name                    TEXT NOT NULL,
    -- ISO 4217, upper case.
    currency                TEXT NOT NULL CHECK (length(currency) = 3),
    fiscal_year_start_month BIGINT NOT NULL DEFAULT 1
                            CHECK (fiscal_year_start_month BETWEEN 1 AND 12),
    active                  BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at              TEXT NOT NULL
);
CREATE UNIQUE INDEX tenants_slug_key ON tenants (slug);

-- The business that existed before tenancy. Its name and currency are the
-- settings this service already holds, if any (the config service's
-- seeds otherwise); it exists since its first account.
INSERT INTO tenants (id, slug, name, currency, fiscal_year_start_month, active, created_at)
VALUES (
    'default',
    'default',
    COALESCE((SELECT value FROM users_settings WHERE key = 'app_name'), 'Marimo ERP'),
    COALESCE((SELECT upper(value) FROM users_settings
               WHERE key = 'currency' AND length(value) = 3), 'USD'),
    1,
    1,
    COALESCE((SELECT MIN(created_at) FROM users), '2026-12-04T00:00:00.000000Z')
);

-- A person's place in a business: their role there and whether they may
-- act in it (deactivation is per business). A business table: under the
-- tenant policy on PostgreSQL (see `Users::schema`).
CREATE TABLE memberships (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL
               CHECK (role IN ('admin', 'manager', 'accountant', 'shop_manager', 'user')),
    active     BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
-- "My tenants", oldest first (sign-in picks the oldest when there is no
-- default membership).
CREATE INDEX memberships_user_idx ON memberships (user_id, created_at);
CREATE INDEX memberships_tenant_created_idx ON memberships (tenant_id, created_at, user_id);

-- Every existing account belongs to the default business with its role.
INSERT INTO memberships (tenant_id, user_id, role, active, created_at)
SELECT 'default', id, role, active, created_at FROM users;

-- A session (refresh-token family) acts in one tenant; refresh keeps it.
-- Sessions are looked up by token hash before the tenant is known, so the
-- table stays a system table (no policy) that records the tenant.
ALTER TABLE token_families ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
