//! Settings: original shapes and seeds, typed validation, versions and
//! optimistic concurrency, history (immutable in the database), roles,
//! and the event of every change.

use marimo_platform::auth::Role;
use marimo_testkit::each_backend;
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn seeds_and_original_shapes() {
    each_backend(|app: App| async move {
        let user = app.token(Role::User);
        let res = app
            .http()
            .get("/api/config")
            .bearer(&user)
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["success"], true);
        let configs = res.json["configs"].as_array().unwrap();
        let find = |k: &str| configs.iter().find(|c| c["key"] == k).cloned().unwrap();
        assert_eq!(find("app_name")["value"], "Marimo ERP");
        assert_eq!(find("app_name")["type"], "system");
        assert_eq!(find("currency")["value"], "USD");
        assert_eq!(find("timezone")["value"], "UTC");
        assert_eq!(find("tax_rate")["value"], "0");
        assert_eq!(find("tax_rate")["value_type"], "decimal");
        assert_eq!(find("order_ttl_minutes")["value"], "30");
        assert_eq!(find("order_ttl_minutes")["value_type"], "int");
        assert_eq!(find("access_token_ttl_minutes")["value"], "15");
        let item = find("timezone");
        for field in [
            "key",
            "value",
            "type",
            "value_type",
            "description",
            "version",
            "updated_by",
            "updated_at",
        ] {
            assert!(item.get(field).is_some(), "missing {field}: {item}");
        }
        assert_eq!(item["version"], 1);

        // The item itself at the top level, with its version as an ETag.
        let res = app
            .http()
            .get("/api/config/app_name")
            .bearer(&user)
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["success"], true);
        assert_eq!(res.json["key"], "app_name");
        assert_eq!(res.json["value"], "Marimo ERP");
        assert_eq!(res.header("etag"), Some("\"1\""));

        let res = app
            .http()
            .get("/api/config/nope")
            .bearer(&user)
            .send()
            .await
            .expect(404);
        assert_eq!(res.json["success"], false);
        app.http()
            .get("/api/config/Not%20A%20Key")
            .bearer(&user)
            .send()
            .await
            .expect(404);

        // A restart seeds nothing twice and does not resurrect a deleted key.
        let admin = app.admin();
        app.http()
            .delete("/api/config/timezone")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        let again = App::on(app.settings.clone()).await;
        again
            .http()
            .get("/api/config/timezone")
            .bearer(&user)
            .send()
            .await
            .expect(404);
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM config_history WHERE key = 'app_name'")
                .fetch_one(again.pool())
                .await
                .unwrap();
        assert_eq!(n, 1);
    })
    .await;
}

