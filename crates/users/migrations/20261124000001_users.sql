-- The users service's schema. One SQL text for SQLite and PostgreSQL:
-- ids are UUIDv7 text, times are fixed-width RFC 3339 text (platform::clock),
-- flags are BIGINT 0/1 (sqlx's Any driver cannot decode a SQLite BOOLEAN
-- column), counters are BIGINT.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    -- Always stored normalised (trimmed, lower-cased), so the unique index
    -- below makes addresses unique case-insensitively.
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    -- argon2id PHC string; bcrypt ($2a$/$2b$/$2y$) for accounts carried over
    -- from the original system until their next sign-in.
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL
                  CHECK (role IN ('admin', 'manager', 'accountant', 'shop_manager', 'user')),
    active        BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_created_idx ON users (created_at, id);

-- A family is one sign-in: every refresh token rotated from it belongs to
-- it, and presenting a used token revokes the whole family.
CREATE TABLE token_families (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX token_families_user_idx ON token_families (user_id);

-- Refresh tokens are stored only as the hex SHA-256 of the opaque token.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES token_families (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    -- Set when the token is rotated; a token is usable only while NULL.
    used_at    TEXT
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- Brute-force protection, shared by every replica. Keyed by the normalised
-- email (not the user id), so unknown addresses are throttled exactly like
-- real accounts and a 429 reveals nothing about which accounts exist.
CREATE TABLE login_throttle (
    email           TEXT PRIMARY KEY,
    -- Consecutive failed attempts (an attempt counts from the moment it is
    -- admitted; a success deletes the row).
    failures        BIGINT NOT NULL,
    blocked_until   TEXT,
    last_attempt_at TEXT NOT NULL
);
CREATE INDEX login_throttle_last_idx ON login_throttle (last_attempt_at);
