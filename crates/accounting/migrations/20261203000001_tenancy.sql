-- Tenancy (docs/TENANCY.md): every ledger table carries `tenant_id`, and
-- every key leads with it, so that each tenant has its own chart (account
-- codes), periods, entry numbers per year, settings (its base currency)
-- and category mapping. Existing rows become the default tenant's.
--
-- The keys themselves change (an account's code is unique per tenant, not
-- globally), which neither backend can do in place in one SQL text
-- (SQLite cannot alter a primary key or a foreign key), so each table is
-- rebuilt: the old one is renamed away, the new one created and filled,
-- the old one dropped. Foreign keys between ledger tables become
-- composite, `(tenant_id, x) REFERENCES parent (tenant_id, key)`, on both
-- backends, so no row can point at another tenant's row even by id.
--
-- The append-only and only-grow triggers lived on the old tables and go
-- with them; `store::schema::install_guards` (whose DDL changed with this
-- migration) puts them on the new ones at the same start. The PostgreSQL
-- row policies are `store::schema`'s PostgreSQL-only part.
--
-- `idempotency_keys` is not rebuilt: the platform owns its SQL, and its
-- `caller` is already scoped by tenant (`TenantId::scope`), like the bus's
-- system tables.

ALTER TABLE ledger_settings RENAME TO old_ledger_settings;
ALTER TABLE accounts RENAME TO old_accounts;
ALTER TABLE periods RENAME TO old_periods;
ALTER TABLE period_events RENAME TO old_period_events;
ALTER TABLE entry_counters RENAME TO old_entry_counters;
ALTER TABLE journal_entries RENAME TO old_journal_entries;
ALTER TABLE journal_lines RENAME TO old_journal_lines;
ALTER TABLE reversals RENAME TO old_reversals;
ALTER TABLE account_balances RENAME TO old_account_balances;
ALTER TABLE compat_categories RENAME TO old_compat_categories;
ALTER TABLE compat_transactions RENAME TO old_compat_transactions;

-- A tenant's settings: `currency` is its book (base) currency.
CREATE TABLE ledger_settings (
    tenant_id  TEXT NOT NULL DEFAULT 'default',
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT ledger_settings_key PRIMARY KEY (tenant_id, name)
);

CREATE TABLE accounts (
    tenant_id    TEXT NOT NULL DEFAULT 'default',
    code         TEXT NOT NULL,
    name         TEXT NOT NULL,
    account_type TEXT NOT NULL
                 CHECK (account_type IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
    parent_code  TEXT,
    active       BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    CHECK (parent_code IS NULL OR parent_code <> code),
    CONSTRAINT accounts_key PRIMARY KEY (tenant_id, code),
    CONSTRAINT accounts_parent_fk FOREIGN KEY (tenant_id, parent_code)
        REFERENCES accounts (tenant_id, code)
);

-- Monthly periods. A missing row means "open".
CREATE TABLE periods (
    tenant_id  TEXT NOT NULL DEFAULT 'default',
    period     TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('open', 'closed', 'locked')),
    updated_at TEXT NOT NULL,
    updated_by TEXT,
    CONSTRAINT periods_key PRIMARY KEY (tenant_id, period)
);

CREATE TABLE period_events (
    tenant_id   TEXT NOT NULL DEFAULT 'default',
    id          TEXT NOT NULL,
    period      TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('close', 'reopen', 'lock')),
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at          TEXT NOT NULL,
    CONSTRAINT period_events_key PRIMARY KEY (tenant_id, id),
    CONSTRAINT period_events_period_fk FOREIGN KEY (tenant_id, period)
        REFERENCES periods (tenant_id, period)
);

-- One counter row per tenant and fiscal year: numbers are gapless per
-- tenant (`JE-<year>-<seq>` repeats across tenants).
CREATE TABLE entry_counters (
    tenant_id   TEXT NOT NULL DEFAULT 'default',
    fiscal_year BIGINT NOT NULL,
    next        BIGINT NOT NULL CHECK (next >= 0),
    CONSTRAINT entry_counters_key PRIMARY KEY (tenant_id, fiscal_year)
);

