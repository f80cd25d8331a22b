//! Registration, sign-in, tokens, sessions and brute-force protection.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use marimo_platform::{
    auth::{Claims, JwtKeys, Role},
    clock, ids,
};
use marimo_testkit::TEST_JWT_SECRET;
use marimo_testkit::each_backend;
use serde_json::json;
use tokio::task::JoinSet;

use crate::support::{App, PASSWORD};

#[tokio::test]
async fn register_answers_201_with_the_user_and_normalises_the_email() {
    each_backend(|app: App| async move {
        let res = app
            .http()
            .post("/api/users/register")
            .json(json!({"email": "  Ann.Lee@Example.COM ", "password": PASSWORD, "name": "  Ann Lee 2 "}))
            .send()
            .await
            .expect(201);
        let body = &res.json;
        assert_eq!(body["success"], true);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        let user = &body["user"];
        assert!(ids::is_uuid(user["id"].as_str().unwrap()));
        assert_eq!(user["email"], "ann.lee@example.com");
        assert_eq!(user["name"], "Ann Lee 2");
        assert_eq!(user["role"], "user");
        for field in ["created_at", "updated_at"] {
            assert!(clock::parse(user[field].as_str().unwrap()).is_some(), "{field}");
        }
        assert!(user.get("password_hash").is_none() && !res.text.contains("argon2"));

        // Unicode names of any script.
        let u = app.register("yamada@example.jp", "山田 太郎").await;
        assert_eq!(u["name"], "山田 太郎");

        // The registration is published for the worker.
        let events = app.events("users.user.registered").await;
        assert!(events.iter().any(|e| e["payload"]["email"] == "ann.lee@example.com"
            && e["payload"]["user_id"] == user["id"]));
    })
    .await;
}

#[tokio::test]
async fn duplicate_email_in_another_case_is_409() {
    each_backend(|app: App| async move {
        app.register("dup@example.com", "First").await;
        let res = app
            .http()
            .post("/api/users/register")
            .json(json!({"email": "DUP@Example.com", "password": PASSWORD, "name": "Second"}))
            .send()
            .await
            .expect(409);
        assert_eq!(res.json["success"], false);
        assert_eq!(res.code(), "CONFLICT");
        assert!(res.json["request_id"].is_string());
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = 'dup@example.com'")
                .fetch_one(app.pool())
                .await
                .unwrap();
        assert_eq!(n, 1);
    })
    .await;
}

#[tokio::test]
async fn registration_enforces_the_policies_naming_the_rule() {
    each_backend(|app: App| async move {
        let cases = [
            (json!({"email": "p@example.com", "password": "Abcde12", "name": "P"}), "password", "8"),
            (json!({"email": "p@example.com", "password": format!("Ab1{}", "x".repeat(126)), "name": "P"}), "password", "128"),
            (json!({"email": "p@example.com", "password": "abcdefg1", "name": "P"}), "password", "upper-case"),
            (json!({"email": "p@example.com", "password": "ABCDEFG1", "name": "P"}), "password", "lower-case"),
            (json!({"email": "p@example.com", "password": "Abcdefgh", "name": "P"}), "password", "digit"),
            (json!({"email": "not-an-email", "password": PASSWORD, "name": "P"}), "email", "email"),
            (json!({"email": "p@example.com", "password": PASSWORD, "name": "   "}), "name", "name"),
            (json!({"email": "p@example.com", "password": PASSWORD, "name": "x".repeat(101)}), "name", "100"),
        ];
        for (body, field, words) in cases {
            let res = app
                .http()
                .post("/api/users/register")
                .json(body.clone())
                .send()
                .await
                .expect(400);
            assert_eq!(res.code(), "VALIDATION_ERROR", "{body}");
            assert_eq!(res.json["error"]["details"]["field"], field, "{body}");
            let message = res.json["message"].as_str().unwrap();
            assert!(message.contains(words), "{message} should name the rule ({words})");
        }
        // 8 and 128 characters are accepted.
        for (i, pw) in ["Abcdef12".to_owned(), format!("Ab1{}", "x".repeat(125))].iter().enumerate() {
            app.http()
                .post("/api/users/register")
                .json(json!({"email": format!("edge{i}@example.com"), "password": pw, "name": "Edge"}))
                .send()
                .await
                .expect(201);
        }
        // Missing fields and wrong types are 400 too.
        let res = app
            .http()
            .post("/api/users/register")
            .json(json!({"email": 5, "password": PASSWORD, "name": "N"}))
            .send()
            .await
            .expect(400);
        assert_eq!(res.json["success"], false);
        app.http()
            .post("/api/users/register")
            .json(json!({"email": "m@example.com"}))
            .send()
            .await
            .expect(400);
    })
    .await;
}

