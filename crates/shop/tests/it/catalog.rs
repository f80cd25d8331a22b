//! The public catalog: the seed, search, filters, sort, pagination,
//! categories, and answers to garbage.

use marimo_platform::auth::Role;
use marimo_testkit::each_backend;
use serde_json::{Value, json};

use crate::support::{App, GADGET, WIDGET};

fn names(res: &Value) -> Vec<String> {
    res["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn list(app: &App, query: &str) -> Value {
    app.http()
        .get(&format!("/api/shop/products{query}"))
        .send()
        .await
        .expect(200)
        .json
}

#[tokio::test]
async fn the_original_catalog_is_seeded() {
    each_backend(|app: App| async move {
        let res = list(&app, "").await;
        assert_eq!(res["success"], true);
        assert_eq!(res["total"], 2);
        assert_eq!(
            (res["page"].clone(), res["limit"].clone()),
            (json!(1), json!(20))
        );
        let widget = app
            .http()
            .get(&format!("/api/shop/products/{WIDGET}"))
            .send()
            .await
            .expect(200)
            .json;
        // The product itself at the top level, as the original API.
        assert_eq!(widget["success"], true);
        assert_eq!(widget["name"], "Premium Widget");
        assert_eq!(widget["price"], "29.99");
        assert_eq!(widget["currency"], "USD");
        assert_eq!(widget["stock"], 50);
        assert_eq!(widget["category"], "Electronics");
        assert_eq!(widget["sku"], "WIDGET-PREMIUM");
        assert_eq!(widget["active"], true);
        for field in ["id", "description", "image_url"] {
            assert!(widget.get(field).is_some(), "{field}");
        }
        let gadget = app
            .http()
            .get(&format!("/api/shop/products/{GADGET}"))
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(
            (gadget["price"].clone(), gadget["stock"].clone()),
            (json!("49.99"), json!(30))
        );
        let cats = app
            .http()
            .get("/api/shop/categories")
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(
            cats["categories"],
            json!([{"name": "Electronics", "count": 2}])
        );
    })
    .await;
}

#[tokio::test]
async fn search_filters_sort_and_pages() {
    each_backend(|app: App| async move {
        app.product(
            json!({"name": "Cheap Cable", "price": "4.50", "category": "Accessories",
                           "description": "USB cable, 100% copper", "stock": 7}),
        )
        .await;
        app.product(
            json!({"name": "Fancy Lamp", "price": "120", "category": "Home",
                           "description": "A lamp_with underscores"}),
        )
        .await;
        app.product(json!({"name": "Hidden Thing", "price": "1", "active": false}))
            .await;
        app.product(json!({"name": "Yen Gizmo", "price": "500", "currency": "JPY"}))
            .await;

        // Inactive products are not public.
        assert_eq!(list(&app, "").await["total"], 5);
        // Name and description, case-insensitively.
        assert_eq!(names(&list(&app, "?q=WIDGET").await), ["Premium Widget"]);
        assert_eq!(names(&list(&app, "?q=copper").await), ["Cheap Cable"]);
        // Wildcards match themselves only.
        assert_eq!(names(&list(&app, "?q=100%25").await), ["Cheap Cable"]);
        assert_eq!(list(&app, "?q=%25").await["total"], 1);
        assert_eq!(names(&list(&app, "?q=lamp_with").await), ["Fancy Lamp"]);
        assert_eq!(list(&app, "?q=_").await["total"], 1);
        assert_eq!(list(&app, "?q=nothing-like-this").await["total"], 0);

        assert_eq!(list(&app, "?category=Electronics").await["total"], 2);
        assert_eq!(names(&list(&app, "?category=Home").await), ["Fancy Lamp"]);

        // Price bounds are decimals in USD unless a currency is given.
        assert_eq!(
            names(&list(&app, "?min_price=29.99&max_price=50&sort=price").await),
            ["Premium Widget", "Deluxe Gadget"]
        );
        assert_eq!(names(&list(&app, "?max_price=5").await), ["Cheap Cable"]);
        assert_eq!(
            names(&list(&app, "?currency=JPY&min_price=100").await),
            ["Yen Gizmo"]
        );
        assert_eq!(names(&list(&app, "?currency=jpy").await), ["Yen Gizmo"]);

        assert_eq!(
            names(&list(&app, "?currency=USD&sort=price").await),
            [
                "Cheap Cable",
                "Premium Widget",
                "Deluxe Gadget",
                "Fancy Lamp"
            ]
        );
        assert_eq!(
            names(&list(&app, "?currency=USD&sort=-price").await),
            [
                "Fancy Lamp",
                "Deluxe Gadget",
                "Premium Widget",
                "Cheap Cable"
            ]
        );
        assert_eq!(
            names(&list(&app, "").await),
            [
                "Cheap Cable",
                "Deluxe Gadget",
                "Fancy Lamp",
                "Premium Widget",
                "Yen Gizmo"
            ]
        );
        let newest = names(&list(&app, "?sort=newest").await);
        assert_eq!(newest[0], "Yen Gizmo");
        assert_eq!(newest[4], "Premium Widget");

        // Pages do not overlap and cover everything.
        let mut seen = Vec::new();
        for page in 1..=3 {
            let res = list(&app, &format!("?limit=2&page={page}")).await;
            assert_eq!(res["total"], 5);
            assert_eq!(res["limit"], 2);
            seen.extend(names(&res));
        }
        assert_eq!(seen, names(&list(&app, "").await));
        assert_eq!(list(&app, "?limit=2&page=9").await["products"], json!([]));

        let cats = app
            .http()
            .get("/api/shop/categories")
            .send()
            .await
            .expect(200)
            .json;
        assert_eq!(
            cats["categories"],
            json!([
                {"name": "Accessories", "count": 1},
                {"name": "Electronics", "count": 2},
                {"name": "Home", "count": 1},
            ])
        );

        // Staff may ask for inactive products; the public may not.
        let admin = app.user(Role::Admin);
        let res = app
            .http()
            .get("/api/shop/products?include_inactive=true")
            .bearer(&admin.token)
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["total"], 6);
        assert_eq!(list(&app, "?include_inactive=true").await["total"], 5);
    })
    .await;
}

#[tokio::test]
async fn garbage_gets_404_or_400_never_500() {
    each_backend(|app: App| async move {
        for path in [
            "/api/shop/products/not-a-uuid",
            "/api/shop/products/0193a0c0-0000-7000-8000-00000000ffff",
            "/api/shop/products/%FF%FE",
            "/api/shop/products/'%20OR%201=1--",
        ] {
            let res = app.http().get(path).send().await;
            assert_eq!(res.status, 404, "{path}: {}", res.text);
            assert_eq!(res.json["success"], false);
            assert_eq!(res.code(), "NOT_FOUND");
        }
        for query in [
            "?min_price=abc",
            "?max_price=1e3",
            "?min_price=-1",
            "?max_price=1.001",
            "?min_price=10&max_price=5",
            "?sort=random",
            "?page=0",
            "?limit=101",
            "?limit=-1",
            "?page=x",
            "?currency=XXX",
        ] {
            let res = app
                .http()
                .get(&format!("/api/shop/products{query}"))
                .send()
                .await;
            assert_eq!(res.status, 400, "{query}: {}", res.text);
            assert_eq!(res.code(), "VALIDATION_ERROR", "{query}");
        }
        let long = "x".repeat(201);
        app.http()
            .get(&format!("/api/shop/products?q={long}"))
            .send()
            .await
            .expect(400);
    })
    .await;
}
