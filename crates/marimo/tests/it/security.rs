//! The attacks of issue 14 (items 1 to 9), each sent to the whole system
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

use crate::{
    support::{Running, mails, register_and_login, start},
    web_pages::{Page, flags},
};

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

// ---- Issue 14.7: the web UI ---------------------------------------------

const WEB_ADMIN: (&str, &str) = ("admin@sec.test", "Admin-Passw0rd");

/// The system with limits off and a bootstrap admin, for the page attacks.
async fn start_with_admin(backend: &Backend, extra: &[(&str, &str)]) -> Running {
    let mut vars = vec![
        ("MARIMO_RATE_LIMITS", "off"),
        ("MARIMO_ADMIN_EMAIL", WEB_ADMIN.0),
        ("MARIMO_ADMIN_PASSWORD", WEB_ADMIN.1),
    ];
    vars.extend_from_slice(extra);
    start(backend, &vars).await
}

/// Issue 14.7: `next=` took `//host`, `/\host`, `/<TAB>/host` (browsers
/// drop the tab) to another site after sign-in, and a `%0a` in it made
/// the redirect panic into a 500. Only a local path is accepted; anything
/// else is a 400 page, on the sign-in form, the sign-in post and the
/// language switch alike.
#[tokio::test]
async fn web_next_accepts_only_a_local_path() {
    for backend in backends() {
        let sys = start_with_admin(&backend, &[]).await;
        let gw = gateway_addr(&sys);
        for next in [
            "//evil.example",
            "/%5Cevil.example",
            "%5C%5Cevil.example",
            "/%09/evil.example",
            "https://evil.example/",
            "/shop%0a",
            "/%0d%0aSet-Cookie:%20x=1",
            "/%00",
            "/caf%C3%A9",
        ] {
            for path in [
                format!("/login?next={next}"),
                format!("/lang/ru?next={next}"),
            ] {
                let res = raw(&gw, "GET", &path, &[], None).await;
                assert_eq!(res.status, 400, "{path}: {res:?}");
                assert!(res.header("location").is_none(), "{path}: {res:?}");
                assert!(res.body.contains("Bad request"), "{path}: {res:?}");
            }
        }
        // The sign-in post: the right password, a `next` of another site.
        let mut page = Page::new(&sys);
        let a = page
            .submit(
                "/login",
                &[
                    ("email", WEB_ADMIN.0),
                    ("password", WEB_ADMIN.1),
                    ("next", "/\t/evil.example"),
                ],
            )
            .await;
        assert_eq!(a.status, 400, "{}", a.body);
        assert!(page.cookie("marimo_at").is_none(), "no session was set up");
        // A local path still works, query and all.
        let res = raw(&gw, "GET", "/lang/ru?next=/shop%3Fq%3Dlamp", &[], None).await;
        assert_eq!(res.status, 303, "{res:?}");
        assert_eq!(res.header("location"), Some("/shop?q=lamp"));
        let res = raw(&gw, "GET", "/login?next=/accounting", &[], None).await;
        assert_eq!(res.status, 200, "{res:?}");
        assert!(res.body.contains("value=\"/accounting\""), "{res:?}");
        sys.stop().await;
    }
}

