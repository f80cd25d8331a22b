//! Logs: `tracing` with `LOG_LEVEL` as the filter; `LOG_FORMAT=json`
//! writes one JSON object per line for Logstash/Elasticsearch.
//!
//! A JSON line carries `timestamp` (RFC 3339, UTC), `level`, `target`,
//! `message`, the fields of the enclosing `tracing` spans and of the event,
//! and — taken from the task that logs — `service`, `request_id`,
//! `trace_id`, `span_id` and `user_id` when they are known (inside a
//! request or a consumed event; see [`super::trace`]).

use serde_json::{Map, Value};
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    fmt::{
        self, FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter, format::Writer,
    },
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::config::LogFormat;

/// Installs the global log subscriber (to stderr) once; later calls are
/// no-ops.
pub fn init_logging(level: &str, format: LogFormat) {
    let _ = subscriber(level, format, std::io::stderr).try_init();
}

/// The subscriber [`init_logging`] installs, writing to `writer` (tests
/// capture lines with it).
pub fn subscriber<W>(level: &str, format: LogFormat, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(level)
        .or_else(|_| EnvFilter::try_new("info"))
        .expect("'info' is a valid filter");
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => fmt::layer()
            .with_writer(writer)
            .fmt_fields(fmt::format::JsonFields::new())
            .event_format(JsonLines)
            .boxed(),
        LogFormat::Pretty => fmt::layer().with_writer(writer).compact().boxed(),
    };
    tracing_subscriber::registry().with(layer.with_filter(filter))
}

/// The JSON line format.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), crate::clock::now_text().into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        // Span fields (outermost first, so inner spans win), then the event's.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields)
                {
                    line.extend(map);
                }
            }
        }
        event.record(&mut Fields(&mut line));
        let context = [
            (
                "service",
                super::trace::current_service().map(str::to_owned),
            ),
            ("request_id", crate::http::request_id::current()),
            (
                "trace_id",
                super::trace::current().map(|c| c.trace_id_hex()),
            ),
            ("span_id", super::trace::current().map(|c| c.span_id_hex())),
            ("user_id", super::trace::user_id()),
        ];
        for (key, value) in context {
            if let Some(v) = value {
                line.entry(key).or_insert(Value::String(v));
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Collects an event's fields into the JSON object.
struct Fields<'a>(&'a mut Map<String, Value>);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}
