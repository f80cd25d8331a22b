//! The attacks of issue 14 (items 1, 4, 8), each sent to the whole system
//! through the gateway the way an attacker would, on every database
//! backend, with the refusal expected. `docs/SECURITY.md` maps each threat
//! to the test here that holds it.
//!
//! Attack paths go over a raw TCP connection: an HTTP client library would
//! resolve `..` and re-encode before sending, which is exactly what the
//! attacks rely on the gateway not doing.

use std::time::{Duration, Instant};

use marimo_platform::{
    http::serve::{BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT},
    service::ServiceName,
};
use marimo_testkit::{Backend, backends};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use marimo_testkit::eventually;

use crate::support::{Running, mails, register_and_login, start};

/// One answer read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The one error shape with this code.
    fn refused(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["success"], false, "{self:?}");
        assert_eq!(body["error"]["code"], code, "{self:?}");
    }
}

fn gateway_addr(sys: &Running) -> String {
    let url = sys
        .system
        .as_ref()
        .expect("running")
        .url(ServiceName::Gateway);
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// Sends `target` exactly as written (no normalisation) and reads the
/// whole answer (`Connection: close`).
async fn raw(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Raw {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.map(Value::to_string).unwrap_or_default();
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut bytes))
        .await
        .expect("answer in time")
        .expect("read");
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> Raw {
    let text = String::from_utf8_lossy(bytes);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        let mut out = String::new();
        let mut rest = rest;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        rest.to_owned()
    };
    Raw {
        status,
        headers,
        body,
    }
}

const WRONG: (&str, &str) = ("nobody@example.com", "Wrong-Passw0rd");

/// Issue 14.1: `POST /api/users/x/../login` (and `%2e%2e`, `//`
/// variants) counted against nothing, so brute force went around the
/// login limit; register and refresh alike.
#[tokio::test]
async fn dot_segment_variants_count_against_the_anonymous_limits() {
    for backend in backends() {
        let sys = start(
            &backend,
            &[(
                "MARIMO_RATE_LIMITS",
                "login=1/m:2,register=1/m:2,refresh=1/m:2,user=off",
            )],
        )
        .await;
        let gw = gateway_addr(&sys);
        let login = json!({"email": WRONG.0, "password": WRONG.1});
        for (i, path) in [
            "/api/users/x/../login",
            "/api/users/x/%2e%2e/login",
            "/api//users/login",
        ]
        .into_iter()
        .enumerate()
        {
            let res = raw(&gw, "POST", path, &[], Some(&login)).await;
            if i < 2 {
                assert_eq!(res.status, 401, "{path}: {res:?}");
            } else {
                res.refused(429, "RATE_LIMITED");
            }
        }
        let refresh = json!({"refresh_token": "not-a-token"});
        for (i, path) in [
            "/api/users/./refresh",
            "/api/users/a/b/%2E%2E/%2e%2E/refresh",
            "/api/users/refresh",
        ]
        .into_iter()
        .enumerate()
        {
            let res = raw(&gw, "POST", path, &[], Some(&refresh)).await;
            if i < 2 {
                assert_ne!(res.status, 429, "{path}: {res:?}");
            } else {
                res.refused(429, "RATE_LIMITED");
            }
        }
        let register = json!({"email": "x@example.com", "password": "short", "name": "X"});
        for (i, path) in [
            "/api/users/x/../register",
            "/api/shop/../users/register",
            "/api/users/%72egister",
        ]
        .into_iter()
        .enumerate()
        {
            let res = raw(&gw, "POST", path, &[], Some(&register)).await;
            if i < 2 {
                assert_ne!(res.status, 429, "{path}: {res:?}");
            } else {
                res.refused(429, "RATE_LIMITED");
            }
        }
        sys.stop().await;
    }
}

/// Issue 14.1: backslashes, encoded slashes and NUL mean different paths
/// to different parsers; they are refused with 400 before any phase.
#[tokio::test]
async fn ambiguous_paths_are_refused_with_400() {
    for backend in backends() {
        let sys = start(&backend, &[("MARIMO_RATE_LIMITS", "off")]).await;
        let gw = gateway_addr(&sys);
        let login = json!({"email": WRONG.0, "password": WRONG.1});
        for path in [
            "/api/users/x/..\\login",
            "/api/users/x%2f..%2flogin",
            "/api/users/x%2F..%2Flogin",
            "/api/users/x%5c..%5clogin",
            "/api/users/login%00",
            "/api/users/login%zz",
            "/api/shop/products/..%2forders",
        ] {
            let res = raw(&gw, "POST", path, &[], Some(&login)).await;
            res.refused(400, "VALIDATION_ERROR");
            assert!(res.header("x-request-id").is_some(), "{path}");
        }
        sys.stop().await;
    }
}