/// Issue 14.7: a CSRF token from another session (the attacker's own,
/// planted as a cookie through a sibling host) was accepted in the
/// victim's; a form posted from another origin was accepted with any
/// valid token. Tokens are signed for the session, and a POST whose
/// `Origin` (else `Referer`) names another host is refused with 403.
#[tokio::test]
async fn web_csrf_is_bound_to_the_session_and_checks_the_origin() {
    for backend in backends() {
        let sys = start_with_admin(&backend, &[]).await;
        let mut admin = Page::new(&sys);
        admin.sign_in(WEB_ADMIN.0, WEB_ADMIN.1).await;
        admin.get("/users").await;
        let admins_token = admin.cookie("marimo_csrf").expect("a CSRF cookie");

        // The attacker signs in as themselves and takes their own token.
        register_and_login(&sys.gw, "mallory@sec.test").await;
        let mut mallory = Page::new(&sys);
        mallory
            .sign_in("mallory@sec.test", crate::support::PASSWORD)
            .await;
        mallory.get("/shop").await;
        let planted = mallory.cookie("marimo_csrf").expect("a CSRF cookie");
        assert_ne!(planted, admins_token);

        // Planted into the admin's browser and echoed by the forged form.
        let mut victim = Page::new(&sys);
        victim.cookies = admin.cookies.clone();
        victim.set("marimo_csrf", &planted);
        let req = victim.form("/notifications/read-all", &[("_csrf", planted.as_str())]);
        let a = victim.send(req).await;
        assert_eq!(a.status, 403, "{}", a.body);
        assert!(a.body.contains("The form has expired"), "{}", a.body);
        // A guest's token is not the admin's either.
        let mut guest = Page::new(&sys);
        guest.get("/login").await;
        let guests = guest.cookie("marimo_csrf").expect("a CSRF cookie");
        let mut victim = Page::new(&sys);
        victim.cookies = admin.cookies.clone();
        victim.set("marimo_csrf", &guests);
        let req = victim.form("/notifications/read-all", &[("_csrf", guests.as_str())]);
        assert_eq!(victim.send(req).await.status, 403);

        // The admin's own token from another origin: refused.
        let host = admin.base.trim_start_matches("http://").to_owned();
        for (header, value) in [
            ("origin", "https://evil.example".to_owned()),
            ("origin", "null".to_owned()),
            ("origin", format!("http://{host}.evil.example")),
            ("referer", "https://evil.example/page".to_owned()),
            ("referer", format!("http://evil@{host}/")),
        ] {
            let req = admin
                .form(
                    "/notifications/read-all",
                    &[("_csrf", admins_token.as_str())],
                )
                .header(header, &value);
            let a = admin.send(req).await;
            assert_eq!(a.status, 403, "{header}: {value}: {}", a.body);
        }
        // ... and accepted from this very host, or with no Origin at all.
        let req = admin
            .form(
                "/notifications/read-all",
                &[("_csrf", admins_token.as_str())],
            )
            .header("origin", format!("http://{host}"));
        let a = admin.send(req).await;
        assert_eq!(a.status, 303, "{}", a.body);
        let a = admin.submit("/notifications/read-all", &[]).await;
        assert_eq!(a.status, 303, "{}", a.body);
        sys.stop().await;
    }
}

/// Issue 14.7: over TLS the session cookies were plain names, which a
/// sibling host or a plain-http page can set (cookie tossing). They are
/// `__Host-` prefixed and `Secure`, and only those names are read.
#[tokio::test]
async fn web_cookies_over_tls_are_host_prefixed_and_plain_ones_are_ignored() {
    for backend in backends() {
        let sys = start_with_admin(&backend, &[("TRUSTED_PROXIES", "127.0.0.1,::1")]).await;
        let mut tls = Page::new(&sys);
        // A trusted proxy in front says the client came over https.
        let over_tls = |req: reqwest::RequestBuilder| req.header("x-forwarded-proto", "https");
        let req = over_tls(tls.http.get(format!("{}/login", tls.base)));
        tls.send(req).await;
        let token = tls
            .cookie("__Host-marimo_csrf")
            .expect("a prefixed CSRF cookie");
        assert!(tls.cookie("marimo_csrf").is_none());
        let req = over_tls(tls.form(
            "/login",
            &[
                ("_csrf", token.as_str()),
                ("email", WEB_ADMIN.0),
                ("password", WEB_ADMIN.1),
                ("next", "/users"),
            ],
        ));
        let a = tls.send(req).await;
        assert_eq!(a.status, 303, "{}", a.body);
        for name in ["__Host-marimo_at", "__Host-marimo_rt"] {
            let c = flags(&a.set_cookies, name);
            assert!(
                c.contains("; Secure") && c.contains("Path=/") && !c.contains("Domain"),
                "{c}"
            );
        }
        let access = tls.cookie("__Host-marimo_at").expect("signed in");
        let req = over_tls(tls.http.get(format!("{}/users", tls.base)));
        assert_eq!(tls.send(req).await.status, 200);

        // The same valid token under the plain name, as a tossed cookie
        // would be: over TLS it is not read, the browser is a guest.
        let mut tossed = Page::new(&sys);
        tossed.set("marimo_at", &access);
        let req = over_tls(tossed.http.get(format!("{}/users", tossed.base)));
        let a = tossed.send(req).await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert_eq!(a.location, "/login?next=/users");
        sys.stop().await;
    }
}

