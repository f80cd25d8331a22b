//! Edge authentication and identity headers.

use marimo_platform::{
    auth::{JwtKeys, Role, jwt::Identity},
    service::ServiceName,
};
use marimo_testkit::token_for_user;
use reqwest::Method;
use serde_json::json;

use crate::support::{System, assert_error, expired_token, seen};

#[tokio::test]
async fn identity_comes_from_the_token_never_the_client() {
    let sys = System::start(&[]).await;
    let t = token_for_user("u-7", Role::Accountant);
    let res = sys
        .gw
        .http
        .get("/api/accounting/balance")
        .bearer(&t)
        .header("x-user-id", "forged-admin")
        .header("x-user-role", "admin")
        .header("x-user-email", "boss@example.com")
        .send()
        .await
        .expect(200);
    assert_eq!(seen(&res.json, "x-user-id"), Some("u-7"));
    assert_eq!(seen(&res.json, "x-user-role"), Some("accountant"));
    assert_eq!(seen(&res.json, "x-user-email"), None);

    // Public route without a token: forged headers are removed, none set.
    let res = sys
        .gw
        .http
        .get("/api/shop/products")
        .header("x-user-id", "forged-admin")
        .header("x-user-role", "admin")
        .send()
        .await
        .expect(200);
    assert_eq!(seen(&res.json, "x-user-id"), None);
    assert_eq!(seen(&res.json, "x-user-role"), None);

    // Public route with a valid token: the identity is passed on.
    let res = sys
        .gw
        .http
        .get("/api/shop/products/p1")
        .bearer(&t)
        .header("x-user-id", "forged-admin")
        .send()
        .await
        .expect(200);
    assert_eq!(seen(&res.json, "x-user-id"), Some("u-7"));
}

#[tokio::test]
async fn public_routes_pass_without_a_token() {
    let sys = System::start(&[]).await;
    for (method, path) in [
        (Method::POST, "/api/users/register"),
        (Method::POST, "/api/users/login"),
        (Method::POST, "/api/users/refresh"),
        (Method::POST, "/api/users/logout"),
        (Method::GET, "/api/shop/products"),
        (Method::GET, "/api/shop/products/0190abcd"),
        (Method::HEAD, "/api/shop/products"),
        (Method::GET, "/api/shop/categories"),
    ] {
        let mut req = sys.gw.http.request(method.clone(), path);
        if method == Method::POST {
            req = req.json(json!({"email": "a@b.c", "password": "x"}));
        }
        let res = req.send().await;
        assert_eq!(res.status, 200, "{method} {path}: {}", res.text);
    }
    assert_eq!(sys.echo(ServiceName::Users).hits(), 4);
    assert_eq!(sys.echo(ServiceName::Shop).hits(), 4);
    // Logout with an expired bearer still goes through (the bearer is optional there).
    sys.gw
        .http
        .post("/api/users/logout")
        .bearer(&expired_token("u1"))
        .json(json!({}))
        .send()
        .await
        .expect(200);
    // The gateway's own routes are public.
    for path in ["/health", "/ready", "/metrics"] {
        sys.gw.http.get(path).send().await.expect(200);
    }
}

#[tokio::test]
async fn protected_routes_refuse_missing_bad_and_expired_tokens_without_forwarding() {
    let sys = System::start(&[]).await;
    let foreign = JwtKeys::new(&[3u8; 32])
        .issue(&Identity {
            user_id: "u1".into(),
            email: "a@b.c".into(),
            role: Role::Admin,
            tenant: Default::default(),
        })
        .0;
    let expired = expired_token("u1");
    let cases: Vec<(Method, &str, Option<String>)> = vec![
        (Method::GET, "/api/users/profile", None),
        (
            Method::GET,
            "/api/users/profile",
            Some("Bearer not-a-jwt".into()),
        ),
        (
            Method::GET,
            "/api/users/list",
            Some(format!("Bearer {foreign}")),
        ),
        (
            Method::GET,
            "/api/users/profile",
            Some(format!("Bearer {expired}")),
        ),
        (
            Method::GET,
            "/api/users/profile",
            Some(format!("Basic {expired}")),
        ),
        (Method::POST, "/api/shop/orders", None),
        (Method::POST, "/api/shop/products", None),
        (Method::DELETE, "/api/shop/admin/products/p1", None),
        (Method::GET, "/api/shop/orders", None),
        (Method::GET, "/api/config", None),
        (Method::GET, "/api/main/stats", None),
        (Method::GET, "/api/audit/log", None),
        (Method::GET, "/api/users/login", None),
        (Method::POST, "/api/users/login/", None),
    ];
    for (method, path, auth) in cases {
        let mut req = sys.gw.http.request(method.clone(), path);
        if let Some(a) = &auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await;
        assert_error(&res, 401, "UNAUTHORIZED");
        assert_eq!(
            res.header("www-authenticate"),
            Some("Bearer"),
            "{method} {path}"
        );
    }
    let res = sys
        .gw
        .http
        .get("/api/users/profile")
        .bearer(&expired)
        .send()
        .await;
    assert!(
        res.json["message"].as_str().unwrap().contains("expired"),
        "{}",
        res.text
    );
    assert_eq!(
        sys.total_hits(),
        0,
        "refused requests must not reach a service"
    );
    let metrics = sys.gw.http.get("/metrics").send().await.expect(200).text;
    assert!(
        metrics.contains("gateway_rejected_total{reason=\"unauthorized\"}"),
        "{metrics}"
    );
}
