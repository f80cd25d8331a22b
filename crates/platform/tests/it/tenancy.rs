//! Tenant transactions (`Db::tenant`) and the Row-Level Security policy
//! (`tenant::rls_ddl`): on PostgreSQL, connected as an ordinary role like
//! production, a query that forgets its tenant filter still sees only its
//! own tenant's rows, a transaction without a tenant sees none, and a row
//! of another tenant cannot be written. Events published in a tenant's
//! transaction carry the tenant on both backends.

use marimo_platform::{
    bus::Envelope,
    service::ServiceName,
    tenant::{TenantId, rls_ddl},
};
use marimo_testkit::{AppRole, backends, context};
use serde_json::json;

const NOTES: &str = "CREATE TABLE notes (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    body TEXT NOT NULL
)";

fn tenants() -> (TenantId, TenantId) {
    (
        TenantId::parse("acme").unwrap(),
        TenantId::parse("globex").unwrap(),
    )
}

async fn bodies(tx: &mut marimo_platform::db::Tx) -> Vec<String> {
    // Deliberately no tenant filter: the policy must do the filtering.
    sqlx::query_scalar("SELECT body FROM notes ORDER BY body")
        .fetch_all(&mut **tx)
        .await
        .unwrap()
}

#[tokio::test]
async fn row_policies_hide_and_refuse_other_tenants_rows_for_the_application_role() {
    let Some(backend) = marimo_testkit::postgres() else {
        return;
    };
    let settings = backend.settings(&[]).await;
    let database = settings.database.clone();
    let ctx = context(ServiceName::Shop, settings).await;

    // The schema, as a migration would lay it out, and an application
    // role that is not a superuser (superusers bypass every policy).
    for ddl in [NOTES.to_owned(), rls_ddl(&["notes"])] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
            .execute(ctx.db().pool())
            .await
            .unwrap();
    }
    let role = AppRole::connect(&database, "shop").await;
    let app = &role.db;

    let (acme, globex) = tenants();
    for (tenant, body) in [(&acme, "acme 1"), (&acme, "acme 2"), (&globex, "globex 1")] {
        let mut tx = app.tenant(tenant).begin().await.unwrap();
        sqlx::query("INSERT INTO notes (id, tenant_id, body) VALUES ($1, $2, $3)")
            .bind(marimo_platform::ids::new_id())
            .bind(tenant.as_str())
            .bind(body)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    let mut tx = app.tenant(&acme).read().await.unwrap();
    assert_eq!(bodies(&mut tx).await, ["acme 1", "acme 2"]);
    drop(tx);
    let mut tx = app.tenant(&globex).snapshot().await.unwrap();
    assert_eq!(bodies(&mut tx).await, ["globex 1"]);
    drop(tx);

    // No tenant set: nothing, also on a connection that served a tenant
    // just before (the setting was the transaction's only).
    let unscoped: Vec<String> = sqlx::query_scalar("SELECT body FROM notes")
        .fetch_all(app.pool())
        .await
        .unwrap();
    assert!(unscoped.is_empty(), "{unscoped:?}");

    // Writing a row of another tenant, or moving one there, is refused.
    let mut tx = app.tenant(&acme).begin().await.unwrap();
    let foreign = sqlx::query("INSERT INTO notes (id, tenant_id, body) VALUES ($1, $2, 'x')")
        .bind(marimo_platform::ids::new_id())
        .bind(globex.as_str())
        .execute(&mut *tx)
        .await;
    assert!(foreign.is_err(), "a row of another tenant was written");
    drop(tx);
    let mut tx = app.tenant(&acme).begin().await.unwrap();
    let moved = sqlx::query("UPDATE notes SET tenant_id = $1")
        .bind(globex.as_str())
        .execute(&mut *tx)
        .await;
    assert!(moved.is_err(), "rows were moved to another tenant");
    drop(tx);
    // Updates and deletes without a filter touch only the tenant's rows.
    let mut tx = app.tenant(&globex).begin().await.unwrap();
    let deleted = sqlx::query("DELETE FROM notes")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    tx.rollback().await.unwrap();

    // System jobs see every tenant.
    let mut tx = app.all_tenants().read().await.unwrap();
    assert_eq!(bodies(&mut tx).await, ["acme 1", "acme 2", "globex 1"]);
    drop(tx);
    role.drop_role().await;
}

#[tokio::test]
async fn events_published_in_a_tenant_transaction_carry_the_tenant() {
    for backend in backends() {
        let ctx = context(ServiceName::Shop, backend.settings(&[]).await).await;
        let db = ctx.db();
        let (acme, _) = tenants();

        let event = Envelope::new("shop", "shop.note.added", json!({"n": 1}));
        assert!(event.tenant.is_default());
        let mut tx = db.tenant(&acme).begin().await.unwrap();
        assert_eq!(tx.tenant(), Some(&acme));
        ctx.outbox.publish(&mut tx, &event).await.unwrap();
        tx.commit().await.unwrap();
        let system = Envelope::new("shop", "shop.note.added", json!({"n": 2}));
        let mut tx = db.begin().await.unwrap();
        assert_eq!(tx.tenant(), None);
        ctx.outbox.publish(&mut tx, &system).await.unwrap();
        tx.commit().await.unwrap();

        let stored: Vec<String> =
            sqlx::query_scalar("SELECT envelope FROM outbox WHERE id IN ($1, $2) ORDER BY id")
                .bind(&event.id)
                .bind(&system.id)
                .fetch_all(db.pool())
                .await
                .unwrap();
        let tenants: Vec<TenantId> = stored
            .iter()
            .map(|s| serde_json::from_str::<Envelope>(s).unwrap().tenant)
            .collect();
        assert_eq!(
            tenants,
            [acme.clone(), TenantId::default_tenant()],
            "backend {}",
            backend.name()
        );

        // An envelope from before tenancy reads as the default tenant's.
        let mut old = serde_json::to_value(&event).unwrap();
        old.as_object_mut().unwrap().remove("tenant");
        let old: Envelope = serde_json::from_value(old).unwrap();
        assert!(old.tenant.is_default());
    }
}
