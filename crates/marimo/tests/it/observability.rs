//! Observability of the whole system: one paid order is one trace from
//! the gateway to the ledger posting (exported over OTLP to an in-suite
//! receiver), and every service's `/metrics` shows what the order moved.

use marimo_platform::service::ServiceName;
use marimo_testkit::eventually;
use marimo_testkit::{
    Http, backends,
    otlp::{OtlpReceiver, ReceivedSpan},
    scrape::{sample, samples},
};
use serde_json::json;

use crate::support::{Running, register_and_login, start};

/// A shop manager's access token, signed with the test key, without a
/// sign-in: staff record payments (customers cannot), and a sign-in would
/// add to the users service's counters these tests read.
fn shop_manager_token() -> String {
    use marimo_platform::auth::{JwtKeys, Role, jwt::Identity};
    JwtKeys::new(marimo_testkit::TEST_JWT_SECRET.as_bytes())
        .issue(&Identity {
            user_id: marimo_platform::ids::new_id(),
            email: "till@example.com".into(),
            role: Role::ShopManager,
            tenant: Default::default(),
        })
        .0
}

const SERVER: i64 = 2;
const CLIENT: i64 = 3;
const PRODUCER: i64 = 4;
const CONSUMER: i64 = 5;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Places an order for two Premium Widgets and returns its id.
async fn place_order(gw: &Http, token: &str) -> String {
    let catalog = gw
        .get("/api/shop/products?q=premium")
        .send()
        .await
        .expect(200)
        .json;
    let widget_id = catalog["products"][0]["id"].as_str().unwrap().to_owned();
    let order = gw
        .post("/api/shop/orders")
        .bearer(token)
        .json(json!({"items": [{"product_id": widget_id, "quantity": 2}]}))
        .send()
        .await
        .expect(201)
        .json;
    order["order"]["id"].as_str().unwrap().to_owned()
}

/// The one span of `trace` that `pick` selects.
#[track_caller]
fn one<'a>(
    trace: &'a [ReceivedSpan],
    what: &str,
    pick: impl Fn(&ReceivedSpan) -> bool,
) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = trace.iter().filter(|s| pick(s)).collect();
    assert_eq!(found.len(), 1, "{what}: {found:#?}\nin trace: {trace:#?}");
    found[0]
}

fn is(s: &ReceivedSpan, service: &str, kind: i64, name: &str) -> bool {
    s.service == service && s.kind == kind && s.name == name
}

