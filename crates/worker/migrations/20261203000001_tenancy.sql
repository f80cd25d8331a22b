-- Tenancy (docs/TENANCY.md): every worker table belongs to a tenant. Rows
-- from before tenancy become the default tenant's. Unique keys and indexes
-- lead with tenant_id; (tenant_id, id) is unique where a composite foreign
-- key (PostgreSQL, src/store/schema.rs) points at the table.
ALTER TABLE outgoing_mail ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE audit_log ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE notifications ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE notification_reads ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE webhooks ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE webhook_deliveries ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE webhook_attempts ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';

DROP INDEX outgoing_mail_event_key;
CREATE UNIQUE INDEX outgoing_mail_event_key ON outgoing_mail (tenant_id, event_id);
-- The sender loop looks for due mail across tenants: this index stays.

DROP INDEX audit_log_event_key;
DROP INDEX audit_log_time_idx;
DROP INDEX audit_log_actor_idx;
DROP INDEX audit_log_action_idx;
DROP INDEX audit_log_target_idx;
CREATE UNIQUE INDEX audit_log_event_key ON audit_log (tenant_id, event_id);
CREATE INDEX audit_log_time_idx ON audit_log (tenant_id, occurred_at, id);
CREATE INDEX audit_log_actor_idx ON audit_log (tenant_id, actor, occurred_at);
CREATE INDEX audit_log_action_idx ON audit_log (tenant_id, action, occurred_at);
CREATE INDEX audit_log_target_idx ON audit_log (tenant_id, target, occurred_at);

DROP INDEX notifications_user_event_key;
DROP INDEX notifications_role_event_key;
DROP INDEX notifications_user_idx;
DROP INDEX notifications_role_idx;
CREATE UNIQUE INDEX notifications_tenant_id_key ON notifications (tenant_id, id);
CREATE UNIQUE INDEX notifications_user_event_key ON notifications (tenant_id, user_id, event_id);
CREATE UNIQUE INDEX notifications_role_event_key ON notifications (tenant_id, audience_role, event_id);
CREATE INDEX notifications_user_idx ON notifications (tenant_id, user_id, created_at);
CREATE INDEX notifications_role_idx ON notifications (tenant_id, audience_role, created_at);

DROP INDEX webhooks_live_idx;
CREATE UNIQUE INDEX webhooks_tenant_id_key ON webhooks (tenant_id, id);
CREATE INDEX webhooks_live_idx ON webhooks (tenant_id, deleted_at, created_at);

DROP INDEX webhook_deliveries_event_key;
DROP INDEX webhook_deliveries_hook_idx;
CREATE UNIQUE INDEX webhook_deliveries_tenant_id_key ON webhook_deliveries (tenant_id, id);
CREATE UNIQUE INDEX webhook_deliveries_event_key ON webhook_deliveries (tenant_id, webhook_id, event_id);
CREATE INDEX webhook_deliveries_hook_idx ON webhook_deliveries (tenant_id, webhook_id, created_at);
-- webhook_deliveries_due_idx stays: the delivery loop works across tenants.

DROP INDEX webhook_attempts_delivery_key;
CREATE UNIQUE INDEX webhook_attempts_delivery_key ON webhook_attempts (tenant_id, delivery_id, attempt);