#[tokio::test]
async fn login_returns_the_original_shape_and_profile_is_top_level() {
    each_backend(|app: App| async move {
        let user = app.register("bob@example.com", "Bob").await;
        let res = app.login("  BOB@example.com", PASSWORD).await.expect(200);
        let body = &res.json;
        assert_eq!(body["success"], true);
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["user"]["id"], user["id"]);
        assert_eq!(body["user"]["email"], "bob@example.com");
        let refresh = body["refresh_token"].as_str().unwrap();
        assert!(B64.decode(refresh).unwrap().len() >= 32);
        // Only the hash is stored.
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = $1")
                .bind(refresh)
                .fetch_one(app.pool())
                .await
                .unwrap();
        assert_eq!(stored, 0);

        let access = body["access_token"].as_str().unwrap();
        let claims = app.ctx.jwt.verify(access).unwrap();
        assert_eq!(claims.sub, user["id"].as_str().unwrap());
        assert_eq!(claims.user_id, claims.sub);
        assert_eq!(claims.email, "bob@example.com");
        assert_eq!(claims.role, Role::User);
        assert_eq!(claims.iss, "marimo-erp");
        assert_eq!(claims.exp - claims.iat, 900);

        let res = app.profile(access).await.expect(200);
        let p = &res.json;
        assert_eq!(p["success"], true);
        assert_eq!(p["id"], user["id"]);
        assert_eq!(p["email"], "bob@example.com");
        assert_eq!(p["name"], "Bob");
        assert_eq!(p["role"], "user");
        assert_eq!(p["active"], true);
        assert!(p["created_at"].is_string() && p["updated_at"].is_string());

        let logins = app.events("users.user.logged_in").await;
        assert_eq!(logins.len(), 1);
        assert_eq!(logins[0]["payload"]["user_id"], user["id"]);
        assert_eq!(logins[0]["actor"], user["id"]);
    })
    .await;
}

