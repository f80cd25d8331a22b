//! Replicas and services as processes of their own, killed with SIGKILL
//! and started again under load, behind the gateway (issue 26, items 4
//! and 6): on PostgreSQL and RabbitMQ, since several processes share one
//! database and one broker only there (skipped on SQLite alone; under
//! `CI=true` both backends are required anyway).
//!
//! - **Replica kill under read and write load**: two shop replicas, one
//!   SIGKILLed while clients read products and orders and pay orders with
//!   an `Idempotency-Key` (retrying on 502/503 as a client would): no
//!   failed request, and every acknowledged payment is booked once, in
//!   the shop and in the ledger.
//! - **Replica start under write load**: one of two shop replicas killed
//!   and started again 20 times while orders are written: every start
//!   succeeds, no HTTP 500.
//! - **SIGKILL of each service mid-flow** (shop, factory, accounting,
//!   worker) and a restart: no acknowledged operation is lost and the
//!   books reconcile.
//!
//! The gateway, users, config and main run in this process; the services
//! under test are `marimo serve <service> --port <port>` children on fixed
//! ports (a restarted replica comes back at the address the gateway
//! knows). Outcomes are asserted, never timings.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use marimo::System;
use marimo_platform::{config::DatabaseConfig, ids::new_id, service::ServiceName};
use marimo_testkit::{Http, Res, TEST_JWT_SECRET, eventually_within};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::support::{RabbitVhost, login, register_and_login};

const ADMIN: (&str, &str) = ("replicas@marimo.test", "Replica-Passw0rd");
/// How long the checks after a fault wait (a dead relay's lease expires,
/// a broker redelivers).
const PATIENCE: Duration = Duration::from_secs(120);
/// How long a client keeps retrying one request while a service restarts.
const CLIENT_PATIENCE: Duration = Duration::from_secs(90);

/// The scenarios run one at a time: each starts several processes with
/// database pools of their own.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One `marimo serve` child.
struct Proc {
    service: ServiceName,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
    env: Vec<(String, String)>,
}

impl Proc {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process and waits until it is ready; a process that
    /// exits instead fails the test with its log.
    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_marimo"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(["serve", self.service.as_str(), "--port"])
            .arg(self.port.to_string())
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(cmd.spawn().expect("marimo starts"));
        let ready_url = format!("{}/ready", self.url());
        let what = format!("{} on :{} ready", self.service, self.port);
        eventually_within(PATIENCE, &what, async || {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "{} exited while starting ({status}):\n{}",
                    self.service,
                    self.log_tail()
                );
            }
            ready(&ready_url).await
        })
        .await;
    }

    /// SIGKILL: no drain, no lease released, transactions cut.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `url` answers 200, without panicking on a refused connection
