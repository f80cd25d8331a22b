//! Concurrent orders never oversell: the reservation is one conditional
//! update inside the order's transaction.

use marimo_platform::auth::Role;
use marimo_testkit::each_backend;
use serde_json::json;

use crate::support::{App, line};

#[tokio::test]
async fn a_hundred_concurrent_orders_for_ten_units_sell_exactly_ten() {
    each_backend(|app: App| async move {
        let product = app.product(json!({"name": "Scarce", "price": "5.00", "stock": 10})).await;
        let id = product["id"].as_str().unwrap().to_owned();
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let http = app.http().clone();
                let token = app.user(Role::User).token;
                let id = id.clone();
                tokio::spawn(async move {
                    http.post("/api/shop/orders")
                        .bearer(&token)
                        .json(json!({"items": [line(&id, 1)]}))
                        .send()
                        .await
                })
            })
            .collect();
        let (mut created, mut refused) = (0, 0);
        for t in futures_util::future::join_all(tasks).await {
            let res = t.unwrap();
            match res.status {
                201 => created += 1,
                409 => {
                    assert_eq!(res.code(), "INSUFFICIENT_STOCK");
                    assert_eq!(res.json["error"]["details"]["available"], 0);
                    refused += 1;
                }
                other => panic!("{}: unexpected {other}: {}", app.backend, res.text),
            }
        }
        assert_eq!((created, refused), (10, 90), "{}", app.backend);
        assert_eq!(app.stock(&id).await, 0);
        let sold: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM order_items WHERE product_id = $1",
        )
        .bind(&id)
        .fetch_one(app.pool())
        .await
        .unwrap();
        assert_eq!(sold, 10);
        assert_eq!(app.events("shop.order.placed").await.len(), 10);
    })
    .await;
}

#[tokio::test]
async fn concurrent_multi_line_orders_keep_stock_exact() {
    each_backend(|app: App| async move {
        let a = app.product(json!({"name": "A", "price": "1.00", "stock": 40})).await;
        let b = app.product(json!({"name": "B", "price": "2.00", "stock": 25})).await;
        let (a, b) = (
            a["id"].as_str().unwrap().to_owned(),
            b["id"].as_str().unwrap().to_owned(),
        );
        // Lines in both orders (a, b) and (b, a): no deadlock on PostgreSQL.
        let tasks: Vec<_> = (0..60i64)
            .map(|i| {
                let http = app.http().clone();
                let token = app.user(Role::User).token;
                let items = if i % 2 == 0 {
                    json!([line(&a, 1 + i % 3), line(&b, 1 + i % 2)])
                } else {
                    json!([line(&b, 1 + i % 2), line(&a, 1 + i % 3)])
                };
                tokio::spawn(async move {
                    http.post("/api/shop/orders")
                        .bearer(&token)
                        .json(json!({ "items": items }))
                        .send()
                        .await
                })
            })
            .collect();
        let mut created = 0;
        for t in futures_util::future::join_all(tasks).await {
            let res = t.unwrap();
            assert!(
                res.status == 201 || res.status == 409,
                "{}: {} {}",
                app.backend,
                res.status,
                res.text
            );
            created += i64::from(res.status == 201);
        }
        assert!(created > 0);
        let sold = |id: String| {
            let pool = app.pool().clone();
            async move {
                sqlx::query_scalar::<_, i64>(
                    "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM order_items WHERE product_id = $1",
                )
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
            }
        };
        // What was sold plus what is left is what there was: nothing lost,
        // nothing oversold, refused orders reserved nothing.
        assert_eq!(sold(a.clone()).await + app.stock(&a).await, 40);
        assert_eq!(sold(b.clone()).await + app.stock(&b).await, 25);
        assert!(app.stock(&a).await >= 0 && app.stock(&b).await >= 0);
    })
    .await;
}