/// Issue 14.1: `GET /api/shop/products/../orders` was judged a public
/// catalogue read, cached, and served to the next caller of that path:
/// another user's orders. Now it is `/api/shop/orders`: protected,
/// private, never stored.
#[tokio::test]
async fn a_catalogue_path_that_climbs_to_orders_is_never_cached_or_public() {
    for backend in backends() {
        let sys = start(&backend, &[("MARIMO_RATE_LIMITS", "off")]).await;
        let gw = gateway_addr(&sys);
        let alice = register_and_login(&sys.gw, "alice@example.com").await;
        let bob = register_and_login(&sys.gw, "bob@example.com").await;
        let bearer = |who: &Value| format!("Bearer {}", who["access_token"].as_str().unwrap());
        let path = "/api/shop/products/../orders";
        for who in [&alice, &bob, &alice] {
            let auth = bearer(who);
            let res = raw(&gw, "GET", path, &[("Authorization", &auth)], None).await;
            assert_eq!(res.status, 200, "{res:?}");
            assert!(res.json()["orders"].is_array(), "{res:?}");
            assert_eq!(res.header("cache-control"), Some("private, no-store"));
            assert_eq!(res.header("x-cache"), None, "orders never touch the cache");
        }
        for path in [path, "/api/shop/products/%2e%2e/orders", "/api/shop/orders"] {
            let res = raw(&gw, "GET", path, &[], None).await;
            res.refused(401, "UNAUTHORIZED");
        }
        sys.stop().await;
    }
}

/// Issue 14.1: `/api/shop/products/../../../metrics` reached a service's
/// own metrics. A path under `/api/` never leaves it.
#[tokio::test]
async fn service_internals_are_not_reachable_through_api_paths() {
    for backend in backends() {
        let sys = start(&backend, &[("MARIMO_RATE_LIMITS", "off")]).await;
        let gw = gateway_addr(&sys);
        for path in [
            "/api/shop/products/../../../metrics",
            "/api/shop/%2e%2e/%2e%2e/metrics",
            "/api/users/../../health",
            "/api/accounting/x/../../../ready",
            "/api/../metrics",
        ] {
            let res = raw(&gw, "GET", path, &[], None).await;
            res.refused(404, "NOT_FOUND");
            assert!(!res.body.contains("# TYPE"), "{path}: metrics leaked");
        }
        // A service's internals under its own segment are not routes.
        for path in [
            "/api/shop/metrics",
            "/api/users/health",
            "/api/config/ready",
        ] {
            let res = raw(&gw, "GET", path, &[], None).await;
            assert!(matches!(res.status, 401 | 404), "{path}: {res:?}");
            assert!(!res.body.contains("# TYPE"), "{path}: metrics leaked");
        }
        sys.stop().await;
    }
}