CREATE TABLE journal_entries (
    tenant_id   TEXT NOT NULL DEFAULT 'default',
    id          TEXT NOT NULL,
    number      TEXT NOT NULL,
    fiscal_year BIGINT NOT NULL,
    seq         BIGINT NOT NULL CHECK (seq > 0),
    entry_date  TEXT NOT NULL,
    period      TEXT NOT NULL,
    description TEXT NOT NULL,
    reference   TEXT,
    source      TEXT NOT NULL,
    reverses_id TEXT,
    currency    TEXT NOT NULL,
    total       BIGINT NOT NULL CHECK (total > 0),
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CHECK (reverses_id IS NULL OR reverses_id <> id),
    CONSTRAINT journal_entries_key PRIMARY KEY (tenant_id, id),
    CONSTRAINT journal_entries_period_fk FOREIGN KEY (tenant_id, period)
        REFERENCES periods (tenant_id, period),
    CONSTRAINT journal_entries_reverses_fk FOREIGN KEY (tenant_id, reverses_id)
        REFERENCES journal_entries (tenant_id, id)
);

CREATE TABLE journal_lines (
    tenant_id    TEXT NOT NULL DEFAULT 'default',
    entry_id     TEXT NOT NULL,
    line_no      BIGINT NOT NULL CHECK (line_no > 0),
    account_code TEXT NOT NULL,
    debit        BIGINT NOT NULL CHECK (debit >= 0),
    credit       BIGINT NOT NULL CHECK (credit >= 0),
    memo         TEXT,
    entry_date   TEXT NOT NULL,
    CHECK ((debit > 0 AND credit = 0) OR (debit = 0 AND credit > 0)),
    CONSTRAINT journal_lines_key PRIMARY KEY (tenant_id, entry_id, line_no),
    CONSTRAINT journal_lines_entry_fk FOREIGN KEY (tenant_id, entry_id)
        REFERENCES journal_entries (tenant_id, id),
    CONSTRAINT journal_lines_account_fk FOREIGN KEY (tenant_id, account_code)
        REFERENCES accounts (tenant_id, code)
);

CREATE TABLE reversals (
    tenant_id   TEXT NOT NULL DEFAULT 'default',
    original_id TEXT NOT NULL,
    reversal_id TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT reversals_original_fk FOREIGN KEY (tenant_id, original_id)
        REFERENCES journal_entries (tenant_id, id),
    CONSTRAINT reversals_reversal_fk FOREIGN KEY (tenant_id, reversal_id)
        REFERENCES journal_entries (tenant_id, id)
);

CREATE TABLE account_balances (
    tenant_id    TEXT NOT NULL DEFAULT 'default',
    account_code TEXT NOT NULL,
    period       TEXT NOT NULL,
    debit        BIGINT NOT NULL CHECK (debit >= 0 AND debit <= 100000000000000000),
    credit       BIGINT NOT NULL CHECK (credit >= 0 AND credit <= 100000000000000000),
    CONSTRAINT account_balances_key PRIMARY KEY (tenant_id, account_code, period),
    CONSTRAINT account_balances_account_fk FOREIGN KEY (tenant_id, account_code)
        REFERENCES accounts (tenant_id, code)
);

CREATE TABLE compat_categories (
    tenant_id    TEXT NOT NULL DEFAULT 'default',
    kind         TEXT NOT NULL CHECK (kind IN ('income', 'expense')),
    category     TEXT NOT NULL,
    account_code TEXT NOT NULL,
    CONSTRAINT compat_categories_key PRIMARY KEY (tenant_id, kind, category),
    CONSTRAINT compat_categories_account_fk FOREIGN KEY (tenant_id, account_code)
        REFERENCES accounts (tenant_id, code)
);

CREATE TABLE compat_transactions (
    tenant_id   TEXT NOT NULL DEFAULT 'default',
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('income', 'expense')),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    description TEXT NOT NULL,
    category    TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CONSTRAINT compat_transactions_key PRIMARY KEY (tenant_id, id),
    CONSTRAINT compat_transactions_entry_fk FOREIGN KEY (tenant_id, id)
        REFERENCES journal_entries (tenant_id, id)
);

