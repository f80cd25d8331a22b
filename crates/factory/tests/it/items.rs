//! Items, units and warehouses.

use marimo_testkit::each_backend;
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn items_are_created_read_listed_and_updated() {
    each_backend(|app: App| async move {
        let res = app
            .post(
                "/api/factory/items",
                json!({"sku": " steel-rod.10 ", "name": "Steel rod", "kind": "raw_material",
                       "uom": "KG", "standard_cost": "2.5", "reorder_point": 12.5}),
            )
            .await
            .expect(201);
        let item = &res.json["item"];
        assert_eq!(item["sku"], "STEEL-ROD.10");
        assert_eq!(item["uom"], "kg");
        assert_eq!(item["standard_cost"], "2.50");
        assert_eq!(item["reorder_point"], "12.500");
        assert_eq!(item["active"], true);
        assert!(marimo_platform::ids::is_uuid(item["id"].as_str().unwrap()));

        // The same SKU again, in any case: 409.
        let dup = app
            .post(
                "/api/factory/items",
                json!({"sku": "Steel-Rod.10", "name": "Again", "kind": "component"}),
            )
            .await
            .expect(409);
        assert_eq!(dup.json["error"]["details"]["field"], "sku");

        let got = app.get("/api/factory/items/steel-rod.10").await.expect(200);
        assert_eq!(got.json["item"]["name"], "Steel rod");
        assert_eq!(got.json["item"]["on_hand"], "0.000");

        let upd = app
            .put(
                "/api/factory/items/STEEL-ROD.10",
                json!({"name": "Steel rod 10mm", "reorder_point": "3", "active": false}),
            )
            .await
            .expect(200);
        assert_eq!(upd.json["item"]["name"], "Steel rod 10mm");
        assert_eq!(upd.json["item"]["reorder_point"], "3.000");
        assert_eq!(upd.json["item"]["active"], false);
        assert_eq!(upd.json["item"]["uom"], "kg", "unchanged fields stay");

        app.raw("BOLT").await;
        app.item("BIKE", "finished_good", "pcs", "0").await;
        let list = app.get("/api/factory/items?limit=2").await.expect(200);
        assert_eq!(list.json["total"], 3);
        assert_eq!(list.json["items"].as_array().unwrap().len(), 2);
        assert_eq!(list.json["items"][0]["sku"], "BIKE");
        let raws = app
            .get("/api/factory/items?kind=raw_material&active=true")
            .await
            .expect(200);
        assert_eq!(raws.json["total"], 1);
        assert_eq!(raws.json["items"][0]["sku"], "BOLT");
    })
    .await;
}

#[tokio::test]
async fn items_are_validated() {
    each_backend(|app: App| async move {
        for (body, field) in [
            (
                json!({"sku": "A B", "name": "x", "kind": "component"}),
                "sku",
            ),
            (json!({"sku": "", "name": "x", "kind": "component"}), "sku"),
            (
                json!({"sku": "X".repeat(65), "name": "x", "kind": "component"}),
                "sku",
            ),
            (
                json!({"sku": "OK", "name": " ", "kind": "component"}),
                "name",
            ),
            (json!({"sku": "OK", "name": "x"}), "kind"),
            (json!({"sku": "OK", "name": "x", "kind": "gizmo"}), "kind"),
            (
                json!({"sku": "OK", "name": "x", "kind": "component", "standard_cost": "1.0000001"}),
                "standard_cost",
            ),
            (
                json!({"sku": "OK", "name": "x", "kind": "component", "standard_cost": -1}),
                "standard_cost",
            ),
            (
                json!({"sku": "OK", "name": "x", "kind": "component", "reorder_point": "0.0001"}),
                "reorder_point",
            ),
            (
                json!({"sku": "OK", "name": "x", "kind": "component", "reorder_point": "-1"}),
                "reorder_point",
            ),
        ] {
            let res = app
                .post("/api/factory/items", body.clone())
                .await
                .expect(400);
            assert_eq!(res.code(), "VALIDATION_ERROR", "{body}");
            assert_eq!(res.json["error"]["details"]["field"], field, "{body}");
        }
        // The unit must be in the reference table.
        let res = app
            .post(
                "/api/factory/items",
                json!({"sku": "OK", "name": "x", "kind": "component", "uom": "furlong"}),
            )
            .await
            .expect(422);
        assert_eq!(res.code(), "UNKNOWN_UNIT");
        assert!(
            res.json["error"]["details"]["allowed"]
                .as_array()
                .unwrap()
                .contains(&json!("kg"))
        );
        let units = app.get("/api/factory/units").await.expect(200);
        let codes: Vec<&str> = units.json["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["g", "h", "kg", "l", "m", "pcs"]);
        // Malformed JSON, wrong types, unknown SKUs in paths.
        app.http
            .post("/api/factory/items")
            .bearer(&crate::support::manager())
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect(400);
        app.post(
            "/api/factory/items",
            json!({"sku": 5, "name": "x", "kind": "component"}),
        )
        .await
        .expect(400);
        app.get("/api/factory/items/NOPE").await.expect(404);
        app.get("/api/factory/items/bad%20sku").await.expect(404);
        app.put("/api/factory/items/NOPE", json!({"name": "x"}))
            .await
            .expect(404);
        // The SKU of an item never changes.
        app.raw("FIXED").await;
        app.put("/api/factory/items/FIXED", json!({"sku": "OTHER"}))
            .await
            .expect(400);
    })
    .await;
}

#[tokio::test]
async fn the_unit_of_an_item_with_moves_cannot_change() {
    each_backend(|app: App| async move {
        app.item("FLOUR", "raw_material", "kg", "0").await;
        app.put("/api/factory/items/FLOUR", json!({"uom": "g"}))
            .await
            .expect(200);
        app.receive("FLOUR", "1.5", "1").await;
        let res = app
            .put("/api/factory/items/FLOUR", json!({"uom": "kg"}))
            .await
            .expect(409);
        assert_eq!(res.code(), "UOM_IN_USE");
    })
    .await;
}

#[tokio::test]
async fn warehouses_are_seeded_and_created() {
    each_backend(|app: App| async move {
        let list = app.get("/api/factory/warehouses").await.expect(200);
        assert_eq!(list.json["warehouses"][0]["code"], "MAIN");
        let res = app
            .post(
                "/api/factory/warehouses",
                json!({"code": "east-1", "name": "East"}),
            )
            .await
            .expect(201);
        assert_eq!(res.json["warehouse"]["code"], "EAST-1");
        app.post(
            "/api/factory/warehouses",
            json!({"code": "EAST-1", "name": "Again"}),
        )
        .await
        .expect(409);
        app.post(
            "/api/factory/warehouses",
            json!({"code": "no way", "name": "x"}),
        )
        .await
        .expect(400);
        let list = app.get("/api/factory/warehouses").await.expect(200);
        assert_eq!(list.json["warehouses"].as_array().unwrap().len(), 2);
    })
    .await;
}