/// (the process may still be binding).
async fn ready(url: &str) -> bool {
    reqwest::get(url)
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// A port nobody listens on now (the child binds it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The ERP with `children` as processes of their own (service, replicas)
/// and the rest in this process.
struct Cluster {
    system: Option<System>,
    procs: Vec<Proc>,
    gw: Http,
    admin: String,
    _vhost: RabbitVhost,
}

impl Cluster {
    /// `None` (skipped) without PostgreSQL or RabbitMQ; under `CI=true`
    /// their absence fails instead. `in_process`: the services that run in
    /// this process (the gateway and users always do); the others are not
    /// started at all, which keeps the scenario's database connections few
    /// (the suites share one PostgreSQL server).
    async fn start(children: &[(ServiceName, usize)], in_process: &[ServiceName]) -> Option<Self> {
        let Some(pg) = marimo_testkit::postgres() else {
            eprintln!("note: replica scenarios need PostgreSQL; skipped");
            return None;
        };
        let vhost = RabbitVhost::create()?;
        let mut urls: BTreeMap<ServiceName, Vec<u16>> = BTreeMap::new();
        for (service, n) in children {
            urls.insert(*service, (0..*n).map(|_| free_port()).collect());
        }
        let list = |ports: &[u16]| {
            ports
                .iter()
                .map(|p| format!("http://127.0.0.1:{p}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let child_urls: Vec<(String, String)> = urls
            .iter()
            .map(|(s, ports)| (s.urls_var(), list(ports)))
            .collect();
        let mut overrides: Vec<(&str, &str)> = vec![
            ("RABBITMQ_URL", vhost.url.as_str()),
            ("MARIMO_RATE_LIMITS", "off"),
            // Reads reach the replicas instead of the gateway's cache.
            ("MARIMO_CACHE", "off"),
            ("MARIMO_ADMIN_EMAIL", ADMIN.0),
            ("MARIMO_ADMIN_PASSWORD", ADMIN.1),
            ("LOG_LEVEL", "warn"),
        ];
        overrides.extend(child_urls.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let settings = pg.settings(&overrides).await;
        let DatabaseConfig::Postgres { url: db_url } = settings.database.clone() else {
            unreachable!("a PostgreSQL backend");
        };
        let data_dir = settings.data_dir.clone();
        std::fs::create_dir_all(&data_dir).expect("data dir");

        let in_process: Vec<ServiceName> = ServiceName::ALL
            .into_iter()
            .filter(|s| {
                matches!(s, ServiceName::Gateway | ServiceName::Users) || in_process.contains(s)
            })
            .collect();
        let listeners = marimo::bind(&settings, &in_process, Some(0))
            .await
            .expect("bind");
        let system = marimo::start(settings, listeners).await.expect("start");

        // What every child is started with: the same database, broker and
        // keys, and where every other service is.
        let mut env: Vec<(String, String)> = vec![
            ("MARIMO_DATA_DIR".into(), data_dir.to_string_lossy().into()),
            ("DATABASE_URL".into(), db_url),
            ("JWT_SECRET".into(), TEST_JWT_SECRET.into()),
            ("RABBITMQ_URL".into(), vhost.url.clone()),
            ("LOG_LEVEL".into(), "warn".into()),
        ];
        env.extend(child_urls.iter().cloned());
        for s in &in_process {
            env.push((s.urls_var(), system.url(*s)));
        }
        let mut procs = Vec::new();
        for (service, ports) in &urls {
            for (i, port) in ports.iter().enumerate() {
                procs.push(Proc {
                    service: *service,
                    port: *port,
                    child: None,
                    log: data_dir.join(format!("{service}-{i}.log")),
                    env: env.clone(),
                });
            }
        }
        for p in &mut procs {
            p.start().await;
        }
        let gw = Http::new(&system.url(ServiceName::Gateway));
        let admin = token(&login(&gw, ADMIN.0, ADMIN.1).await);
        Some(Self {
            system: Some(system),
            procs,
            gw,
            admin,
            _vhost: vhost,
        })
    }

    fn proc(&mut self, service: ServiceName, n: usize) -> &mut Proc {
        self.procs
            .iter_mut()
            .filter(|p| p.service == service)
            .nth(n)
            .expect("such a replica")
    }

    async fn stop(mut self) {
        for p in &mut self.procs {
            p.kill();
        }
        if let Some(system) = self.system.take() {
            system.shutdown().await;
        }
    }
}

fn token(login: &Value) -> String {
    login["access_token"].as_str().expect("a token").to_owned()
}

/// Exact minor units of a decimal string with two places ("12.50" → 1250).
fn cents(s: &str) -> i64 {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{frac:0<2}");
    let v =
        whole.parse::<i64>().expect("whole units") * 100 + frac[..2].parse::<i64>().expect("cents");
    if neg { -v } else { v }
}

/// What the clients saw.
#[derive(Default)]
struct Stats {
    reads: u64,
    read_failures: Vec<String>,
    writes: u64,
    /// Writes that did not succeed even after the client's retries.
    write_failures: Vec<String>,
    /// Every 500 answered to any attempt.
    http_500: Vec<String>,
    /// Attempts a client repeated (502, 503, 504, key in flight).
    client_retries: u64,
    /// Acknowledged payments: order id and total in cents.
    paid: Vec<(String, i64)>,
    /// Acknowledged orders (placed, maybe not paid).
    placed: Vec<String>,
    /// Acknowledged stock receipts: move ids.
    receipts: Vec<String>,
}

type Shared = Arc<Mutex<Stats>>;

fn note(stats: &Shared, f: impl FnOnce(&mut Stats)) {
    f(&mut stats.lock().unwrap());
}

/// One write with an `Idempotency-Key`, repeated with the same key on
/// answers that say "not now" (as a client would): 502, 503, 504, and
/// 409 while the key's first request is in flight. `None` when it never
/// succeeded.
async fn write(gw: &Http, stats: &Shared, token: &str, path: &str, body: Value) -> Option<Res> {
    let key = new_id();
    let deadline = tokio::time::Instant::now() + CLIENT_PATIENCE;
    loop {
        let res = gw
            .post(path)
            .bearer(token)
            .header("idempotency-key", &key)
            .json(body.clone())
            .send()
            .await;
        if res.status == 500 {
            note(stats, |s| s.http_500.push(format!("{path}: {}", res.text)));
        }
        let again = matches!(res.status, 502..=504)
            || (res.status == 409 && res.code() == "IDEMPOTENCY_KEY_IN_FLIGHT");
        if !again {
            note(stats, |s| s.writes += 1);
            if res.status < 300 {
                return Some(res);
            }
            note(stats, |s| {
                s.write_failures
                    .push(format!("{path}: {} {}", res.status, res.text));
            });
            return None;
        }
        note(stats, |s| s.client_retries += 1);
        if tokio::time::Instant::now() >= deadline {
            note(stats, |s| {
                s.write_failures
                    .push(format!("{path}: still {} after retries", res.status));
            });
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Places an order of one `product` and, when `pay`, records its payment.
async fn order_and_pay(
    gw: &Http,
    stats: &Shared,
    customer: &str,
    admin: &str,
    product: &str,
    pay: bool,
) {
    let Some(placed) = write(
        gw,
        stats,
        customer,
        "/api/shop/orders",
        json!({"items": [{"product_id": product, "quantity": 1}]}),
    )
    .await
    else {
        return;
    };
    let order_id = placed.json["order"]["id"].as_str().unwrap().to_owned();
    note(stats, |s| s.placed.push(order_id.clone()));
    if !pay {
        return;
    }
    if let Some(paid) = write(
        gw,
        stats,
        admin,
        &format!("/api/shop/orders/{order_id}/pay"),
        json!({"method": "card", "reference": format!("R-{order_id}")}),
    )
    .await
    {
        let total = cents(paid.json["order"]["total"].as_str().unwrap());
        note(stats, |s| s.paid.push((order_id, total)));
    }
}

/// Reads that must all succeed at once: a product and the customer's
/// orders.
async fn read(gw: &Http, stats: &Shared, customer: &str, product: &str) {
    for (path, token) in [
        (format!("/api/shop/products/{product}"), None),
        ("/api/shop/orders".to_owned(), Some(customer)),
    ] {
        let mut req = gw.get(&path);
        if let Some(t) = token {
            req = req.bearer(t);
        }
        let res = req.send().await;
        note(stats, |s| {
            s.reads += 1;
            if res.status != 200 {
                s.read_failures
                    .push(format!("GET {path}: {} {}", res.status, res.text));
            }
            if res.status == 500 {
                s.http_500.push(format!("GET {path}: {}", res.text));
            }
        });
    }
}

/// Client tasks running until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: JoinSet<()>,
    stats: Shared,
}

impl Load {
    fn new() -> Self {
        Self {
            stop: Arc::new(AtomicBool::new(false)),
            tasks: JoinSet::new(),
            stats: Shared::default(),
        }
    }

    /// Runs `step` over and over in a task of its own.
    fn spawn<F, Fut>(&mut self, step: F)
    where
        F: Fn(Shared) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (stop, stats) = (self.stop.clone(), self.stats.clone());
        self.tasks.spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                step(stats.clone()).await;
            }
        });
    }

    /// `n` clients placing orders of `product` as `customer`, each paid
    /// by the admin when `pay`.
    fn buyers(&mut self, c: &Cluster, customer: &str, product: &str, n: usize, pay: bool) {
        for _ in 0..n {
            let (gw, customer, admin, product) = (
                c.gw.clone(),
                customer.to_owned(),
                c.admin.clone(),
                product.to_owned(),
            );
            self.spawn(move |stats| {
                let (gw, customer, admin, product) =
                    (gw.clone(), customer.clone(), admin.clone(), product.clone());
                async move { order_and_pay(&gw, &stats, &customer, &admin, &product, pay).await }
            });
        }
    }

    /// `n` clients reading `product` and `customer`'s orders.
    fn readers(&mut self, c: &Cluster, customer: &str, product: &str, n: usize) {
        for _ in 0..n {
            let (gw, customer, product) = (c.gw.clone(), customer.to_owned(), product.to_owned());
            self.spawn(move |stats| {
                let (gw, customer, product) = (gw.clone(), customer.clone(), product.clone());
                async move { read(&gw, &stats, &customer, &product).await }
            });
        }
    }

    fn count(&self, f: impl Fn(&Stats) -> usize) -> usize {
        f(&self.stats.lock().unwrap())
    }

    /// Waits until `f` of the stats grew by `more` from now.
    async fn progress(&self, what: &str, more: usize, f: impl Fn(&Stats) -> usize) {
        let start = self.count(&f);
        eventually_within(PATIENCE, what, async || {
            let stats = self.stats.lock().unwrap();
            let now = f(&stats);
            if now >= start + more {
                Ok(())
            } else {
                Err(format!(
                    "{now} (from {start}); failures: {:?}",
                    stats.write_failures.iter().take(3).collect::<Vec<_>>()
                ))
            }
        })
        .await;
    }

    async fn finish(mut self) -> Stats {
        self.stop.store(true, Ordering::SeqCst);
        while let Some(done) = self.tasks.join_next().await {
            done.expect("a client task panicked");
        }
        Arc::try_unwrap(self.stats)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_else(|_| panic!("stats still shared"))
    }
}

/// A product with plenty of stock at 2.50.
async fn product(c: &Cluster) -> String {
    let res = c
        .gw
        .post("/api/shop/admin/products")
        .bearer(&c.admin)
        .json(json!({"name": format!("Replica Lamp {}", new_id()), "price": "2.50", "stock": 1_000_000}))
        .send()
        .await
        .expect(201);
    res.json["product"]["id"].as_str().unwrap().to_owned()
}

/// The balance of ledger account `code` in cents (0 when it has none).
async fn balance(gw: &Http, admin: &str, code: &str) -> i64 {
    let tb = gw
        .get("/api/accounting/reports/trial-balance")
        .bearer(admin)
        .send()
        .await;
    assert_eq!(tb.status, 200, "{}", tb.text);
    assert_eq!(tb.json["balanced"], true, "the trial balance: {}", tb.text);
    tb.json["accounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["code"] == code)
        .and_then(|a| a["balance"].as_str())
        .map_or(0, cents)
}

/// How many journal entries carry `reference`.
async fn postings(gw: &Http, admin: &str, reference: &str) -> Option<i64> {
    let res = gw
        .get(&format!(
            "/api/accounting/journal-entries?reference={reference}"
        ))
        .bearer(admin)
        .send()
        .await;
    (res.status == 200)
        .then(|| res.json["total"].as_i64())
        .flatten()
}

/// Every acknowledged payment is one capture of the order's total in the
/// shop and one posting in the ledger; revenue and cash are their sums
/// (2.50 a unit, one unit an order, computed here).
async fn books_hold_every_payment(
    c: &Cluster,
    paid: &[(String, i64)],
    revenue_before: i64,
    cash_before: i64,
) {
    let (gw, admin) = (&c.gw, c.admin.as_str());
    for (order_id, total) in paid {
        let shown = gw
            .get(&format!("/api/shop/orders/{order_id}"))
            .bearer(admin)
            .send()
            .await
            .expect(200);
        assert_eq!(shown.json["status"], "paid", "{}", shown.text);
        let payments = shown.json["payments"].as_array().unwrap();
        assert_eq!(payments.len(), 1, "captured once: {}", shown.text);
        assert_eq!(cents(payments[0]["amount"].as_str().unwrap()), *total);
    }
    let n = i64::try_from(paid.len()).unwrap();
    let revenue = n * 250;
    let cash: i64 = paid.iter().map(|(_, t)| t).sum();
    eventually_within(PATIENCE, "every payment booked once", async || {
        for (order_id, _) in paid {
            let got = postings(gw, admin, &format!("shop:order:{order_id}")).await;
            if got != Some(1) {
                return Err(format!("order {order_id}: {got:?} postings"));
            }
        }
        let (r, k) = (
            balance(gw, admin, "4000").await - revenue_before,
            balance(gw, admin, "1000").await - cash_before,
        );
        if (r, k) == (revenue, cash) {
            Ok(())
        } else {
            Err(format!(
                "revenue {r} (want {revenue}), cash {k} (want {cash})"
            ))
        }
    })
    .await;
}

fn report(what: &str, stats: &Stats) {
    eprintln!(
        "{what}: {} reads, {} read failures; {} writes, {} write failures, {} client retries, {} HTTP 500; {} placed, {} paid, {} receipts",
        stats.reads,
        stats.read_failures.len(),
        stats.writes,
        stats.write_failures.len(),
        stats.client_retries,
        stats.http_500.len(),
        stats.placed.len(),
        stats.paid.len(),
        stats.receipts.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_under_read_and_write_load_fails_no_request() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The ledger books the payments.
    let Some(mut c) = Cluster::start(&[(ServiceName::Shop, 2)], &[ServiceName::Accounting]).await
    else {
        return;
    };
    let product = product(&c).await;
    let customer = token(&register_and_login(&c.gw, "replica-buyer@example.com").await);
    let (revenue_before, cash_before) = (
        balance(&c.gw, &c.admin, "4000").await,
        balance(&c.gw, &c.admin, "1000").await,
    );

    let mut load = Load::new();
    load.buyers(&c, &customer, &product, 2, true);
    load.readers(&c, &customer, &product, 2);
    load.progress("payments before the kill", 15, |s| s.paid.len())
        .await;
    c.proc(ServiceName::Shop, 0).kill();
    load.progress("payments after the kill", 30, |s| s.paid.len())
        .await;
    let stats = load.finish().await;
    report("replica kill", &stats);
    // The gateway took it out of rotation (and says so).
    let health = c.gw.get("/health").send().await;
    let killed = c.proc(ServiceName::Shop, 0).url();
    assert!(
        health.json["services"]["shop"]["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["url"] == killed.as_str() && i["ejected"] == true),
        "{}",
        health.text
    );

    assert!(stats.read_failures.is_empty(), "{:#?}", stats.read_failures);
    assert!(
        stats.write_failures.is_empty(),
        "{:#?}",
        stats.write_failures
    );
    assert!(stats.http_500.is_empty(), "{:#?}", stats.http_500);
    assert_eq!(stats.placed.len(), stats.paid.len(), "every order paid");
    books_hold_every_payment(&c, &stats.paid, revenue_before, cash_before).await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_replica_starts_under_write_load_all_succeed_without_a_500() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The ledger books the payments.
    let Some(mut c) = Cluster::start(&[(ServiceName::Shop, 2)], &[ServiceName::Accounting]).await
    else {
        return;
    };
    let product = product(&c).await;
    let customer = token(&register_and_login(&c.gw, "replica-writer@example.com").await);
    let mut load = Load::new();
    load.buyers(&c, &customer, &product, 2, false);
    let second = c.proc(ServiceName::Shop, 1).url();
    for round in 1..=20 {
        c.proc(ServiceName::Shop, 1).kill();
        // Started while the other replica takes the writes; `start` fails
        // the test if the process exits instead of becoming ready.
        c.proc(ServiceName::Shop, 1).start().await;
        // Back in the gateway's rotation, and taking writes, before the
        // next kill.
        eventually_within(PATIENCE, "the restarted replica readmitted", async || {
            let health = c.gw.get("/health").send().await;
            health.json["services"]["shop"]["instances"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|i| i["url"] == second.as_str() && i["ejected"] == false)
        })
        .await;
        load.progress(&format!("orders after start {round}"), 3, |s| {
            s.placed.len()
        })
        .await;
    }
    let stats = load.finish().await;
    report("replica starts", &stats);
    assert!(stats.http_500.is_empty(), "{:#?}", stats.http_500);
    assert!(
        stats.write_failures.is_empty(),
        "{:#?}",
        stats.write_failures
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_killed_mid_flow_loses_nothing_and_the_books_reconcile() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(mut c) = Cluster::start(
        &[
            (ServiceName::Shop, 1),
            (ServiceName::Factory, 1),
            (ServiceName::Accounting, 1),
            (ServiceName::Worker, 1),
        ],
        &[],
    )
    .await
    else {
        return;
    };
    let product = product(&c).await;
    let customer = token(&register_and_login(&c.gw, "replica-flow@example.com").await);
    c.gw.post("/api/factory/items")
        .bearer(&c.admin)
        .json(json!({"sku": "RM-REPLICA", "name": "Wire", "kind": "raw_material", "unit": "kg", "standard_cost": "1.50", "reorder_point": "0"}))
        .send()
        .await
        .expect(201);
    let (revenue_before, cash_before, stock_before) = (
        balance(&c.gw, &c.admin, "4000").await,
        balance(&c.gw, &c.admin, "1000").await,
        balance(&c.gw, &c.admin, "1200").await,
    );

    let mut load = Load::new();
    load.buyers(&c, &customer, &product, 2, true);
    let (gw, admin) = (c.gw.clone(), c.admin.clone());
    load.spawn(move |stats| {
        let (gw, admin) = (gw.clone(), admin.clone());
        async move {
            // 2 kg at 1.50: 3.00 of raw material each.
            let body = json!({"sku": "RM-REPLICA", "qty": "2", "unit_cost": "1.50"});
            if let Some(res) = write(&gw, &stats, &admin, "/api/factory/stock/receipts", body).await
            {
                let id = res.json["move"]["id"].as_str().unwrap().to_owned();
                note(&stats, |s| s.receipts.push(id));
            }
        }
    });
    let ops = |s: &Stats| s.paid.len() + s.receipts.len();
    load.progress("the flow running", 10, ops).await;
    for victim in [
        ServiceName::Shop,
        ServiceName::Factory,
        ServiceName::Accounting,
        ServiceName::Worker,
    ] {
        c.proc(victim, 0).kill();
        c.proc(victim, 0).start().await;
        load.progress(&format!("the flow after {victim} restarted"), 10, ops)
            .await;
    }
    let stats = load.finish().await;
    report("service kills", &stats);
    assert!(stats.http_500.is_empty(), "{:#?}", stats.http_500);
    assert!(
        stats.write_failures.is_empty(),
        "{:#?}",
        stats.write_failures
    );
    assert!(stats.read_failures.is_empty(), "{:#?}", stats.read_failures);

    // Shop and ledger: every acknowledged payment once.
    books_hold_every_payment(&c, &stats.paid, revenue_before, cash_before).await;
    // Factory and ledger: every acknowledged receipt once; raw materials
    // hold 3.00 for each.
    let (gw, admin) = (&c.gw, c.admin.as_str());
    let moves = gw
        .get("/api/factory/stock/moves?sku=RM-REPLICA&limit=1")
        .bearer(admin)
        .send()
        .await
        .expect(200);
    assert_eq!(
        moves.json["total"].as_u64(),
        Some(stats.receipts.len() as u64),
        "{}",
        moves.text
    );
    let raw = i64::try_from(stats.receipts.len()).unwrap() * 300;
    eventually_within(PATIENCE, "every receipt booked once", async || {
        for id in &stats.receipts {
            let got = postings(gw, admin, &format!("factory:receipt:{id}")).await;
            if got != Some(1) {
                return Err(format!("receipt {id}: {got:?} postings"));
            }
        }
        let got = balance(gw, admin, "1200").await - stock_before;
        if got == raw {
            Ok(())
        } else {
            Err(format!("raw materials {got}, want {raw}"))
        }
    })
    .await;
    // The worker audited every acknowledged payment once.
    let paid = stats.paid.len() as i64;
    eventually_within(PATIENCE, "every payment audited once", async || {
        let audit = gw
            .get("/api/audit?action=shop.order.paid&limit=1")
            .bearer(admin)
            .send()
            .await;
        let total = audit.json["total"].as_i64();
        if total == Some(paid) {
            Ok(())
        } else {
            Err(format!("{total:?} audit rows, want {paid}"))
        }
    })
    .await;
    c.stop().await;
}
