//! Tenancy (docs/TENANCY.md): each tenant's settings, history, units and
//! tax rates are its own; a tenant without its own row reads the
//! installation default (the default tenant's); a tenant's admin changes
//! only its tenant's rows, never another's or the installation's, and the
//! installation-only keys and currencies stay the default tenant's
//! admins'; events carry the tenant; on PostgreSQL the row policies hide
//! the other tenant's rows from an application role even without the
//! store's filter.

use marimo_platform::{
    auth::{Role, jwt::Identity},
    ids::new_id,
    tenant::TenantId,
};
use marimo_testkit::{AppRole, backends, each_backend, sign};
use serde_json::{Value, json};

use crate::support::App;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn token_in(tenant: &TenantId, role: Role) -> String {
    let user_id = new_id();
    sign(&Identity {
        email: format!("{user_id}@example.com"),
        user_id,
        role,
        tenant: tenant.clone(),
    })
}

async fn put(app: &App, token: &str, key: &str, value: &str, status: u16) -> Value {
    app.http()
        .put(&format!("/api/config/{key}"))
        .bearer(token)
        .json(json!({"value": value}))
        .send()
        .await
        .expect(status)
        .json
}

async fn value_of(app: &App, token: &str, key: &str) -> Value {
    app.http()
        .get(&format!("/api/config/{key}"))
        .bearer(token)
        .send()
        .await
        .expect(200)
        .json["value"]
        .clone()
}

