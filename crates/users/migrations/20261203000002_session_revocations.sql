-- Per-account revocation marks (issue 14.2): access tokens issued before
-- `not_before` (unix milliseconds) are refused by every service. Set on
-- deactivation, role change, password change and sign-out everywhere;
-- listed at `/internal/revocations` for services that start later.
CREATE TABLE session_revocations (
    user_id    TEXT PRIMARY KEY,
    not_before BIGINT NOT NULL
);
