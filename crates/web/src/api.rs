//! Calls from the pages to the APIs, in process, through the gateway's own
//! `/api` router.
//!
//! Why in process and not over loopback HTTP: the request goes through the
//! very same pipeline (edge auth, rate limits, body checks, breakers,
//! retries, cache, then the service, which checks roles itself), so every
//! rule is the API's; and it keeps the browser's address. Over loopback
//! every page call would come from 127.0.0.1, so all users would share one
//! login rate limit (or the gateway would have to trust itself as a
//! proxy). Here the socket peer (`ConnectInfo`) and `X-Forwarded-For` of
//! the page request are handed on as they came, and the gateway decides
//! what to believe exactly as it does for API clients.

use std::net::SocketAddr;

use axum::{Router, body::Body, extract::ConnectInfo};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Larger answers than this are refused (reports and lists are far smaller).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// What the page request carries that the API must see too.
#[derive(Clone, Default)]
pub struct Origin {
    pub peer: Option<ConnectInfo<SocketAddr>>,
    pub forwarded_for: Vec<HeaderValue>,
    pub user_agent: Option<HeaderValue>,
}

impl Origin {
    pub fn of(extensions: &http::Extensions, headers: &HeaderMap) -> Self {
        Self {
            peer: extensions.get::<ConnectInfo<SocketAddr>>().cloned(),
            forwarded_for: headers.get_all("x-forwarded-for").iter().cloned().collect(),
            user_agent: headers.get(header::USER_AGENT).cloned(),
        }
    }
}

/// An API call that did not succeed, in the API's error shape.
#[derive(Debug, Clone)]
pub struct ApiFail {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// `error.details.field`, when the API named the offending field.
    pub field: Option<String>,
}

impl ApiFail {
    fn from_answer(status: StatusCode, body: &[u8]) -> Self {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let message = v["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
        Self {
            status,
            code: v["error"]["code"].as_str().unwrap_or("").to_owned(),
            message,
            field: v["error"]["details"]["field"].as_str().map(str::to_owned),
        }
    }

    fn internal(message: &str) -> Self {
        Self {
            status: StatusCode::BAD_GATEWAY,
            code: "BAD_GATEWAY".into(),
            message: message.into(),
            field: None,
        }
    }
}

/// A raw answer (CSV downloads).
pub struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The API as seen by one page request.
#[derive(Clone)]
pub struct Api {
    router: Router,
    token: Option<String>,
    origin: Origin,
}

impl Api {
    pub fn new(router: Router, token: Option<String>, origin: Origin) -> Self {
        Self {
            router,
            token,
            origin,
        }
    }

    /// The same caller with another access token (after a refresh).
    pub fn with_token(&self, token: Option<String>) -> Self {
        Self {
            token,
            ..self.clone()
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiFail> {
        self.json(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, ApiFail> {
        self.json(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Result<Value, ApiFail> {
        self.json(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, ApiFail> {
        self.json(Method::DELETE, path, None).await
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiFail> {
        let raw = self.raw(method, path, body).await?;
        Self::parse(raw)
    }

    /// A POST with an `Idempotency-Key`: a repeated submit is one action.
    pub async fn post_with_key(
        &self,
        path: &str,
        body: Value,
        key: &str,
    ) -> Result<Value, ApiFail> {
        let raw = self.send(Method::POST, path, Some(body), Some(key)).await?;
        Self::parse(raw)
    }

    fn parse(raw: Raw) -> Result<Value, ApiFail> {
        if !raw.status.is_success() {
            return Err(ApiFail::from_answer(raw.status, &raw.body));
        }
        serde_json::from_slice(&raw.body).map_err(|_| ApiFail::internal("the API answered no JSON"))
    }

    /// Any answer, success or not (transport failures aside).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Raw, ApiFail> {
        self.send(method, path, body, None).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Raw, ApiFail> {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = idempotency_key
            && let Ok(v) = HeaderValue::from_str(k)
        {
            req = req.header("idempotency-key", v);
        }
        if let Some(t) = &self.token
            && let Ok(v) = HeaderValue::from_str(&format!("Bearer {t}"))
        {
            req = req.header(header::AUTHORIZATION, v);
        }
        for v in &self.origin.forwarded_for {
            req = req.header("x-forwarded-for", v.clone());
        }
        if let Some(ua) = &self.origin.user_agent {
            req = req.header(header::USER_AGENT, ua.clone());
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(&v).unwrap_or_default())
            }
            None => Body::empty(),
        };
        let mut req = req
            .body(body)
            .map_err(|_| ApiFail::internal("a page built a bad API request"))?;
        if let Some(peer) = &self.origin.peer {
            req.extensions_mut().insert(*peer);
        }
        let res = self
            .router
            .clone()
            .oneshot(req)
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, body) = res.into_parts();
        let body = http_body_util::Limited::new(body, MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|_| ApiFail::internal("the API answer could not be read"))?
            .to_bytes();
        Ok(Raw {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

impl ApiFail {
    /// A refusal made here without asking (a role that may not read it).
    pub fn forbidden() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "FORBIDDEN".into(),
            message: "forbidden".into(),
            field: None,
        }
    }
}
