//! What reaches the upstream, and what comes back.

use marimo_platform::{auth::Role, http::version, service::ServiceName};
use marimo_testkit::token_for_user;
use reqwest::Method;
use serde_json::json;

use crate::support::{System, assert_error, closed_port_url, seen};

#[tokio::test]
async fn forwards_method_path_query_headers_and_body() {
    let sys = System::start(&[]).await;
    let t = token_for_user("u-42", Role::User);
    let res = sys
        .gw
        .http
        .post("/api/shop/orders?x=1&name=a%20b&x=2")
        .bearer(&t)
        .header("x-request-id", "req-abc-123")
        .header("x-custom", "kept")
        .header("connection", "x-hop")
        .header("x-hop", "dropped")
        .json(json!({"items": [{"product_id": "p1", "quantity": 2}]}))
        .send()
        .await
        .expect(200);
    let echo = &res.json;
    assert_eq!(echo["service"], "shop");
    assert_eq!(echo["method"], "POST");
    // An alias is forwarded as its v1 path; the client is told it is deprecated.
    assert_eq!(echo["path"], "/api/v1/shop/orders");
    assert_eq!(res.header("deprecation"), Some("@1796083200"));
    assert_eq!(echo["query"], "x=1&name=a%20b&x=2");
    let body: serde_json::Value = serde_json::from_str(echo["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["items"][0]["quantity"], 2);
    assert_eq!(seen(echo, "content-type"), Some("application/json"));
    assert_eq!(
        seen(echo, "authorization"),
        Some(format!("Bearer {t}").as_str())
    );
    assert_eq!(seen(echo, "x-custom"), Some("kept"));
    assert_eq!(seen(echo, "x-hop"), None);
    assert_eq!(seen(echo, "x-request-id"), Some("req-abc-123"));
    assert_eq!(seen(echo, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen(echo, "x-forwarded-proto"), Some("http"));
    assert!(seen(echo, "x-forwarded-host").is_some());
    // The request id is echoed to the client too.
    assert_eq!(res.header("x-request-id"), Some("req-abc-123"));
    assert_eq!(sys.echo(ServiceName::Shop).hits(), 1);

    for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::GET] {
        let res = sys
            .gw
            .http
            .request(method.clone(), "/api/factory/products/p1/status")
            .bearer(&t)
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["method"], method.as_str());
        assert_eq!(res.json["path"], "/api/v1/factory/products/p1/status");
        assert_eq!(res.json["body_len"], 0);
    }
}

#[tokio::test]
async fn each_prefix_reaches_its_service() {
    let sys = System::start(&[]).await;
    let t = token_for_user("u1", Role::Admin);
    for (path, service) in [
        ("/api/users/profile", "users"),
        ("/api/config", "config"),
        ("/api/config/", "config"),
        ("/api/config/app_name", "config"),
        ("/api/accounting/balance", "accounting"),
        ("/api/factory/orders", "factory"),
        ("/api/shop/admin/orders", "shop"),
        ("/api/main/dashboard", "main"),
        ("/api/audit/log", "worker"),
        ("/api/notifications/", "worker"),
        ("/api/worker/summary", "worker"),
    ] {
        let res = sys.gw.http.get(path).bearer(&t).send().await.expect(200);
        assert_eq!(res.json["service"], service, "{path}");
        assert_eq!(res.json["path"], version::v1_path(path));
        // The same route under v1, not deprecated.
        let v1 = version::v1_path(path);
        let res = sys.gw.http.get(&v1).bearer(&t).send().await.expect(200);
        assert_eq!(res.json["service"], service, "{v1}");
        assert_eq!(res.json["path"], v1);
        assert_eq!(res.header("deprecation"), None, "{v1}");
    }
    let before = sys.total_hits();
    for path in [
        "/api/nope/x",
        "/api/workers/x",
        "/api",
        "/api/",
        "/api/v1",
        "/api/v1/",
        "/api/v1/nope/x",
        "/api/v2/shop/orders",
    ] {
        let res = sys.gw.http.get(path).bearer(&t).send().await;
        assert_error(&res, 404, "NOT_FOUND");
    }
    // Outside /api is the web UI: its 404 is a page.
    let res = sys.gw.http.get("/elsewhere").bearer(&t).send().await;
    assert_eq!(res.status, 404);
    assert!(res.text.contains("<html"), "{}", res.text);
    assert_eq!(
        sys.total_hits(),
        before,
        "unknown prefixes are not forwarded"
    );
}

#[tokio::test]
async fn large_bodies_stream_both_ways() {
    let sys = System::start(&[("MAX_BODY_BYTES", "8388608")]).await;
    let t = token_for_user("u1", Role::Manager);
    // 4 MiB in 64 KiB chunks, without Content-Length (chunked).
    let chunks =
        (0..64).map(|i| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![(i % 251) as u8; 65536])));
    let expected_sum: u64 = (0..64u64).map(|i| (i % 251) * 65536).sum();
    let res = sys
        .gw
        .http
        .post("/api/factory/products")
        .bearer(&t)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect(200);
    assert_eq!(res.json["body_len"], 64 * 65536);
    assert_eq!(res.json["body_sum"], expected_sum);

    // A 5 MiB answer comes back whole (public route, no token).
    let res = sys
        .gw
        .http
        .get("/api/shop/products?download=5242880")
        .send()
        .await
        .expect(200);
    assert_eq!(res.text.len(), 5_242_880);
    assert!(res.text.bytes().all(|b| b == b'x'));
}

