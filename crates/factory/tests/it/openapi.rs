//! The OpenAPI document against the routes, and the refusal of unknown
//! query parameters and body fields (issue 18).

use marimo_testkit::{Backend, openapi};
use serde_json::json;

use crate::support::app;

#[tokio::test]
async fn every_route_is_documented_and_every_operation_routed() {
    let app = app(&Backend::Sqlite).await;
    let doc = openapi::assert_coverage(
        &app.http,
        "factory",
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/api"),
    )
    .await;
    // Typed bodies: a receipt's request and answer are schemas, and it
    // takes an Idempotency-Key.
    let post = &doc["paths"]["/api/v1/factory/stock/receipts"]["post"];
    assert_eq!(
        openapi::request_schema(post),
        "#/components/schemas/ReceiptBody"
    );
    assert_eq!(
        openapi::answer_schema(post, "201"),
        "#/components/schemas/MovePosted"
    );
    assert!(openapi::takes_idempotency_key(post));
    openapi::assert_strict_bodies(
        &doc,
        &[
            "ItemBody",
            "WarehouseBody",
            "ReceiptBody",
            "IssueBody",
            "AdjustmentBody",
            "TransferBody",
            "BomBody",
            "ComponentBody",
            "WorkOrderBody",
            "CompleteBody",
            "ProductBody",
            "StatusBody",
            "OrderBody",
            "HoldBody",
            "HoldLine",
        ],
    );
    // Quantities and costs are exact decimals: a string with the
    // decimal pattern, or a JSON number, as `Decimal` reads them.
    let qty = openapi::property(&doc, "ReceiptBody", "qty").to_string();
    assert!(qty.contains("#/components/schemas/Decimal"), "{qty}");
    let decimal = doc["components"]["schemas"]["Decimal"]["oneOf"][0].clone();
    assert_eq!(decimal["type"], "string");
    assert_eq!(decimal["pattern"], r"^\s*[-+]?[0-9]+(\.[0-9]+)?\s*$");
    // The item's rules, as `domain::items` enforces them.
    assert_eq!(
        doc["components"]["schemas"]["ItemKind"]["enum"],
        json!(["raw_material", "component", "finished_good"])
    );
    let sku = openapi::property(&doc, "ItemBody", "sku");
    assert_eq!(sku["pattern"], r"^\s*[A-Za-z0-9._-]{1,64}\s*$");
    let name = openapi::property(&doc, "ItemBody", "name");
    assert_eq!(name["maxLength"], 200);
    // The original API's answers keep the product and order at the top
    // level of the body.
    let product = &doc["paths"]["/api/v1/factory/products/{id}"]["get"];
    assert_eq!(
        openapi::answer_schema(product, "200"),
        "#/components/schemas/ProductAnswer"
    );
    // A list declares its filters and the page.
    let names: Vec<&str> = doc["paths"]["/api/v1/factory/items"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["kind", "active", "page", "limit"]);
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_by_name() {
    let app = app(&Backend::Sqlite).await;
    for prefix in ["/api/v1", "/api"] {
        let res = app
            .get(&format!(
                "{prefix}/factory/items?kind=raw_material&search=steel"
            ))
            .await
            .expect(400);
        assert_eq!(res.code(), "VALIDATION_ERROR");
        assert_eq!(res.json["message"], "unknown query parameter: search");
        assert_eq!(res.json["error"]["details"]["unknown"], json!(["search"]));
        assert_eq!(
            res.json["error"]["details"]["allowed"],
            json!(["active", "kind", "limit", "page"])
        );
    }
    // An operation without parameters takes none.
    let res = app.get("/api/v1/factory/products?page=2").await.expect(400);
    assert_eq!(res.json["error"]["details"]["unknown"], json!(["page"]));
    // Declared ones pass.
    app.get("/api/v1/factory/items?kind=raw_material&active=true&page=1&limit=5")
        .await
        .expect(200);
    app.get("/api/v1/factory/stock/moves?sku=STEEL&from=2026-01-01&to=2026-12-31&page=1")
        .await
        .expect(200);
}

#[tokio::test]
async fn unknown_body_fields_are_refused_by_name() {
    let app = app(&Backend::Sqlite).await;
    // A typo of a field is refused, not silently dropped.
    let res = app
        .post(
            "/api/v1/factory/items",
            json!({"sku": "STEEL", "name": "Steel", "kind": "raw_material", "reorder": "5"}),
        )
        .await
        .expect(400);
    assert_eq!(res.code(), "VALIDATION_ERROR");
    assert_eq!(res.json["error"]["details"]["field"], "reorder");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM items").await, 0);
    // The documented other names still work: `unit` for `uom`.
    app.post(
        "/api/v1/factory/items",
        json!({"sku": "STEEL", "name": "Steel", "kind": "raw_material", "unit": "kg"}),
    )
    .await
    .expect(201);
    let res = app
        .post(
            "/api/v1/factory/stock/receipts",
            json!({"sku": "STEEL", "qty": "5", "unit_cost": "1.00", "price": "1.00"}),
        )
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["field"], "price");
    // A nested line too.
    let res = app
        .post(
            "/api/v1/factory/boms",
            json!({"product_sku": "STEEL", "components": [{"sku": "STEEL", "quantity": "1"}]}),
        )
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["field"], "quantity");
    // The original API's bodies as well.
    let res = app
        .post(
            "/api/factory/products",
            json!({"name": "Widget", "sku": "W-1", "qty": 3}),
        )
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["field"], "qty");
    let res = app
        .post(
            "/api/factory/orders",
            json!({"product_id": "x", "quantity": 1, "priority": "high"}),
        )
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["field"], "priority");
    // Nothing but the one item was written: no moves, no orders.
    assert_eq!(app.scalar("SELECT COUNT(*) FROM items").await, 1);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM stock_moves").await, 0);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM work_orders").await, 0);
}

#[tokio::test]
async fn a_completion_body_may_be_null_as_documented() {
    let app = app(&Backend::Sqlite).await;
    app.raw("STEEL").await;
    app.item("W1", "finished_good", "pcs", "0").await;
    app.receive("STEEL", "10", "1.00").await;
    app.bom("W1", "1", &[("STEEL", "2")]).await.expect(201);
    let id = app.work_order("W1", "3").await;
    app.act(&id, "release").await.expect(200);
    app.act(&id, "start").await.expect(200);
    // The document's request body is `null` or a CompleteBody: `null`
    // is no body, i.e. everything planned produced and no scrap.
    let done = app
        .post(
            &format!("/api/v1/factory/work-orders/{id}/complete"),
            json!(null),
        )
        .await
        .expect(200);
    assert_eq!(done.json["work_order"]["status"], "completed");
    assert_eq!(done.json["work_order"]["produced_qty"], "3.000");
    assert_eq!(done.json["work_order"]["scrap_qty"], "0.000");
    // 3 widgets of 2 steel each: 6 of the 10 received are issued.
    let (on_hand, ..) = app.level("STEEL").await;
    assert_eq!(on_hand, "4.000");
}
