//! Fake upstreams and a gateway wired to them.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
    routing::get,
};
use marimo_platform::{
    auth::{Claims, Role, jwt::ISSUER},
    service::ServiceName,
};
use marimo_testkit::{Backend, TEST_JWT_SECRET, TestServer, context, spawn};
use serde_json::{Map, Value, json};

/// An upstream that answers every request with what it saw:
/// `{service, method, path, query, headers: {name: [values]}, body_len,
/// body_sum, body}`. `?download=N` answers N bytes instead, streamed.
pub struct Echo {
    pub server: TestServer,
    hits: Arc<AtomicUsize>,
}

impl Echo {
    pub async fn start(service: &'static str) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let router = Router::new()
            .route(
                "/health",
                get(|| async { axum::Json(json!({"success": true})) }),
            )
            .route(
                "/ready",
                get(|| async { axum::Json(json!({"success": true})) }),
            )
            .fallback(echo)
            .with_state((service, hits.clone()));
        Self {
            server: spawn(router).await,
            hits,
        }
    }

    /// Requests received, `/health` and `/ready` probes excluded.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }
}

async fn echo(
    State((service, hits)): State<(&'static str, Arc<AtomicUsize>)>,
    req: Request,
) -> Response {
    if crate::fakes::is_gateway_own_read(&req) {
        return http::StatusCode::NOT_FOUND.into_response();
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().unwrap_or("").to_owned();
    if let Some(n) = query
        .strip_prefix("download=")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let chunks = futures_util::stream::iter((0..n).step_by(64 * 1024).map(move |start| {
            let len = (n - start).min(64 * 1024);
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; len]))
        }));
        return Response::new(Body::from_stream(chunks));
    }
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (http::StatusCode::BAD_REQUEST, "body broken").into_response();
    };
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let list = headers
            .entry(name.as_str().to_owned())
            .or_insert_with(|| json!([]));
        if let Value::Array(list) = list {
            list.push(json!(String::from_utf8_lossy(value.as_bytes())));
        }
    }
    let sum: u64 = bytes.iter().map(|b| u64::from(*b)).sum();
    axum::Json(json!({
        "success": true,
        "service": service,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": query,
        "headers": headers,
        "body_len": bytes.len(),
        "body_sum": sum,
        "body": if bytes.len() <= 4096 { json!(String::from_utf8_lossy(&bytes)) } else { Value::Null },
    }))
    .into_response()
}

/// The single value of a header the echo saw, `None` when absent.
pub fn seen<'a>(echo: &'a Value, name: &str) -> Option<&'a str> {
    let list = echo["headers"][name].as_array()?;
    assert_eq!(list.len(), 1, "header {name} sent {} times", list.len());
    list[0].as_str()
}

/// A gateway with one echo upstream per service.
pub struct System {
    pub gw: TestServer,
    pub echoes: HashMap<ServiceName, Echo>,
}

impl System {
    pub async fn start(extra: &[(&str, &str)]) -> Self {
        let mut echoes = HashMap::new();
        for name in ServiceName::UPSTREAMS {
            echoes.insert(name, Echo::start(name.as_str()).await);
        }
        let vars: Vec<(String, String)> = echoes
            .iter()
            .map(|(name, echo)| (name.urls_var(), echo.url().to_owned()))
            .collect();
        let mut overrides: Vec<(&str, &str)> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        overrides.extend_from_slice(extra);
        let gw = spawn(gateway(&overrides).await.expect("gateway starts")).await;
        Self { gw, echoes }
    }

    pub fn echo(&self, name: ServiceName) -> &Echo {
        &self.echoes[&name]
    }

    /// Requests that reached any upstream.
    pub fn total_hits(&self) -> usize {
        self.echoes.values().map(Echo::hits).sum()
    }
}

/// The gateway's router for these settings, or its start-up error.
pub async fn gateway(overrides: &[(&str, &str)]) -> Result<Router, String> {
    let settings = Backend::Sqlite.settings(overrides).await;
    let ctx = context(ServiceName::Gateway, settings).await;
    marimo_gateway::router(ctx).await.map_err(|e| e.to_string())
}

/// A token signed with the right key whose `exp` is an hour ago.
pub fn expired_token(user_id: &str) -> String {
    let now = marimo_platform::clock::unix_now();
    let claims = Claims {
        sub: user_id.into(),
        user_id: user_id.into(),
        email: "old@example.com".into(),
        role: Role::User,
        iss: ISSUER.into(),
        aud: marimo_platform::auth::jwt::AUDIENCE.into(),
        exp: now - 3600,
        iat: now - 4500,
        iat_ms: 0,
        jti: "j1".into(),
        tid: Default::default(),
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .expect("encode")
}

/// An address nothing listens on.
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Asserts the one error shape and the security headers of an error answer.
#[track_caller]
pub fn assert_error(res: &marimo_testkit::Res, status: u16, code: &str) {
    assert_eq!(res.status, status, "body: {}", res.text);
    assert_eq!(res.json["success"], false, "body: {}", res.text);
    assert_eq!(res.code(), code, "body: {}", res.text);
    assert!(res.json["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(
        res.json["request_id"].as_str(),
        res.header("x-request-id"),
        "body: {}",
        res.text
    );
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert!(
        res.header("content-type")
            .unwrap_or("")
            .starts_with("application/json")
    );
}