#[tokio::test]
async fn bad_credentials_get_the_same_401_whether_or_not_the_email_exists() {
    each_backend(|app: App| async move {
        app.register("carol@example.com", "Carol").await;
        let wrong = app
            .login("carol@example.com", "Wrong1234")
            .await
            .expect(401);
        let unknown = app
            .login("nobody@example.com", "Wrong1234")
            .await
            .expect(401);
        assert_eq!(wrong.json["message"], unknown.json["message"]);
        assert_eq!(wrong.code(), "UNAUTHORIZED");
        assert_eq!(unknown.code(), "UNAUTHORIZED");
        assert!(wrong.json.get("access_token").is_none());
        // Empty credentials are a validation error, not a lookup.
        app.login("", "").await.expect(400);

        let reasons: Vec<String> = app
            .events("users.user.login_failed")
            .await
            .iter()
            .map(|e| e["payload"]["reason"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(reasons, ["wrong_password", "unknown_email"]);
    })
    .await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    each_backend(|app: App| async move {
        app.register("dave@example.com", "Dave").await;
        let first = app.login_ok("dave@example.com", PASSWORD).await;
        let other_session = app.login_ok("dave@example.com", PASSWORD).await;

        let res = app.refresh(&first.refresh).await.expect(200);
        let body = &res.json;
        assert_eq!(body["success"], true);
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["token_type"], "Bearer");
        let second = body["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(second, first.refresh);
        app.profile(body["access_token"].as_str().unwrap())
            .await
            .expect(200);

        // The rotated token presented again: 401, and the family is gone,
        // including the newer token.
        let reuse = app.refresh(&first.refresh).await.expect(401);
        assert_eq!(reuse.code(), "UNAUTHORIZED");
        app.refresh(&second).await.expect(401);
        // Another sign-in (another family) is untouched.
        app.refresh(&other_session.refresh).await.expect(200);

        // Garbage and unknown tokens.
        app.refresh("not-a-token").await.expect(401);
        app.refresh("").await.expect(401);
        app.refresh(&"x".repeat(10_000)).await.expect(401);
        app.http()
            .post("/api/users/refresh")
            .json(json!({"refresh_token": 42}))
            .send()
            .await
            .expect(400);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_let_exactly_one_win() {
    each_backend(|app: App| async move {
        app.register("erin@example.com", "Erin").await;
        let t = app.login_ok("erin@example.com", PASSWORD).await;
        let mut set = JoinSet::new();
        for _ in 0..10 {
            let http = app.http().clone();
            let token = t.refresh.clone();
            set.spawn(async move {
                http.post("/api/users/refresh")
                    .json(json!({"refresh_token": token}))
                    .send()
                    .await
            });
        }
        let mut statuses = Vec::new();
        let mut winner = None;
        while let Some(res) = set.join_next().await {
            let res = res.unwrap();
            if res.status == 200 {
                winner = res.json["refresh_token"].as_str().map(str::to_owned);
            }
            statuses.push(res.status);
        }
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 401, 401, 401, 401, 401, 401, 401, 401, 401],
            "{}",
            app.backend
        );
        // The losers presented a token that had just been used: that is
        // reuse, so the family (and the winner's new token) is revoked.
        app.refresh(&winner.unwrap()).await.expect(401);
    })
    .await;
}

#[tokio::test]
async fn logout_is_idempotent_and_revokes_the_refresh_token() {
    each_backend(|app: App| async move {
        app.register("fay@example.com", "Fay").await;
        let t = app.login_ok("fay@example.com", PASSWORD).await;
        for _ in 0..2 {
            let res = app
                .http()
                .post("/api/users/logout")
                .json(json!({"refresh_token": t.refresh}))
                .send()
                .await
                .expect(200);
            assert_eq!(res.json["success"], true);
            assert!(res.json["message"].is_string());
        }
        app.refresh(&t.refresh).await.expect(401);

        // No body at all, an empty JSON body, an unknown token, a bearer only.
        app.http()
            .post("/api/users/logout")
            .send()
            .await
            .expect(200);
        app.http()
            .post("/api/users/logout")
            .header("content-type", "application/json")
            .send()
            .await
            .expect(200);
        app.http()
            .post("/api/users/logout")
            .json(json!({"refresh_token": "unknown"}))
            .send()
            .await
            .expect(200);
        app.http()
            .post("/api/users/logout")
            .bearer(&t.access)
            .json(json!({}))
            .send()
            .await
            .expect(200);
        // A body that is there must still be JSON.
        let res = app
            .http()
            .post("/api/users/logout")
            .header("content-type", "application/json")
            .body("{nope")
            .send()
            .await
            .expect(400);
        assert_eq!(res.json["success"], false);
    })
    .await;
}

#[tokio::test]
async fn logout_all_revokes_every_session_of_the_user() {
    each_backend(|app: App| async move {
        app.register("gil@example.com", "Gil").await;
        app.register("hal@example.com", "Hal").await;
        let a = app.login_ok("gil@example.com", PASSWORD).await;
        let b = app.login_ok("gil@example.com", PASSWORD).await;
        let other = app.login_ok("hal@example.com", PASSWORD).await;

        // Without a bearer (and without a live refresh token) "all" cannot
        // know whose sessions to end.
        app.http()
            .post("/api/users/logout")
            .json(json!({"all": true}))
            .send()
            .await
            .expect(401);

        app.http()
            .post("/api/users/logout")
            .bearer(&a.access)
            .json(json!({"all": true}))
            .send()
            .await
            .expect(200);
        app.refresh(&a.refresh).await.expect(401);
        app.refresh(&b.refresh).await.expect(401);
        app.refresh(&other.refresh).await.expect(200);
        // Signing in again works.
        app.login_ok("gil@example.com", PASSWORD).await;
    })
    .await;
}

#[tokio::test]
async fn legacy_bcrypt_hashes_verify_and_are_upgraded_to_argon2id() {
    each_backend(|app: App| async move {
        let legacy = bcrypt::hash("LegacyPass1", 4).unwrap();
        assert!(legacy.starts_with("$2"));
        let now = clock::now_text();
        sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, role, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
        )
        .bind(ids::new_id())
        .bind("old@example.com")
        .bind("Old Timer")
        .bind(&legacy)
        .bind("accountant")
        .bind(&now)
        .execute(app.pool())
        .await
        .unwrap();
        // A carried-over account is a member of the default tenant (the
        // tenancy migration makes every existing account one).
        sqlx::query(
            "INSERT INTO memberships (tenant_id, user_id, role, active, created_at)
             SELECT 'default', id, role, active, created_at FROM users WHERE email = $1",
        )
        .bind("old@example.com")
        .execute(app.pool())
        .await
        .unwrap();

        app.login("old@example.com", "legacypass1").await.expect(401);
        assert_eq!(app.stored_hash("old@example.com").await, legacy);

        let res = app.login("old@example.com", "LegacyPass1").await.expect(200);
        assert_eq!(res.json["user"]["role"], "accountant");
        let upgraded = app.stored_hash("old@example.com").await;
        assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
        // And the upgraded hash keeps working.
        app.login("old@example.com", "LegacyPass1").await.expect(200);
        assert_eq!(app.stored_hash("old@example.com").await, upgraded);
    })
    .await;
}

#[tokio::test]
async fn five_failures_close_sign_in_with_429_even_for_the_right_password() {
    each_backend(|app: App| async move {
        app.register("ivy@example.com", "Ivy").await;
        app.register("jon@example.com", "Jon").await;
        for i in 1..=5 {
            let res = app.login("ivy@example.com", "Wrong1234").await;
            assert_eq!(res.status, 401, "attempt {i}: {}", res.text);
        }
        let res = app.login("ivy@example.com", PASSWORD).await.expect(429);
        assert_eq!(res.code(), "RATE_LIMITED");
        assert_eq!(res.json["success"], false);
        let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
        assert!(res.json.get("access_token").is_none());
        // Another account is not affected.
        app.login_ok("jon@example.com", PASSWORD).await;

        // The delay passes (moved into the past here instead of sleeping):
        // one attempt is admitted, and a success resets the count.
        sqlx::query(
            "UPDATE login_throttle SET blocked_until = $1 WHERE throttle_key LIKE 'account|%|' || $2",
        )
            .bind(clock::format(clock::now() - time::Duration::seconds(1)))
            .bind("ivy@example.com")
            .execute(app.pool())
            .await
            .unwrap();
        app.login_ok("ivy@example.com", PASSWORD).await;
        let left: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM login_throttle WHERE throttle_key LIKE 'account|%|' || $1",
        )
            .bind("ivy@example.com")
            .fetch_one(app.pool())
            .await
            .unwrap();
        assert_eq!(left, 0);
        app.login("ivy@example.com", "Wrong1234").await.expect(401);
        app.login_ok("ivy@example.com", PASSWORD).await;

        // Unknown addresses are throttled the same way, so a 429 reveals
        // nothing about which accounts exist.
        for _ in 0..5 {
            app.login("ghost@example.com", "Wrong1234")
                .await
                .expect(401);
        }
        app.login("ghost@example.com", "Wrong1234")
            .await
            .expect(429);
    })
    .await;
}

#[tokio::test]
async fn change_password_checks_the_current_one_and_ends_other_sessions() {
    each_backend(|app: App| async move {
        app.register("kim@example.com", "Kim").await;
        let t = app.login_ok("kim@example.com", PASSWORD).await;
        let change = |current: &str, new: &str| {
            app.http()
                .post("/api/users/change-password")
                .bearer(&t.access)
                .json(json!({"current_password": current, "new_password": new}))
                .send()
        };
        let res = change("Wrong1234", "Newpass99").await.expect(403);
        assert_eq!(res.json["error"]["details"]["field"], "current_password");
        let res = change(PASSWORD, "weak").await.expect(400);
        assert_eq!(res.json["error"]["details"]["field"], "new_password");
        // The rule broken is named for programs too.
        assert_eq!(res.json["error"]["details"]["rule"], "min_length");
        let res = change(PASSWORD, PASSWORD).await.expect(400);
        assert_eq!(res.json["error"]["details"]["rule"], "unchanged");

        let res = change(PASSWORD, "Newpass99").await.expect(200);
        assert_eq!(res.json["token_type"], "Bearer");
        let fresh = res.json["refresh_token"].as_str().unwrap().to_owned();
        app.refresh(&t.refresh).await.expect(401);
        app.refresh(&fresh).await.expect(200);
        app.login("kim@example.com", PASSWORD).await.expect(401);
        app.login_ok("kim@example.com", "Newpass99").await;
        let events = app.events("users.user.password_changed").await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["payload"]["email"], "kim@example.com");
    })
    .await;
}

