//! Bills of materials: versions, cycles at depth, multi-level explosion.

use marimo_testkit::each_backend;
use serde_json::{Value, json};

use crate::support::App;

async fn components(app: &App, skus: &[&str]) {
    for s in skus {
        app.item(s, "component", "pcs", "0").await;
    }
}

fn reqs(res: &Value) -> Vec<(String, String)> {
    res["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["sku"].as_str().unwrap().to_owned(),
                r["qty"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_new_version_becomes_the_active_bom() {
    each_backend(|app: App| async move {
        app.item("BIKE", "finished_good", "pcs", "0").await;
        components(&app, &["WHEEL", "FRAME"]).await;
        let v1 = app
            .bom("BIKE", "1", &[("WHEEL", "2"), ("FRAME", "1")])
            .await
            .expect(201);
        let b = &v1.json["bom"];
        assert_eq!(b["version"], 1);
        assert_eq!(b["active"], true);
        assert_eq!(b["output_qty"], "1.000");
        assert_eq!(b["components"][0], json!({"sku": "WHEEL", "qty": "2.000"}));
        let v1_id = b["id"].as_str().unwrap().to_owned();
        let v2 = app.bom("BIKE", "2", &[("WHEEL", "4.5")]).await.expect(201);
        assert_eq!(v2.json["bom"]["version"], 2);

        let list = app
            .get("/api/factory/boms?product_sku=bike")
            .await
            .expect(200);
        let boms = list.json["boms"].as_array().unwrap();
        assert_eq!(boms.len(), 2);
        assert_eq!(
            (boms[0]["version"].as_i64(), &boms[0]["active"]),
            (Some(2), &json!(true))
        );
        assert_eq!(
            (boms[1]["version"].as_i64(), &boms[1]["active"]),
            (Some(1), &json!(false))
        );
        let old = app
            .get(&format!("/api/factory/boms/{v1_id}"))
            .await
            .expect(200);
        assert_eq!(old.json["bom"]["active"], false);
        assert_eq!(old.json["bom"]["components"].as_array().unwrap().len(), 2);
        app.get("/api/factory/boms/0190a0a0-0000-7000-8000-000000000000")
            .await
            .expect(404);
        app.get("/api/factory/boms/not-an-id").await.expect(404);
    })
    .await;
}

#[tokio::test]
async fn boms_are_validated() {
    each_backend(|app: App| async move {
        app.raw("STEEL").await;
        app.item("BIKE", "finished_good", "pcs", "0").await;
        let r = app.bom("STEEL", "1", &[("BIKE", "1")]).await.expect(422);
        assert_eq!(r.code(), "INVALID_BOM", "raw materials are bought");
        let r = app
            .bom("BIKE", "1", &[("GHOST", "1"), ("STEEL", "1")])
            .await
            .expect(422);
        assert_eq!(r.code(), "UNKNOWN_ITEM");
        app.bom("NOPE", "1", &[("STEEL", "1")]).await.expect(404);
        let r = app
            .bom("BIKE", "1", &[("STEEL", "1"), ("steel", "2")])
            .await
            .expect(400);
        assert_eq!(r.json["error"]["details"]["skus"], json!(["STEEL"]));
        app.bom("BIKE", "0", &[("STEEL", "1")]).await.expect(400);
        app.bom("BIKE", "1", &[("STEEL", "0")]).await.expect(400);
        app.bom("BIKE", "1", &[]).await.expect(400);
        let r = app.bom("BIKE", "1", &[("BIKE", "1")]).await.expect(422);
        assert_eq!(r.code(), "BOM_CYCLE");
        assert_eq!(r.json["error"]["details"]["cycle"], "BIKE → BIKE");
        assert_eq!(app.scalar("SELECT COUNT(*) FROM boms").await, 0);
    })
    .await;
}

#[tokio::test]
async fn cycles_are_refused_at_any_depth_naming_the_path() {
    each_backend(|app: App| async move {
        components(&app, &["A", "B", "C", "D", "E", "F", "LEAF"]).await;
        app.bom("A", "1", &[("B", "1")]).await.expect(201);
        app.bom("B", "1", &[("C", "1"), ("LEAF", "2")])
            .await
            .expect(201);
        let r = app
            .bom("C", "1", &[("LEAF", "1"), ("A", "1")])
            .await
            .expect(422);
        assert_eq!(r.code(), "BOM_CYCLE");
        assert!(
            r.json["message"]
                .as_str()
                .unwrap()
                .contains("C → A → B → C"),
            "{}",
            r.text
        );
        assert_eq!(
            r.json["error"]["details"]["path"],
            json!(["C", "A", "B", "C"])
        );

        // Deeper: C → D → E → F, then F needing A closes a 7-long loop.
        app.bom("C", "1", &[("D", "1")]).await.expect(201);
        app.bom("D", "1", &[("E", "1")]).await.expect(201);
        app.bom("E", "1", &[("F", "1")]).await.expect(201);
        let r = app.bom("F", "1", &[("A", "1")]).await.expect(422);
        assert_eq!(
            r.json["error"]["details"]["cycle"],
            "F → A → B → C → D → E → F"
        );
        // A new version of B that no longer needs C breaks the chain: now F
        // may need A.
        app.bom("B", "1", &[("LEAF", "1")]).await.expect(201);
        app.bom("F", "1", &[("A", "1")]).await.expect(201);
        // ... and the old path is closed the other way round.
        let r = app.bom("B", "1", &[("C", "1")]).await.expect(422);
        assert_eq!(
            r.json["error"]["details"]["cycle"],
            "B → C → D → E → F → A → B"
        );
    })
    .await;
}

#[tokio::test]
async fn explosion_sums_leaves_through_every_level() {
    each_backend(|app: App| async move {
        app.item("BIKE", "finished_good", "pcs", "0").await;
        components(&app, &["WHEEL", "FRAME", "HUB"]).await;
        for raw in ["SPOKE", "RIM", "TUBE", "BEARING"] {
            app.raw(raw).await;
        }
        // 1 BIKE = 2 WHEEL + 1 FRAME + 0.5 RIM (spare);
        // 1 WHEEL = 32 SPOKE + 1 RIM + 1 HUB; 1 HUB = 2 BEARING;
        // 2 FRAME = 3 TUBE.
        let bike = app
            .bom(
                "BIKE",
                "1",
                &[("WHEEL", "2"), ("FRAME", "1"), ("RIM", "0.5")],
            )
            .await
            .expect(201);
        let bike_id = bike.json["bom"]["id"].as_str().unwrap().to_owned();
        app.bom("WHEEL", "1", &[("SPOKE", "32"), ("RIM", "1"), ("HUB", "1")])
            .await
            .expect(201);
        app.bom("HUB", "1", &[("BEARING", "2")]).await.expect(201);
        app.bom("FRAME", "2", &[("TUBE", "3")]).await.expect(201);

        let res = app
            .get(&format!("/api/factory/boms/{bike_id}/explode?qty=3"))
            .await
            .expect(200);
        assert_eq!(res.json["qty"], "3.000");
        assert_eq!(res.json["depth"], 3);
        assert_eq!(
            reqs(&res.json),
            vec![
                ("BEARING".into(), "12.000".into()),
                ("RIM".into(), "7.500".into()),
                ("SPOKE".into(), "192.000".into()),
                ("TUBE".into(), "4.500".into()),
            ]
        );
        assert!(
            res.json["requirements"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["exact"] == true)
        );

        // A third of a frame's tubes: exact 0.5 → fine; 1/3 of a unit is
        // rounded up at the end only.
        app.bom("FRAME", "3", &[("TUBE", "1")]).await.expect(201);
        let res = app
            .get(&format!("/api/factory/boms/{bike_id}/explode?qty=1"))
            .await
            .expect(200);
        let tube = res.json["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["sku"] == "TUBE")
            .unwrap()
            .clone();
        assert_eq!(tube["qty"], "0.334");
        assert_eq!(tube["exact"], false);
        // Default quantity is one unit; bad quantities are 400.
        app.get(&format!("/api/factory/boms/{bike_id}/explode"))
            .await
            .expect(200);
        app.get(&format!("/api/factory/boms/{bike_id}/explode?qty=0"))
            .await
            .expect(400);
        app.get(&format!("/api/factory/boms/{bike_id}/explode?qty=abc"))
            .await
            .expect(400);
    })
    .await;
}
