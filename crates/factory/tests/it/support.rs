//! A running factory service per backend, tokens and small helpers.

use marimo_platform::{
    auth::Role,
    bus::{Bus, Envelope},
    service::{ServiceContext, ServiceName},
    tenant::TenantId,
};
use marimo_testkit::{Backend, Http, Res, TestServer, eventually, start_service, token_for};
use serde_json::{Value, json};

pub struct App {
    pub backend: Backend,
    pub ctx: ServiceContext,
    pub http: Http,
    _server: TestServer,
}

/// The factory on a fresh database of `backend`.
pub async fn app(backend: &Backend) -> App {
    let settings = backend.settings(&[]).await;
    let marimo_testkit::Service { ctx, server } = start_service(
        ServiceName::Factory,
        settings,
        Bus::embedded(),
        marimo_factory::router,
    )
    .await;
    App::from_parts(backend, ctx, server)
}

/// Publishes `event` from `peer`'s outbox in `tenant` (another service on
/// the factory's bus) and waits until it was delivered.
pub async fn publish_from(peer: &ServiceContext, tenant: &TenantId, event: &Envelope) {
    let db = peer.db();
    let mut tx = db.tenant(tenant).begin().await.unwrap();
    peer.outbox.publish(&mut tx, event).await.unwrap();
    tx.commit().await.unwrap();
    peer.outbox.wake();
    eventually("the peer's outbox to drain", || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
            .fetch_one(db.pool())
            .await
            .unwrap()
            == 0
    })
    .await;
}

/// What `testkit::each_backend` starts: the factory on a fresh database.
impl marimo_testkit::Fixture for App {
    async fn start(backend: &Backend) -> Self {
        app(backend).await
    }
}

pub fn manager() -> String {
    token_for(Role::Manager)
}

impl App {
    /// The factory started by a test on its own bus.
    pub fn from_parts(backend: &Backend, ctx: ServiceContext, server: TestServer) -> Self {
        App {
            backend: backend.clone(),
            ctx,
            http: server.http.clone(),
            _server: server,
        }
    }

    pub fn name(&self) -> &'static str {
        self.backend.name()
    }

    pub async fn get(&self, path: &str) -> Res {
        self.http.get(path).bearer(&manager()).send().await
    }

    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.http
            .post(path)
            .bearer(&manager())
            .json(body)
            .send()
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Res {
        self.http
            .put(path)
            .bearer(&manager())
            .json(body)
            .send()
            .await
    }

    /// Creates an item (`kind`, `uom`, reorder point).
    pub async fn item(&self, sku: &str, kind: &str, uom: &str, reorder_point: &str) -> Value {
        self.post(
            "/api/factory/items",
            json!({"sku": sku, "name": format!("Item {sku}"), "kind": kind, "uom": uom,
                   "reorder_point": reorder_point}),
        )
        .await
        .expect(201)
        .json["item"]
            .clone()
    }

    pub async fn raw(&self, sku: &str) -> Value {
        self.item(sku, "raw_material", "pcs", "0").await
    }

    pub async fn receive(&self, sku: &str, qty: &str, unit_cost: &str) -> Value {
        self.post(
            "/api/factory/stock/receipts",
            json!({"sku": sku, "qty": qty, "unit_cost": unit_cost, "reference": "PO-1"}),
        )
        .await
        .expect(201)
        .json["move"]
            .clone()
    }

    /// A BOM: `output` of `product` from `components` (sku, qty).
    pub async fn bom(&self, product: &str, output: &str, components: &[(&str, &str)]) -> Res {
        let comps: Vec<Value> = components
            .iter()
            .map(|(s, q)| json!({"sku": s, "qty": q}))
            .collect();
        self.post(
            "/api/factory/boms",
            json!({"product_sku": product, "output_qty": output, "components": comps}),
        )
        .await
    }

    pub async fn work_order(&self, product: &str, qty: &str) -> String {
        self.post(
            "/api/factory/work-orders",
            json!({"product_sku": product, "qty": qty}),
        )
        .await
        .expect(201)
        .json["work_order"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    pub async fn act(&self, id: &str, action: &str) -> Res {
        self.http
            .post(&format!("/api/factory/work-orders/{id}/{action}"))
            .bearer(&manager())
            .send()
            .await
    }

    /// The balance of `sku` in MAIN: (on_hand, reserved, available, value).
    pub async fn level(&self, sku: &str) -> (String, String, String, String) {
        let res = self
            .get(&format!("/api/factory/stock?sku={sku}&warehouse=MAIN"))
            .await
            .expect(200);
        let s = &res.json["stock"][0];
        let f = |k: &str| s[k].as_str().unwrap_or("missing").to_owned();
        (f("on_hand"), f("reserved"), f("available"), f("value"))
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(self.ctx.db().pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Payloads of the outbox events of `event_type`, oldest first.
    pub async fn events(&self, event_type: &str) -> Vec<Value> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT envelope FROM outbox WHERE event_type = $1 ORDER BY id")
                .bind(event_type)
                .fetch_all(self.ctx.db().pool())
                .await
                .unwrap();
        rows.iter()
            .map(|r| serde_json::from_str::<Value>(r).unwrap())
            .collect()
    }

    /// The stock ledger's consistency: balances never negative, never
    /// over-reserved; each balance equals the sum of its moves (quantity and
    /// value); reservations equal those of open work orders and live
    /// holds of shop orders.
    pub async fn assert_consistent(&self) {
        let name = self.name();
        let bad = self
            .scalar(
                "SELECT COUNT(*) FROM stock_levels
                 WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand OR value < 0
                    OR (on_hand = 0 AND value <> 0)",
            )
            .await;
        assert_eq!(bad, 0, "{name}: a balance breaks its rules");
        // A balance is the sum of its moves: quantity, exact (fine)
        // value, and booked value — the moves' `value`, which is what
        // `factory.stock.moved` published, adds up to the balance's fine
        // value rounded half up to the cent (fine units: 10^-4 cent).
        let drift = self
            .scalar(
                "SELECT COUNT(*) FROM (
                   SELECT sku, warehouse, SUM(q) AS q, SUM(f) AS f, SUM(b) AS b FROM (
                     SELECT sku, warehouse, on_hand AS q, value AS f, (value + 5000) / 10000 AS b
                     FROM stock_levels
                     UNION ALL
                     SELECT sku, warehouse, -qty, -fine_value, -value FROM stock_moves
                   ) u GROUP BY sku, warehouse
                 ) t WHERE q <> 0 OR f <> 0 OR b <> 0",
            )
            .await;
        assert_eq!(drift, 0, "{name}: balances drifted from the moves");
        let reserved = self
            .scalar(
                "SELECT COUNT(*) FROM (
                   SELECT sku, warehouse, SUM(r) AS r FROM (
                     SELECT sku, warehouse, reserved AS r FROM stock_levels
                     UNION ALL
                     SELECT x.sku, x.warehouse, -x.qty FROM work_order_reservations x
                     JOIN work_orders w ON w.id = x.work_order_id
                     WHERE w.status IN ('released', 'started')
                     UNION ALL
                     SELECT sku, warehouse, -qty FROM stock_holds
                     WHERE status IN ('held', 'confirmed')
                   ) u GROUP BY sku, warehouse
                 ) t WHERE r <> 0",
            )
            .await;
        assert_eq!(
            reserved, 0,
            "{name}: reservations drifted from the open orders"
        );
    }
}
