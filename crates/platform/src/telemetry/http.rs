//! HTTP spans: a server span around every incoming request (continuing
//! the caller's `traceparent`), and client spans for outgoing calls that
//! pass their own context on in `traceparent`.

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};

use super::trace::{self, Span, SpanContext, SpanKind, Tracer};

/// The W3C trace context header.
pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Probes and scrapes are not traced: they would bury the traces that
/// matter under one per scrape.
const UNTRACED: [&str; 3] = ["/health", "/ready", "/metrics"];

/// Middleware: the request runs inside a server span, named
/// `<METHOD> <route template>`, child of the incoming `traceparent` if it
/// is valid (a new trace otherwise). The template is written without the
/// API version (`/api/shop/orders/{id}/pay` for the v1 route and its
/// alias alike), as the metrics label it.
pub async fn server_span(State(tracer): State<Tracer>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| crate::http::version::unversioned(p.as_str()).into_owned());
    if route.as_deref().is_some_and(|r| UNTRACED.contains(&r)) {
        return next.run(req).await;
    }
    let parent = req
        .headers()
        .get(&TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(SpanContext::parse);
    let method = req.method().as_str().to_owned();
    let name = match &route {
        Some(r) => format!("{method} {r}"),
        None => method.clone(),
    };
    let mut span = tracer.span(name, SpanKind::Server, parent);
    span.set_attribute("http.request.method", method);
    if let Some(r) = route {
        span.set_attribute("http.route", r);
    }
    // The path the client asked for (canonical, before the version step
    // mapped an alias onto its v1 route).
    let path = req
        .extensions()
        .get::<crate::http::version::ReceivedPath>()
        .map_or(req.uri().path(), |p| p.0.as_str());
    span.set_attribute("url.path", path);
    if let Some(id) = crate::http::request_id::current() {
        span.set_attribute("marimo.request_id", id);
    }
    let (res, user) = trace::in_scope(&span, async {
        let res = next.run(req).await;
        (res, trace::user_id())
    })
    .await;
    let status = res.status();
    span.set_attribute("http.response.status_code", status.as_u16());
    if let Some(user) = user {
        span.set_attribute("enduser.id", user);
    }
    // Server spans fail on 5xx only; a 4xx is the client's error.
    if status.is_server_error() {
        span.set_error(status.to_string());
    }
    span.end();
    res
}

/// The span of an outgoing HTTP call, child of the current span (nothing
/// outside a request or event).
#[derive(Debug)]
pub struct ClientSpan(Option<Span>);

impl ClientSpan {
    /// Starts the span of `method url` (named `<METHOD>`, as the HTTP
    /// semantic conventions ask for client spans).
    pub fn start(method: &str, url: &str) -> Self {
        let span = trace::current_tracer().and_then(|t| {
            let mut span = t.child(method.to_owned(), SpanKind::Client)?;
            span.set_attribute("http.request.method", method);
            span.set_attribute("url.full", strip_query(url));
            Some(span)
        });
        Self(span)
    }

    /// Sets `traceparent` to this span (replacing one that came from
    /// further away); leaves the headers alone outside a trace.
    pub fn inject(&self, headers: &mut HeaderMap) {
        if let Some(v) = self.traceparent()
            && let Ok(v) = HeaderValue::from_str(&v)
        {
            headers.insert(TRACEPARENT.clone(), v);
        }
    }

    pub fn traceparent(&self) -> Option<String> {
        self.0.as_ref().map(|s| s.context().traceparent())
    }

    /// Ends the span with the answer's status, or failed with `error` when
    /// there was no answer.
    pub fn end(self, outcome: Result<u16, &str>) {
        let Some(mut span) = self.0 else { return };
        match outcome {
            Ok(status) => {
                span.set_attribute("http.response.status_code", status);
                // Client spans fail on 4xx and 5xx alike.
                if status >= 400 {
                    span.set_error(status.to_string());
                }
            }
            Err(e) => span.set_error(e),
        }
        span.end();
    }
}

/// The URL without its query (it may carry search terms or tokens).
fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}
