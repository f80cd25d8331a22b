//! The bootstrap admin, the CLI entry point, listing, roles and account
//! state, and role checks on every protected endpoint.

use marimo_platform::{auth::Role, ids};
use marimo_testkit::each_backend;
use marimo_users::UsersError;
use serde_json::json;

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, App, PASSWORD};

#[tokio::test]
async fn bootstrap_admin_is_created_once_and_never_overwritten() {
    each_backend(|app: App| async move {
        let admin = app.admin().await;
        let res = app.profile(&admin.access).await.expect(200);
        assert_eq!(res.json["role"], "admin");
        assert_eq!(res.json["email"], ADMIN_EMAIL);

        // The admin changes their password; a restart on the same settings
        // must neither reset it nor create a second account.
        app.http()
            .post("/api/users/change-password")
            .bearer(&admin.access)
            .json(json!({"current_password": ADMIN_PASSWORD, "new_password": "Changed1Pass"}))
            .send()
            .await
            .expect(200);
        let again = App::on(app.settings.clone(), app.backend).await;
        again.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.expect(401);
        again.login_ok(ADMIN_EMAIL, "Changed1Pass").await;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
            .fetch_one(again.pool())
            .await
            .unwrap();
        assert_eq!(n, 1);
        let created = again.events("users.user.registered").await;
        assert_eq!(
            created.len(),
            1,
            "one registration event, from the first start"
        );
    })
    .await;
}

#[tokio::test]
async fn a_bootstrap_password_that_breaks_the_policy_stops_the_start() {
    for backend in marimo_testkit::backends() {
        let settings = backend
            .settings(&[
                ("MARIMO_ADMIN_EMAIL", "boss@example.com"),
                ("MARIMO_ADMIN_PASSWORD", "short"),
            ])
            .await;
        let ctx =
            marimo_testkit::context(marimo_platform::service::ServiceName::Users, settings).await;
        let err = marimo_users::router(ctx).await.expect_err("start fails");
        assert!(err.to_string().contains("MARIMO_ADMIN_PASSWORD"), "{err}");
    }
}

#[tokio::test]
async fn create_user_enforces_the_rules_and_refuses_duplicates() {
    each_backend(|app: App| async move {
        let user = marimo_users::create_user(
            &app.ctx,
            " Acc@Example.com ",
            "Acc",
            PASSWORD,
            Role::Accountant,
        )
        .await
        .unwrap();
        assert_eq!(
            (user.email.as_str(), user.role),
            ("acc@example.com", Role::Accountant)
        );
        let dup =
            marimo_users::create_user(&app.ctx, "ACC@example.com", "Again", PASSWORD, Role::User)
                .await;
        assert!(matches!(dup, Err(UsersError::DuplicateEmail(_))), "{dup:?}");
        let weak =
            marimo_users::create_user(&app.ctx, "w@example.com", "W", "weakpass", Role::User).await;
        let Err(UsersError::Invalid(e)) = weak else {
            panic!("{weak:?}")
        };
        assert_eq!(e.field, "password");
        assert!(
            marimo_users::create_user(&app.ctx, "bad", "W", PASSWORD, Role::User)
                .await
                .is_err()
        );

        let t = app.login_ok("acc@example.com", PASSWORD).await;
        let claims = app.ctx.jwt.verify(&t.access).unwrap();
        assert_eq!(claims.role, Role::Accountant);
    })
    .await;
}

