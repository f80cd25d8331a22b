//! The sign-in walk through the gateway, on every backend.

use marimo_testkit::backends;
use serde_json::json;

use crate::support::{PASSWORD, login, register_and_login, start};

const ADMIN_EMAIL: &str = "root@marimo.test";
const ADMIN_PASSWORD: &str = "Root-Passw0rd";

fn no_limits_with_admin() -> [(&'static str, &'static str); 3] {
    [
        ("MARIMO_RATE_LIMITS", "off"),
        ("MARIMO_ADMIN_EMAIL", ADMIN_EMAIL),
        ("MARIMO_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ]
}

/// The original project's end-to-end auth script, as curl and grep would
/// see it: register → login → profile → refresh → logout.
#[tokio::test]
async fn the_original_auth_script_passes_unchanged() {
    for backend in backends() {
        let sys = start(&backend, &no_limits_with_admin()).await;
        let gw = &sys.gw;
        let reg = gw
            .post("/api/users/register")
            .json(json!({"email": "script@example.com", "password": "Script-Passw0rd", "name": "Script"}))
            .send()
            .await;
        assert_eq!(reg.status, 201);
        assert!(reg.text.contains(r#""success":true"#), "{}", reg.text);

        let login = gw
            .post("/api/users/login")
            .json(json!({"email": "script@example.com", "password": "Script-Passw0rd"}))
            .send()
            .await;
        assert!(login.text.contains(r#""success":true"#), "{}", login.text);
        for field in [
            r#""access_token":""#,
            r#""refresh_token":""#,
            r#""expires_in":900"#,
            r#""token_type":"Bearer""#,
        ] {
            assert!(
                login.text.contains(field),
                "login lacks {field}: {}",
                login.text
            );
        }
        let access = login.json["access_token"].as_str().unwrap();
        let refresh = login.json["refresh_token"].as_str().unwrap();

        let profile = gw.get("/api/users/profile").bearer(access).send().await;
        assert!(profile.text.contains(r#""success":true"#));
        assert!(
            profile.text.contains(r#""email":"script@example.com""#),
            "{}",
            profile.text
        );

        let refreshed = gw
            .post("/api/users/refresh")
            .json(json!({"refresh_token": refresh}))
            .send()
            .await;
        assert!(
            refreshed.text.contains(r#""success":true"#),
            "{}",
            refreshed.text
        );
        assert!(refreshed.text.contains(r#""access_token":""#));

        let logout = gw
            .post("/api/users/logout")
            .bearer(access)
            .json(json!({"refresh_token": refreshed.json["refresh_token"]}))
            .send()
            .await;
        assert!(logout.text.contains(r#""success":true"#), "{}", logout.text);
        sys.stop().await;
    }
}

#[tokio::test]
async fn refresh_reuse_revokes_the_family() {
    for backend in backends() {
        let sys = start(&backend, &no_limits_with_admin()).await;
        let gw = &sys.gw;
        let first = register_and_login(gw, "walker@example.com").await;
        let access = first["access_token"].as_str().unwrap();
        let profile = gw
            .get("/api/users/profile")
            .bearer(access)
            .send()
            .await
            .expect(200);
        assert_eq!(profile.json["email"], "walker@example.com");
        assert_eq!(profile.json["role"], "user");

        let r1 = first["refresh_token"].as_str().unwrap();
        let second = gw
            .post("/api/users/refresh")
            .json(json!({"refresh_token": r1}))
            .send()
            .await
            .expect(200);
        let r2 = second.json["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(r1, r2, "refresh tokens rotate");

        // The rotated-away token comes back: reuse detected.
        gw.post("/api/users/refresh")
            .json(json!({"refresh_token": r1}))
            .send()
            .await
            .expect(401);
        // ...and the whole family, including the newest token, is revoked.
        gw.post("/api/users/refresh")
            .json(json!({"refresh_token": r2}))
            .send()
            .await
            .expect(401);

        // A fresh login is unaffected; logout is idempotent.
        let again = login(gw, "walker@example.com", PASSWORD).await;
        let r3 = again["refresh_token"].as_str().unwrap();
        for _ in 0..2 {
            let out = gw
                .post("/api/users/logout")
                .json(json!({"refresh_token": r3}))
                .send()
                .await
                .expect(200);
            assert_eq!(out.json["success"], true);
        }
        gw.post("/api/users/refresh")
            .json(json!({"refresh_token": r3}))
            .send()
            .await
            .expect(401);
        sys.stop().await;
    }
}

#[tokio::test]
async fn roles_are_enforced() {
    for backend in backends() {
        let sys = start(&backend, &no_limits_with_admin()).await;
        let gw = &sys.gw;
        let user = register_and_login(gw, "plain@example.com").await;
        let user_token = user["access_token"].as_str().unwrap();
        let user_id = user["user"]["id"].as_str().unwrap();
        let admin = login(gw, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let admin_token = admin["access_token"].as_str().unwrap();

        gw.get("/api/users/list").send().await.expect(401);
        gw.get("/api/users/list")
            .bearer(user_token)
            .send()
            .await
            .expect(403);
        let list = gw
            .get("/api/users/list?page=1&limit=10")
            .bearer(admin_token)
            .send()
            .await
            .expect(200);
        assert_eq!(list.json["total"], 2);

        let promote = json!({"user_id": user_id, "role": "accountant"});
        gw.post("/api/users/admin/assign-role")
            .bearer(user_token)
            .json(promote.clone())
            .send()
            .await
            .expect(403);
        let bad = json!({"user_id": user_id, "role": "superuser"});
        gw.post("/api/users/admin/assign-role")
            .bearer(admin_token)
            .json(bad)
            .send()
            .await
            .expect(400);
        gw.post("/api/users/admin/assign-role")
            .bearer(admin_token)
            .json(promote)
            .send()
            .await
            .expect(200);
        let relogin = login(gw, "plain@example.com", PASSWORD).await;
        assert_eq!(relogin["user"]["role"], "accountant");
        sys.stop().await;
    }
}
