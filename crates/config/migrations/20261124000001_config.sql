-- The config service's schema. One SQL text for SQLite and PostgreSQL:
-- times are fixed-width RFC 3339 text (platform::clock), versions and
-- counters are BIGINT, enumerations are TEXT with CHECKs. The append-only
-- triggers of config_history are backend-specific and are created from
-- Rust after these migrations (src/store.rs).

CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    -- The original API's `type`: who the setting is for.
    type        TEXT NOT NULL DEFAULT 'app' CHECK (type IN ('system', 'app', 'user')),
    -- What `value` must parse as; checked by the service on every write.
    value_type  TEXT NOT NULL DEFAULT 'string'
                CHECK (value_type IN ('string', 'int', 'decimal', 'bool', 'json')),
    description TEXT NOT NULL DEFAULT '',
    -- Starts at 1, +1 per change; continues across delete and re-create
    -- (taken from config_history), so consumers can ignore stale events.
    version     BIGINT NOT NULL CHECK (version >= 1),
    updated_by  TEXT,
    updated_at  TEXT NOT NULL
);

-- Every change of a setting, appended in the transaction of the change.
CREATE TABLE config_history (
    id          TEXT PRIMARY KEY,
    key         TEXT NOT NULL,
    version     BIGINT NOT NULL CHECK (version >= 1),
    action      TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    old_value   TEXT,
    new_value   TEXT,
    value_type  TEXT NOT NULL,
    changed_by  TEXT,
    changed_at  TEXT NOT NULL
);
-- One row per (key, version): two writers can never both claim a version.
CREATE UNIQUE INDEX config_history_key_version ON config_history (key, version);

CREATE TABLE currencies (
    code        TEXT PRIMARY KEY CHECK (length(code) = 3),
    name        TEXT NOT NULL,
    minor_units BIGINT NOT NULL CHECK (minor_units BETWEEN 0 AND 4),
    updated_by  TEXT,
    updated_at  TEXT NOT NULL
);

CREATE TABLE units (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    updated_by  TEXT,
    updated_at  TEXT NOT NULL
);

-- rate is the percentage in units of 1/10000 of a percent (8.25 % = 82500),
-- exact; 0 ..= 100 %.
CREATE TABLE tax_rates (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    rate        BIGINT NOT NULL CHECK (rate BETWEEN 0 AND 1000000),
    updated_by  TEXT,
    updated_at  TEXT NOT NULL
);