#[tokio::test]
async fn writes_are_typed() {
    each_backend(|app: App| async move {
        let admin = app.admin();
        let post = |body: serde_json::Value| {
            let http = app.http().clone();
            let admin = admin.clone();
            async move {
                http.post("/api/config")
                    .bearer(&admin)
                    .json(body)
                    .send()
                    .await
            }
        };
        for (value_type, bad) in [
            ("int", json!("12.5")),
            ("int", json!("ten")),
            ("int", json!("99999999999999999999")),
            ("bool", json!("yes")),
            ("bool", json!("1")),
            ("json", json!("{not json")),
            ("decimal", json!("1,5")),
        ] {
            let res = post(json!({"key": "typed", "value": bad, "value_type": value_type})).await;
            assert_eq!(res.status, 400, "{value_type} {bad}: {}", res.text);
            assert_eq!(res.code(), "VALIDATION_ERROR");
        }
        for (value_type, good) in [
            ("int", json!("-42")),
            ("bool", json!("true")),
            ("json", json!(r#"{"a": [1, 2]}"#)),
            ("decimal", json!("8.25")),
            ("string", json!("anything at all")),
        ] {
            let key = format!("ok.{value_type}");
            let res = post(json!({"key": key, "value": good, "value_type": value_type}))
                .await
                .expect(200);
            assert_eq!(res.json["config"]["value_type"], value_type);
        }
        // A typed setting keeps its type: a later bad value is refused.
        post(json!({"key": "ok.int", "value": "nope"}))
            .await
            .expect(400);
        // Keys other services read are held to their rules.
        post(json!({"key": "tax_rate", "value": "150"}))
            .await
            .expect(400);
        post(json!({"key": "tax_rate", "value": "8.5", "value_type": "string"}))
            .await
            .expect(400);
        post(json!({"key": "order_ttl_minutes", "value": "0"}))
            .await
            .expect(400);
        post(json!({"key": "tax_rate", "value": "8.5"}))
            .await
            .expect(200);
        // Unknown type, unknown scope, bad key, missing value.
        post(json!({"key": "x", "value": "1", "value_type": "float"}))
            .await
            .expect(400);
        post(json!({"key": "x", "value": "1", "type": "global"}))
            .await
            .expect(400);
        post(json!({"key": "Bad Key", "value": "1"}))
            .await
            .expect(400);
        post(json!({"key": "x"})).await.expect(400);
        // Defaults: type app, value_type string.
        let res = post(json!({"key": "plain", "value": "v"}))
            .await
            .expect(200);
        assert_eq!(res.json["config"]["type"], "app");
        assert_eq!(res.json["config"]["value_type"], "string");
        assert_eq!(res.json["success"], true);
        assert!(res.json["message"].is_string());
    })
    .await;
}

#[tokio::test]
async fn only_admins_write() {
    each_backend(|app: App| async move {
        for role in [
            Role::Manager,
            Role::Accountant,
            Role::ShopManager,
            Role::User,
        ] {
            let t = app.token(role);
            let res = app
                .http()
                .post("/api/config")
                .bearer(&t)
                .json(json!({"key": "x", "value": "1"}))
                .send()
                .await;
            assert_eq!(res.status, 403, "{role}");
            app.http()
                .put("/api/config/app_name")
                .bearer(&t)
                .json(json!({"value": "Hacked"}))
                .send()
                .await
                .expect(403);
            app.http()
                .delete("/api/config/app_name")
                .bearer(&t)
                .send()
                .await
                .expect(403);
            app.http()
                .get("/api/config/app_name/history")
                .bearer(&t)
                .send()
                .await
                .expect(200);
        }
        app.http().get("/api/config").send().await.expect(401);
        app.http()
            .get("/api/config/app_name")
            .send()
            .await
            .expect(401);
        app.http()
            .post("/api/config")
            .json(json!({"key": "x", "value": "1"}))
            .send()
            .await
            .expect(401);
        app.http()
            .delete("/api/config/app_name")
            .send()
            .await
            .expect(401);
        app.http()
            .get("/api/config")
            .bearer("not-a-token")
            .send()
            .await
            .expect(401);
        let res = app
            .http()
            .get("/api/config/app_name")
            .bearer(&app.admin())
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["value"], "Marimo ERP");
        assert!(
            app.events("config.setting.changed")
                .await
                .iter()
                .all(|e| e["payload"]["key"] != "x")
        );
    })
    .await;
}

#[tokio::test]
async fn versions_history_and_conflicts() {
    each_backend(|app: App| async move {
        let admin = app.admin();
        let http = app.http();
        let res = http
            .post("/api/config")
            .bearer(&admin)
            .json(json!({"key": "shop.banner", "value": "Hello", "description": "Top banner"}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["config"]["version"], 1);
        let res = http
            .put("/api/config/shop.banner")
            .bearer(&admin)
            .header("If-Match", "\"1\"")
            .json(json!({"value": "Hello again"}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["config"]["version"], 2);
        assert_eq!(res.json["config"]["description"], "Top banner", "kept");
        assert_eq!(res.header("etag"), Some("\"2\""));

        // Stale If-Match and stale body version: 409, nothing changed.
        let res = http
            .put("/api/config/shop.banner")
            .bearer(&admin)
            .header("If-Match", "\"1\"")
            .json(json!({"value": "lost update"}))
            .send()
            .await
            .expect(409);
        assert_eq!(res.code(), "VERSION_CONFLICT");
        assert_eq!(res.json["error"]["details"]["current_version"], 2);
        let res = http
            .post("/api/config")
            .bearer(&admin)
            .json(json!({"key": "shop.banner", "value": "lost too", "version": 1}))
            .send()
            .await
            .expect(409);
        assert_eq!(res.code(), "VERSION_CONFLICT");
        http.delete("/api/config/shop.banner")
            .bearer(&admin)
            .header("If-Match", "\"1\"")
            .send()
            .await
            .expect(409);
        // A version for a key that does not exist is stale too.
        http.post("/api/config")
            .bearer(&admin)
            .json(json!({"key": "never", "value": "x", "version": 3}))
            .send()
            .await
            .expect(409);
        // The right version wins.
        let res = http
            .post("/api/config")
            .bearer(&admin)
            .json(json!({"key": "shop.banner", "value": "Third", "version": 2}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["config"]["version"], 3);
        // Writing the same again changes nothing.
        let res = http
            .post("/api/config")
            .bearer(&admin)
            .json(json!({"key": "shop.banner", "value": "Third"}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["config"]["version"], 3);

        http.delete("/api/config/shop.banner")
            .bearer(&admin)
            .header("If-Match", "\"3\"")
            .send()
            .await
            .expect(200);
        http.delete("/api/config/shop.banner")
            .bearer(&admin)
            .send()
            .await
            .expect(404);
        http.get("/api/config/shop.banner")
            .bearer(&admin)
            .send()
            .await
            .expect(404);
        // Re-created: versions continue, never reused.
        let res = http
            .post("/api/config")
            .bearer(&admin)
            .json(json!({"key": "shop.banner", "value": "Back"}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["config"]["version"], 5);

        let user = app.token(Role::User);
        let res = http
            .get("/api/config/shop.banner/history")
            .bearer(&user)
            .send()
            .await
            .expect(200);
        let h = res.json["history"].as_array().unwrap();
        let summary: Vec<(i64, &str, Option<&str>, Option<&str>)> = h
            .iter()
            .map(|c| {
                (
                    c["version"].as_i64().unwrap(),
                    c["action"].as_str().unwrap(),
                    c["old_value"].as_str(),
                    c["new_value"].as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (5, "create", None, Some("Back")),
                (4, "delete", Some("Third"), None),
                (3, "update", Some("Hello again"), Some("Third")),
                (2, "update", Some("Hello"), Some("Hello again")),
                (1, "create", None, Some("Hello")),
            ]
        );
        assert!(
            h.iter()
                .all(|c| c["changed_by"].is_string() && c["changed_at"].is_string())
        );
        http.get("/api/config/unknown/history")
            .bearer(&user)
            .send()
            .await
            .expect(404);

        // The database itself refuses to rewrite history.
        let upd =
            sqlx::query("UPDATE config_history SET new_value = 'forged' WHERE key = 'shop.banner'")
                .execute(app.pool())
                .await;
        assert!(upd.is_err(), "history rows must be immutable");
        let del = sqlx::query("DELETE FROM config_history WHERE key = 'shop.banner'")
            .execute(app.pool())
            .await;
        assert!(del.is_err(), "history rows must not be deleted");
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM config_history WHERE key = 'shop.banner'")
                .fetch_one(app.pool())
                .await
                .unwrap();
        assert_eq!(n, 5);
    })
    .await;
}

#[tokio::test]
async fn every_change_is_published() {
    each_backend(|app: App| async move {
        let admin = app.admin();
        let http = app.http();
        // Seeds are changes too: tax_rate v1 was published at start.
        let seeded = app.events("config.setting.changed").await;
        assert!(
            seeded
                .iter()
                .any(|e| e["payload"]["key"] == "tax_rate" && e["payload"]["version"] == 1)
        );
        let before = seeded.len();

        http.put("/api/config/tax_rate")
            .bearer(&admin)
            .json(json!({"value": "8.25"}))
            .send()
            .await
            .expect(200);
        http.put("/api/config/tax_rate")
            .bearer(&admin)
            .json(json!({"value": "bad"}))
            .send()
            .await
            .expect(400);
        http.delete("/api/config/tax_rate")
            .bearer(&admin)
            .send()
            .await
            .expect(200);

        let events = app.events("config.setting.changed").await;
        assert_eq!(events.len(), before + 2, "no event for a refused write");
        let update = &events[before];
        assert_eq!(update["source"], "config");
        assert_eq!(update["version"], 1, "envelope schema version");
        assert_eq!(update["payload"]["key"], "tax_rate");
        assert_eq!(update["payload"]["version"], 2);
        assert_eq!(update["payload"]["value_type"], "decimal");
        assert_eq!(update["payload"]["value"], "8.25");
        assert!(update["actor"].is_string());
        let delete = &events[before + 1];
        assert_eq!(delete["payload"]["key"], "tax_rate");
        assert_eq!(delete["payload"]["version"], 3);
        assert!(delete["payload"]["value"].is_null());
    })
    .await;
}
