//! The OpenAPI document against the routes, and the refusal of unknown
//! query parameters and body fields (issue 18), with the original API's
//! `price` in an order line still accepted and ignored.

use marimo_platform::auth::Role;
use marimo_testkit::{Backend, openapi};
use serde_json::json;

use crate::support::{App, line};

#[tokio::test]
async fn every_route_is_documented_and_every_operation_routed() {
    let app = App::start(&Backend::Sqlite).await;
    let doc = openapi::assert_coverage(
        app.http(),
        "shop",
        concat!(env!("CARGO_MANIFEST_DIR"), "/src/api"),
    )
    .await;
    // The catalogue is public (anonymous or a bearer), orders are not.
    let list = &doc["paths"]["/api/v1/shop/products"]["get"];
    assert_eq!(list["security"], json!([{}, {"bearer": []}]));
    assert!(
        doc["paths"]["/api/v1/shop/orders"]["post"]
            .get("security")
            .is_none()
    );
    assert_eq!(doc["security"], json!([{"bearer": []}]));
    // The ignored `price` is documented as such.
    let line = &doc["components"]["schemas"]["OrderLine"]["properties"]["price"];
    assert_eq!(line["deprecated"], true);
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_by_name() {
    let app = App::start(&Backend::Sqlite).await;
    // The example: `search=` instead of `q=` used to list everything.
    let res = app
        .http()
        .get("/api/shop/products?search=widget")
        .send()
        .await
        .expect(400);
    assert_eq!(res.code(), "VALIDATION_ERROR");
    assert_eq!(res.json["message"], "unknown query parameter: search");
    assert_eq!(res.json["error"]["details"]["field"], "search");
    assert!(
        res.json["error"]["details"]["allowed"]
            .as_array()
            .unwrap()
            .contains(&json!("q"))
    );
    let res = app
        .http()
        .get("/api/v1/shop/products?q=widget")
        .send()
        .await
        .expect(200);
    assert_eq!(res.json["products"][0]["name"], "Premium Widget");
}

#[tokio::test]
async fn unknown_body_fields_are_refused_but_a_line_price_is_ignored() {
    let app = App::start(&Backend::Sqlite).await;
    let customer = app.user(Role::User);
    let product = app
        .product(json!({"name": "Gizmo", "price": "10.00", "stock": 5}))
        .await;
    let id = product["id"].as_str().unwrap();
    let res = app
        .http()
        .post("/api/v1/shop/orders")
        .bearer(&customer.token)
        .json(json!({"items": [line(id, 1)], "coupon": "FREE"}))
        .send()
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["field"], "coupon");
    let res = app
        .http()
        .post("/api/v1/shop/orders")
        .bearer(&customer.token)
        .json(json!({"items": [{"product_id": id, "qty": 1}]}))
        .send()
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["field"], "items[0].qty");
    assert_eq!(app.stock(id).await, 5, "nothing was reserved");
    // The original clients send a price: accepted, and the catalog's wins.
    let res = app
        .http()
        .post("/api/v1/shop/orders")
        .bearer(&customer.token)
        .json(json!({"items": [{"product_id": id, "quantity": 2, "price": "0.01"}]}))
        .send()
        .await
        .expect(201);
    assert_eq!(res.json["order"]["items"][0]["price"], "10.00");
    assert_eq!(res.json["order"]["subtotal"], "20.00");
    // Products: a typo is named.
    let admin = app.user(Role::Admin);
    let res = app
        .http()
        .post("/api/v1/shop/admin/products")
        .bearer(&admin.token)
        .json(json!({"name": "X", "price": "1.00", "stok": 3}))
        .send()
        .await
        .expect(400);
    assert_eq!(res.json["error"]["details"]["field"], "stok");
}