-- Parents before children: foreign keys are checked as rows arrive.
INSERT INTO ledger_settings (tenant_id, name, value, updated_at)
    SELECT 'default', name, value, updated_at FROM old_ledger_settings;
INSERT INTO accounts (tenant_id, code, name, account_type, parent_code, active, created_at, updated_at)
    SELECT 'default', code, name, account_type, parent_code, active, created_at, updated_at
    FROM old_accounts;
INSERT INTO periods (tenant_id, period, status, updated_at, updated_by)
    SELECT 'default', period, status, updated_at, updated_by FROM old_periods;
INSERT INTO period_events (tenant_id, id, period, action, from_status, to_status, actor, at)
    SELECT 'default', id, period, action, from_status, to_status, actor, at FROM old_period_events;
INSERT INTO entry_counters (tenant_id, fiscal_year, next)
    SELECT 'default', fiscal_year, next FROM old_entry_counters;
INSERT INTO journal_entries (tenant_id, id, number, fiscal_year, seq, entry_date, period,
        description, reference, source, reverses_id, currency, total, created_by, created_at)
    SELECT 'default', id, number, fiscal_year, seq, entry_date, period,
        description, reference, source, reverses_id, currency, total, created_by, created_at
    FROM old_journal_entries;
INSERT INTO journal_lines (tenant_id, entry_id, line_no, account_code, debit, credit, memo, entry_date)
    SELECT 'default', entry_id, line_no, account_code, debit, credit, memo, entry_date
    FROM old_journal_lines;
INSERT INTO reversals (tenant_id, original_id, reversal_id, created_at)
    SELECT 'default', original_id, reversal_id, created_at FROM old_reversals;
INSERT INTO account_balances (tenant_id, account_code, period, debit, credit)
    SELECT 'default', account_code, period, debit, credit FROM old_account_balances;
INSERT INTO compat_categories (tenant_id, kind, category, account_code)
    SELECT 'default', kind, category, account_code FROM old_compat_categories;
INSERT INTO compat_transactions (tenant_id, id, kind, amount, description, category, created_by, created_at)
    SELECT 'default', id, kind, amount, description, category, created_by, created_at
    FROM old_compat_transactions;

-- Children before parents (SQLite checks the foreign keys of a dropped
-- parent). Their indexes and triggers go with them.
DROP TABLE old_compat_transactions;
DROP TABLE old_compat_categories;
DROP TABLE old_account_balances;
DROP TABLE old_reversals;
DROP TABLE old_journal_lines;
DROP TABLE old_journal_entries;
DROP TABLE old_entry_counters;
DROP TABLE old_period_events;
DROP TABLE old_periods;
DROP TABLE old_accounts;
DROP TABLE old_ledger_settings;

CREATE INDEX accounts_parent_idx ON accounts (tenant_id, parent_code);
CREATE INDEX period_events_period_idx ON period_events (tenant_id, period, at);
CREATE UNIQUE INDEX journal_entries_number_key ON journal_entries (tenant_id, number);
CREATE UNIQUE INDEX journal_entries_seq_key ON journal_entries (tenant_id, fiscal_year, seq);
CREATE INDEX journal_entries_date_idx ON journal_entries (tenant_id, entry_date, fiscal_year, seq);
CREATE INDEX journal_entries_reference_idx ON journal_entries (tenant_id, reference);
CREATE INDEX journal_lines_account_idx ON journal_lines (tenant_id, account_code, entry_date);
CREATE INDEX journal_lines_date_idx ON journal_lines (tenant_id, entry_date, account_code);
CREATE UNIQUE INDEX reversals_original_key ON reversals (tenant_id, original_id);
CREATE UNIQUE INDEX reversals_reversal_key ON reversals (tenant_id, reversal_id);
CREATE INDEX account_balances_period_idx ON account_balances (tenant_id, period, account_code);
CREATE INDEX compat_transactions_created_idx ON compat_transactions (tenant_id, created_at, id);
