//! The gateway's `/health` and `/ready`.

use marimo_platform::service::ServiceName;

use crate::support::{System, closed_port_url};

#[tokio::test]
async fn health_is_200_when_every_service_is_up() {
    let sys = System::start(&[]).await;
    let res = sys.gw.http.get("/health").send().await.expect(200);
    let body = &res.json;
    assert_eq!(body["success"], true);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], "gateway");
    assert!(body["version"].as_str().is_some());
    assert!(body["uptime_seconds"].as_u64().is_some());
    assert_eq!(body["down"], serde_json::json!([]));
    for name in ServiceName::UPSTREAMS {
        let s = &body["services"][name.as_str()];
        assert_eq!(s["status"], "up", "{name}: {}", res.text);
        let instances = s["instances"].as_array().unwrap();
        assert_eq!(instances.len(), 1);
        assert_eq!(instances[0]["url"], sys.echo(name).url());
        assert_eq!(instances[0]["status"], "up");
        assert!(instances[0]["latency_ms"].as_u64().is_some());
    }
    // Probes are not API traffic.
    assert_eq!(sys.total_hits(), 0);
}

#[tokio::test]
async fn health_is_503_naming_the_services_down() {
    let closed = closed_port_url().await;
    let sys = System::start(&[("FACTORY_URLS", &closed)]).await;
    let res = sys.gw.http.get("/health").send().await;
    crate::support::assert_error(&res, 503, "SERVICE_UNAVAILABLE");
    let body = &res.json;
    assert_eq!(body["down"], serde_json::json!(["factory"]));
    assert_eq!(
        body["error"]["details"]["down"],
        serde_json::json!(["factory"])
    );
    assert!(body["message"].as_str().unwrap().contains("factory"));
    assert_eq!(body["service"], "gateway");
    assert_eq!(body["services"]["factory"]["status"], "down");
    assert_eq!(
        body["services"]["factory"]["instances"][0]["status"],
        "down"
    );
    assert_eq!(body["services"]["shop"]["status"], "up");

    // A service with one live instance of two is up.
    let shop = sys.echo(ServiceName::Shop).url().to_owned();
    let both = format!("{closed},{shop}");
    let sys2 = System::start(&[("SHOP_URLS", &both)]).await;
    let res = sys2.gw.http.get("/health").send().await.expect(200);
    let instances = res.json["services"]["shop"]["instances"]
        .as_array()
        .unwrap();
    assert_eq!(instances.len(), 2);
    assert_eq!(instances[0]["status"], "down");
    assert_eq!(instances[1]["status"], "up");

    // Readiness is about the gateway itself.
    sys.gw.http.get("/ready").send().await.expect(200);
}