/// Issue 14.7: the page layer shared one refresh among the requests that
/// presented the same refresh token within seconds, so a thief replaying
/// the victim's just-used refresh token from another client received the
/// victim's new tokens. The rotation is shared only with the same client
/// (address, user agent, CSRF cookie); another client's replay reaches the
/// users service, which sees the reuse and ends the session.
#[tokio::test]
async fn web_refresh_replayed_by_another_client_gets_no_tokens() {
    for backend in backends() {
        let sys = start_with_admin(&backend, &[]).await;
        let mut victim = Page::new(&sys);
        victim.sign_in(WEB_ADMIN.0, WEB_ADMIN.1).await;
        victim.get("/users").await;
        let stolen = victim.cookie("marimo_rt").expect("a refresh cookie");

        // The victim's access token runs out; their next page rotates.
        victim.set("marimo_at", "expired");
        let a = victim.get("/users").await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_ne!(victim.cookie("marimo_rt").as_deref(), Some(stolen.as_str()));

        // At once, the thief presents the old refresh token from another
        // browser (its own user agent, no CSRF cookie of the victim's).
        let mut thief = Page::new(&sys);
        thief.set("marimo_rt", &stolen);
        let req = thief
            .http
            .get(format!("{}/users", thief.base))
            .header("user-agent", "thief/1.0");
        let a = thief.send(req).await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert!(a.location.starts_with("/login"), "{}", a.location);
        assert!(
            thief.cookie("marimo_at").is_none(),
            "no access token handed out"
        );
        assert!(
            thief.cookie("marimo_rt").is_none(),
            "no refresh token either"
        );
        // The users service saw the reuse: the family, the victim's new
        // refresh token included, is revoked.
        let rt = victim.cookie("marimo_rt").expect("the victim's new token");
        sys.gw
            .post("/api/users/refresh")
            .json(json!({"refresh_token": rt}))
            .send()
            .await
            .expect(401);
        sys.stop().await;
    }
}

// ---- Issue 14.6: webhooks -----------------------------------------------

