//! Tenancy (issue 19): two shops on one deployment. Each sees only its own
//! catalog, orders, payments, settings and figures; ids of the other's
//! rows lead nowhere; events act in their own tenant; the same SKU and
//! Idempotency-Key serve both; and on PostgreSQL the row policies alone,
//! for an application role, keep a query without its tenant filter to
//! its own tenant's rows.

use marimo_platform::{
    auth::Role, bus::Envelope, clock, ids, service::ServiceName, tenant::TenantId,
};
use marimo_shop::domain::payment::callback_signature;
use marimo_testkit::{AppRole, Backend, Res, backends, eventually};
use serde_json::{Value, json};

use crate::support::{App, GADGET, User, WIDGET, delivered, line, publish_in};

const SECRET: &str = "provider-secret-0123456789abcdef0123456789";

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn globex() -> TenantId {
    TenantId::parse("globex").unwrap()
}

async fn start(backend: &Backend) -> App {
    App::start_with(backend, &[("PAYMENT_WEBHOOK_SECRET", SECRET)]).await
}

/// An anonymous GET in the shop of `tenant` (`X-Marimo-Tenant`), or the
/// default tenant without one.
async fn anonymous(app: &App, path: &str, tenant: Option<&TenantId>) -> Res {
    let req = app.http().get(path);
    match tenant {
        Some(t) => req.header("x-marimo-tenant", t.as_str()).send().await,
        None => req.send().await,
    }
}

async fn get(app: &App, user: &User, path: &str) -> Res {
    app.http().get(path).bearer(&user.token).send().await
}

async fn create(app: &App, admin: &User, fields: Value) -> Res {
    app.http()
        .post("/api/shop/admin/products")
        .bearer(&admin.token)
        .json(fields)
        .send()
        .await
}

async fn place_keyed(app: &App, user: &User, key: &str, items: Value) -> Res {
    app.http()
        .post("/api/shop/orders")
        .bearer(&user.token)
        .header("idempotency-key", key)
        .json(json!({ "items": items }))
        .send()
        .await
}

async fn provider_callback(app: &App, body: &Value) -> Res {
    let raw = body.to_string();
    let ts = clock::unix_now().to_string();
    app.http()
        .post("/api/shop/payments/callback")
        .header("content-type", "application/json")
        .header("x-payment-timestamp", &ts)
        .header(
            "x-payment-signature",
            &callback_signature(SECRET.as_bytes(), &ts, raw.as_bytes()),
        )
        .body(raw)
        .send()
        .await
}

/// `SELECT COUNT(*) FROM <table> WHERE tenant_id = $1`, as the superuser.
async fn rows_of(app: &App, table: &str, tenant: &TenantId) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .fetch_one(app.pool())
        .await
        .unwrap()
}

async fn status_of(app: &App, order_id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_one(app.pool())
        .await
        .unwrap()
}

/// One shop's whole day: its catalog, a tax rate of its own, an order by
/// a customer, payment, and the lists and figures afterwards.
struct Shop {
    tenant: TenantId,
    admin: User,
    staff: User,
    customer: User,
    mug: String,
    order: String,
}