fn forge(claims: &Claims, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn forged_expired_and_malformed_tokens_are_401() {
    each_backend(|app: App| async move {
        app.register("lou@example.com", "Lou").await;
        let t = app.login_ok("lou@example.com", PASSWORD).await;
        let claims = app.ctx.jwt.verify(&t.access).unwrap();
        app.profile(&t.access).await.expect(200);

        // Signed with another key.
        let (other_key, _) = JwtKeys::new(b"another-secret-another-secret-0123456789").issue(
            &marimo_platform::auth::jwt::Identity {
                user_id: claims.user_id.clone(),
                email: claims.email.clone(),
                role: Role::Admin,
                tenant: Default::default(),
            },
        );
        // alg: none with the real payload.
        let payload = t.access.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{payload}.",
            B64.encode(br#"{"alg":"none","typ":"JWT"}"#)
        );
        // Expired an hour ago, signed with the right key.
        let mut expired = claims.clone();
        expired.iat -= 7200;
        expired.exp = clock::unix_now() - 3600;
        let expired = forge(&expired, TEST_JWT_SECRET.as_bytes());
        // Role escalated in the payload, original signature.
        let mut parts: Vec<String> = t.access.split('.').map(str::to_owned).collect();
        let mut body: serde_json::Value =
            serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
        body["role"] = "admin".into();
        parts[1] = B64.encode(body.to_string());
        let tampered = parts.join(".");
        // Right key, but for an account that does not exist.
        let mut ghost = claims.clone();
        ghost.sub = ids::new_id();
        ghost.user_id = ghost.sub.clone();
        let ghost = forge(&ghost, TEST_JWT_SECRET.as_bytes());

        for (what, token) in [
            ("wrong key", other_key.as_str()),
            ("alg none", none.as_str()),
            ("expired", expired.as_str()),
            ("tampered", tampered.as_str()),
            ("garbage", "abc.def.ghi"),
            ("unknown account", ghost.as_str()),
        ] {
            let res = app.profile(token).await;
            assert_eq!(res.status, 401, "{what}: {}", res.text);
            assert_eq!(res.code(), "UNAUTHORIZED", "{what}");
        }
        app.http()
            .get("/api/users/profile")
            .send()
            .await
            .expect(401);
        app.http()
            .get("/api/users/profile")
            .header("authorization", "Basic Zm9vOmJhcg==")
            .send()
            .await
            .expect(401);
        // An admin-role token forged with the wrong key gets nothing.
        app.http()
            .get("/api/users/list")
            .bearer(&other_key)
            .send()
            .await
            .expect(401);
    })
    .await;
}

#[tokio::test]
async fn malformed_requests_get_the_one_error_shape() {
    each_backend(|app: App| async move {
        let res = app
            .http()
            .post("/api/users/login")
            .header("content-type", "application/json")
            .body("{\"email\": ")
            .send()
            .await
            .expect(400);
        assert_eq!(res.json["success"], false);
        assert_eq!(res.code(), "INVALID_JSON");
        assert!(res.json["message"].is_string() && res.json["request_id"].is_string());

        let res = app
            .http()
            .post("/api/users/register")
            .header("content-type", "text/plain")
            .body("email=a@b.c")
            .send()
            .await
            .expect(415);
        assert_eq!(res.code(), "UNSUPPORTED_MEDIA_TYPE");

        let res = app
            .http()
            .post("/api/users/login")
            .json(json!(["not", "an", "object"]))
            .send()
            .await
            .expect(400);
        assert_eq!(res.json["success"], false);

        let res = app.http().get("/api/users/nope").send().await.expect(404);
        assert_eq!(res.json["success"], false);
        app.http().get("/api/users/login").send().await.expect(405);

        // A body over the limit (1 MiB by default).
        let big = format!("{{\"email\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
        app.http()
            .post("/api/users/login")
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .expect(413);
    })
    .await;
}
