-- Idempotency keys take the platform's shared shape (`platform::idempotency`):
-- the key's owner column is `caller` in every service.
ALTER TABLE idempotency_keys RENAME COLUMN user_id TO caller;