/// `key` → value of every setting the caller's tenant sees.
async fn listed(app: &App, token: &str) -> Vec<(String, String)> {
    let res = app
        .http()
        .get("/api/config")
        .bearer(token)
        .send()
        .await
        .expect(200);
    res.json["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_owned(),
                c["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn find<'a>(rows: &'a [(String, String)], key: &str) -> Option<&'a str> {
    rows.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn each_tenant_reads_its_own_value_else_the_installation_default() {
    each_backend(|app: App| async move {
        let (acme, globex, initech) = (tenant("acme"), tenant("globex"), tenant("initech"));
        let operator = app.admin();
        let acme_admin = token_in(&acme, Role::Admin);
        let globex_admin = token_in(&globex, Role::Admin);
        let initech_user = token_in(&initech, Role::User);

        put(&app, &operator, "support_email", "help@example.com", 200).await;
        let a = put(&app, &acme_admin, "support_email", "help@acme.test", 200).await;
        let g = put(
            &app,
            &globex_admin,
            "support_email",
            "help@globex.test",
            200,
        )
        .await;
        // The same key in two tenants: each has its own row at version 1
        // (created), not version 2 of the installation's row.
        assert_eq!(a["message"], "configuration created");
        assert_eq!(a["config"]["version"], 1);
        assert_eq!(g["config"]["version"], 1);

        assert_eq!(
            value_of(&app, &acme_admin, "support_email").await,
            "help@acme.test"
        );
        assert_eq!(
            value_of(&app, &globex_admin, "support_email").await,
            "help@globex.test"
        );
        // No row of its own: the installation default.
        assert_eq!(
            value_of(&app, &initech_user, "support_email").await,
            "help@example.com"
        );
        assert_eq!(
            value_of(&app, &operator, "support_email").await,
            "help@example.com"
        );

        // Lists overlay the same way: acme's own row in place of the
        // default's, the seeded defaults inherited, each key once.
        let acme_list = listed(&app, &acme_admin).await;
        assert_eq!(find(&acme_list, "support_email"), Some("help@acme.test"));
        assert_eq!(find(&acme_list, "app_name"), Some("Marimo ERP"));
        let keys: Vec<&str> = acme_list.iter().map(|(k, _)| k.as_str()).collect();
        let mut unique = keys.clone();
        unique.dedup();
        assert_eq!(keys, unique, "each key once, sorted");
        let initech_list = listed(&app, &initech_user).await;
        assert_eq!(
            find(&initech_list, "support_email"),
            Some("help@example.com")
        );
        assert_eq!(initech_list.len(), listed(&app, &operator).await.len());

        // History per tenant: acme's key has its one change; the
        // installation's its own; a key a tenant only inherits has none.
        let acme_hist = app
            .http()
            .get("/api/config/support_email/history")
            .bearer(&acme_admin)
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(acme_hist["total"], 1, "{acme_hist}");
        assert_eq!(acme_hist["history"][0]["new_value"], "help@acme.test");
        let op_hist = app
            .http()
            .get("/api/config/support_email/history")
            .bearer(&operator)
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(op_hist["total"], 1);
        assert_eq!(op_hist["history"][0]["new_value"], "help@example.com");
        app.http()
            .get("/api/config/support_email/history")
            .bearer(&initech_user)
            .send()
            .await
            .expect(404);

        // Every event carries the tenant it happened in.
        let events = app.events("config.setting.changed").await;
        let tenants_of = |key: &str| -> Vec<String> {
            events
                .iter()
                .filter(|e| e["payload"]["key"] == key)
                .map(|e| e["tenant"].as_str().unwrap_or("default").to_owned())
                .collect()
        };
        assert_eq!(tenants_of("support_email"), ["default", "acme", "globex"]);

        // Acme drops its own value and reads the installation's again.
        app.http()
            .delete("/api/config/support_email")
            .bearer(&acme_admin)
            .send()
            .await
            .expect(200);
        assert_eq!(
            value_of(&app, &acme_admin, "support_email").await,
            "help@example.com"
        );
        assert_eq!(
            value_of(&app, &globex_admin, "support_email").await,
            "help@globex.test"
        );
    })
    .await;
}

#[tokio::test]
async fn a_tenants_admin_changes_neither_another_tenant_nor_the_installation() {
    each_backend(|app: App| async move {
        let (acme, globex) = (tenant("acme"), tenant("globex"));
        let operator = app.admin();
        let acme_admin = token_in(&acme, Role::Admin);
        let acme_manager = token_in(&acme, Role::Manager);
        let globex_admin = token_in(&globex, Role::Admin);

        put(
            &app,
            &globex_admin,
            "support_email",
            "help@globex.test",
            200,
        )
        .await;
        // The token's tenant wins over the header: acme's admin naming
        // globex writes acme's own row, globex's stays.
        app.http()
            .put("/api/config/support_email")
            .bearer(&acme_admin)
            .header("X-Marimo-Tenant", "globex")
            .json(json!({"value": "hijack@acme.test"}))
            .send()
            .await
            .expect(200);
        assert_eq!(
            value_of(&app, &globex_admin, "support_email").await,
            "help@globex.test"
        );
        assert_eq!(
            value_of(&app, &acme_admin, "support_email").await,
            "hijack@acme.test"
        );

        // Acme overrides the shop's tax rate for itself only.
        put(&app, &acme_admin, "tax_rate", "8.25", 200).await;
        assert_eq!(value_of(&app, &operator, "tax_rate").await, "0");
        assert_eq!(value_of(&app, &globex_admin, "tax_rate").await, "0");

        // Deleting a key acme only inherits deletes nothing: 404, and the
        // installation's row is still there.
        app.http()
            .delete("/api/config/app_name")
            .bearer(&acme_admin)
            .send()
            .await
            .expect(404);
        assert_eq!(value_of(&app, &operator, "app_name").await, "Marimo ERP");

        // Installation-only keys and currencies: the default tenant's
        // admins only.
        for key in ["access_token_ttl_minutes", "refresh_token_ttl_days"] {
            put(&app, &acme_admin, key, "5", 403).await;
            app.http()
                .delete(&format!("/api/config/{key}"))
                .bearer(&acme_admin)
                .send()
                .await
                .expect(403);
        }
        assert_eq!(
            value_of(&app, &acme_admin, "access_token_ttl_minutes").await,
            "15"
        );
        app.http()
            .post("/api/config/reference/currencies")
            .bearer(&acme_admin)
            .json(json!({"code": "XTS", "name": "Test", "minor_units": 2}))
            .send()
            .await
            .expect(403);
        // Not an admin: nothing at all.
        put(&app, &acme_manager, "support_email", "x@acme.test", 403).await;
        put(&app, &operator, "access_token_ttl_minutes", "20", 200).await;
        assert_eq!(
            value_of(&app, &acme_admin, "access_token_ttl_minutes").await,
            "20"
        );
    })
    .await;
}

async fn rates(app: &App, token: &str) -> Vec<(String, String)> {
    let res = app
        .http()
        .get("/api/config/reference/tax-rates")
        .bearer(token)
        .send()
        .await
        .expect(200);
    res.json["tax_rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap().to_owned(),
                r["rate"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn tax_rates_and_units_are_per_tenant_and_their_events_carry_it() {
    each_backend(|app: App| async move {
        let (acme, globex) = (tenant("acme"), tenant("globex"));
        let operator = app.admin();
        let acme_admin = token_in(&acme, Role::Admin);
        let globex_admin = token_in(&globex, Role::Admin);

        for (tok, rate) in [(&acme_admin, "8.25"), (&globex_admin, "19")] {
            app.http()
                .post("/api/config/reference/tax-rates")
                .bearer(tok)
                .json(json!({"code": "standard", "name": "Standard rate", "rate": rate}))
                .send()
                .await
                .expect(200);
        }
        app.http()
            .post("/api/config/reference/units")
            .bearer(&acme_admin)
            .json(json!({"code": "box", "name": "Box"}))
            .send()
            .await
            .expect(200);

        let s = |v: [(&str, &str); 3]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        // Own "standard", inherited "reduced" and "zero", sorted by code.
        assert_eq!(
            rates(&app, &acme_admin).await,
            s([("reduced", "0.00"), ("standard", "8.25"), ("zero", "0.00")])
        );
        assert_eq!(
            rates(&app, &globex_admin).await,
            s([("reduced", "0.00"), ("standard", "19.00"), ("zero", "0.00")])
        );
        assert_eq!(
            rates(&app, &operator).await,
            s([("reduced", "0.00"), ("standard", "0.00"), ("zero", "0.00")])
        );
        let units = |tok: String| {
            let app = &app;
            async move {
                let res = app
                    .http()
                    .get("/api/config/reference/units")
                    .bearer(&tok)
                    .send()
                    .await
                    .expect(200);
                res.json["units"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["code"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            }
        };
        let acme_units = units(acme_admin.clone()).await;
        assert!(acme_units.contains(&"box".to_owned()) && acme_units.contains(&"kg".to_owned()));
        assert!(
            !units(globex_admin.clone())
                .await
                .contains(&"box".to_owned())
        );

        // The shop follows tax rates in the event's tenant: each change is
        // published in its writer's tenant.
        let events = app.events("config.reference.changed").await;
        let written: Vec<(String, String, String)> = events
            .iter()
            .filter(|e| e["payload"]["code"] == "standard" || e["payload"]["code"] == "box")
            .map(|e| {
                (
                    e["tenant"].as_str().unwrap_or("default").to_owned(),
                    e["payload"]["code"].as_str().unwrap().to_owned(),
                    e["payload"]["item"]["rate"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                )
            })
            .collect();
        let t = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert!(
            written.contains(&t("acme", "standard", "8.25")),
            "{written:?}"
        );
        assert!(
            written.contains(&t("globex", "standard", "19.00")),
            "{written:?}"
        );
        assert!(written.contains(&t("acme", "box", "")), "{written:?}");
    })
    .await;
}

#[tokio::test]
async fn row_policies_hide_other_tenants_rows_from_the_application_role() {
    let Some(backend) = marimo_testkit::postgres() else {
        return;
    };
    let app = App::on(backend.settings(&[]).await).await;
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    let acme_admin = token_in(&acme, Role::Admin);
    let globex_admin = token_in(&globex, Role::Admin);
    for tok in [&acme_admin, &globex_admin] {
        put(&app, tok, "support_email", "x@example.com", 200).await;
        app.http()
            .post("/api/config/reference/tax-rates")
            .bearer(tok)
            .json(json!({"code": "standard", "name": "Standard", "rate": "5"}))
            .send()
            .await
            .expect(200);
        app.http()
            .post("/api/config/reference/units")
            .bearer(tok)
            .json(json!({"code": "box", "name": "Box"}))
            .send()
            .await
            .expect(200);
    }

    let role = AppRole::connect(&app.settings.database, "config").await;
    let db = &role.db;
    for table in ["settings", "config_history", "units", "tax_rates"] {
        // Deliberately no tenant filter: the policy filters.
        let sql = format!("SELECT DISTINCT tenant_id FROM {table}");
        let mut tx = db.tenant(&acme).read().await.unwrap();
        let seen: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert_eq!(seen, ["acme"], "{table}");
        drop(tx);
        let unscoped: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert!(
            unscoped.is_empty(),
            "{table} without a tenant: {unscoped:?}"
        );
    }
    // Currencies are everyone's: no policy.
    let mut tx = db.tenant(&acme).read().await.unwrap();
    let usd: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM currencies WHERE code = 'USD'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(usd, 1);
    drop(tx);
    role.drop_role().await;
}

#[tokio::test]
async fn consul_holds_each_tenants_own_settings_under_its_prefix() {
    use marimo_testkit::{
        consul::{FakeConsul, serve},
        eventually,
    };
    for backend in backends() {
        let consul = FakeConsul::new();
        let running = serve(consul.clone()).await;
        let addr = running.addr.to_string();
        let settings = backend.settings(&[("CONSUL_ADDR", addr.as_str())]).await;
        let app = App::on(settings).await;
        let kv = |key: &str| {
            consul.with(|d| {
                d.kv.get(key)
                    .map(|(v, _, _)| String::from_utf8_lossy(v).into_owned())
            })
        };
        let acme_admin = token_in(&tenant("acme"), Role::Admin);
        put(&app, &acme_admin, "shop.banner", "Acme sale", 200).await;
        put(&app, &app.admin(), "shop.banner", "Installation sale", 200).await;
        eventually("both tenants' keys in Consul", async || {
            kv("marimo/tenants/acme/config/shop.banner").as_deref() == Some("Acme sale")
                && kv("marimo/config/shop.banner").as_deref() == Some("Installation sale")
        })
        .await;
        app.http()
            .delete("/api/config/shop.banner")
            .bearer(&acme_admin)
            .send()
            .await
            .expect(200);
        eventually("acme's key deleted, the installation's kept", async || {
            kv("marimo/tenants/acme/config/shop.banner").is_none()
                && kv("marimo/config/shop.banner").as_deref() == Some("Installation sale")
        })
        .await;
        running.handle.abort();
    }
}