#[tokio::test]
async fn a_paid_order_is_one_trace_from_the_gateway_to_the_ledger() {
    marimo_platform::telemetry::init_logging("warn", marimo_platform::config::LogFormat::Pretty);
    for backend in backends() {
        let receiver = OtlpReceiver::start().await;
        let sys = start(
            &backend,
            &[
                ("MARIMO_RATE_LIMITS", "off"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint),
            ],
        )
        .await;
        let gw = &sys.gw;
        let token = register_and_login(gw, "trace@example.com").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let order_id = place_order(gw, &token).await;

        // The client (a browser with tracing, say) starts the trace.
        let trace_id = hex(&marimo_platform::ids::random_bytes::<16>());
        let client_span = hex(&marimo_platform::ids::random_bytes::<8>());
        // Staff record the payment (customers cannot mark orders paid).
        let staff = shop_manager_token();
        gw.post(&format!("/api/shop/orders/{order_id}/pay"))
            .bearer(&staff)
            .json(json!({"method": "card", "reference": "TRACE-1"}))
            .header("traceparent", &format!("00-{trace_id}-{client_span}-01"))
            .send()
            .await
            .expect(200);

        // Each service exports its own batches on its own timer: wait until
        // every service's part of the trace has arrived.
        let trace = eventually("every service's spans of the trace", || async {
            let trace = receiver.trace(&trace_id);
            let has = |service: &str, kind: i64, name: &str| {
                trace.iter().any(|s| is(s, service, kind, name))
            };
            (has("gateway", SERVER, "POST /api/shop/{*rest}")
                && trace
                    .iter()
                    .any(|s| s.service == "gateway" && s.kind == CLIENT)
                && has("shop", SERVER, "POST /api/shop/orders/{id}/pay")
                && has("shop", PRODUCER, "shop.order.paid publish")
                && has("accounting", CONSUMER, "shop.order.paid process"))
            .then_some(trace)
        })
        .await;

        let gw_server = one(&trace, "gateway server span", |s| {
            is(s, "gateway", SERVER, "POST /api/shop/{*rest}")
        });
        assert_eq!(gw_server.parent_span_id.as_deref(), Some(&*client_span));
        assert_eq!(
            gw_server.attr("url.path"),
            Some(&*format!("/api/shop/orders/{order_id}/pay"))
        );
        let gw_client = one(&trace, "gateway client span", |s| {
            s.service == "gateway" && s.kind == CLIENT
        });
        assert_eq!(gw_client.parent_span_id, Some(gw_server.span_id.clone()));
        assert!(
            gw_client
                .attr("url.full")
                // The gateway forwards the v1 path of the alias the client used.
                .is_some_and(|u| u.ends_with(&format!("/api/v1/shop/orders/{order_id}/pay"))),
            "{gw_client:?}"
        );
        let shop_server = one(&trace, "shop server span", |s| {
            is(s, "shop", SERVER, "POST /api/shop/orders/{id}/pay")
        });
        assert_eq!(shop_server.parent_span_id, Some(gw_client.span_id.clone()));
        assert_eq!(
            shop_server.attr("http.route"),
            Some("/api/shop/orders/{id}/pay")
        );
        let publish = one(&trace, "the outbox write", |s| {
            is(s, "shop", PRODUCER, "shop.order.paid publish")
        });
        assert_eq!(publish.parent_span_id, Some(shop_server.span_id.clone()));
        let consume = one(&trace, "the ledger's consumer span", |s| {
            is(s, "accounting", CONSUMER, "shop.order.paid process")
        });
        assert_eq!(consume.parent_span_id, Some(publish.span_id.clone()));
        assert_eq!(
            consume.attr("messaging.consumer.group.name"),
            Some("accounting")
        );

        // Database spans sit under the span whose work they are.
        let queries_under = |parent: &ReceivedSpan, service: &str| {
            trace
                .iter()
                .filter(|s| {
                    s.service == service
                        && s.kind == CLIENT
                        && s.parent_span_id.as_deref() == Some(&*parent.span_id)
                        && s.attributes.contains_key("db.system.name")
                })
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
        };
        let shop_queries = queries_under(shop_server, "shop");
        assert!(
            shop_queries.iter().any(|n| n == "INSERT outbox"),
            "{shop_queries:?}"
        );
        let ledger_queries = queries_under(consume, "accounting");
        assert!(
            ledger_queries
                .iter()
                .any(|n| n == "INSERT processed_events"),
            "{ledger_queries:?}"
        );
        for s in &trace {
            assert!(s.start_unix_nano <= s.end_unix_nano, "{s:?}");
            assert_ne!(s.status_code, 2, "no span of a good request failed: {s:?}");
        }
        sys.stop().await;
    }
}

async fn metrics_of(sys: &Running, service: ServiceName) -> String {
    let url = sys.system.as_ref().unwrap().url(service);
    Http::new(&url)
        .get("/metrics")
        .send()
        .await
        .expect(200)
        .text
}

