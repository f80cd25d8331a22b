//! Tenancy (docs/TENANCY.md): two businesses on one factory. A new
//! tenant is seeded from `users.tenant.created`; two tenants run the whole
//! flow at once with the same SKUs and see only their own rows; another
//! tenant's rows cannot be read or changed by id; an event of one tenant
//! touches only that tenant; keys (SKU, warehouse code, Idempotency-Key)
//! are per tenant; on PostgreSQL the row policies hide other tenants'
//! rows from a query without a tenant filter, for an application role.

use marimo_platform::{
    auth::{Role, jwt::Identity},
    bus::{Bus, Envelope},
    service::{ServiceContext, ServiceName},
    tenant::TenantId,
};
use marimo_testkit::{
    AppRole, Backend, Http, Res, TestServer, backends, context_on, eventually, sign, start_service,
};
use serde_json::{Value, json};

/// The factory and a users service (which publishes tenants) on one bus.
struct World {
    factory: ServiceContext,
    users: ServiceContext,
    http: Http,
    _server: TestServer,
}

async fn world(backend: &Backend) -> World {
    world_on(backend.settings(&[]).await).await
}

async fn world_on(settings: marimo_platform::config::Settings) -> World {
    let bus = Bus::embedded();
    let users = context_on(ServiceName::Users, settings.clone(), bus.clone()).await;
    let marimo_testkit::Service { ctx, server } =
        start_service(ServiceName::Factory, settings, bus, marimo_factory::router).await;
    World {
        factory: ctx,
        users,
        http: server.http.clone(),
        _server: server,
    }
}

/// A production manager of `tenant`.
fn manager_of(tenant: &TenantId) -> String {
    sign(&Identity {
        user_id: "manager-user".to_owned(),
        email: "manager@example.com".to_owned(),
        role: Role::Manager,
        tenant: tenant.clone(),
    })
}

/// A client acting in one tenant.
struct As<'w> {
    w: &'w World,
    token: String,
}

impl As<'_> {
    async fn get(&self, path: &str) -> Res {
        self.w.http.get(path).bearer(&self.token).send().await
    }

    async fn post(&self, path: &str, body: Value) -> Res {
        self.w
            .http
            .post(path)
            .bearer(&self.token)
            .json(body)
            .send()
            .await
    }

    async fn item(&self, sku: &str, kind: &str, uom: &str) -> Value {
        self.post(
            "/api/v1/factory/items",
            json!({"sku": sku, "name": format!("Item {sku}"), "kind": kind, "uom": uom}),
        )
        .await
        .expect(201)
        .json["item"]
            .clone()
    }

    async fn receive(&self, sku: &str, qty: &str, unit_cost: &str) {
        self.post(
            "/api/v1/factory/stock/receipts",
            json!({"sku": sku, "qty": qty, "unit_cost": unit_cost}),
        )
        .await
        .expect(201);
    }

    /// The whole flow: items, receipts, a BOM (1 BIKE = 1.5 kg STEEL + 4
    /// BOLT), a work order for `bikes` released, started and completed.
    /// Returns (BIKE's product id, BOM id, work order id).
    async fn flow(&self, steel: (&str, &str), bolts: (&str, &str), bikes: &str) -> [String; 3] {
        self.item("STEEL", "raw_material", "kg").await;
        self.item("BOLT", "raw_material", "pcs").await;
        let bike = self.item("BIKE", "finished_good", "pcs").await;
        self.receive("STEEL", steel.0, steel.1).await;
        self.receive("BOLT", bolts.0, bolts.1).await;
        let bom = self
            .post(
                "/api/v1/factory/boms",
                json!({"product_sku": "BIKE", "output_qty": "1",
                       "components": [{"sku": "STEEL", "qty": "1.5"}, {"sku": "BOLT", "qty": "4"}]}),
            )
            .await
            .expect(201)
            .json["bom"]["id"]
            .as_str()
            .expect("a BOM id")
            .to_owned();
        let wo = self
            .post(
                "/api/v1/factory/work-orders",
                json!({"product_sku": "BIKE", "qty": bikes}),
            )
            .await
            .expect(201)
            .json["work_order"]["id"]
            .as_str()
            .expect("a work order id")
            .to_owned();
        for step in ["release", "start", "complete"] {
            self.post(
                &format!("/api/v1/factory/work-orders/{wo}/{step}"),
                json!({}),
            )
            .await
            .expect(200);
        }
        let product = bike["id"].as_str().expect("an item id").to_owned();
        [product, bom, wo]
    }

    /// (on hand, value) of `sku` in MAIN.
    async fn level(&self, sku: &str) -> (String, String) {
        let res = self
            .get(&format!("/api/v1/factory/stock?sku={sku}&warehouse=MAIN"))
            .await
            .expect(200);
        let s = &res.json["stock"][0];
        (
            s["on_hand"].as_str().unwrap_or("missing").to_owned(),
            s["value"].as_str().unwrap_or("missing").to_owned(),
        )
    }
}

