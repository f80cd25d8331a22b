//! Traces: spans, W3C trace context, and the span that is current.
//!
//! A [`Tracer`] belongs to one service (like its [`super::Metrics`]), so
//! that when `marimo up` runs every service in one process each span is
//! still exported under its own service's resource. Spans are explicit
//! values: [`Tracer::span`] starts one, [`Span::end`] (or dropping it)
//! ends it and hands it to the service's OTLP exporter, if any.
//!
//! The *current* span is a task-local [`Scope`], entered with
//! [`in_scope`] around the future that handles an incoming request or a
//! consumed event. Child spans (database queries, outgoing HTTP calls,
//! outbox writes) take their parent from it, `traceparent` headers and
//! envelopes are filled from it, and JSON log lines read their
//! `trace_id`, `span_id` and `user_id` from it. Work outside any scope (a
//! relay poll, a health probe) makes no spans: only what a request or an
//! event caused is traced.
//!
//! Trace context follows W3C Trace Context (`traceparent`,
//! version `00`): a valid incoming context continues its trace and keeps
//! its sampling decision; anything else starts a new, sampled trace.

use std::{
    borrow::Cow,
    fmt,
    sync::{Arc, OnceLock},
    time::SystemTime,
};

use super::otlp::{Exporter, SpanRecord};

/// A span's place in a trace.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// W3C trace flags; bit 0 is "sampled".
    pub flags: u8,
}

impl fmt::Debug for SpanContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

const SAMPLED: u8 = 0x01;

impl SpanContext {
    /// Parses a `traceparent` header value. Returns `None` for anything
    /// the W3C spec says to ignore (bad shape, version `ff`, all-zero ids).
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let mut parts = value.split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let span = parts.next()?;
        let flags = parts.next()?;
        // Version 00 has exactly four fields; later versions may append.
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        let lower_hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !(lower_hex(version) && lower_hex(trace) && lower_hex(span) && lower_hex(flags)) {
            return None;
        }
        let mut ctx = SpanContext {
            trace_id: [0; 16],
            span_id: [0; 8],
            flags: 0,
        };
        hex::decode_to_slice(trace, &mut ctx.trace_id).ok()?;
        hex::decode_to_slice(span, &mut ctx.span_id).ok()?;
        let mut f = [0u8; 1];
        hex::decode_to_slice(flags, &mut f).ok()?;
        ctx.flags = f[0];
        if ctx.trace_id == [0; 16] || ctx.span_id == [0; 8] {
            return None;
        }
        Some(ctx)
    }

    /// The `traceparent` header value of this span.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            self.span_id_hex(),
            self.flags
        )
    }

    pub fn trace_id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }

    pub fn span_id_hex(&self) -> String {
        hex::encode(self.span_id)
    }

    pub fn is_sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// A new span in the trace of `parent`, or the root of a new trace.
    fn child_of(parent: Option<&SpanContext>) -> Self {
        let span_id = nonzero(crate::ids::random_bytes::<8>);
        match parent {
            Some(p) => Self {
                trace_id: p.trace_id,
                span_id,
                flags: p.flags,
            },
            None => Self {
                trace_id: nonzero(crate::ids::random_bytes::<16>),
                span_id,
                flags: SAMPLED,
            },
        }
    }
}

/// Random ids must not be all zeros (that means "invalid" in W3C).
fn nonzero<const N: usize>(gen_bytes: fn() -> [u8; N]) -> [u8; N] {
    loop {
        let b = gen_bytes();
        if b != [0; N] {
            return b;
        }
    }
}

/// What a span stands for (OTLP `SpanKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

