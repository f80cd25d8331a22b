//! The upgrade path of issue 19: a shop database created by the schema
//! from before tenancy, with orders in it, is taken over by the current
//! service, and everything lands in the `default` tenant, where the
//! original API's clients (default-tenant tokens) see it, while another
//! tenant sees none of it.

use marimo_platform::{auth::Role, bus::Bus, service::ServiceName, tenant::TenantId};
use marimo_testkit::{backends, context_on};
use sqlx::migrate::Migrator;

use crate::support::{App, WIDGET};

/// The shop's migrations as this build knows them.
static MIGRATOR: Migrator = sqlx::migrate!();

/// The first migration of tenancy: the old schema is everything before.
const TENANCY: i64 = 20261203000002;

#[tokio::test]
async fn a_database_from_before_tenancy_becomes_the_default_tenants() {
    for backend in backends() {
        let name = backend.name();
        let settings = backend.settings(&[]).await;
        // The old service's schema, and an order the old code placed:
        // 2 widgets at 29.99 = 59.98, tax 8.25 % = 4.95 (4.948 rounded),
        // total 64.93.
        {
            let old = context_on(ServiceName::Shop, settings.clone(), Bus::embedded()).await;
            let db = old.db().clone();
            let before = Migrator::with_migrations(
                MIGRATOR
                    .iter()
                    .filter(|m| m.version < TENANCY)
                    .cloned()
                    .collect(),
            );
            db.migrate(&before).await.unwrap();
            let order = "0193a0c0-0000-7000-8000-0000000000aa";
            let at = "2026-11-30T10:00:00.000000Z";
            for (sql, binds) in [
                (
                    "INSERT INTO orders (id, user_id, email, status, currency, subtotal, tax, total,
                                         tax_rate, created_at, updated_at, expires_at)
                     VALUES ($1, 'old-customer', 'old@example.com', 'paid', 'USD', 5998, 495, 6493,
                             82500, $2, $2, $2)",
                    vec![order, at],
                ),
                (
                    "INSERT INTO order_items (order_id, line_no, product_id, sku, name, unit_price,
                                              quantity, line_total)
                     VALUES ($1, 1, $2, NULL, 'Premium Widget', 2999, 2, 5998)",
                    vec![order, WIDGET],
                ),
                (
                    "INSERT INTO order_events (id, order_id, from_status, to_status, actor, reason,
                                               created_at)
                     VALUES ($1 || '-e', $1, NULL, 'pending', 'old-customer', NULL, $2)",
                    vec![order, at],
                ),
            ] {
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = q.bind(b);
                }
                q.execute(db.pool())
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {sql}: {e}"));
            }
        }

        // The current service takes the database over.
        let app = App::start_on(settings, name).await;
        let order = "0193a0c0-0000-7000-8000-0000000000aa";
        let tenants: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT tenant_id FROM orders UNION SELECT DISTINCT tenant_id FROM order_items")
                .fetch_all(app.ctx.db().pool())
                .await
                .unwrap();
        assert_eq!(tenants, ["default"], "{name}");

        // The original API: the customer's order and the staff's list.
        let admin = app.user(Role::Admin);
        let res = app
            .server
            .http
            .get(&format!("/api/shop/orders/{order}"))
            .bearer(&admin.token)
            .send()
            .await
            .expect(200);
        // The order at the top level, as the original API answers it.
        let o = &res.json;
        assert_eq!(o["status"], "paid", "{name}: {}", res.json);
        assert_eq!(o["total"], "64.93", "{name}: {}", res.json);
        // The seeded catalog is the default tenant's too.
        let res = app
            .server
            .http
            .get(&format!("/api/shop/products/{WIDGET}"))
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["name"], "Premium Widget", "{name}");

        // Another tenant sees none of it.
        let other = app.user_in(Role::Admin, &TenantId::generate());
        app.server
            .http
            .get(&format!("/api/shop/orders/{order}"))
            .bearer(&other.token)
            .send()
            .await
            .expect(404);
    }
}