/// Waits until `service`'s sample equals `want`.
async fn shows(
    sys: &Running,
    service: ServiceName,
    name: &str,
    labels: &[(&str, &str)],
    want: f64,
) {
    eventually(&format!("{service} {name}{labels:?} = {want}"), || async {
        let text = metrics_of(sys, service).await;
        (sample(&text, name, labels) == Some(want)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn every_service_exports_what_an_order_moved() {
    marimo_platform::telemetry::init_logging("warn", marimo_platform::config::LogFormat::Pretty);
    for backend in backends() {
        let sys = start(&backend, &[("MARIMO_RATE_LIMITS", "off")]).await;
        let gw = &sys.gw;
        let before = metrics_of(&sys, Users).await;
        assert_eq!(sample(&before, "active_users_total", &[]), Some(0.0));

        let token = register_and_login(gw, "metrics@example.com").await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        gw.post("/api/users/login")
            .json(json!({"email": "metrics@example.com", "password": "wrong-Passw0rd"}))
            .send()
            .await
            .expect(401);
        let order_id = place_order(gw, &token).await;
        let staff = shop_manager_token();
        crate::support::record_payment(gw, &staff, &order_id).await;

        use ServiceName::*;
        // users
        let users = [("service", "users")];
        for (labels, want) in [
            (&[("result", "success")][..], 1.0),
            (&[("result", "failure")][..], 1.0),
        ] {
            shows(
                &sys,
                Users,
                "auth_attempts_total",
                &[users[0], labels[0]],
                want,
            )
            .await;
        }
        shows(
            &sys,
            Users,
            "tokens_issued_total",
            &[("token_type", "access")],
            1.0,
        )
        .await;
        shows(
            &sys,
            Users,
            "tokens_issued_total",
            &[("token_type", "refresh")],
            1.0,
        )
        .await;
        shows(&sys, Users, "active_users_total", &users, 1.0).await;

        // shop: business counters, its HTTP route template, its queries
        shows(&sys, Shop, "orders_placed_total", &[], 1.0).await;
        shows(&sys, Shop, "orders_total", &[("status", "paid")], 1.0).await;
        shows(&sys, Shop, "revenue_total", &[("currency", "USD")], 5998.0).await;
        shows(
            &sys,
            Shop,
            "http_requests_total",
            &[
                ("service", "shop"),
                ("method", "POST"),
                ("route", "/api/shop/orders/{id}/pay"),
                ("status", "200"),
            ],
            1.0,
        )
        .await;
        shows(
            &sys,
            Shop,
            "events_published_total",
            &[("service", "shop"), ("type", "shop.order.paid")],
            1.0,
        )
        .await;
        shows(&sys, Shop, "outbox_backlog", &[("service", "shop")], 0.0).await;
        let shop = metrics_of(&sys, Shop).await;
        for op in ["select", "insert", "update"] {
            let n = sample(
                &shop,
                "db_queries_total",
                &[("service", "shop"), ("operation", op), ("status", "ok")],
            )
            .unwrap_or(0.0);
            assert!(n >= 1.0, "{op}: {shop}");
        }

        // accounting: the event consumed, nothing dead-lettered
        let paid = [
            ("service", "accounting"),
            ("queue", "accounting"),
            ("type", "shop.order.paid"),
        ];
        shows(&sys, Accounting, "events_consumed_total", &paid, 1.0).await;
        shows(&sys, Accounting, "dlq_depth", &paid[..2], 0.0).await;

        // gateway: route templates only, breaker state per instance
        let gateway = metrics_of(&sys, Gateway).await;
        let proxied = [
            ("service", "gateway"),
            ("method", "POST"),
            ("route", "/api/shop/{*rest}"),
        ];
        assert!(
            sample(
                &gateway,
                "http_requests_total",
                &[proxied[0], proxied[1], proxied[2], ("status", "201")]
            ) == Some(1.0),
            "{gateway}"
        );
        assert_eq!(
            sample(
                &gateway,
                "http_request_duration_seconds_count",
                &[proxied[0], proxied[1], proxied[2], ("status", "200")]
            ),
            Some(1.0),
            "{gateway}"
        );
        assert!(sample(&gateway, "http_request_size_bytes_count", &proxied).is_some());
        assert!(sample(&gateway, "http_response_size_bytes_count", &proxied).is_some());
        assert_eq!(
            sample(&gateway, "circuit_breaker_state", &[("service", "shop")]),
            Some(0.0),
            "closed"
        );

        // No service labels a series with a raw id, and every one reports
        // its memory under its limit.
        for service in ServiceName::ALL {
            let text = metrics_of(&sys, service).await;
            for s in samples(&text) {
                assert!(
                    !s.labels.iter().any(|(_, v)| v.contains(&order_id)),
                    "{service}: {s:?}"
                );
            }
            let name = service.as_str();
            let rss = sample(&text, "process_resident_memory_bytes", &[("service", name)]);
            let limit = sample(&text, "process_memory_limit_bytes", &[("service", name)]);
            assert!(
                matches!((rss, limit), (Some(r), Some(l)) if r > 0.0 && r < l),
                "{service}: {rss:?} / {limit:?}"
            );
        }
        sys.stop().await;
    }
}