#[tokio::test]
async fn an_unreachable_service_is_a_503_naming_it() {
    let closed = closed_port_url().await;
    let sys = System::start(&[("FACTORY_URLS", &closed)]).await;
    let t = token_for_user("u1", Role::Manager);
    let res = sys
        .gw
        .http
        .get("/api/factory/products")
        .bearer(&t)
        .send()
        .await;
    assert_error(&res, 503, "SERVICE_UNAVAILABLE");
    assert!(
        res.json["message"].as_str().unwrap().contains("factory"),
        "{}",
        res.text
    );
    assert_eq!(res.json["error"]["details"]["service"], "factory");
    let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    // Other services are unaffected.
    sys.gw
        .http
        .get("/api/shop/orders")
        .bearer(&t)
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn instances_are_used_in_turn() {
    let a = crate::support::Echo::start("users").await;
    let b = crate::support::Echo::start("users").await;
    let urls = format!("{},{}", a.url(), b.url());
    let sys = System::start(&[("USERS_URLS", &urls)]).await;
    for _ in 0..4 {
        sys.gw
            .http
            .post("/api/users/logout")
            .json(json!({}))
            .send()
            .await
            .expect(200);
    }
    assert_eq!((a.hits(), b.hits()), (2, 2));
    assert_eq!(sys.echo(ServiceName::Users).hits(), 0);
}

#[tokio::test]
async fn request_ids_are_generated_when_absent() {
    let sys = System::start(&[]).await;
    let res = sys
        .gw
        .http
        .get("/api/shop/categories")
        .send()
        .await
        .expect(200);
    let id = res.header("x-request-id").expect("generated id").to_owned();
    assert_eq!(seen(&res.json, "x-request-id"), Some(id.as_str()));
    // An unacceptable id is replaced, not forwarded.
    let res = sys
        .gw
        .http
        // (another query: the first answer is in the response cache)
        .get("/api/shop/categories?again=1")
        .header("x-request-id", &"x".repeat(300))
        .send()
        .await
        .expect(200);
    let id = res.header("x-request-id").unwrap();
    assert_ne!(id.len(), 300);
    assert_eq!(seen(&res.json, "x-request-id"), Some(id));
}

#[tokio::test]
async fn aliases_answer_like_v1_and_say_they_are_deprecated() {
    let sys = System::start(&[]).await;
    let t = token_for_user("u1", Role::Admin);
    let alias = sys
        .gw
        .http
        .get("/api/shop/orders?status=paid")
        .bearer(&t)
        .send()
        .await
        .expect(200);
    assert_eq!(alias.header("deprecation"), Some("@1796083200"));
    assert_eq!(
        alias.header("link"),
        Some("</api/v1/shop/orders>; rel=\"successor-version\"")
    );
    let v1 = sys
        .gw
        .http
        .get("/api/v1/shop/orders?status=paid")
        .bearer(&t)
        .send()
        .await
        .expect(200);
    assert_eq!(v1.header("deprecation"), None);
    assert_eq!(v1.header("link"), None);
    for res in [&alias, &v1] {
        assert_eq!(res.json["path"], "/api/v1/shop/orders");
        assert_eq!(res.json["query"], "status=paid");
    }
    // Errors of an alias are marked too, and public routes are public
    // under both prefixes.
    let res = sys.gw.http.get("/api/shop/orders").send().await;
    assert_error(&res, 401, "UNAUTHORIZED");
    assert_eq!(res.header("deprecation"), Some("@1796083200"));
    for path in ["/api/shop/products", "/api/v1/shop/products"] {
        sys.gw.http.get(path).send().await.expect(200);
    }
    let res = sys.gw.http.get("/api/v1/shop/orders").send().await;
    assert_error(&res, 401, "UNAUTHORIZED");
}
