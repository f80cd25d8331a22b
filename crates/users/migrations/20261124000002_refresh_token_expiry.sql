-- The periodic session purge deletes refresh tokens by expiry.
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