/// An attribute value (the OTLP `AnyValue` kinds used here).
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl From<&str> for AttrValue {
    fn from(v: &str) -> Self {
        Self::Str(v.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}
impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<u16> for AttrValue {
    fn from(v: u16) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<bool> for AttrValue {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

/// A service's source of spans. Cheap to clone.
#[derive(Clone)]
pub struct Tracer(Arc<TracerInner>);

struct TracerInner {
    service: &'static str,
    exporter: Option<Exporter>,
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("service", &self.0.service)
            .field("exporting", &self.0.exporter.is_some())
            .finish()
    }
}

impl Tracer {
    /// A tracer whose spans go nowhere (no `OTEL_EXPORTER_OTLP_ENDPOINT`):
    /// trace ids are still made and propagated, and logs carry them.
    pub fn disabled(service: &'static str) -> Self {
        Self(Arc::new(TracerInner {
            service,
            exporter: None,
        }))
    }

    /// A tracer exporting through `exporter`.
    pub fn exporting(service: &'static str, exporter: Exporter) -> Self {
        Self(Arc::new(TracerInner {
            service,
            exporter: Some(exporter),
        }))
    }

    pub fn service(&self) -> &'static str {
        self.0.service
    }

    /// Whether ended spans go anywhere (leaf spans that propagate nothing
    /// are not worth building otherwise).
    pub fn is_exporting(&self) -> bool {
        self.0.exporter.is_some()
    }

    /// Starts a span; `parent` is a remote or local parent context, `None`
    /// for the root of a new trace.
    pub fn span(
        &self,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        parent: Option<SpanContext>,
    ) -> Span {
        Span {
            tracer: self.clone(),
            ctx: SpanContext::child_of(parent.as_ref()),
            data: Some(SpanData {
                name: name.into(),
                kind,
                parent: parent.map(|p| p.span_id),
                start: SystemTime::now(),
                attributes: Vec::new(),
                error: None,
            }),
        }
    }

    /// A child of the current span, or `None` outside any scope.
    pub fn child(&self, name: impl Into<Cow<'static, str>>, kind: SpanKind) -> Option<Span> {
        current().map(|parent| self.span(name, kind, Some(parent)))
    }
}

struct SpanData {
    name: Cow<'static, str>,
    kind: SpanKind,
    parent: Option<[u8; 8]>,
    start: SystemTime,
    attributes: Vec<(&'static str, AttrValue)>,
    /// `Some(message)` marks the span as failed.
    error: Option<String>,
}

/// A started span; exported when ended or dropped.
pub struct Span {
    tracer: Tracer,
    ctx: SpanContext,
    data: Option<SpanData>,
}

impl Span {
    pub fn context(&self) -> SpanContext {
        self.ctx
    }

    pub fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    pub fn set_attribute(&mut self, key: &'static str, value: impl Into<AttrValue>) {
        if let Some(d) = &mut self.data {
            d.attributes.push((key, value.into()));
        }
    }

    /// Marks the span as failed (OTLP status `ERROR`).
    pub fn set_error(&mut self, message: impl Into<String>) {
        if let Some(d) = &mut self.data {
            d.error = Some(message.into());
        }
    }

    /// Ends the span now.
    pub fn end(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        let Some(d) = self.data.take() else { return };
        let Some(exporter) = &self.tracer.0.exporter else {
            return;
        };
        if !self.ctx.is_sampled() {
            return;
        }
        exporter.export(SpanRecord {
            service: self.tracer.0.service,
            trace_id: self.ctx.trace_id,
            span_id: self.ctx.span_id,
            parent_span_id: d.parent,
            name: d.name,
            kind: d.kind,
            start: d.start,
            end: SystemTime::now(),
            attributes: d.attributes,
            error: d.error,
        });
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.finish();
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Span").field("ctx", &self.ctx).finish()
    }
}

/// The current span of a task, and who the request is for.
#[derive(Clone)]
pub struct Scope {
    ctx: SpanContext,
    tracer: Tracer,
    /// Set once the caller is known (see [`set_user`]).
    user: Arc<OnceLock<String>>,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `fut` with `span` as the current span. The user already known in
/// the enclosing scope stays known.
pub async fn in_scope<F: Future>(span: &Span, fut: F) -> F::Output {
    let user = SCOPE
        .try_with(|s| s.user.clone())
        .unwrap_or_else(|_| Arc::new(OnceLock::new()));
    let scope = Scope {
        ctx: span.ctx,
        tracer: span.tracer.clone(),
        user,
    };
    SCOPE.scope(scope, fut).await
}

/// The current scope (span, tracer and user), to carry into a task that
/// continues the request (see [`resume`]).
pub fn capture() -> Option<Scope> {
    SCOPE.try_with(Clone::clone).ok()
}

/// Runs `fut` in a scope [`capture`]d from another task, or in none.
pub async fn resume<F: Future>(scope: Option<Scope>, fut: F) -> F::Output {
    match scope {
        Some(scope) => SCOPE.scope(scope, fut).await,
        None => fut.await,
    }
}

/// The current span's context, if the task is in a scope.
pub fn current() -> Option<SpanContext> {
    SCOPE.try_with(|s| s.ctx).ok()
}

/// The current scope's tracer (the service handling the request or event).
pub fn current_tracer() -> Option<Tracer> {
    SCOPE.try_with(|s| s.tracer.clone()).ok()
}

/// The `traceparent` of the current span.
pub fn traceparent() -> Option<String> {
    current().map(|c| c.traceparent())
}

/// Records who the current request is for (once the token is verified),
/// so that log lines and the request span carry `user_id`.
pub fn set_user(user_id: &str) {
    let _ = SCOPE.try_with(|s| {
        s.user.get_or_init(|| user_id.to_owned());
    });
}

/// The user of the current request, if known.
pub fn user_id() -> Option<String> {
    SCOPE.try_with(|s| s.user.get().cloned()).ok().flatten()
}

/// The service of the current scope.
pub fn current_service() -> Option<&'static str> {
    SCOPE.try_with(|s| s.tracer.service()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let v = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = SpanContext::parse(v).unwrap();
        assert_eq!(ctx.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.span_id_hex(), "00f067aa0ba902b7");
        assert!(ctx.is_sampled());
        assert_eq!(ctx.traceparent(), v);
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(SpanContext::parse(bad), None, "{bad}");
        }
        // A later version may append fields; the known ones still count.
        assert!(
            SpanContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz")
                .is_some()
        );
    }

    #[test]
    fn children_keep_the_trace_and_the_sampling_decision() {
        let tracer = Tracer::disabled("shop");
        let unsampled =
            SpanContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        let child = tracer.span("x", SpanKind::Internal, Some(unsampled));
        assert_eq!(child.context().trace_id, unsampled.trace_id);
        assert_ne!(child.context().span_id, unsampled.span_id);
        assert!(!child.context().is_sampled());
        let root = tracer.span("y", SpanKind::Server, None);
        assert!(root.context().is_sampled());
        assert_ne!(root.context().trace_id, unsampled.trace_id);
    }

    #[tokio::test]
    async fn the_scope_carries_the_current_span_and_user() {
        assert_eq!(current(), None);
        let tracer = Tracer::disabled("users");
        let span = tracer.span("GET /profile", SpanKind::Server, None);
        let ctx = span.context();
        let (inner, user) = in_scope(&span, async {
            set_user("u-1");
            let child = tracer.child("SELECT", SpanKind::Client).unwrap();
            let nested = in_scope(&child, async { (current(), user_id()) }).await;
            (nested, user_id())
        })
        .await;
        assert_eq!(inner.0.unwrap().trace_id, ctx.trace_id);
        assert_ne!(inner.0.unwrap().span_id, ctx.span_id);
        assert_eq!(inner.1.as_deref(), Some("u-1"));
        assert_eq!(user.as_deref(), Some("u-1"));
    }
}