#[tokio::test]
async fn two_tenants_run_the_shop_side_by_side_and_each_sees_only_its_own() {
    for backend in backends() {
        let app = start(&backend).await;
        let (a, g) = (acme(), globex());

        // New shops start empty: the demo catalog is the default tenant's.
        let demo = anonymous(&app, "/api/shop/products", None)
            .await
            .expect(200);
        assert_eq!(demo.json["total"], 2);
        // A cache must keep each shop's catalog apart.
        let vary = demo.header("vary").unwrap_or_default().to_owned();
        assert!(
            vary.contains("x-marimo-tenant") && vary.contains("authorization"),
            "{vary}"
        );
        for t in [&a, &g] {
            let page = anonymous(&app, "/api/shop/products", Some(t))
                .await
                .expect(200)
                .json;
            assert_eq!(page["total"], 0, "{t}");
            anonymous(&app, &format!("/api/shop/products/{WIDGET}"), Some(t))
                .await
                .expect(404);
        }
        let bad = app
            .http()
            .get("/api/shop/products")
            .header("x-marimo-tenant", "Not A Tenant");
        bad.send().await.expect(400);

        // Each shop's own tax rate, through its own config event.
        let config = app.peer(ServiceName::Config).await;
        let rate = publish_in(
            &config,
            &a,
            Envelope::new(
                "config",
                "config.setting.changed",
                json!({"key": "tax_rate", "version": 1, "value_type": "decimal", "value": "10"}),
            ),
        )
        .await;
        delivered(&config, &rate).await;
        let acme_admin = app.user_in(Role::Admin, &a);
        eventually("acme's tax rate", || async {
            get(&app, &acme_admin, "/api/shop/admin/settings")
                .await
                .expect(200)
                .json["settings"]["tax_rate"]
                == "10"
        })
        .await;

        // The same SKU in both shops; a second one within a shop is refused.
        let mut shops = Vec::new();
        for (t, name, price, stock, category) in [
            (&a, "Acme mug", "10.00", 20, "Kitchen"),
            (&g, "Globex mug", "4.50", 10, "Office"),
        ] {
            let admin = app.user_in(Role::Admin, t);
            let mug = create(
                &app,
                &admin,
                json!({"name": name, "price": price, "stock": stock, "sku": "MUG-1", "category": category}),
            )
            .await
            .expect(201)
            .json["product"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let again = create(
                &app,
                &admin,
                json!({"name": "Twin", "price": "1", "sku": "MUG-1"}),
            );
            assert_eq!(
                again.await.expect(409).json["error"]["details"]["field"],
                "sku"
            );
            shops.push(Shop {
                tenant: t.clone(),
                staff: app.user_in(Role::ShopManager, t),
                customer: app.user_in(Role::User, t),
                admin,
                mug,
                order: String::new(),
            });
        }
        // The default tenant's SKU is still its own (no clash either way).
        assert_eq!(
            rows_of(&app, "products", &TenantId::default_tenant()).await,
            2
        );

        // Both shops take an order at the same moment.
        let (ra, rg) = tokio::join!(
            app.place(&shops[0].customer, json!([line(&shops[0].mug, 3)])),
            app.place(&shops[1].customer, json!([line(&shops[1].mug, 2)])),
        );
        let (oa, og) = (
            ra.expect(201).json["order"].clone(),
            rg.expect(201).json["order"].clone(),
        );
        // Acme: 3 × 10.00 = 30.00, tax 10 % = 3.00, total 33.00.
        assert_eq!(
            (
                oa["subtotal"].as_str(),
                oa["tax"].as_str(),
                oa["total"].as_str()
            ),
            (Some("30.00"), Some("3.00"), Some("33.00"))
        );
        // Globex: 2 × 4.50 = 9.00, no tax set, total 9.00.
        assert_eq!(
            (
                og["subtotal"].as_str(),
                og["tax"].as_str(),
                og["total"].as_str()
            ),
            (Some("9.00"), Some("0.00"), Some("9.00"))
        );
        shops[0].order = oa["id"].as_str().unwrap().to_owned();
        shops[1].order = og["id"].as_str().unwrap().to_owned();

        // Acme's staff record the payment; Globex's provider calls back
        // (no token: the shop finds the order's tenant itself).
        let paid_by_provider = json!({"event_id": "evt-1", "type": "payment.succeeded",
                                      "order_id": shops[1].order, "amount": "9.00", "currency": "USD"});
        let (paid, called) = tokio::join!(
            app.act(&shops[0].staff, &shops[0].order, "pay"),
            provider_callback(&app, &paid_by_provider),
        );
        paid.expect(200);
        assert_eq!(called.expect(200).json["order"]["status"], "paid");
        // The same provider event id in the other shop is its own event.
        let acme_pending = app
            .order(&shops[0].customer, json!([line(&shops[0].mug, 1)]))
            .await;
        let pending_id = acme_pending["id"].as_str().unwrap();
        let again = provider_callback(
            &app,
            &json!({"event_id": "evt-1", "type": "payment.succeeded", "order_id": pending_id,
                    "amount": "11.00", "currency": "USD"}),
        )
        .await
        .expect(200);
        assert_eq!(
            again.json["order"]["status"], "paid",
            "1 × 10.00 + 10 % = 11.00"
        );
        app.act(&shops[0].staff, &shops[0].order, "ship")
            .await
            .expect(200);

        // Lists, reads and figures: each shop its own.
        for (shop, mine_total, orders_total, revenue, stock, category) in [
            // Acme: 33.00 + 11.00 paid; 20 − 3 − 1 mugs left.
            (&shops[0], 2, 2, "44.00", 16, "Kitchen"),
            // Globex: 9.00 paid; 10 − 2 left.
            (&shops[1], 1, 1, "9.00", 8, "Office"),
        ] {
            let t = &shop.tenant;
            let mine = get(&app, &shop.customer, "/api/shop/orders")
                .await
                .expect(200)
                .json;
            assert_eq!(mine["total"], mine_total, "{t}");
            let all = get(&app, &shop.admin, "/api/shop/admin/orders")
                .await
                .expect(200)
                .json;
            assert_eq!(all["total"], orders_total, "{t}");
            assert!(
                all["orders"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o["id"] == shop.order.as_str())
            );
            let catalog = get(&app, &shop.customer, "/api/shop/products")
                .await
                .expect(200)
                .json;
            assert_eq!(catalog["total"], 1, "{t}");
            assert_eq!(catalog["products"][0]["id"], shop.mug.as_str());
            assert_eq!(catalog["products"][0]["stock"], stock, "{t}");
            let anon = anonymous(&app, "/api/shop/products", Some(t))
                .await
                .expect(200)
                .json;
            assert_eq!(anon["products"][0]["id"], shop.mug.as_str());
            let cats = anonymous(&app, "/api/shop/categories", Some(t))
                .await
                .expect(200)
                .json;
            assert_eq!(
                cats["categories"],
                json!([{"name": category, "count": 1}]),
                "{t}"
            );
            let detail = get(
                &app,
                &shop.customer,
                &format!("/api/shop/orders/{}", shop.order),
            )
            .await
            .expect(200)
            .json;
            assert_eq!(detail["payments"].as_array().unwrap().len(), 1, "{t}");
            let s = get(&app, &app.user_in(Role::Accountant, t), "/api/shop/summary")
                .await
                .expect(200)
                .json;
            assert_eq!(s["total_orders"], orders_total, "{t}");
            assert_eq!(s["revenue"], json!({"USD": revenue}), "{t}");
            assert_eq!(s["active_products"], 1, "{t}");
            assert_eq!(s["low_stock_products"], 0, "{t}");
        }
        let settings = get(&app, &shops[1].admin, "/api/shop/admin/settings")
            .await
            .expect(200)
            .json;
        assert_eq!(
            settings["settings"]["tax_rate"], "0",
            "globex keeps its own (default) rate"
        );
        // The default tenant saw none of it.
        let s = get(&app, &app.user(Role::Accountant), "/api/shop/summary")
            .await
            .expect(200)
            .json;
        assert_eq!(s["total_orders"], 0);
        assert_eq!(s["active_products"], 2);
        assert_eq!(app.stock(WIDGET).await, 50);
        let settings = get(&app, &app.user(Role::Admin), "/api/shop/admin/settings")
            .await
            .expect(200)
            .json;
        assert_eq!(settings["settings"]["tax_rate"], "0");

        // Every business row written is stamped with its shop.
        assert_eq!(rows_of(&app, "orders", &a).await, 2);
        assert_eq!(rows_of(&app, "order_items", &a).await, 2);
        assert_eq!(rows_of(&app, "payments", &a).await, 2);
        assert_eq!(
            rows_of(&app, "order_events", &a).await,
            5,
            "2 placed, 2 paid, 1 shipped"
        );
        assert_eq!(rows_of(&app, "payment_callbacks", &a).await, 1);
        assert_eq!(rows_of(&app, "shop_settings", &a).await, 1);
        assert_eq!(rows_of(&app, "orders", &g).await, 1);
        assert_eq!(rows_of(&app, "payments", &g).await, 1);
        assert_eq!(rows_of(&app, "payment_callbacks", &g).await, 1);
        assert_eq!(rows_of(&app, "shop_settings", &g).await, 0);
        // And the events say whose they are.
        for (shop, n) in [(&shops[0], 2), (&shops[1], 1)] {
            let placed: Vec<Value> = app
                .events("shop.order.placed")
                .await
                .into_iter()
                .filter(|e| e["tenant"] == shop.tenant.as_str())
                .collect();
            assert_eq!(placed.len(), n, "{}", shop.tenant);
        }
    }
}

#[tokio::test]
async fn the_other_tenants_rows_are_not_found_by_id_and_nothing_changes() {
    for backend in backends() {
        let app = start(&backend).await;
        let (a, g) = (acme(), globex());
        let acme_admin = app.user_in(Role::Admin, &a);
        let mug = create(
            &app,
            &acme_admin,
            json!({"name": "Acme mug", "price": "10.00", "stock": 20}),
        )
        .await
        .expect(201)
        .json["product"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let ann = app.user_in(Role::User, &a);
        let order = app.order(&ann, json!([line(&mug, 2)])).await;
        let id = order["id"].as_str().unwrap().to_owned();

        // Globex's admin, staff and customer, and its anonymous visitors,
        // try every route with Acme's ids.
        let intruders = [
            app.user_in(Role::Admin, &g),
            app.user_in(Role::ShopManager, &g),
            app.user_in(Role::User, &g),
        ];
        for who in &intruders {
            get(&app, who, &format!("/api/shop/orders/{id}"))
                .await
                .expect(404);
            get(&app, who, &format!("/api/shop/products/{mug}"))
                .await
                .expect(404);
            for action in ["pay", "ship", "deliver", "cancel"] {
                let res = app.act(who, &id, action).await;
                assert_eq!(res.status, 404, "{action} by {:?}", who.email);
            }
            let res = app.place(who, json!([line(&mug, 1)])).await.expect(422);
            assert_eq!(res.json["error"]["details"]["reason"], "unknown");
        }
        let admin = &intruders[0];
        let product_path = format!("/api/shop/admin/products/{mug}");
        app.http()
            .put(&product_path)
            .bearer(&admin.token)
            .json(json!({"price": "0.01", "stock": 0}))
            .send()
            .await
            .expect(404);
        app.http()
            .post(&format!("{product_path}/restock"))
            .bearer(&admin.token)
            .json(json!({"quantity": 5}))
            .send()
            .await
            .expect(404);
        app.http()
            .delete(&product_path)
            .bearer(&admin.token)
            .send()
            .await
            .expect(404);
        anonymous(&app, &format!("/api/shop/products/{mug}"), Some(&g))
            .await
            .expect(404);
        // Nor does the default tenant (an old token) reach it.
        get(
            &app,
            &app.user(Role::Admin),
            &format!("/api/shop/orders/{id}"),
        )
        .await
        .expect(404);
        let other = get(
            &app,
            admin,
            &format!("/api/shop/admin/orders?user_id={}", ann.id),
        )
        .await
        .expect(200);
        assert_eq!(other.json["total"], 0);

        // Nothing changed.
        assert_eq!(status_of(&app, &id).await, "pending");
        assert_eq!(app.stock(&mug).await, 18, "20 − 2 ordered");
        let p = get(&app, &acme_admin, &format!("/api/shop/products/{mug}"))
            .await
            .expect(200)
            .json;
        assert_eq!(p["price"], "10.00");
        assert_eq!(rows_of(&app, "order_events", &a).await, 1);
        assert_eq!(rows_of(&app, "orders", &g).await, 0);

        // A factory event of Globex for Acme's SKU moves Globex's stock
        // only; Acme's own event moves Acme's.
        let linked = json!({"sku": "MUG-1"});
        app.http()
            .put(&format!("/api/shop/admin/products/{mug}"))
            .bearer(&acme_admin.token)
            .json(linked)
            .send()
            .await
            .expect(200);
        let globex_mug = create(
            &app,
            admin,
            json!({"name": "Globex mug", "price": "4.50", "stock": 1, "sku": "MUG-1"}),
        )
        .await
        .expect(201)
        .json["product"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let factory = app.peer(ServiceName::Factory).await;
        let completed = |qty: &str| {
            Envelope::new(
                "factory",
                "factory.work_order.completed",
                json!({"work_order_id": ids::new_id(), "sku": "MUG-1", "qty": qty, "unit_cost": "1.00",
                       "total_cost": "1.00", "currency": "USD", "consumed": []}),
            )
        };
        let env = publish_in(&factory, &g, completed("5")).await;
        delivered(&factory, &env).await;
        eventually("globex's mug to be restocked", || async {
            app.stock(&globex_mug).await == 6
        })
        .await;
        assert_eq!(
            app.stock(&mug).await,
            18,
            "acme's mug untouched by globex's event"
        );
        let env = publish_in(&factory, &a, completed("2")).await;
        delivered(&factory, &env).await;
        eventually("acme's mug to be restocked", || async {
            app.stock(&mug).await == 20
        })
        .await;
        assert_eq!(app.stock(&globex_mug).await, 6);
        // The restock events carry their tenant on.
        let restocked = app.events("shop.product.restocked").await;
        let tenants: Vec<&str> = restocked
            .iter()
            .map(|e| e["tenant"].as_str().unwrap())
            .collect();
        assert_eq!(tenants, ["globex", "acme"]);
        assert_eq!(app.stock(WIDGET).await, 50);
        assert_eq!(app.stock(GADGET).await, 30);
    }
}

#[tokio::test]
async fn skus_and_idempotency_keys_are_per_tenant() {
    for backend in backends() {
        let app = start(&backend).await;
        let (a, g) = (acme(), globex());
        let mut mugs = Vec::new();
        for t in [&a, &g] {
            let admin = app.user_in(Role::Admin, t);
            let res = create(
                &app,
                &admin,
                json!({"name": "Mug", "price": "5.00", "stock": 10, "sku": "WIDGET-PREMIUM"}),
            );
            mugs.push(
                res.await.expect(201).json["product"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        // One person with an account in both shops (and the default one),
        // the same Idempotency-Key everywhere, different orders: each is
        // placed, none is a replay or a key reuse.
        let person = ids::new_id();
        let mut placed = Vec::new();
        for (t, product, qty) in [
            (&a, &mugs[0], 1),
            (&g, &mugs[1], 2),
            (&TenantId::default_tenant(), &WIDGET.to_owned(), 3),
        ] {
            let user = app.user_as(&person, Role::User, t);
            let res = place_keyed(&app, &user, "checkout-1", json!([line(product, qty)]))
                .await
                .expect(201);
            assert_eq!(res.header("idempotent-replayed"), None, "{t}");
            placed.push(res.json["order"]["id"].as_str().unwrap().to_owned());
            // A retry in the same shop replays that shop's answer.
            let again = place_keyed(&app, &user, "checkout-1", json!([line(product, qty)]))
                .await
                .expect(201);
            assert_eq!(again.header("idempotent-replayed"), Some("true"));
            assert_eq!(again.json["order"]["id"], placed.last().unwrap().as_str());
        }
        assert_eq!(app.stock(&mugs[0]).await, 9);
        assert_eq!(app.stock(&mugs[1]).await, 8);
        assert_eq!(app.stock(WIDGET).await, 47);
        let mut keys: Vec<String> =
            sqlx::query_scalar("SELECT caller FROM idempotency_keys WHERE idem_key = 'checkout-1'")
                .fetch_all(app.pool())
                .await
                .unwrap();
        keys.sort();
        let mut expected = vec![
            person.clone(),
            format!("acme/{person}"),
            format!("globex/{person}"),
        ];
        expected.sort();
        assert_eq!(keys, expected);
    }
}

#[tokio::test]
async fn the_expiry_sweep_expires_each_tenants_orders_in_that_tenant() {
    for backend in backends() {
        let app = start(&backend).await;
        let mut placed = Vec::new();
        for (t, stock) in [(acme(), 4), (globex(), 7)] {
            let admin = app.user_in(Role::Admin, &t);
            let res = create(
                &app,
                &admin,
                json!({"name": "Mug", "price": "2.00", "stock": stock, "sku": "MUG-1"}),
            );
            let mug = res.await.expect(201).json["product"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let order = app
                .order(&app.user_in(Role::User, &t), json!([line(&mug, 3)]))
                .await;
            placed.push((t, mug, order["id"].as_str().unwrap().to_owned(), stock));
        }
        sqlx::query("UPDATE orders SET expires_at = '2000-01-01T00:00:00.000000Z'")
            .execute(app.pool())
            .await
            .unwrap();
        let shop = marimo_shop::start(&app.ctx).await.unwrap();
        // The service's own sweep may get there first: together, exactly two.
        let swept = shop.expire_due(100).await.unwrap();
        assert!(swept <= 2);
        for (t, mug, id, stock) in &placed {
            eventually("the order to expire", || async {
                status_of(&app, id).await == "expired"
            })
            .await;
            assert_eq!(
                app.stock(mug).await,
                *stock,
                "{t}: the 3 reserved units are back"
            );
            let cancelled = app.order_events("shop.order.cancelled", id).await;
            assert_eq!(cancelled.len(), 1, "{t}");
            assert_eq!(cancelled[0]["tenant"], t.as_str());
            assert_eq!(
                rows_of(&app, "order_events", t).await,
                2,
                "{t}: placed, expired"
            );
        }
    }
}

#[tokio::test]
async fn on_postgres_the_row_policies_alone_keep_an_unfiltered_query_to_its_tenant() {
    let Some(backend) = marimo_testkit::postgres() else {
        return;
    };
    let app = start(&backend).await;
    let (a, g) = (acme(), globex());
    // Rows of three tenants in every business table.
    for t in [&a, &g] {
        let admin = app.user_in(Role::Admin, t);
        let res = create(
            &app,
            &admin,
            json!({"name": "Mug", "price": "2.00", "stock": 9, "sku": "MUG-1"}),
        );
        let mug = res.await.expect(201).json["product"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let order = app
            .order(&app.user_in(Role::User, t), json!([line(&mug, 1)]))
            .await;
        let id = order["id"].as_str().unwrap();
        provider_callback(
            &app,
            &json!({"event_id": format!("evt-{t}"), "type": "payment.succeeded", "order_id": id,
                    "amount": "2.00", "currency": "USD"}),
        )
        .await
        .expect(200);
        let config = app.peer(ServiceName::Config).await;
        let env = publish_in(
            &config,
            t,
            Envelope::new(
                "config",
                "config.setting.changed",
                json!({"key": "order_ttl_minutes", "version": 1, "value_type": "decimal", "value": "45"}),
            ),
        )
        .await;
        delivered(&config, &env).await;
        let factory = app.peer(ServiceName::Factory).await;
        let env = publish_in(
            &factory,
            t,
            Envelope::new(
                "factory",
                "factory.stock.changed",
                json!({"sku": "WIDGET-PREMIUM", "warehouse": "MAIN", "on_hand": "2",
                       "reserved": "0", "available": "2", "seq": 1}),
            ),
        )
        .await;
        delivered(&factory, &env).await;
    }
    app.order(&app.user(Role::User), json!([line(WIDGET, 1)]))
        .await;
    eventually("both settings to arrive", || async {
        rows_of(&app, "shop_settings", &a).await == 1
            && rows_of(&app, "shop_settings", &g).await == 1
    })
    .await;

    // An application role, not a superuser (superusers bypass policies).
    let role = AppRole::connect(&app.settings.database, "shop").await;
    let db = &role.db;

    for table in marimo_shop::tenancy::TABLES {
        // Deliberately no tenant filter: only the policy filters.
        let sql = format!("SELECT tenant_id FROM {table}");
        let all = rows_of(&app, table, &a).await
            + rows_of(&app, table, &g).await
            + rows_of(&app, table, &TenantId::default_tenant()).await;
        for t in [&a, &g] {
            let mut tx = db.tenant(t).read().await.unwrap();
            let seen: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_all(&mut *tx)
                .await
                .unwrap();
            assert!(!seen.is_empty(), "{table}: {t} has rows");
            assert!(
                seen.iter().all(|s| s == t.as_str()),
                "{table} leaked to {t}: {seen:?}"
            );
            assert_eq!(seen.len() as i64, rows_of(&app, table, t).await, "{table}");
        }
        // No tenant set: nothing at all; the system scope: everything.
        let none: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert!(none.is_empty(), "{table} without a tenant: {none:?}");
        let mut tx = db.all_tenants().read().await.unwrap();
        let every: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert_eq!(every.len() as i64, all, "{table}");
    }
    // Writing into another tenant, or moving a row there, is refused; an
    // unfiltered update touches only the tenant's own rows.
    let mut tx = db.tenant(&a).begin().await.unwrap();
    let moved = sqlx::query("UPDATE products SET tenant_id = 'globex'")
        .execute(&mut *tx)
        .await;
    assert!(moved.is_err(), "a product was moved to another tenant");
    drop(tx);
    let mut tx = db.tenant(&a).begin().await.unwrap();
    let n = sqlx::query("UPDATE products SET stock = stock + 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n.rows_affected(), 1, "acme's one product");
    tx.rollback().await.unwrap();
    // A line of Acme's cannot point at Globex's product, even by id (the
    // composite foreign key).
    let (acme_order, globex_product): (String, String) = (
        sqlx::query_scalar("SELECT id FROM orders WHERE tenant_id = 'acme'")
            .fetch_one(app.pool())
            .await
            .unwrap(),
        sqlx::query_scalar("SELECT id FROM products WHERE tenant_id = 'globex'")
            .fetch_one(app.pool())
            .await
            .unwrap(),
    );
    let crossed = sqlx::query(
        "INSERT INTO order_items (tenant_id, order_id, line_no, product_id, name, unit_price, quantity, line_total)
         VALUES ('acme', $1, 9, $2, 'x', 1, 1, 1)",
    )
    .bind(&acme_order)
    .bind(&globex_product)
    .execute(app.pool())
    .await;
    assert!(
        crossed
            .unwrap_err()
            .to_string()
            .contains("order_items_product_tenant_fk")
    );

    role.drop_role().await;
}
