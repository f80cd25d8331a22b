//! Reference data: seeds, admin-only upserts, validation, events.

use marimo_platform::auth::Role;
use marimo_testkit::each_backend;
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn reference_data_is_seeded_readable_and_admin_written() {
    each_backend(|app: App| async move {
        let user = app.token(Role::User);
        let admin = app.admin();
        let http = app.http();

        let res = http
            .get("/api/config/reference/units")
            .bearer(&user)
            .send()
            .await
            .expect(200);
        let codes: Vec<&str> = res.json["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["code"].as_str().unwrap())
            .collect();
        for c in ["pcs", "kg", "g", "m", "l", "h"] {
            assert!(codes.contains(&c), "{c} seeded: {codes:?}");
        }
        let res = http
            .get("/api/config/reference/currencies")
            .bearer(&user)
            .send()
            .await
            .expect(200);
        let usd = res.json["currencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == "USD")
            .cloned()
            .unwrap();
        assert_eq!(usd["minor_units"], 2);
        let res = http
            .get("/api/config/reference/tax-rates")
            .bearer(&user)
            .send()
            .await
            .expect(200);
        let standard = res.json["tax_rates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == "standard")
            .cloned()
            .unwrap();
        assert_eq!(standard["rate"], "0.00");
        http.get("/api/config/reference/planets")
            .bearer(&user)
            .send()
            .await
            .expect(404);
        http.get("/api/config/reference/units")
            .send()
            .await
            .expect(401);

        // Writes: admin only; validated.
        http.post("/api/config/reference/units")
            .bearer(&user)
            .json(json!({"code": "box", "name": "Box"}))
            .send()
            .await
            .expect(403);
        http.post("/api/config/reference/currencies")
            .bearer(&admin)
            .json(json!({"code": "EURO", "name": "x", "minor_units": 2}))
            .send()
            .await
            .expect(400);
        http.post("/api/config/reference/currencies")
            .bearer(&admin)
            .json(json!({"code": "SEK", "name": "Krona", "minor_units": 9}))
            .send()
            .await
            .expect(400);
        http.post("/api/config/reference/tax-rates")
            .bearer(&admin)
            .json(json!({"code": "lux", "name": "Luxury", "rate": "120"}))
            .send()
            .await
            .expect(400);
        http.post("/api/config/reference/units")
            .bearer(&admin)
            .json(json!({"code": "box"}))
            .send()
            .await
            .expect(400);

        http.post("/api/config/reference/units")
            .bearer(&admin)
            .json(json!({"code": "box", "name": "Box"}))
            .send()
            .await
            .expect(200);
        let res = http
            .post("/api/config/reference/tax-rates")
            .bearer(&admin)
            .json(json!({"code": "standard", "name": "Standard rate", "rate": "8.25"}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["item"]["rate"], "8.25");
        let res = http
            .get("/api/config/reference/tax-rates")
            .bearer(&user)
            .send()
            .await
            .expect(200);
        let standard = res.json["tax_rates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["code"] == "standard")
            .cloned()
            .unwrap();
        assert_eq!(standard["rate"], "8.25");

        let events = app.events("config.reference.changed").await;
        let payloads: Vec<_> = events.iter().map(|e| e["payload"].clone()).collect();
        let of = |kind: &str, code: &str| {
            payloads
                .iter()
                .rfind(|p| p["kind"] == kind && p["code"] == code)
                .cloned()
                .unwrap_or_else(|| panic!("no event for {kind}/{code}: {payloads:?}"))
        };
        // The event carries the row, so consumers keep a copy without
        // calling back.
        assert_eq!(of("units", "box")["item"]["code"], "box");
        assert!(of("units", "box")["item"]["name"].is_string());
        assert_eq!(of("tax-rates", "standard")["item"]["rate"], "8.25");
    })
    .await;
}
