-- The worker service's schema. One SQL text for SQLite and PostgreSQL:
-- ids are UUIDv7 text, times are fixed-width RFC 3339 text (platform::clock,
-- so they sort and compare as text), flags and counters are BIGINT (sqlx's
-- Any driver cannot decode a SQLite BOOLEAN column).
--
-- The append-only triggers of audit_log are backend-specific DDL and are
-- created from Rust after these migrations (src/store/schema.rs).

-- One row per mail to send; event_id UNIQUE makes "one mail per event" a
-- database rule as well as the inbox's. The sender loop claims a due row by
-- moving next_attempt_at forward (a lease), so replicas never send the same
-- row at the same time.
CREATE TABLE outgoing_mail (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL,
    template        TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE UNIQUE INDEX outgoing_mail_event_key ON outgoing_mail (event_id);
CREATE INDEX outgoing_mail_due_idx ON outgoing_mail (status, next_attempt_at);

-- Append-only (triggers refuse UPDATE and DELETE). One row per event.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    event_id    TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    source      TEXT NOT NULL,
    actor       TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    client_ip   TEXT,
    request_id  TEXT,
    -- JSON text: the event's payload with secret-looking fields redacted.
    details     TEXT NOT NULL
);
CREATE UNIQUE INDEX audit_log_event_key ON audit_log (event_id);
CREATE INDEX audit_log_time_idx ON audit_log (occurred_at, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, occurred_at);
CREATE INDEX audit_log_action_idx ON audit_log (action, occurred_at);
CREATE INDEX audit_log_target_idx ON audit_log (target, occurred_at);

-- In-app notifications. A row is addressed either to one user (user_id) or
-- to everyone holding a role (audience_role), never both. A personal row
-- keeps its read time in read_at; a role row is shared by many readers, so
-- each reader's read time is a row in notification_reads.
CREATE TABLE notifications (
    id            TEXT PRIMARY KEY,
    user_id       TEXT,
    audience_role TEXT
                  CHECK (audience_role IS NULL
                         OR audience_role IN ('admin', 'manager', 'accountant', 'shop_manager', 'user')),
    event_id      TEXT NOT NULL,
    kind          TEXT NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    read_at       TEXT,
    CHECK ((user_id IS NULL AND audience_role IS NOT NULL)
           OR (user_id IS NOT NULL AND audience_role IS NULL)),
    CHECK (read_at IS NULL OR user_id IS NOT NULL)
);
-- NULLs are distinct in unique indexes on both backends, so each index
-- only constrains its own kind of row.
CREATE UNIQUE INDEX notifications_user_event_key ON notifications (user_id, event_id);
CREATE UNIQUE INDEX notifications_role_event_key ON notifications (audience_role, event_id);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at);
CREATE INDEX notifications_role_idx ON notifications (audience_role, created_at);

CREATE TABLE notification_reads (
    notification_id TEXT NOT NULL REFERENCES notifications (id),
    user_id         TEXT NOT NULL,
    read_at         TEXT NOT NULL,
    PRIMARY KEY (notification_id, user_id)
);

-- Webhooks registered by admins. The secret is kept as given: it is the
-- HMAC key every delivery is signed with. Deleting a webhook sets
-- deleted_at, so its delivery history stays readable in the database.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    -- JSON array of topic patterns (`shop.order.*`, `#`).
    event_types TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_by  TEXT,
    created_at  TEXT NOT NULL,
    deleted_at  TEXT
);
CREATE INDEX webhooks_live_idx ON webhooks (deleted_at, created_at);

-- One row per (webhook, event). payload is the exact body POSTed on every
-- attempt, so the signature of a retry is the same as the first one's.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id),
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_status_code BIGINT,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    delivered_at     TEXT
);
CREATE UNIQUE INDEX webhook_deliveries_event_key ON webhook_deliveries (webhook_id, event_id);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook_idx ON webhook_deliveries (webhook_id, created_at);

-- Every delivery attempt, successful or not.
CREATE TABLE webhook_attempts (
    id          TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id),
    attempt     BIGINT NOT NULL,
    at          TEXT NOT NULL,
    status_code BIGINT,
    error       TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX webhook_attempts_delivery_key ON webhook_attempts (delivery_id, attempt);