/// A loopback receiver that records every request it gets; `/redirect`
/// answers 302 to `/hook`.
async fn hook_receiver() -> (
    marimo_testkit::TestServer,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use axum::{Router, routing::post};
    let hits: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let (h1, h2) = (hits.clone(), hits.clone());
    let app = Router::new()
        .route(
            "/hook",
            post(move || async move {
                h1.lock().unwrap().push("/hook".into());
                axum::http::StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/redirect",
            post(move || async move {
                h2.lock().unwrap().push("/redirect".into());
                (axum::http::StatusCode::FOUND, [("location", "/hook")])
            }),
        );
    (marimo_testkit::spawn(app).await, hits)
}

async fn admin_token(sys: &Running) -> String {
    crate::support::login(&sys.gw, WEB_ADMIN.0, WEB_ADMIN.1).await["access_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

async fn register_hook(sys: &Running, admin: &str, url: &str) -> marimo_testkit::Res {
    sys.gw
        .post("/api/notifications/webhooks")
        .bearer(admin)
        .json(json!({"url": url, "event_types": ["users.user.*"], "secret": "0123456789abcdef"}))
        .send()
        .await
}

/// The attempts of webhook `id`'s deliveries, once `n` were logged.
async fn hook_attempts(sys: &Running, admin: &str, id: &str, n: usize) -> Vec<Value> {
    eventually("webhook attempts logged", || async {
        let res = sys
            .gw
            .get(&format!("/api/notifications/webhooks/{id}/deliveries"))
            .bearer(admin)
            .send()
            .await
            .expect(200);
        let attempts: Vec<Value> = res.json["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|d| d["attempts"].as_array().cloned().unwrap_or_default())
            .collect();
        (attempts.len() >= n).then_some(attempts)
    })
    .await
}

/// Issue 14.6: an admin (or a stolen admin session) registered webhooks
/// to `http://2130706433:<port>/`, `http://169.254.169.254/`, ... and the
/// worker POSTed into the services' own network; the attempt log echoed
/// the raw connection error (an open-port oracle). Loopback, private,
/// link-local, multicast and unspecified destinations are refused in
/// every spelling, at registration and (after DNS) at delivery, unless
/// allowlisted; redirects are not followed; the log says a fixed sentence.
#[tokio::test]
async fn webhooks_never_reach_local_or_private_addresses() {
    for backend in backends() {
        let (receiver, hits) = hook_receiver().await;
        let port = receiver
            .url
            .rsplit(':')
            .next()
            .expect("a port")
            .trim_end_matches('/')
            .to_owned();
        let sys = start_with_admin(&backend, &[]).await;
        let admin = admin_token(&sys).await;
        for url in [
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://2130706433:{port}/hook"),
            format!("http://0x7f.1:{port}/hook"),
            format!("http://0177.0.0.1:{port}/hook"),
            format!("http://127.1:{port}/hook"),
            format!("http://[::1]:{port}/hook"),
            format!("http://[::ffff:7f00:1]:{port}/hook"),
            format!("http://localhost:{port}/hook"),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "http://10.0.0.1/".to_owned(),
            "http://192.168.1.1/".to_owned(),
            "http://[fe80::1]/".to_owned(),
            "http://224.0.0.1/".to_owned(),
            "http://0.0.0.0:8081/".to_owned(),
        ] {
            let res = register_hook(&sys, &admin, &url).await;
            assert_eq!(res.status, 400, "{url}: {}", res.text);
            assert_eq!(res.json["error"]["details"]["field"], "url", "{url}");
        }

        // A name that resolves to this machine passes registration (DNS
        // may change), and is refused at delivery, after resolution.
        let own = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let own = own.trim().to_owned();
        let resolves_here = tokio::net::lookup_host((own.as_str(), 0))
            .await
            .map(|mut a| {
                a.any(|a| {
                    a.ip().is_loopback()
                        || matches!(a.ip(), std::net::IpAddr::V4(v4) if v4.is_private())
                })
            })
            .unwrap_or(false);
        if resolves_here {
            let res = register_hook(&sys, &admin, &format!("http://{own}:{port}/hook")).await;
            assert_eq!(res.status, 201, "{}", res.text);
            let id = res.json["webhook"]["id"].as_str().unwrap().to_owned();
            register_and_login(&sys.gw, "hooked@sec.test").await;
            let attempts = hook_attempts(&sys, &admin, &id, 1).await;
            let error = attempts[0]["error"].as_str().unwrap_or_default();
            assert!(error.contains("public addresses only"), "{attempts:?}");
        }
        assert!(hits.lock().unwrap().is_empty(), "the receiver was reached");
        sys.stop().await;

        // Allowlisted loopback: delivered; a redirect is not followed; a
        // closed port is logged as a fixed sentence.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let sys = start_with_admin(&backend, &[("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")]).await;
        let admin = admin_token(&sys).await;
        let mut ids = Vec::new();
        for url in [
            format!("http://2130706433:{port}/redirect"),
            format!("http://127.0.0.1:{closed}/hook"),
        ] {
            let res = register_hook(&sys, &admin, &url).await;
            assert_eq!(res.status, 201, "{url}: {}", res.text);
            ids.push(res.json["webhook"]["id"].as_str().unwrap().to_owned());
        }
        register_and_login(&sys.gw, "hooked2@sec.test").await;
        let redirected = hook_attempts(&sys, &admin, &ids[0], 1).await;
        assert_eq!(redirected[0]["status_code"], 302, "{redirected:?}");
        let refused = hook_attempts(&sys, &admin, &ids[1], 1).await;
        let error = refused[0]["error"].as_str().unwrap_or_default();
        assert_eq!(
            error, "could not connect to the receiver (connection or TLS handshake failed)",
            "{refused:?}"
        );
        assert!(!error.contains(&closed.to_string()) && !error.contains("os error"));
        let hits = hits.lock().unwrap().clone();
        assert!(
            hits.iter().all(|h| h == "/redirect"),
            "redirect followed: {hits:?}"
        );
        sys.stop().await;
    }
}

// ---- Issue 14.3: payment ------------------------------------------------

const PROVIDER_SECRET: &str = "provider-secret-for-the-security-suite-0123";

/// Issue 14.3: a customer `POST /api/shop/orders/{id}/pay` and the order
/// became paid, with revenue posted. Customers are refused; only staff
/// recording a payment received (method, reference) or the provider's
/// signed callback mark an order paid, and a forged, stale or replayed
/// callback changes nothing.
#[tokio::test]
async fn a_customer_cannot_mark_an_order_paid() {
    for backend in backends() {
        let sys = start_with_admin(&backend, &[("PAYMENT_WEBHOOK_SECRET", PROVIDER_SECRET)]).await;
        let gw = &sys.gw;
        let customer = register_and_login(gw, "payer@sec.test").await;
        let token = customer["access_token"].as_str().unwrap();
        let product = gw
            .get("/api/shop/products?q=premium")
            .send()
            .await
            .expect(200)
            .json["products"][0]["id"]
            .clone();
        let place = || async {
            gw.post("/api/shop/orders")
                .bearer(token)
                .json(json!({"items": [{"product_id": product, "quantity": 1}]}))
                .send()
                .await
                .expect(201)
                .json["order"]
                .clone()
        };
        let order = place().await;
        let id = order["id"].as_str().unwrap();

        // The attack: the customer says it is paid.
        for body in [
            None,
            Some(json!({"method": "card", "reference": "trust me"})),
        ] {
            let req = gw.post(&format!("/api/shop/orders/{id}/pay")).bearer(token);
            let req = match body {
                Some(b) => req.json(b),
                None => req,
            };
            let res = req.send().await;
            assert_eq!(res.status, 403, "{}", res.text);
        }
        // A forged callback (wrong key) and an unsigned one, through the
        // gateway's public route: 401.
        let now = marimo_platform::clock::unix_now();
        let paid = json!({
            "event_id": "evt_sec_1", "type": "payment.succeeded", "order_id": id,
            "amount": order["total"], "currency": order["currency"], "reference": "pi_sec",
        });
        let send_callback = |secret: &'static str, at: i64| {
            let raw = paid.to_string();
            let ts = at.to_string();
            let sig = marimo_shop::domain::payment::callback_signature(
                secret.as_bytes(),
                &ts,
                raw.as_bytes(),
            );
            async move {
                gw.post("/api/shop/payments/callback")
                    .header("content-type", "application/json")
                    .header("x-payment-timestamp", &ts)
                    .header("x-payment-signature", &sig)
                    .body(raw)
                    .send()
                    .await
            }
        };
        let res = send_callback("an-attackers-guess-at-the-secret-000000", now).await;
        assert_eq!(res.status, 401, "{}", res.text);
        let res = send_callback(PROVIDER_SECRET, now - 3600).await;
        assert_eq!(res.status, 401, "stale: {}", res.text);
        let shown = gw
            .get(&format!("/api/shop/orders/{id}"))
            .bearer(token)
            .send()
            .await
            .expect(200);
        assert_eq!(shown.json["status"], "pending");
        assert_eq!(shown.json["payments"], json!([]));

        // The provider's real callback pays it, once.
        let res = send_callback(PROVIDER_SECRET, now).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json["order"]["status"], "paid");
        let res = send_callback(PROVIDER_SECRET, now).await;
        assert_eq!(res.json["duplicate"], true, "{}", res.text);

        // Staff record a received payment, with method and reference.
        let other = place().await;
        let other_id = other["id"].as_str().unwrap();
        let admin = admin_token(&sys).await;
        let res = gw
            .post(&format!("/api/shop/orders/{other_id}/pay"))
            .bearer(&admin)
            .send()
            .await;
        assert_eq!(res.status, 400, "no method or reference: {}", res.text);
        crate::support::record_payment(gw, &admin, other_id).await;
        let shown = gw
            .get(&format!("/api/shop/orders/{other_id}"))
            .bearer(token)
            .send()
            .await
            .expect(200);
        assert_eq!(shown.json["payments"][0]["method"], "card");
        assert_eq!(shown.json["payments"][0]["reference"], "TEST-RECEIPT");
        sys.stop().await;
    }
}

// ---- Issue 14.2: revocable access tokens ---------------------------------

/// A signed-in read of each service, called on the service itself (not
/// through the gateway): `(service, path)`.
const EVERY_SERVICE: [(ServiceName, &str); 8] = [
    (ServiceName::Gateway, "/api/main/dashboard"),
    (ServiceName::Users, "/api/users/profile"),
    (ServiceName::Config, "/api/config"),
    (ServiceName::Accounting, "/api/accounting/accounts"),
    (ServiceName::Factory, "/api/factory/items"),
    (ServiceName::Shop, "/api/shop/orders"),
    (ServiceName::Main, "/api/main/dashboard"),
    (ServiceName::Worker, "/api/notifications"),
];

/// The status every service answers `token` with.
async fn statuses(sys: &Running, token: &str) -> Vec<(ServiceName, u16)> {
    let system = sys.system.as_ref().expect("running");
    let mut out = Vec::new();
    for (service, path) in EVERY_SERVICE {
        let http = marimo_testkit::Http::new(&system.url(service));
        out.push((service, http.get(path).bearer(token).send().await.status));
    }
    out
}

/// Waits (bounded) until every service refuses `token` with 401.
async fn refused_everywhere(sys: &Running, token: &str, what: &str) {
    eventually(what, async || {
        let s = statuses(sys, token).await;
        if s.iter().all(|(_, code)| *code == 401) {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
}

/// Every service accepts `token` (the answer may be 403 for the role, but
/// not 401).
async fn accepted_everywhere(sys: &Running, token: &str) {
    let s = statuses(sys, token).await;
    assert!(s.iter().all(|(_, code)| *code != 401), "{s:?}");
}

async fn user_id_of(login: &Value) -> String {
    login["user"]["id"].as_str().expect("a user id").to_owned()
}

/// Issue 14.2: a deactivated, demoted or signed-out user's access token
/// kept working for its whole life in every service but users (a demoted
/// admin switched every rate limit off through config). Now every service
/// refuses it within seconds, directly and through the gateway.
#[tokio::test]
async fn ended_sessions_tokens_are_refused_by_every_service() {
    for backend in backends() {
        let sys = start_with_admin(&backend, &[]).await;
        let gw = &sys.gw;
        let admin = admin_token(&sys).await;

        // Demotion: an admin's token, then the admin is made a customer.
        let mallory = register_and_login(gw, "demoted@sec.test").await;
        let mallory_id = user_id_of(&mallory).await;
        gw.post("/api/users/admin/assign-role")
            .bearer(&admin)
            .json(json!({"user_id": mallory_id, "role": "admin"}))
            .send()
            .await
            .expect(200);
        let as_admin = crate::support::login(gw, "demoted@sec.test", crate::support::PASSWORD)
            .await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        accepted_everywhere(&sys, &as_admin).await;
        gw.post("/api/users/admin/assign-role")
            .bearer(&admin)
            .json(json!({"user_id": mallory_id, "role": "user"}))
            .send()
            .await
            .expect(200);
        refused_everywhere(&sys, &as_admin, "the demoted admin's token refused").await;
        // The attack: switching the rate limits off with it.
        let res = gw
            .put("/api/config/rate_limits")
            .bearer(&as_admin)
            .json(json!({"value": "off"}))
            .send()
            .await;
        assert_eq!(res.status, 401, "{}", res.text);

        // Deactivation.
        let dave = register_and_login(gw, "deactivated@sec.test").await;
        let dave_token = dave["access_token"].as_str().unwrap().to_owned();
        accepted_everywhere(&sys, &dave_token).await;
        gw.post(&format!(
            "/api/users/admin/users/{}/deactivate",
            user_id_of(&dave).await
        ))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
        refused_everywhere(&sys, &dave_token, "the deactivated user's token refused").await;

        // Sign-out everywhere.
        let olga = register_and_login(gw, "logout-all@sec.test").await;
        let olga_token = olga["access_token"].as_str().unwrap().to_owned();
        accepted_everywhere(&sys, &olga_token).await;
        gw.post("/api/users/logout")
            .bearer(&olga_token)
            .json(json!({"all": true}))
            .send()
            .await
            .expect(200);
        refused_everywhere(&sys, &olga_token, "the signed-out user's token refused").await;

        // A password change: the old token is void, the new one works.
        let pat = register_and_login(gw, "password@sec.test").await;
        let old_token = pat["access_token"].as_str().unwrap().to_owned();
        let changed = gw
            .post("/api/users/change-password")
            .bearer(&old_token)
            .json(json!({"current_password": crate::support::PASSWORD, "new_password": "Other-Passw0rd"}))
            .send()
            .await
            .expect(200);
        refused_everywhere(
            &sys,
            &old_token,
            "the token from before the password change refused",
        )
        .await;
        let new_token = changed.json["access_token"].as_str().unwrap().to_owned();
        accepted_everywhere(&sys, &new_token).await;
        sys.stop().await;
    }
}

/// Issue 14.2: a service that starts after the revocation must refuse the
/// token as well: it reads the marks from the users service at start.
#[tokio::test]
async fn a_service_started_after_the_revocation_refuses_the_token() {
    for backend in backends() {
        let settings = backend
            .settings(&[
                ("MARIMO_RATE_LIMITS", "off"),
                ("MARIMO_ADMIN_EMAIL", WEB_ADMIN.0),
                ("MARIMO_ADMIN_PASSWORD", WEB_ADMIN.1),
            ])
            .await;
        let boot = crate::support::start_with;
        let sys = boot(settings.clone()).await;
        let gone = register_and_login(&sys.gw, "restart@sec.test").await;
        let token = gone["access_token"].as_str().unwrap().to_owned();
        sys.gw
            .post("/api/users/logout")
            .bearer(&token)
            .json(json!({"all": true}))
            .send()
            .await
            .expect(200);
        refused_everywhere(&sys, &token, "the token refused before the restart").await;
        sys.stop().await;

        // Every service starts afresh, after the event: still refused.
        let sys = boot(settings).await;
        refused_everywhere(&sys, &token, "the token refused after the restart").await;
        sys.stop().await;
    }
}

// ---- Issue 14.5: brute force without lockout; the edge is the only door ---

/// A sign-in through the gateway as if from `address` (the gateway trusts
/// the test's loopback peer as a proxy).
async fn login_from(sys: &Running, address: &str, email: &str, password: &str) -> u16 {
    sys.gw
        .post("/api/users/login")
        .header("x-forwarded-for", address)
        .json(json!({"email": email, "password": password}))
        .send()
        .await
        .status
}

/// Issue 14.5: the failed-login delay was keyed by account alone, so a
/// stranger sending a few wrong passwords locked the admin out. Delays
/// are per (account, address): the stranger is slowed, the admin signs in
/// from elsewhere; and an address has a budget across accounts, so
/// spraying guesses over many accounts is slowed as well.
#[tokio::test]
async fn a_stranger_cannot_lock_the_admin_out_and_spraying_is_slowed() {
    for backend in backends() {
        let sys = start_with_admin(&backend, &[("TRUSTED_PROXIES", "127.0.0.1,::1")]).await;
        let stranger = "203.0.113.66";
        let mut statuses = Vec::new();
        for _ in 0..7 {
            statuses.push(login_from(&sys, stranger, WEB_ADMIN.0, "Not-The-Passw0rd").await);
        }
        assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
        assert_eq!(statuses[6], 429, "the stranger is slowed: {statuses:?}");
        // Even the right password from the stranger's address waits ...
        assert_eq!(
            login_from(&sys, stranger, WEB_ADMIN.0, WEB_ADMIN.1).await,
            429
        );
        // ... while the admin, elsewhere, signs in at once.
        assert_eq!(
            login_from(&sys, "198.51.100.7", WEB_ADMIN.0, WEB_ADMIN.1).await,
            200
        );

        // Spraying: one wrong guess for each of many accounts.
        let sprayer = "203.0.113.77";
        let mut last = 0;
        for i in 0..=marimo_users::domain::FREE_FAILURES_PER_ADDRESS {
            last = login_from(&sys, sprayer, &format!("victim{i}@sec.test"), "Guess-123").await;
        }
        assert_eq!(last, 429, "an address's budget is spent");
        // Others are not affected.
        assert_eq!(
            login_from(&sys, "198.51.100.8", "victim0@sec.test", "Guess-123").await,
            401
        );
        sys.stop().await;
    }
}

/// Issue 14.5: the services' own ports answered the API directly, a way
/// around every limit of the edge. They listen on loopback by default, and
/// with `MARIMO_EDGE_SECRET` they answer only requests the gateway signed.
#[tokio::test]
async fn service_ports_answer_only_the_gateway_when_the_edge_secret_is_set() {
    const EDGE: &str = "edge-secret-for-the-security-suite-0123456789";
    for backend in backends() {
        let sys = start_with_admin(&backend, &[("MARIMO_EDGE_SECRET", EDGE)]).await;
        let system = sys.system.as_ref().unwrap();
        for service in ServiceName::ALL {
            let addr = system.addr(service).expect("listening");
            assert!(addr.ip().is_loopback(), "{service} listens on {addr}");
        }
        // Through the gateway: everything works, dashboards (main calling
        // the other services) included.
        let admin = admin_token(&sys).await;
        let dash = sys
            .gw
            .get("/api/main/dashboard")
            .bearer(&admin)
            .send()
            .await;
        assert_eq!(dash.status, 200, "{}", dash.text);
        let stats = sys.gw.get("/api/main/stats").bearer(&admin).send().await;
        assert_eq!(stats.status, 200, "{}", stats.text);

        // Directly: the login brute force around the edge's limits, and a
        // forged or replayed signature, are refused.
        let users = marimo_testkit::Http::new(&system.url(ServiceName::Users));
        let login = json!({"email": WEB_ADMIN.0, "password": WEB_ADMIN.1});
        let res = users
            .post("/api/users/login")
            .json(login.clone())
            .send()
            .await;
        res.json["error"]["code"]
            .as_str()
            .filter(|c| *c == "FORBIDDEN")
            .unwrap_or_else(|| panic!("{} {}", res.status, res.text));
        let forged =
            marimo_platform::http::edge::EdgeKey::new(b"a-guess-at-the-edge-secret-0123456789")
                .sign_now("POST", "/api/users/login");
        let res = users
            .post("/api/users/login")
            .header(marimo_platform::http::edge::HEADER, &forged)
            .json(login.clone())
            .send()
            .await;
        assert_eq!(res.status, 403, "{}", res.text);
        let other_path = marimo_platform::http::edge::EdgeKey::new(EDGE.as_bytes())
            .sign_now("GET", "/api/users/profile");
        let res = users
            .post("/api/users/login")
            .header(marimo_platform::http::edge::HEADER, &other_path)
            .json(login)
            .send()
            .await;
        assert_eq!(res.status, 403, "{}", res.text);
        for service in [ServiceName::Shop, ServiceName::Config, ServiceName::Worker] {
            let direct = marimo_testkit::Http::new(&system.url(service));
            let res = direct.get("/api/shop/products").bearer(&admin).send().await;
            assert_eq!(res.status, 403, "{service}: {}", res.text);
            // Probes stay open to the platform.
            direct.get("/health").send().await.expect(200);
        }
        sys.stop().await;
    }
}