#[tokio::test]
async fn list_paginates_searches_and_checks_roles() {
    each_backend(|app: App| async move {
        let admin = app.admin().await;
        let manager = app.user_with_role("mgr@example.com", Role::Manager).await;
        app.register("zoe@example.com", "Zoë Ångström").await;
        let user = app.login_ok("zoe@example.com", PASSWORD).await;
        app.register("max_100%@example.com", "Max").await;
        // admin, mgr, zoe, max: four accounts.

        let page = |token: String, query: &'static str| {
            let http = app.http().clone();
            async move {
                http.get(&format!("/api/users/list{query}"))
                    .bearer(&token)
                    .send()
                    .await
            }
        };
        let res = page(admin.access.clone(), "").await.expect(200);
        assert_eq!(res.json["success"], true);
        assert_eq!(res.json["total"], 4);
        assert_eq!(res.json["page"], 1);
        assert_eq!(res.json["limit"], 20);
        assert_eq!(res.json["users"].as_array().unwrap().len(), 4);
        let first = &res.json["users"][0];
        assert_eq!(first["email"], ADMIN_EMAIL);
        assert!(first.get("password_hash").is_none());
        assert!(first["active"].is_boolean() && first["created_at"].is_string());

        let p1 = page(admin.access.clone(), "?page=1&limit=3")
            .await
            .expect(200);
        let p2 = page(admin.access.clone(), "?page=2&limit=3")
            .await
            .expect(200);
        let p3 = page(admin.access.clone(), "?page=3&limit=3")
            .await
            .expect(200);
        assert_eq!(p1.json["users"].as_array().unwrap().len(), 3);
        assert_eq!(p2.json["users"].as_array().unwrap().len(), 1);
        assert_eq!(p3.json["users"].as_array().unwrap().len(), 0);
        assert_eq!(p2.json["total"], 4);
        let mut ids: Vec<String> = [&p1, &p2]
            .iter()
            .flat_map(|p| p.json["users"].as_array().unwrap().clone())
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 4, "pages neither overlap nor skip");

        for bad in [
            "?limit=0",
            "?limit=101",
            "?page=0",
            "?page=abc",
            "?limit=-1",
        ] {
            let res = page(admin.access.clone(), bad).await.expect(400);
            assert_eq!(res.code(), "VALIDATION_ERROR", "{bad}");
        }

        // Search: case-insensitive over email and name; wildcards are literal.
        let res = page(manager.access.clone(), "?q=ZOE").await.expect(200);
        assert_eq!(res.json["total"], 1);
        assert_eq!(res.json["users"][0]["email"], "zoe@example.com");
        let res = page(admin.access.clone(), "?q=MGR%40").await.expect(200);
        assert_eq!(res.json["total"], 1);
        let res = page(admin.access.clone(), "?q=100%25").await.expect(200);
        assert_eq!(res.json["total"], 1, "only the address with a literal %");
        let res = page(admin.access.clone(), "?q=%25").await.expect(200);
        assert_eq!(res.json["total"], 1);
        let res = page(admin.access.clone(), "?q=_").await.expect(200);
        assert_eq!(res.json["total"], 1);
        let res = page(admin.access.clone(), "?q=nobody-matches")
            .await
            .expect(200);
        assert_eq!(res.json["total"], 0);

        let res = page(user.access.clone(), "").await.expect(403);
        assert_eq!(res.code(), "FORBIDDEN");
        app.http().get("/api/users/list").send().await.expect(401);
    })
    .await;
}

