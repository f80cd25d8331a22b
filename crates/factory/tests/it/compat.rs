//! The original API's `/products` and `/orders` keep their paths and
//! shapes; the dashboard summary.

use marimo_testkit::each_backend;
use serde_json::{Value, json};

use crate::support::App;

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn products_keep_the_original_shape() {
    each_backend(|app: App| async move {
        let res = app
            .post(
                "/api/factory/products",
                json!({"name": "Premium Widget", "sku": "pw-1", "quantity": 12}),
            )
            .await
            .expect(201);
        assert_eq!(res.json["success"], true);
        let p = res.json["product"].clone();
        assert_eq!(
            keys(&p),
            [
                "created_at",
                "created_by",
                "id",
                "name",
                "quantity",
                "sku",
                "status"
            ]
        );
        assert_eq!(p["quantity"], 12);
        assert_eq!(p["status"], "planned");
        assert_eq!(p["sku"], "PW-1");
        let id = p["id"].as_str().unwrap().to_owned();
        assert!(marimo_platform::ids::is_uuid(&id));
        // The opening quantity is real stock, through the ledger.
        assert_eq!(app.level("PW-1").await.0, "12.000");
        let reason: String =
            sqlx::query_scalar("SELECT reason FROM stock_moves WHERE sku = 'PW-1'")
                .fetch_one(app.ctx.db().pool())
                .await
                .unwrap();
        assert_eq!(reason, "adjustment");

        app.post(
            "/api/factory/products",
            json!({"name": "Half", "sku": "HALF", "quantity": "2.5", "status": "in_production"}),
        )
        .await
        .expect(201);
        // Items of other kinds are not products.
        app.raw("STEEL").await;

        let list = app.get("/api/factory/products").await.expect(200);
        let products = list.json["products"].as_array().unwrap();
        assert_eq!(products.len(), 2);
        assert_eq!(products[0]["id"], json!(id));
        assert_eq!(products[1]["quantity"], json!(2.5));
        assert_eq!(products[1]["status"], "in_production");

        // The product at the top level of the body.
        let one = app
            .get(&format!("/api/factory/products/{id}"))
            .await
            .expect(200);
        assert_eq!(one.json["success"], true);
        assert_eq!(one.json["name"], "Premium Widget");
        assert_eq!(one.json["quantity"], 12);
        assert!(one.json.get("completed_at").is_none());

        let r = app
            .put(
                &format!("/api/factory/products/{id}/status"),
                json!({"status": "completed"}),
            )
            .await
            .expect(200);
        assert_eq!(r.json["success"], true);
        assert!(r.json["message"].is_string());
        let one = app
            .get(&format!("/api/factory/products/{id}"))
            .await
            .expect(200);
        assert_eq!(one.json["status"], "completed");
        assert!(one.json["completed_at"].is_string());
        let r = app
            .put(
                &format!("/api/factory/products/{id}/status"),
                json!({"status": "shipped"}),
            )
            .await
            .expect(400);
        assert!(
            r.json["error"]["details"]["allowed"]
                .as_array()
                .unwrap()
                .len()
                == 4
        );
        app.put(&format!("/api/factory/products/{id}/status"), json!({}))
            .await
            .expect(400);

        let steel_id = app.get("/api/factory/items/STEEL").await.json["item"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.get(&format!("/api/factory/products/{steel_id}"))
            .await
            .expect(404);
        app.get("/api/factory/products/12").await.expect(404);
        app.put(
            "/api/factory/products/12/status",
            json!({"status": "planned"}),
        )
        .await
        .expect(404);
        app.post(
            "/api/factory/products",
            json!({"name": "Dup", "sku": "PW-1"}),
        )
        .await
        .expect(409);
        app.post("/api/factory/products", json!({"sku": "NONAME"}))
            .await
            .expect(400);
        app.assert_consistent().await;
    })
    .await;
}

#[tokio::test]
async fn orders_keep_the_original_shape_and_never_dangle() {
    each_backend(|app: App| async move {
        let p = app
            .post(
                "/api/factory/products",
                json!({"name": "Gadget", "sku": "GADGET"}),
            )
            .await
            .expect(201);
        let product_id = p.json["product"]["id"].as_str().unwrap().to_owned();

        // Unknown products: 404, and no order is created.
        for bad in [
            json!({"product_id": "0190a0a0-0000-7000-8000-000000000000", "quantity": 1}),
            json!({"product_id": "nope", "quantity": 1}),
            json!({"product_id": 7, "quantity": 1}),
        ] {
            app.post("/api/factory/orders", bad).await.expect(404);
        }
        app.post(
            "/api/factory/orders",
            json!({"product_id": product_id, "quantity": 0}),
        )
        .await
        .expect(400);
        app.post("/api/factory/orders", json!({"quantity": 1}))
            .await
            .expect(400);
        assert_eq!(app.scalar("SELECT COUNT(*) FROM work_orders").await, 0);

        // A product without a BOM still gets its order (the original had
        // no BOMs).
        let res = app
            .post(
                "/api/factory/orders",
                json!({"product_id": product_id, "quantity": 3}),
            )
            .await
            .expect(201);
        let o = res.json["order"].clone();
        for k in [
            "id",
            "product_id",
            "quantity",
            "status",
            "created_by",
            "created_at",
        ] {
            assert!(o.get(k).is_some(), "order lacks {k}: {o}");
        }
        assert_eq!(o["product_id"], json!(product_id));
        assert_eq!(o["quantity"], 3);
        assert_eq!(o["status"], "planned");
        assert_eq!(o["created_by"], "manager-user");
        let id = o["id"].as_str().unwrap().to_owned();

        let list = app.get("/api/factory/orders").await.expect(200);
        assert_eq!(list.json["orders"].as_array().unwrap().len(), 1);
        assert_eq!(list.json["orders"][0]["id"], json!(id));
        let one = app
            .get(&format!("/api/factory/orders/{id}"))
            .await
            .expect(200);
        assert_eq!(one.json["success"], true);
        assert_eq!(one.json["quantity"], 3);
        assert_eq!(one.json["product_id"], json!(product_id));
        app.get("/api/factory/orders/0190a0a0-0000-7000-8000-000000000000")
            .await
            .expect(404);
        // It is a work order like any other: it runs through the state
        // machine and produces stock at zero cost.
        for a in ["release", "start", "complete"] {
            app.act(&id, a).await.expect(200);
        }
        let p = app
            .get(&format!("/api/factory/products/{product_id}"))
            .await
            .expect(200);
        assert_eq!(p.json["quantity"], 3);
        app.assert_consistent().await;
    })
    .await;
}

#[tokio::test]
async fn the_summary_has_every_figure_the_dashboard_reads() {
    each_backend(|app: App| async move {
        let s = app.get("/api/factory/summary").await.expect(200);
        assert_eq!(
            s.json["work_orders_by_status"],
            json!({"planned": 0, "released": 0, "started": 0, "completed": 0, "cancelled": 0})
        );
        assert_eq!(s.json["in_progress"], 0);
        assert_eq!(s.json["items"], 0);
        assert_eq!(s.json["stock_value"], "0.00");
        assert_eq!(s.json["low_stock"], json!([]));

        app.item("INK", "raw_material", "l", "10").await;
        app.item("PEN", "finished_good", "pcs", "0").await;
        app.bom("PEN", "1", &[("INK", "0.01")]).await.expect(201);
        app.receive("INK", "4", "2.50").await;
        let a = app.work_order("PEN", "10").await;
        let b = app.work_order("PEN", "10").await;
        app.work_order("PEN", "10").await;
        app.act(&a, "release").await.expect(200);
        app.act(&b, "release").await.expect(200);
        app.act(&b, "start").await.expect(200);
        let s = app.get("/api/factory/summary").await.expect(200);
        assert_eq!(s.json["work_orders_by_status"]["planned"], 1);
        assert_eq!(s.json["work_orders_by_status"]["released"], 1);
        assert_eq!(s.json["work_orders_by_status"]["started"], 1);
        assert_eq!(s.json["in_progress"], 2);
        assert_eq!(s.json["items"], 2);
        assert_eq!(s.json["stock_value"], "10.00");
        assert_eq!(s.json["low_stock"][0]["sku"], "INK");
        assert_eq!(s.json["low_stock"][0]["on_hand"], "4.000");
    })
    .await;
}