impl World {
    fn tenant(&self, tenant: &TenantId) -> As<'_> {
        As {
            w: self,
            token: manager_of(tenant),
        }
    }

    /// Publishes `event` from the users service in `tenant` and waits until
    /// it was delivered.
    async fn publish(&self, tenant: &TenantId, event: Envelope) {
        crate::support::publish_from(&self.users, tenant, &event).await;
    }

    /// A new tenant, as sign-up creates one: `users.tenant.created`, then
    /// the factory has seeded it.
    async fn new_tenant(&self, slug: &str) -> TenantId {
        self.new_tenant_in(slug, "USD").await
    }

    /// A new tenant keeping its books in `currency`.
    async fn new_tenant_in(&self, slug: &str, currency: &str) -> TenantId {
        let tenant = TenantId::generate();
        let event = Envelope::new(
            "users",
            "users.tenant.created",
            json!({"tenant_id": tenant.as_str(), "slug": slug, "name": slug,
                   "currency": currency, "fiscal_year_start_month": 1}),
        );
        self.publish(&tenant, event).await;
        let t = self.tenant(&tenant);
        eventually("the new tenant to be seeded", || async {
            t.get("/api/v1/factory/warehouses").await.json["warehouses"]
                .as_array()
                .is_some_and(|w| !w.is_empty())
        })
        .await;
        tenant
    }

    async fn count(&self, sql: &str, tenant: &TenantId) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(tenant.as_str())
            .fetch_one(self.factory.db().pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

fn codes(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|v| v[field].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_new_tenant_is_seeded_like_the_default_one_and_only_once() {
    for backend in backends() {
        let w = world(&backend).await;
        let name = backend.name();
        let acme = w.new_tenant("acme").await;
        let a = w.tenant(&acme);
        let units = a.get("/api/v1/factory/units").await.expect(200);
        assert_eq!(
            codes(&units.json["units"], "code"),
            ["g", "h", "kg", "l", "m", "pcs"],
            "{name}"
        );
        let whs = a.get("/api/v1/factory/warehouses").await.expect(200);
        assert_eq!(codes(&whs.json["warehouses"], "code"), ["MAIN"]);
        let settings = "SELECT COUNT(*) FROM factory_settings WHERE tenant_id = $1";
        assert_eq!(w.count(settings, &acme).await, 1);
        // The same event again (a new delivery of a re-sent sign-up): the
        // seeds are there already and stay as they are.
        let again = Envelope::new(
            "users",
            "users.tenant.created",
            json!({"tenant_id": acme.as_str(), "slug": "acme", "name": "acme",
                   "currency": "USD", "fiscal_year_start_month": 1}),
        );
        w.publish(&acme, again).await;
        let units = "SELECT COUNT(*) FROM units WHERE tenant_id = $1";
        assert_eq!(w.count(units, &acme).await, 6);
        let whs = "SELECT COUNT(*) FROM warehouses WHERE tenant_id = $1";
        assert_eq!(w.count(whs, &acme).await, 1);
        // An event naming another tenant than it travels in seeds nothing.
        let stranger = TenantId::generate();
        let forged = Envelope::new(
            "users",
            "users.tenant.created",
            json!({"tenant_id": stranger.as_str(), "slug": "x", "name": "x",
                   "currency": "USD", "fiscal_year_start_month": 1}),
        );
        w.publish(&acme, forged).await;
        assert_eq!(w.count(whs, &stranger).await, 0, "{name}");
        assert_eq!(w.count(whs, &acme).await, 1, "{name}");
        // The default tenant still has its own seeds, untouched.
        let default = TenantId::default_tenant();
        assert_eq!(w.count(units, &default).await, 6);
        assert_eq!(w.count(whs, &default).await, 1);
    }
}

#[tokio::test]
async fn two_tenants_run_the_whole_flow_at_once_and_see_only_their_own() {
    for backend in backends() {
        let w = world(&backend).await;
        let name = backend.name();
        let (acme, globex) = (w.new_tenant("acme").await, w.new_tenant("globex").await);
        let (a, g) = (w.tenant(&acme), w.tenant(&globex));
        // Same SKUs, different figures, at the same time.
        //   acme:   10 kg STEEL at 2.00 = 20.00, 100 BOLT at 0.05 = 5.00;
        //           2 bikes consume 3 kg (6.00) and 8 BOLT (0.40): 6.40.
        //   globex: 4 kg STEEL at 3.00 = 12.00, 10 BOLT at 0.10 = 1.00;
        //           1 bike consumes 1.5 kg (4.50) and 4 BOLT (0.40): 4.90.
        let (a_ids, g_ids) = tokio::join!(
            a.flow(("10", "2.00"), ("100", "0.05"), "2"),
            g.flow(("4", "3.00"), ("10", "0.10"), "1"),
        );
        assert_eq!(
            a.level("STEEL").await,
            ("7.000".into(), "14.00".into()),
            "{name}"
        );
        assert_eq!(a.level("BOLT").await, ("92.000".into(), "4.60".into()));
        assert_eq!(a.level("BIKE").await, ("2.000".into(), "6.40".into()));
        assert_eq!(g.level("STEEL").await, ("2.500".into(), "7.50".into()));
        assert_eq!(g.level("BOLT").await, ("6.000".into(), "0.60".into()));
        assert_eq!(g.level("BIKE").await, ("1.000".into(), "4.90".into()));

        for (t, ids, value, other) in [(&a, &a_ids, "25.00", &g_ids), (&g, &g_ids, "13.00", &a_ids)]
        {
            let items = t.get("/api/v1/factory/items").await.expect(200);
            assert_eq!(items.json["total"], 3, "{name}");
            let ids_of_items = codes(&items.json["items"], "id");
            assert!(ids_of_items.contains(&ids[0]) && !ids_of_items.contains(&other[0]));
            // 2 receipts, 2 consumptions, 1 output.
            let moves = t.get("/api/v1/factory/stock/moves").await.expect(200);
            assert_eq!(moves.json["total"], 5);
            let wos = t.get("/api/v1/factory/work-orders").await.expect(200);
            assert_eq!(codes(&wos.json["work_orders"], "id"), [ids[2].clone()]);
            let boms = t.get("/api/v1/factory/boms").await.expect(200);
            assert_eq!(codes(&boms.json["boms"], "id"), [ids[1].clone()]);
            let orders = t.get("/api/factory/orders").await.expect(200);
            assert_eq!(codes(&orders.json["orders"], "id"), [ids[2].clone()]);
            let products = t.get("/api/factory/products").await.expect(200);
            assert_eq!(codes(&products.json["products"], "id"), [ids[0].clone()]);
            // Value is conserved: the stock is worth what was received.
            let summary = t.get("/api/v1/factory/summary").await.expect(200);
            assert_eq!(summary.json["stock_value"], value, "{name}");
            let stock = t.get("/api/v1/factory/stock").await.expect(200);
            assert_eq!(stock.json["stock"].as_array().map(Vec::len), Some(3));
        }
        // The default tenant saw none of it.
        let d = w.tenant(&TenantId::default_tenant());
        let items = d.get("/api/v1/factory/items").await.expect(200);
        assert_eq!(items.json["total"], 0, "{name}");
        let moves = d.get("/api/v1/factory/stock/moves").await.expect(200);
        assert_eq!(moves.json["total"], 0);
    }
}

#[tokio::test]
async fn another_tenants_rows_are_not_found_by_id_and_stay_unchanged() {
    for backend in backends() {
        let w = world(&backend).await;
        let name = backend.name();
        let (acme, globex) = (w.new_tenant("acme").await, w.new_tenant("globex").await);
        let (a, g) = (w.tenant(&acme), w.tenant(&globex));
        let [product, bom, _] = a.flow(("10", "2.00"), ("100", "0.05"), "2").await;
        // A planned order of acme's, which globex will try to move.
        let wo = a
            .post(
                "/api/v1/factory/work-orders",
                json!({"product_sku": "BIKE", "qty": "1"}),
            )
            .await
            .expect(201)
            .json["work_order"]["id"]
            .as_str()
            .expect("an id")
            .to_owned();
        let before = a.get("/api/v1/factory/stock/moves").await.expect(200).json;
        for path in [
            format!("/api/v1/factory/work-orders/{wo}"),
            format!("/api/factory/orders/{wo}"),
            format!("/api/v1/factory/boms/{bom}"),
            format!("/api/v1/factory/boms/{bom}/explode?qty=1"),
            format!("/api/factory/products/{product}"),
            "/api/v1/factory/items/STEEL".to_owned(),
        ] {
            g.get(&path).await.expect(404);
        }
        for step in ["release", "start", "complete", "cancel"] {
            g.post(
                &format!("/api/v1/factory/work-orders/{wo}/{step}"),
                json!({}),
            )
            .await
            .expect(404);
        }
        w.http
            .put(&format!("/api/factory/products/{product}/status"))
            .bearer(&g.token)
            .json(json!({"status": "discontinued"}))
            .send()
            .await
            .expect(404);
        g.post(
            "/api/factory/orders",
            json!({"product_id": product, "quantity": 1}),
        )
        .await
        .expect(404);
        // Stock of an SKU globex does not have is not found either, and
        // acme's balance is untouched.
        g.post(
            "/api/v1/factory/stock/issues",
            json!({"sku": "STEEL", "qty": "1"}),
        )
        .await
        .expect(404);
        let order = a
            .get(&format!("/api/v1/factory/work-orders/{wo}"))
            .await
            .expect(200);
        assert_eq!(order.json["work_order"]["status"], "planned", "{name}");
        assert_eq!(a.level("STEEL").await, ("7.000".into(), "14.00".into()));
        let after = a.get("/api/v1/factory/stock/moves").await.expect(200).json;
        assert_eq!(before, after, "{name}");
        let product_now = a
            .get(&format!("/api/factory/products/{product}"))
            .await
            .expect(200);
        assert_eq!(product_now.json["status"], "planned");

        // A unit published by config in globex reaches globex only.
        let unit = Envelope::new(
            "config",
            "config.reference.changed",
            json!({"kind": "units", "code": "box", "item": {"code": "box", "name": "Box"}}),
        );
        w.publish(&globex, unit).await;
        let g_units =
            || async { codes(&g.get("/api/v1/factory/units").await.json["units"], "code") };
        eventually("globex's unit", || async {
            g_units().await.contains(&"box".to_owned())
        })
        .await;
        let a_units = codes(
            &a.get("/api/v1/factory/units").await.expect(200).json["units"],
            "code",
        );
        assert!(!a_units.contains(&"box".to_owned()), "{name}: {a_units:?}");
    }
}

#[tokio::test]
async fn keys_are_per_tenant() {
    for backend in backends() {
        let w = world(&backend).await;
        let name = backend.name();
        let (acme, globex) = (w.new_tenant("acme").await, w.new_tenant("globex").await);
        let (a, g) = (w.tenant(&acme), w.tenant(&globex));
        for t in [&a, &g] {
            t.item("STEEL", "raw_material", "kg").await;
            t.post(
                "/api/v1/factory/warehouses",
                json!({"code": "EAST", "name": "East"}),
            )
            .await
            .expect(201);
        }
        // Taken within one tenant.
        a.post(
            "/api/v1/factory/items",
            json!({"sku": "STEEL", "name": "again", "kind": "raw_material", "uom": "kg"}),
        )
        .await
        .expect(409);
        a.post(
            "/api/v1/factory/warehouses",
            json!({"code": "EAST", "name": "East"}),
        )
        .await
        .expect(409);
        // The same user sends the same Idempotency-Key in both tenants:
        // two receipts, not a replay; the same key again in acme replays.
        let receipt = |t: &As<'_>, cost: &str| {
            let req = w
                .http
                .post("/api/v1/factory/stock/receipts")
                .bearer(&t.token)
                .header("idempotency-key", "receipt-1")
                .json(json!({"sku": "STEEL", "qty": "1", "unit_cost": cost}));
            async move { req.send().await }
        };
        let first = receipt(&a, "2.00").await.expect(201);
        let other = receipt(&g, "3.00").await.expect(201);
        assert_ne!(first.json["move"]["id"], other.json["move"]["id"], "{name}");
        assert_eq!(other.json["move"]["unit_cost"], "3.00");
        let replay = receipt(&a, "2.00").await.expect(201);
        assert_eq!(replay.json, first.json);
        assert_eq!(a.level("STEEL").await, ("1.000".into(), "2.00".into()));
        assert_eq!(g.level("STEEL").await, ("1.000".into(), "3.00".into()));
    }
}

#[tokio::test]
async fn row_policies_hide_other_tenants_from_a_query_without_a_filter() {
    let Some(backend) = marimo_testkit::postgres() else {
        return;
    };
    let settings = backend.settings(&[]).await;
    let database = settings.database.clone();
    let w = world_on(settings).await;
    let (acme, globex) = (w.new_tenant("acme").await, w.new_tenant("globex").await);
    let (a, g) = (w.tenant(&acme), w.tenant(&globex));
    let (a_ids, _) = tokio::join!(
        a.flow(("10", "2.00"), ("100", "0.05"), "2"),
        g.flow(("4", "3.00"), ("10", "0.10"), "1"),
    );
    // The factory's database, as an ordinary role (superusers bypass
    // every policy).
    let role = AppRole::connect(&database, "factory").await;
    let app = &role.db;
    // Deliberately no tenant filter: the policies do the filtering.
    let mut tx = app.tenant(&acme).read().await.unwrap();
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM work_orders")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(ids, [a_ids[2].clone()]);
    let tenants: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT tenant_id FROM (
           SELECT tenant_id FROM items UNION ALL SELECT tenant_id FROM stock_moves
           UNION ALL SELECT tenant_id FROM stock_levels UNION ALL SELECT tenant_id FROM boms
           UNION ALL SELECT tenant_id FROM bom_components UNION ALL SELECT tenant_id FROM units
           UNION ALL SELECT tenant_id FROM warehouses UNION ALL SELECT tenant_id FROM factory_settings
           UNION ALL SELECT tenant_id FROM work_order_reservations UNION ALL SELECT tenant_id FROM bom_lock
         ) t",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(tenants, [acme.as_str().to_owned()]);
    // acme's STEEL: 10 kg received, 3 kg consumed.
    let steel: i64 =
        sqlx::query_scalar("SELECT CAST(SUM(qty) AS BIGINT) FROM stock_moves WHERE sku = 'STEEL'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(steel, 7000);
    drop(tx);
    // Without a tenant: nothing at all.
    let none: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(none, 0);
    role.drop_role().await;
}

/// How many events the factory's queue has applied.
async fn applied(w: &World) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM processed_events WHERE consumer = 'factory'")
        .fetch_one(w.factory.db().pool())
        .await
        .unwrap()
}

/// `users.tenant.updated` of `tenant` with `currency`, applied.
async fn update_currency(w: &World, tenant: &TenantId, currency: &str) {
    let before = applied(w).await;
    let event = Envelope::new(
        "users",
        "users.tenant.updated",
        json!({"tenant_id": tenant.as_str(), "slug": "x", "name": "x",
               "currency": currency, "fiscal_year_start_month": 1}),
    );
    w.publish(tenant, event).await;
    eventually("the update applied", || async { applied(w).await > before }).await;
}

/// The `currency` of the `factory.stock.received` events of `tenant`.
async fn received_currencies(w: &World, tenant: &TenantId) -> Vec<String> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT envelope FROM outbox WHERE event_type = 'factory.stock.received' ORDER BY id",
    )
    .fetch_all(w.factory.db().pool())
    .await
    .unwrap();
    rows.iter()
        .map(|r| serde_json::from_str::<Value>(r).unwrap())
        .filter(|e| e["tenant"] == tenant.as_str())
        .map(|e| e["payload"]["currency"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn each_tenant_values_its_stock_in_its_own_currency() {
    for backend in backends() {
        let w = world(&backend).await;
        let name = backend.name();
        let euro = w.new_tenant_in("euro", "EUR").await;
        let default = TenantId::default_tenant();
        for t in [&euro, &default] {
            let a = w.tenant(t);
            a.item("STEEL", "raw_material", "kg").await;
            // 3 kg at 2.50 = 7.50, in each tenant's own currency.
            a.receive("STEEL", "3", "2.50").await;
            assert_eq!(
                a.level("STEEL").await,
                ("3.000".into(), "7.50".into()),
                "{name}"
            );
        }
        let summary = w
            .tenant(&euro)
            .get("/api/v1/factory/summary")
            .await
            .expect(200);
        assert_eq!(summary.json["currency"], "EUR", "{name}");
        assert_eq!(summary.json["stock_value"], "7.50", "{name}");
        let summary = w
            .tenant(&default)
            .get("/api/v1/factory/summary")
            .await
            .expect(200);
        assert_eq!(summary.json["currency"], "USD", "{name}");
        assert_eq!(received_currencies(&w, &euro).await, ["EUR"], "{name}");
        assert_eq!(received_currencies(&w, &default).await, ["USD"], "{name}");

        // Valued stock: a new currency is refused (and logged).
        update_currency(&w, &euro, "GBP").await;
        let summary = w
            .tenant(&euro)
            .get("/api/v1/factory/summary")
            .await
            .expect(200);
        assert_eq!(summary.json["currency"], "EUR", "{name}");

        // No valued stock yet: the change applies, and costs follow the
        // new currency's precision: yen have no minor unit, so a unit cost
        // takes at most 0 + 4 places (2.5000 is fine, 2.50001 is not).
        let yen = w.new_tenant_in("yen", "EUR").await;
        update_currency(&w, &yen, "JPY").await;
        let y = w.tenant(&yen);
        assert_eq!(
            y.get("/api/v1/factory/summary").await.expect(200).json["currency"],
            "JPY",
            "{name}"
        );
        y.item("STEEL", "raw_material", "kg").await;
        let res = y
            .post(
                "/api/v1/factory/stock/receipts",
                json!({"sku": "STEEL", "qty": "2", "unit_cost": "2.50001"}),
            )
            .await;
        assert!(
            res.status == 400 || res.status == 422,
            "{name}: {}",
            res.status
        );
        // 2 kg at 250 = 500 yen.
        y.receive("STEEL", "2", "250").await;
        assert_eq!(
            y.level("STEEL").await,
            ("2.000".into(), "500".into()),
            "{name}"
        );
        assert_eq!(received_currencies(&w, &yen).await, ["JPY"], "{name}");
    }
}