#[tokio::test]
async fn assign_role_validates_and_is_admin_only() {
    each_backend(|app: App| async move {
        let admin = app.admin().await;
        let target = app.register("nia@example.com", "Nia").await;
        let target_id = target["id"].as_str().unwrap().to_owned();
        let nia = app.login_ok("nia@example.com", PASSWORD).await;
        let assign = |token: String, body: serde_json::Value| {
            let http = app.http().clone();
            async move {
                http.post("/api/users/admin/assign-role")
                    .bearer(&token)
                    .json(body)
                    .send()
                    .await
            }
        };

        let res = assign(
            admin.access.clone(),
            json!({"user_id": target_id, "role": "shop_manager"}),
        )
        .await
        .expect(200);
        assert_eq!(res.json["success"], true);
        assert!(res.json["message"].is_string());
        // The next token carries the new role.
        let t = app.login_ok("nia@example.com", PASSWORD).await;
        assert_eq!(
            app.ctx.jwt.verify(&t.access).unwrap().role,
            Role::ShopManager
        );
        let events = app.events("users.user.role_changed").await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["payload"]["old_role"], "user");
        assert_eq!(events[0]["payload"]["new_role"], "shop_manager");
        assert_eq!(events[0]["actor"], admin.user_id.as_str());

        let res = assign(
            admin.access.clone(),
            json!({"user_id": target_id, "role": "superuser"}),
        )
        .await
        .expect(400);
        assert_eq!(res.code(), "VALIDATION_ERROR");
        assert_eq!(res.json["error"]["details"]["field"], "role");
        assert_eq!(
            res.json["error"]["details"]["allowed"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        assign(
            admin.access.clone(),
            json!({"user_id": target_id, "role": "Admin"}),
        )
        .await
        .expect(400);
        assign(
            admin.access.clone(),
            json!({"user_id": target_id, "role": 3}),
        )
        .await
        .expect(400);
        assign(admin.access.clone(), json!({"user_id": target_id}))
            .await
            .expect(400);
        assign(
            admin.access.clone(),
            json!({"user_id": ids::new_id(), "role": "user"}),
        )
        .await
        .expect(404);
        assign(
            admin.access.clone(),
            json!({"user_id": "'; DROP TABLE users; --", "role": "user"}),
        )
        .await
        .expect(404);
        // An admin cannot demote themself (there might be no admin left).
        assign(
            admin.access.clone(),
            json!({"user_id": admin.user_id, "role": "user"}),
        )
        .await
        .expect(409);

        // nia's token from before her role changed is void (issue 14.2);
        // her current one is a shop manager's, not an admin's.
        let res = assign(
            nia.access.clone(),
            json!({"user_id": nia.user_id, "role": "admin"}),
        )
        .await
        .expect(401);
        assert_eq!(res.code(), "UNAUTHORIZED");
        let res = assign(
            app.login_ok("nia@example.com", PASSWORD).await.access,
            json!({"user_id": nia.user_id, "role": "admin"}),
        )
        .await
        .expect(403);
        assert_eq!(res.code(), "FORBIDDEN");
        assign(
            t.access.clone(),
            json!({"user_id": nia.user_id, "role": "admin"}),
        )
        .await
        .expect(403);
        app.http()
            .post("/api/users/admin/assign-role")
            .json(json!({"user_id": target_id, "role": "admin"}))
            .send()
            .await
            .expect(401);
    })
    .await;
}

#[tokio::test]
async fn a_demoted_admin_loses_admin_rights_at_once() {
    each_backend(|app: App| async move {
        let root = app.admin().await;
        let second = app.user_with_role("second@example.com", Role::Admin).await;
        app.http()
            .post("/api/users/admin/assign-role")
            .bearer(&root.access)
            .json(json!({"user_id": second.user_id, "role": "user"}))
            .send()
            .await
            .expect(200);
        // Their access token still says admin: it was issued before the
        // demotion, so it is refused outright (issue 14.2).
        app.http()
            .post(&format!(
                "/api/users/admin/users/{}/deactivate",
                root.user_id
            ))
            .bearer(&second.access)
            .send()
            .await
            .expect(401);
        app.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    })
    .await;
}

#[tokio::test]
async fn deactivation_revokes_sessions_and_blocks_sign_in_until_reactivated() {
    each_backend(|app: App| async move {
        let admin = app.admin().await;
        let user = app.register("oli@example.com", "Oli").await;
        let id = user["id"].as_str().unwrap().to_owned();
        let a = app.login_ok("oli@example.com", PASSWORD).await;
        let b = app.login_ok("oli@example.com", PASSWORD).await;
        let post = |path: String, token: String| {
            let http = app.http().clone();
            async move { http.post(&path).bearer(&token).send().await }
        };

        let res = post(
            format!("/api/users/admin/users/{id}/deactivate"),
            admin.access.clone(),
        )
        .await
        .expect(200);
        assert_eq!(res.json["success"], true);
        app.refresh(&a.refresh).await.expect(401);
        app.refresh(&b.refresh).await.expect(401);
        // The still-unexpired access token no longer works here.
        app.profile(&a.access).await.expect(401);
        let res = app.login("oli@example.com", PASSWORD).await;
        assert!(matches!(res.status, 401 | 403), "{}", res.text);
        assert!(res.json.get("access_token").is_none());
        assert!(
            res.json["message"]
                .as_str()
                .unwrap()
                .contains("deactivated")
        );
        // The wrong password still says only "invalid".
        let res = app.login("oli@example.com", "Wrong1234").await.expect(401);
        assert!(
            !res.json["message"]
                .as_str()
                .unwrap()
                .contains("deactivated")
        );
        // Idempotent.
        post(
            format!("/api/users/admin/users/{id}/deactivate"),
            admin.access.clone(),
        )
        .await
        .expect(200);
        assert_eq!(app.events("users.user.deactivated").await.len(), 1);

        let res = app
            .http()
            .get("/api/users/summary")
            .bearer(&admin.access)
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["total_users"], 2);
        assert_eq!(res.json["active_users"], 1);

        // Self-deactivation, unknown and garbage ids, non-admins.
        post(
            format!("/api/users/admin/users/{}/deactivate", admin.user_id),
            admin.access.clone(),
        )
        .await
        .expect(409);
        post(
            format!("/api/users/admin/users/{}/deactivate", ids::new_id()),
            admin.access.clone(),
        )
        .await
        .expect(404);
        let res = post(
            "/api/users/admin/users/not-a-uuid/deactivate".into(),
            admin.access.clone(),
        )
        .await
        .expect(404);
        assert_eq!(res.json["success"], false);
        post(
            "/api/users/admin/users/%FF%FE/reactivate".into(),
            admin.access.clone(),
        )
        .await
        .expect(404);
        app.register("pam@example.com", "Pam").await;
        let pam = app.login_ok("pam@example.com", PASSWORD).await;
        post(
            format!("/api/users/admin/users/{id}/reactivate"),
            pam.access.clone(),
        )
        .await
        .expect(403);
        app.http()
            .post(&format!("/api/users/admin/users/{id}/reactivate"))
            .send()
            .await
            .expect(401);

        post(
            format!("/api/users/admin/users/{id}/reactivate"),
            admin.access.clone(),
        )
        .await
        .expect(200);
        // Sessions revoked at deactivation stay revoked after reactivation.
        app.refresh(&a.refresh).await.expect(401);
        app.refresh(&b.refresh).await.expect(401);
        app.login_ok("oli@example.com", PASSWORD).await;
        assert_eq!(app.events("users.user.reactivated").await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn summary_counts_every_role_for_the_dashboard_roles() {
    each_backend(|app: App| async move {
        let admin = app.admin().await;
        let manager = app.user_with_role("m@example.com", Role::Manager).await;
        let accountant = app.user_with_role("a@example.com", Role::Accountant).await;
        let shop = app.user_with_role("s@example.com", Role::ShopManager).await;
        let user = app.user_with_role("u@example.com", Role::User).await;

        for t in [&admin, &manager, &accountant, &shop] {
            let res = app
                .http()
                .get("/api/users/summary")
                .bearer(&t.access)
                .send()
                .await
                .expect(200);
            assert_eq!(res.json["success"], true);
            assert_eq!(res.json["total_users"], 5);
            assert_eq!(res.json["active_users"], 5);
            let by_role = res.json["by_role"].as_object().unwrap();
            assert_eq!(by_role.len(), 5);
            for role in Role::ALL {
                assert_eq!(by_role[role.as_str()], 1, "{role}");
            }
        }
        app.http()
            .get("/api/users/summary")
            .bearer(&user.access)
            .send()
            .await
            .expect(403);
        app.http()
            .get("/api/users/summary")
            .send()
            .await
            .expect(401);
    })
    .await;
}
