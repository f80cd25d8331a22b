-- Idempotency-Key records of stock POSTs (`platform::idempotency`): the ids
-- of the moves the first request wrote, stored in its transaction.
CREATE TABLE idempotency_keys (
    caller       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (caller, idem_key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
