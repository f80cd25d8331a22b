//! Starting the whole system for a test.

use marimo::System;
use marimo_platform::service::ServiceName;
use marimo_testkit::{Backend, Http};
use serde_json::{Value, json};

pub struct Running {
    pub system: Option<System>,
    /// The data directory (mail files live under `mail/`).
    pub data_dir: std::path::PathBuf,
    /// Client of the gateway.
    pub gw: Http,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(system) = self.system.take() {
            system.shutdown().await;
        }
    }
}

/// Every service on port 0, on `backend`, with `overrides`.
pub async fn start(backend: &Backend, overrides: &[(&str, &str)]) -> Running {
    start_with(backend.settings(overrides).await).await
}

/// Every service on port 0 with exactly `settings` (a test that reads a
/// service's database, or restarts the system on it, keeps them).
pub async fn start_with(settings: marimo_platform::config::Settings) -> Running {
    let data_dir = settings.data_dir.clone();
    let listeners = marimo::bind(&settings, &ServiceName::ALL, Some(0))
        .await
        .expect("bind");
    let system = marimo::start(settings, listeners).await.expect("start");
    let gw = Http::new(&system.url(ServiceName::Gateway));
    Running {
        system: Some(system),
        data_dir,
        gw,
    }
}

pub const PASSWORD: &str = "Walk-Passw0rd";

/// Registers `email` and returns the login body.
pub async fn register_and_login(gw: &Http, email: &str) -> Value {
    gw.post("/api/users/register")
        .json(json!({"email": email, "password": PASSWORD, "name": "Walker"}))
        .send()
        .await
        .expect(201);
    login(gw, email, PASSWORD).await
}

pub async fn login(gw: &Http, email: &str, password: &str) -> Value {
    gw.post("/api/users/login")
        .json(json!({"email": email, "password": password}))
        .send()
        .await
        .expect(200)
        .json
}

/// Staff (`staff_token`: a shop manager or admin) record that order
/// `order_id` was paid: customers cannot mark their orders paid.
pub async fn record_payment(gw: &Http, staff_token: &str, order_id: &str) {
    gw.post(&format!("/api/shop/orders/{order_id}/pay"))
        .bearer(staff_token)
        .json(json!({"method": "card", "reference": "TEST-RECEIPT"}))
        .send()
        .await
        .expect(200);
}

/// The texts of the mail files written so far.
pub fn mails(data_dir: &std::path::Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(data_dir.join("mail")) else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect()
}

/// A RabbitMQ virtual host of a test's own (made with `rabbitmqctl`,
/// deleted on drop), for whole-system runs whose queue names are fixed.
pub struct RabbitVhost {
    pub url: String,
    name: String,
}

impl RabbitVhost {
    /// `None` when no RabbitMQ is configured for tests (a failure under
    /// `CI=true`, where it must be).
    pub fn create() -> Option<Self> {
        let base = marimo_testkit::rabbitmq_url()?;
        let name = format!("marimo-test-{}", marimo_platform::ids::new_id());
        let ctl = |args: &[&str]| {
            let out = std::process::Command::new("rabbitmqctl")
                .arg("-q")
                .args(args)
                .output()
                .expect("rabbitmqctl runs (the RabbitMQ server's CLI)");
            assert!(
                out.status.success(),
                "rabbitmqctl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ctl(&["add_vhost", &name]);
        ctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        // amqp://user:pass@host:port/<vhost>
        let after_scheme = base.find("://").map_or(0, |i| i + 3);
        let root = match base[after_scheme..].find('/') {
            Some(slash) => &base[..after_scheme + slash],
            None => base.as_str(),
        };
        Some(Self {
            url: format!("{root}/{name}"),
            name,
        })
    }
}

impl Drop for RabbitVhost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.name])
            .output();
    }
}

/// The administrator [`system_with_traffic`] creates.
const OPS_ADMIN: (&str, &str) = ("ops@marimo.test", "Ops-Passw0rd");

/// Enough traffic for every kind of metric to exist: sign-ins that succeed
/// and fail, a refresh, cached catalog reads, a paid order and a completed
/// work order.
async fn drive_traffic(gw: &Http) {
    let admin = login(gw, OPS_ADMIN.0, OPS_ADMIN.1).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    gw.post("/api/users/login")
        .json(json!({"email": OPS_ADMIN.0, "password": "not-the-password"}))
        .send()
        .await
        .expect(401);
    let customer = register_and_login(gw, "metrics@example.com").await;
    let token = customer["access_token"].as_str().unwrap().to_owned();
    gw.post("/api/users/refresh")
        .json(json!({"refresh_token": customer["refresh_token"]}))
        .send()
        .await
        .expect(200);

    let mut widget_id = String::new();
    for _ in 0..2 {
        let catalog = gw
            .get("/api/shop/products?q=premium")
            .send()
            .await
            .expect(200);
        widget_id = catalog.json["products"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    let order = gw
        .post("/api/shop/orders")
        .bearer(&token)
        .json(json!({"items": [{"product_id": widget_id, "quantity": 1}]}))
        .send()
        .await
        .expect(201);
    let order_id = order.json["order"]["id"].as_str().unwrap();
    record_payment(gw, &admin, order_id).await;

    let post = |path: String, body: Value| {
        let (gw, admin) = (gw.clone(), admin.clone());
        async move { gw.post(&path).bearer(&admin).json(body).send().await }
    };
    post("/api/factory/items".into(), json!({"sku": "RM-COPPER", "name": "Copper", "kind": "raw_material", "unit": "kg", "standard_cost": "2.00", "reorder_point": "0"}))
        .await
        .expect(201);
    post("/api/factory/items".into(), json!({"sku": "COIL", "name": "Coil", "kind": "finished_good", "unit": "pcs", "standard_cost": "5.00", "reorder_point": "0"}))
        .await
        .expect(201);
    post(
        "/api/factory/stock/receipts".into(),
        json!({"sku": "RM-COPPER", "qty": "10", "unit_cost": "2.00"}),
    )
    .await
    .expect(201);
    post("/api/factory/boms".into(), json!({"product_sku": "COIL", "output_qty": "1", "components": [{"sku": "RM-COPPER", "qty": "2"}]}))
        .await
        .expect(201);
    let wo = post(
        "/api/factory/work-orders".into(),
        json!({"product_sku": "COIL", "qty": "2"}),
    )
    .await
    .expect(201);
    let wo_id = wo.json["work_order"]["id"].as_str().unwrap().to_owned();
    for step in ["release", "start", "complete"] {
        post(
            format!("/api/factory/work-orders/{wo_id}/{step}"),
            json!({}),
        )
        .await
        .expect(200);
    }
}

/// Every service on SQLite (the metrics do not depend on the database),
/// after [`drive_traffic`]; with each service's base URL.
pub async fn system_with_traffic() -> (Running, Vec<(ServiceName, String)>) {
    let sys = start(
        &Backend::Sqlite,
        &[
            ("MARIMO_RATE_LIMITS", "off"),
            ("MARIMO_ADMIN_EMAIL", OPS_ADMIN.0),
            ("MARIMO_ADMIN_PASSWORD", OPS_ADMIN.1),
        ],
    )
    .await;
    drive_traffic(&sys.gw).await;
    let system = sys.system.as_ref().expect("running");
    let urls = ServiceName::ALL.map(|n| (n, system.url(n))).to_vec();
    (sys, urls)
}