/// Issues 14.1 and 14.8: per-user answers and tokens are never stored by
/// any cache; only the public catalogue is shared.
#[tokio::test]
async fn only_public_answers_are_cacheable_and_tokens_are_no_store() {
    for backend in backends() {
        let sys = start(&backend, &[("MARIMO_RATE_LIMITS", "off")]).await;
        let gw = &sys.gw;
        let res = gw
            .post("/api/users/register")
            .json(json!({"email": "carol@example.com", "password": "Walk-Passw0rd", "name": "C"}))
            .send()
            .await
            .expect(201);
        assert_eq!(res.header("cache-control"), Some("no-store"), "register");
        let res = gw
            .post("/api/users/login")
            .json(json!({"email": "carol@example.com", "password": "Walk-Passw0rd"}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.header("cache-control"), Some("no-store"), "login");
        let tokens = res.json;
        let res = gw
            .post("/api/users/refresh")
            .json(json!({"refresh_token": tokens["refresh_token"]}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.header("cache-control"), Some("no-store"), "refresh");
        let access = tokens["access_token"].as_str().unwrap();
        let res = gw
            .get("/api/users/profile")
            .bearer(access)
            .send()
            .await
            .expect(200);
        assert_eq!(res.header("cache-control"), Some("private, no-store"));

        // The catalogue is public and shared: a miss, then a hit.
        let first = gw.get("/api/shop/products").send().await.expect(200);
        assert_eq!(first.header("cache-control"), Some("public, max-age=60"));
        assert_eq!(first.header("x-cache"), Some("MISS"));
        let again = gw.get("/api/shop/products").send().await.expect(200);
        assert_eq!(again.header("x-cache"), Some("HIT"));
        // A token that does not verify neither reads nor fills an entry.
        let res = gw
            .get("/api/shop/products")
            .bearer("not-a-token")
            .send()
            .await
            .expect(200);
        assert_eq!(res.header("x-cache"), None);
        sys.stop().await;
    }
}

/// Issue 14.8: a client that sends half a request head, or stops in the
/// middle of a body, is disconnected within seconds, not held forever.
#[tokio::test]
async fn half_a_request_is_cut_off_at_the_gateway() {
    for backend in backends() {
        let sys = start(&backend, &[("MARIMO_RATE_LIMITS", "off")]).await;
        let gw = gateway_addr(&sys);
        let head = async {
            let mut s = TcpStream::connect(&gw).await.unwrap();
            s.write_all(b"GET /api/shop/products HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
            closed_within(&mut s, HEADER_READ_TIMEOUT + Duration::from_secs(3)).await
        };
        let body = async {
            let mut s = TcpStream::connect(&gw).await.unwrap();
            s.write_all(
                b"POST /api/users/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"email\":",
            )
            .await
            .unwrap();
            closed_within(&mut s, BODY_READ_TIMEOUT + Duration::from_secs(3)).await
        };
        let (head, body) = tokio::join!(head, body);
        assert_eq!(head.status, 0, "no answer to half a head: {head:?}");
        assert!(
            !(200..300).contains(&body.status),
            "a cut body is not a success: {body:?}"
        );
        sys.stop().await;
    }
}

/// Reads until the peer closes; fails if it is still open after `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Raw {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return parse(&got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

/// Issue 14.4: production refuses the template's secrets, with a message
/// saying how to make a real one.
#[test]
fn production_refuses_the_templates_secrets() {
    let template = include_str!("../../../../deploy/.env.example");
    let jwt = template
        .lines()
        .find_map(|l| l.strip_prefix("JWT_SECRET="))
        .expect("JWT_SECRET in deploy/.env.example");
    let dir = std::env::temp_dir().join(format!("marimo-sec-{}", marimo_platform::ids::new_id()));
    for secret in [jwt, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_marimo"))
            .env("MARIMO_ENV", "production")
            .env("MARIMO_DATA_DIR", &dir)
            .env("JWT_SECRET", secret)
            .env_remove("DATABASE_URL")
            .arg("up")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{secret}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("JWT_SECRET"), "{err}");
        assert!(err.contains("openssl rand -hex 32"), "{err}");
    }
}

/// Issue 14.4: the data directory and what it holds (SQLite files, mail)
/// are readable by their owner only.
#[cfg(unix)]
#[tokio::test]
async fn data_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for backend in backends() {
        let sys = start(&backend, &[("MARIMO_RATE_LIMITS", "off")]).await;
        register_and_login(&sys.gw, "dave@example.com").await;
        // Registration sends a welcome mail through the file outbox.
        eventually("the welcome mail", || async {
            (!mails(&sys.data_dir).is_empty()).then_some(())
        })
        .await;
        assert_eq!(mode(&sys.data_dir), 0o700);
        let mail_dir = sys.data_dir.join("mail");
        assert_eq!(mode(&mail_dir), 0o700);
        for entry in std::fs::read_dir(&mail_dir).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        if matches!(backend, Backend::Sqlite) {
            for entry in std::fs::read_dir(&sys.data_dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name.contains(".db") {
                    assert_eq!(mode(&path), 0o600, "{name}");
                }
            }
        }
        sys.stop().await;
    }
}

/// Issue 14.4: with Consul's ACLs in default-deny mode the services still
/// register and resolve, because every call carries `CONSUL_HTTP_TOKEN`;
/// the cluster denied nothing.
#[tokio::test]
async fn the_system_works_against_consul_with_acls_on() {
    use marimo_testkit::consul::{FakeConsul, serve};
    for backend in backends() {
        let token = "acl-token-for-the-services";
        let consul = FakeConsul::with_acl(token);
        let running = serve(consul.clone()).await;
        let addr = running.addr.to_string();
        let sys = start(
            &backend,
            &[
                ("MARIMO_RATE_LIMITS", "off"),
                ("CONSUL_ADDR", &addr),
                ("CONSUL_HTTP_TOKEN", token),
            ],
        )
        .await;
        eventually("every service registered", || async {
            (consul.with(|d| d.registered.len()) >= ServiceName::UPSTREAMS.len()).then_some(())
        })
        .await;
        sys.gw.get("/api/shop/products").send().await.expect(200);
        assert_eq!(
            consul.with(|d| d.denied),
            0,
            "no call went without the token"
        );
        sys.stop().await;
        running.handle.abort();
    }
}
