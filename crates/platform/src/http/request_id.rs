//! `X-Request-ID`: accepted from the client when sane, generated otherwise,
//! echoed on the response, logged, and put into every error body.

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};

pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, if called within one.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// Runs `fut` with `id` as the current request id (background work that
/// continues a request, e.g. a proxied call).
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// Accepts ids of 1–128 visible ASCII characters; anything else is replaced.
fn acceptable(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| s.to_owned())
}

/// The id a request carries, as this middleware settled it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub async fn middleware(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(acceptable)
        .unwrap_or_else(crate::ids::new_id);
    let value = HeaderValue::from_str(&id).expect("checked visible ascii");
    req.headers_mut().insert(HEADER.clone(), value.clone());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = REQUEST_ID.scope(id, next.run(req)).await;
    res.headers_mut().insert(HEADER.clone(), value);
    res
}
