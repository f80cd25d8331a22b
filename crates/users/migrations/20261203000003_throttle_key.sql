-- Brute-force delays are counted per (account, client address) and per
-- client address (issue 14.5): the row's key is `account|<address>|<email>`
-- or `address|<address>` (domain::ThrottleKey), no longer the bare email.
-- Rows keyed the old way are forgotten: they would never be read again.
DELETE FROM login_throttle;
ALTER TABLE login_throttle RENAME COLUMN email TO throttle_key;
