//! The Consul KV mirror against the in-suite Consul (`testkit::consul`):
//! the initial copy, changes and deletions, and catching up after Consul
//! was down.

use marimo_testkit::{
    self as testkit,
    consul::{FakeConsul, serve},
    eventually,
};
use serde_json::json;

use crate::support::App;

fn kv(consul: &FakeConsul, key: &str) -> Option<String> {
    consul.with(|d| {
        d.kv.get(key)
            .map(|(v, _, _)| String::from_utf8_lossy(v).into_owned())
    })
}

#[tokio::test]
async fn settings_are_mirrored_into_consul_kv() {
    for backend in testkit::backends() {
        eprintln!("--- backend: {}", backend.name());
        let consul = FakeConsul::new();
        let running = serve(consul.clone()).await;
        let addr = running.addr.to_string();
        let settings = backend.settings(&[("CONSUL_ADDR", addr.as_str())]).await;
        let app = App::on(settings).await;
        let (admin, http) = (app.admin(), app.http());

        // The seeded settings are copied on start, one key at a time, so
        // each is awaited on its own.
        eventually("the seeds in Consul", async || {
            kv(&consul, "marimo/config/app_name").as_deref() == Some("Marimo ERP")
                && kv(&consul, "marimo/config/currency").as_deref() == Some("USD")
        })
        .await;

        // A change reaches Consul; a deletion removes the key.
        http.put("/api/config/shop.banner")
            .bearer(&admin)
            .json(json!({"value": "Winter sale", "type": "app"}))
            .send()
            .await
            .expect(200);
        eventually("the new key in Consul", async || {
            kv(&consul, "marimo/config/shop.banner").as_deref() == Some("Winter sale")
        })
        .await;
        http.delete("/api/config/shop.banner")
            .bearer(&admin)
            .send()
            .await
            .expect(200);
        eventually("the key deleted from Consul", async || {
            kv(&consul, "marimo/config/shop.banner").is_none()
        })
        .await;

        // Consul down: the write still succeeds (the database is the source
        // of truth) and Consul catches up once it is back.
        consul.change(|d| d.down = true);
        http.put("/api/config/app_name")
            .bearer(&admin)
            .json(json!({"value": "Marimo Works"}))
            .send()
            .await
            .expect(200);
        eventually("a failed mirror attempt", async || {
            consul.with(|d| d.errors > 0)
        })
        .await;
        assert_eq!(
            kv(&consul, "marimo/config/app_name").as_deref(),
            Some("Marimo ERP")
        );
        consul.change(|d| d.down = false);
        eventually("the change mirrored after the outage", async || {
            kv(&consul, "marimo/config/app_name").as_deref() == Some("Marimo Works")
        })
        .await;
        running.handle.abort();
    }
}
