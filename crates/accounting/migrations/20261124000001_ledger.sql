-- The accounting service's schema: a double-entry general ledger.
--
-- One SQL text for SQLite and PostgreSQL: ids are UUIDv7 text, dates are
-- `YYYY-MM-DD` text and periods `YYYY-MM` text (both sort correctly as
-- text), times are fixed-width RFC 3339 text (platform::clock), money is
-- BIGINT minor units of the base currency, flags are BIGINT 0/1 (sqlx's Any
-- driver cannot decode a SQLite BOOLEAN column).
--
-- Immutability of posted facts (journal_entries, journal_lines, reversals,
-- compat_transactions, period_events) and the monotonicity of
-- account_balances are enforced by triggers. Trigger DDL differs between the
-- backends, so it is not here: `store::schema::install_guards` runs it after
-- the migrations, idempotently.

-- The service's own settings. `currency` is the ledger's base currency; a
-- later config integration writes here.
CREATE TABLE ledger_settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE accounts (
    code         TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    account_type TEXT NOT NULL
                 CHECK (account_type IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
    parent_code  TEXT REFERENCES accounts (code),
    active       BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    CHECK (parent_code IS NULL OR parent_code <> code)
);
CREATE INDEX accounts_parent_idx ON accounts (parent_code);

-- Monthly periods. A missing row means "open"; posting creates the row of
-- its period, closing/locking updates it.
CREATE TABLE periods (
    period     TEXT PRIMARY KEY,
    status     TEXT NOT NULL CHECK (status IN ('open', 'closed', 'locked')),
    updated_at TEXT NOT NULL,
    updated_by TEXT
);

-- Append-only history of period status changes (who closed what, when).
CREATE TABLE period_events (
    id          TEXT PRIMARY KEY,
    period      TEXT NOT NULL REFERENCES periods (period),
    action      TEXT NOT NULL CHECK (action IN ('close', 'reopen', 'lock')),
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX period_events_period_idx ON period_events (period, at);

-- One counter row per fiscal (= calendar) year. Posting increments it in
-- its own transaction, so numbers are gapless: a rolled-back posting rolls
-- its increment back too, and the row lock serialises concurrent postings.
-- `next` is the last number handed out.
CREATE TABLE entry_counters (
    fiscal_year BIGINT PRIMARY KEY,
    next        BIGINT NOT NULL CHECK (next >= 0)
);

CREATE TABLE journal_entries (
    id          TEXT PRIMARY KEY,
    number      TEXT NOT NULL,
    fiscal_year BIGINT NOT NULL,
    seq         BIGINT NOT NULL CHECK (seq > 0),
    entry_date  TEXT NOT NULL,
    period      TEXT NOT NULL REFERENCES periods (period),
    description TEXT NOT NULL,
    reference   TEXT,
    -- api | compat | event: which path posted it (a reversal has reverses_id).
    source      TEXT NOT NULL,
    -- Set on a reversing entry: the entry it mirrors.
    reverses_id TEXT REFERENCES journal_entries (id),
    currency    TEXT NOT NULL,
    -- Σ debit = Σ credit of the lines, in minor units.
    total       BIGINT NOT NULL CHECK (total > 0),
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    CHECK (reverses_id IS NULL OR reverses_id <> id)
);
CREATE UNIQUE INDEX journal_entries_number_key ON journal_entries (number);
CREATE UNIQUE INDEX journal_entries_seq_key ON journal_entries (fiscal_year, seq);
CREATE INDEX journal_entries_date_idx ON journal_entries (entry_date, fiscal_year, seq);
CREATE INDEX journal_entries_reference_idx ON journal_entries (reference);

CREATE TABLE journal_lines (
    entry_id     TEXT NOT NULL REFERENCES journal_entries (id),
    line_no      BIGINT NOT NULL CHECK (line_no > 0),
    account_code TEXT NOT NULL REFERENCES accounts (code),
    debit        BIGINT NOT NULL CHECK (debit >= 0),
    credit       BIGINT NOT NULL CHECK (credit >= 0),
    memo         TEXT,
    -- The entry's date, copied so that ledgers and partial-month report
    -- ranges read one index of this table.
    entry_date   TEXT NOT NULL,
    PRIMARY KEY (entry_id, line_no),
    -- Exactly one side, positive.
    CHECK ((debit > 0 AND credit = 0) OR (debit = 0 AND credit > 0))
);
CREATE INDEX journal_lines_account_idx ON journal_lines (account_code, entry_date);
CREATE INDEX journal_lines_date_idx ON journal_lines (entry_date, account_code);

-- The link between an entry and its reversal, kept apart so that entries
-- are never updated. Each entry is reversed at most once, and a reversing
-- entry reverses exactly one entry.
CREATE TABLE reversals (
    original_id TEXT NOT NULL REFERENCES journal_entries (id),
    reversal_id TEXT NOT NULL REFERENCES journal_entries (id),
    created_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX reversals_original_key ON reversals (original_id);
CREATE UNIQUE INDEX reversals_reversal_key ON reversals (reversal_id);

-- Per-account, per-month totals, maintained by posting in its transaction.
-- Reports read these (accounts × months rows), not the lines. Both columns
-- only grow (a reversal adds to the other side), which a trigger enforces.
CREATE TABLE account_balances (
    account_code TEXT NOT NULL REFERENCES accounts (code),
    period       TEXT NOT NULL,
    -- Bounded far below i64::MAX, so that an absurd volume fails cleanly
    -- here instead of overflowing (SQLite would turn the sum into a REAL).
    debit        BIGINT NOT NULL CHECK (debit >= 0 AND debit <= 100000000000000000),
    credit       BIGINT NOT NULL CHECK (credit >= 0 AND credit <= 100000000000000000),
    PRIMARY KEY (account_code, period)
);
CREATE INDEX account_balances_period_idx ON account_balances (period, account_code);

-- Idempotency-Key records: the first response of a posting request, stored
-- in the posting's transaction. Keys are scoped to the caller.
CREATE TABLE idempotency_keys (
    caller       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    -- 0 while the claiming transaction is in flight (never committed so).
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (caller, idem_key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- The original API's income/expense categories → ledger accounts.
CREATE TABLE compat_categories (
    kind         TEXT NOT NULL CHECK (kind IN ('income', 'expense')),
    category     TEXT NOT NULL,
    account_code TEXT NOT NULL REFERENCES accounts (code),
    PRIMARY KEY (kind, category)
);

-- Transactions posted through the original API, as its clients see them;
-- each is one journal entry (same id).
CREATE TABLE compat_transactions (
    id          TEXT PRIMARY KEY REFERENCES journal_entries (id),
    kind        TEXT NOT NULL CHECK (kind IN ('income', 'expense')),
    amount      BIGINT NOT NULL CHECK (amount > 0),
    description TEXT NOT NULL,
    category    TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX compat_transactions_created_idx ON compat_transactions (created_at, id);
