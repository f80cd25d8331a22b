//! Security headers, CORS and body rules at the edge.

use marimo_platform::{auth::Role, service::ServiceName};
use marimo_testkit::token_for_user;
use reqwest::Method;
use serde_json::json;

use crate::support::{System, assert_error};

#[track_caller]
fn assert_security_headers(res: &marimo_testkit::Res) {
    let csp = res.header("content-security-policy").expect("CSP");
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
}

#[tokio::test]
async fn security_headers_on_every_answer() {
    let sys = System::start(&[]).await;
    let t = token_for_user("u1", Role::User);
    let answers = [
        sys.gw
            .http
            .get("/api/shop/orders")
            .bearer(&t)
            .send()
            .await
            .expect(200),
        sys.gw.http.get("/api/shop/orders").send().await.expect(401),
        sys.gw.http.get("/api/unknown").send().await.expect(404),
        sys.gw.http.get("/health").send().await.expect(200),
        sys.gw.http.get("/ready").send().await.expect(200),
        sys.gw.http.get("/metrics").send().await.expect(200),
    ];
    for res in &answers {
        assert_security_headers(res);
    }
}

#[tokio::test]
async fn cors_only_for_allowed_origins() {
    let sys = System::start(&[(
        "CORS_ORIGINS",
        "https://app.example.com, http://localhost:5173",
    )])
    .await;
    let res = sys
        .gw
        .http
        .get("/api/shop/products")
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect(200);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_ne!(res.header("access-control-allow-credentials"), Some("true"));
    let exposed = res.header("access-control-expose-headers").unwrap_or("");
    assert!(exposed.contains("x-request-id"), "{exposed}");

    let res = sys
        .gw
        .http
        .get("/api/shop/products")
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("access-control-allow-origin"), None);

    // Preflight is answered at the edge, without a token, and not forwarded.
    let before = sys.echo(ServiceName::Shop).hits();
    let res = sys
        .gw
        .http
        .request(Method::OPTIONS, "/api/shop/orders")
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect(200);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert!(
        res.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    let allowed = res
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    assert_security_headers(&res);
    assert_eq!(sys.echo(ServiceName::Shop).hits(), before);

    // Errors carry CORS headers too, so the browser can read them.
    let res = sys
        .gw
        .http
        .get("/api/shop/orders")
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect(401);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
}

#[tokio::test]
async fn no_cors_headers_without_an_allowlist() {
    let sys = System::start(&[]).await;
    let res = sys
        .gw
        .http
        .get("/api/shop/products")
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect(200);
    assert!(
        res.headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "{:?}",
        res.headers
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let sys = System::start(&[("MAX_BODY_BYTES", "1024")]).await;
    let t = token_for_user("u1", Role::Manager);
    let body_of = |n: usize| format!("\"{}\"", "a".repeat(n - 2));

    // Exactly the limit passes.
    let res = sys
        .gw
        .http
        .post("/api/factory/products")
        .bearer(&t)
        .header("content-type", "application/json")
        .body(body_of(1024))
        .send()
        .await
        .expect(200);
    assert_eq!(res.json["body_len"], 1024);
    let hits = sys.total_hits();

    // Declared length over the limit.
    let res = sys
        .gw
        .http
        .post("/api/factory/products")
        .bearer(&t)
        .header("content-type", "application/json")
        .body(body_of(1025))
        .send()
        .await;
    assert_error(&res, 413, "PAYLOAD_TOO_LARGE");
    assert_eq!(sys.total_hits(), hits, "refused before forwarding");

    // Chunked, no Content-Length: cut off on the way through.
    let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 512])));
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
        .await;
    assert_error(&res, 413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn non_json_bodies_are_refused_with_415() {
    let sys = System::start(&[]).await;
    let t = token_for_user("u1", Role::User);
    let res = sys
        .gw
        .http
        .post("/api/shop/orders")
        .bearer(&t)
        .header("content-type", "text/plain")
        .body("items=1")
        .send()
        .await;
    assert_error(&res, 415, "UNSUPPORTED_MEDIA_TYPE");
    // A body without any Content-Type is refused too, also on public routes.
    let res = sys.gw.http.post("/api/users/login").body("{}").send().await;
    assert_error(&res, 415, "UNSUPPORTED_MEDIA_TYPE");
    assert_eq!(sys.total_hits(), 0);

    // +json types and bodiless requests pass.
    sys.gw
        .http
        .request(Method::PATCH, "/api/shop/orders/o1")
        .bearer(&t)
        .header(
            "content-type",
            "application/merge-patch+json; charset=utf-8",
        )
        .body("{}")
        .send()
        .await
        .expect(200);
    sys.gw
        .http
        .post("/api/users/logout")
        .send()
        .await
        .expect(200);
    sys.gw
        .http
        .post("/api/shop/orders")
        .bearer(&t)
        .json(json!({"items": []}))
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn a_large_chunked_body_over_the_default_limit_is_a_413() {
    let sys = System::start(&[]).await;
    let t = token_for_user("u1", Role::Manager);
    // 4 MiB against the default 1 MiB.
    let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 65536])));
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
        .await;
    assert_error(&res, 413, "PAYLOAD_TOO_LARGE");
    assert_eq!(res.json["error"]["details"]["max_bytes"], 1024 * 1024);
}
