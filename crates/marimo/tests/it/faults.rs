//! Faults an operator meets, injected while the system works, and what must
//! hold once they end — with no manual step:
//!
//! - accounting's database away while orders are paid (SQLite: its file
//!   write-locked by another process's connection; PostgreSQL with
//!   RabbitMQ: accounting reaches its database through a TCP proxy that is
//!   cut): every paid order is booked exactly once afterwards, nothing is
//!   dead-lettered, and the trial balance equals the paid orders' sums
//!   (computed here);
//! - RabbitMQ cut, then blackholed, while orders are paid: every event is
//!   delivered exactly once afterwards (booked once, audited once);
//! - Redis blackholed under requests: every request still succeeds;
//! - a poison message goes to the dead-letter queue at once, shows in
//!   `/api/worker/dead-letters` and on the `/dead-letters` screen, and is
//!   replayed from there; an event refused for a closed period is booked
//!   once the period is reopened and it is replayed.
//!
//! Outcomes are awaited with deadlines (`eventually`); how fast recovery
//! is, is measured by `scripts/fault-bench.sh`, not asserted here.

use std::time::Duration;

use marimo_platform::{
    config::{DatabaseConfig, Settings},
    money::Decimal,
    service::ServiceName,
};
use marimo_testkit::{Backend, Http, TcpProxy, TestRedis, backends, eventually, eventually_within};
use serde_json::{Value, json};

use crate::{
    support::{RabbitVhost, Running, login, record_payment, register_and_login, start},
    web_pages::Page,
};

const ADMIN: (&str, &str) = ("ops@faults.test", "Ops-Passw0rd");
/// Recovery after a fault may include a broker's redelivery and a probe's
/// backoff (at most 5 s); the deadline is generous for a loaded machine.
const RECOVERY: Duration = Duration::from_secs(90);

fn vars<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut vars = vec![
        ("MARIMO_RATE_LIMITS", "off"),
        ("MARIMO_ADMIN_EMAIL", ADMIN.0),
        ("MARIMO_ADMIN_PASSWORD", ADMIN.1),
        ("LOG_LEVEL", "warn"),
    ];
    vars.extend_from_slice(extra);
    vars
}

/// An order paid in full, with its sums as the shop answered them, in
/// cents (the catalog is in USD): exact, summed as integers.
struct Paid {
    id: String,
    total: i64,
    subtotal: i64,
    tax: i64,
}

/// A customer, the admin (who records payments) and the catalog.
struct Shopper {
    gw: Http,
    admin: String,
    customer: String,
    products: Vec<String>,
}

/// A decimal amount of the API (`"29.99"`) in cents.
fn cents(v: &Value) -> i64 {
    let text = v.as_str().unwrap_or_else(|| panic!("an amount: {v}"));
    Decimal::parse(text)
        .and_then(|d| d.to_scaled(2))
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

impl Shopper {
    async fn new(gw: &Http) -> Self {
        let admin = login(gw, ADMIN.0, ADMIN.1).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let email = format!("buyer-{}@example.com", marimo_platform::ids::new_id());
        let customer = register_and_login(gw, &email).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let catalog = gw.get("/api/shop/products").send().await.expect(200).json;
        let products = catalog["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        Self {
            gw: gw.clone(),
            admin,
            customer,
            products,
        }
    }

    /// Places order number `n` (one unit of a catalog product) and records
    /// its payment; both must succeed whatever is failing behind.
    async fn paid_order(&self, n: usize) -> Paid {
        let product = &self.products[n % self.products.len()];
        let placed = self
            .gw
            .post("/api/shop/orders")
            .bearer(&self.customer)
            .json(json!({"items": [{"product_id": product, "quantity": 1}]}))
            .send()
            .await
            .expect(201)
            .json;
        let order = &placed["order"];
        let id = order["id"].as_str().unwrap().to_owned();
        record_payment(&self.gw, &self.admin, &id).await;
        Paid {
            total: cents(&order["total"]),
            subtotal: cents(&order["subtotal"]),
            tax: cents(&order["tax"]),
            id,
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.gw
            .get(path)
            .bearer(&self.admin)
            .send()
            .await
            .expect(200)
            .json
    }

    /// Waits until every order in `paid` is booked, then checks each is
    /// booked exactly once.
    async fn booked_once(&self, paid: &[Paid]) {
        for p in paid {
            let path = format!(
                "/api/accounting/journal-entries?reference=shop:order:{}",
                p.id
            );
            let n = eventually_within(RECOVERY, &format!("order {} booked", p.id), async || {
                let total = self.get(&path).await["total"].as_u64().unwrap_or(0);
                (total > 0).then_some(total)
            })
            .await;
            assert_eq!(n, 1, "order {} booked {n} times", p.id);
        }
    }

    /// The trial balance balances, and cash, revenue and tax are exactly
    /// the sums of the paid orders (nothing else posts on a fresh system).
    async fn books_reconcile(&self, paid: &[Paid]) {
        let sum = |f: fn(&Paid) -> i64| paid.iter().map(f).sum::<i64>();
        let tb = self.get("/api/accounting/reports/trial-balance").await;
        assert_eq!(tb["balanced"], true, "{tb}");
        let balance = |code: &str| {
            tb["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["code"] == code)
                .map_or(0, |a| cents(&a["balance"]))
        };
        assert_eq!(balance("1000"), sum(|p| p.total), "cash: {tb}");
        assert_eq!(balance("4000"), sum(|p| p.subtotal), "revenue: {tb}");
        assert_eq!(balance("2100"), sum(|p| p.tax), "tax: {tb}");
        assert_eq!(cents(&tb["total_debit"]), sum(|p| p.total));
    }

    /// Nothing is dead-lettered in any queue.
    async fn no_dead_letters(&self) {
        let queues = self.get("/api/worker/dead-letters").await;
        assert_eq!(queues["total"], 0, "{queues}");
    }

    /// Every `shop.order.paid` of `paid` is in the audit log exactly once.
    async fn audited_once(&self, paid: &[Paid]) {
        let want = paid.len() as u64;
        let got = eventually_within(RECOVERY, "every payment audited", async || {
            let audit = self.get("/api/audit?action=shop.order.paid&limit=1").await;
            let total = audit["total"].as_u64().unwrap_or(0);
            (total >= want).then_some(total)
        })
        .await;
        assert_eq!(got, want, "payments audited more than once");
    }
}

/// `url` with its host and port replaced by `authority`.
fn with_authority(url: &str, authority: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host_start = rest[..end].rfind('@').map_or(0, |i| i + 1);
    format!(
        "{}{}{}",
        &url[..start + host_start],
        authority,
        &rest[end..]
    )
}

// ------------------------------------------------- accounting's database

/// Holds a SQLite database's write lock from a connection of its own, as
/// a long-running writer (a backup, a migration by hand) would: the
/// service's writers queue, then fail with SQLITE_BUSY.
struct FileLock(sqlx::SqliteConnection);

impl FileLock {
    async fn take(file: &std::path::Path) -> Self {
        use sqlx::{ConnectOptions, Connection, sqlite::SqliteConnectOptions};
        let mut conn = SqliteConnectOptions::new()
            .filename(file)
            .busy_timeout(Duration::from_secs(30))
            .connect()
            .await
            .expect("open the SQLite file");
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .expect("take the write lock");
        let _ = conn.ping().await;
        Self(conn)
    }

    async fn release(self) {
        use sqlx::Connection;
        let _ = self.0.close().await;
    }
}

/// Orders paid before, during and after the outage.
const BEFORE: usize = 3;
const DURING: usize = 12;
const AFTER: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_orders_are_booked_once_after_accountings_database_comes_back() {
    marimo_platform::telemetry::init_logging("warn", marimo_platform::config::LogFormat::Pretty);
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        match backend {
            Backend::Sqlite => accounting_file_locked().await,
            Backend::Postgres { .. } => {
                let Some(rabbit) = RabbitVhost::create() else {
                    continue;
                };
                accounting_database_cut(&backend, &rabbit).await;
            }
        }
    }
}

/// SQLite, embedded bus: accounting's file locked for longer than its
/// writers' busy timeout (10 s), so its consumer fails many times over.
async fn accounting_file_locked() {
    let sys = start(&Backend::Sqlite, &vars(&[])).await;
    let shop = Shopper::new(&sys.gw).await;
    let mut paid = Vec::new();
    for n in 0..BEFORE {
        paid.push(shop.paid_order(n).await);
    }
    shop.booked_once(&paid).await;

    let lock = FileLock::take(&sys.data_dir.join("accounting.db")).await;
    for n in 0..DURING {
        paid.push(shop.paid_order(BEFORE + n).await);
    }
    // The outage lasts (the fault, not a measurement).
    tokio::time::sleep(Duration::from_secs(15)).await;
    lock.release().await;

    for n in 0..AFTER {
        paid.push(shop.paid_order(BEFORE + DURING + n).await);
    }
    shop.booked_once(&paid).await;
    shop.books_reconcile(&paid).await;
    shop.no_dead_letters().await;
    sys.stop().await;
}

/// PostgreSQL and RabbitMQ: accounting runs as a service of its own whose
/// connections to PostgreSQL go through a proxy, cut for a while.
async fn accounting_database_cut(backend: &Backend, rabbit: &RabbitVhost) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let accounting_url = format!("http://{}", listener.local_addr().unwrap());
    let settings = backend
        .settings(&vars(&[
            ("RABBITMQ_URL", rabbit.url.as_str()),
            ("ACCOUNTING_URLS", accounting_url.as_str()),
        ]))
        .await;
    let DatabaseConfig::Postgres { url } = &settings.database else {
        unreachable!("a PostgreSQL backend");
    };
    let proxy = TcpProxy::to_url(url).await;
    let mut accounting_settings = settings.clone();
    accounting_settings.database = DatabaseConfig::Postgres {
        url: with_authority(url, &proxy.addr().to_string()),
    };
    let (sys, accounting) = split_start(settings, accounting_settings, listener).await;
    let shop = Shopper::new(&sys.gw).await;
    let mut paid = Vec::new();
    for n in 0..BEFORE {
        paid.push(shop.paid_order(n).await);
    }
    shop.booked_once(&paid).await;

    proxy.cut().await;
    for n in 0..DURING {
        paid.push(shop.paid_order(BEFORE + n).await);
    }
    tokio::time::sleep(Duration::from_secs(15)).await;
    proxy.restore().await;

    for n in 0..AFTER {
        paid.push(shop.paid_order(BEFORE + DURING + n).await);
    }
    shop.booked_once(&paid).await;
    shop.books_reconcile(&paid).await;
    shop.no_dead_letters().await;
    sys.stop().await;
    accounting.shutdown().await;
}

/// Every service but accounting on `settings`, and accounting on
/// `accounting_settings` behind `listener` (the others reach it through
/// `ACCOUNTING_URLS`); they meet on the broker.
async fn split_start(
    settings: Settings,
    mut accounting_settings: Settings,
    listener: tokio::net::TcpListener,
) -> (Running, marimo::System) {
    let others: Vec<ServiceName> = ServiceName::ALL
        .into_iter()
        .filter(|s| *s != ServiceName::Accounting)
        .collect();
    let data_dir = settings.data_dir.clone();
    let listeners = marimo::bind(&settings, &others, Some(0)).await.unwrap();
    let system = marimo::start(settings, listeners)
        .await
        .expect("the others start");
    // Accounting finds the others where they really listen.
    for name in &others {
        accounting_settings
            .service_urls
            .insert(*name, vec![system.url(*name)]);
    }
    let accounting = marimo::start(
        accounting_settings,
        vec![(ServiceName::Accounting, listener)],
    )
    .await
    .expect("accounting starts");
    let gw = Http::new(&system.url(ServiceName::Gateway));
    (
        Running {
            system: Some(system),
            data_dir,
            gw,
        },
        accounting,
    )
}

// ---------------------------------------------------------------- broker

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_while_rabbitmq_is_cut_or_blackholed_arrive_exactly_once() {
    let Some(rabbit) = RabbitVhost::create() else {
        return;
    };
    let backend = backends().pop().expect("a backend");
    let proxy = TcpProxy::to_url(&rabbit.url).await;
    let through = with_authority(&rabbit.url, &proxy.addr().to_string());
    let sys = start(&backend, &vars(&[("RABBITMQ_URL", through.as_str())])).await;
    let shop = Shopper::new(&sys.gw).await;
    let mut paid = Vec::new();
    for n in 0..BEFORE {
        paid.push(shop.paid_order(n).await);
    }
    shop.booked_once(&paid).await;

    // The broker vanishes: the shop keeps taking payments, its outbox
    // keeps the events.
    proxy.cut().await;
    for n in 0..DURING {
        paid.push(shop.paid_order(paid.len() + n).await);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    proxy.restore().await;
    shop.booked_once(&paid).await;

    // The broker stops answering without closing anything.
    proxy.blackhole();
    let start_at = paid.len();
    for n in 0..DURING {
        paid.push(shop.paid_order(start_at + n).await);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    proxy.restore().await;

    shop.booked_once(&paid).await;
    shop.audited_once(&paid).await;
    shop.books_reconcile(&paid).await;
    shop.no_dead_letters().await;
    sys.stop().await;
}

// ----------------------------------------------------------------- Redis

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_keep_succeeding_while_redis_is_blackholed() {
    let Some(url) = marimo_testkit::redis_url() else {
        return;
    };
    let proxy = TcpProxy::to_url(&url).await;
    let redis = TestRedis::new(&proxy.url("redis"));
    // Limits on (kept in Redis) but far above what this test sends.
    let mut vars = vars(&[]);
    vars.retain(|(k, _)| *k != "MARIMO_RATE_LIMITS");
    vars.push((
        "MARIMO_RATE_LIMITS",
        "login=1000/m,register=1000/m,refresh=1000/m,user=10000/m",
    ));
    vars.extend(redis.vars());
    let sys = start(&Backend::Sqlite, &vars).await;
    let shop = Shopper::new(&sys.gw).await;
    // Warm: the catalog is cached in Redis and limits are kept there.
    for _ in 0..5 {
        sys.gw.get("/api/shop/products").send().await.expect(200);
    }

    // Redis stops answering: the anonymous catalog (response cache) and
    // a signed-in customer's orders (rate limit per user) keep working.
    proxy.blackhole();
    let mut paid = Vec::new();
    for n in 0..40 {
        let res = sys.gw.get("/api/shop/products").send().await;
        assert_eq!(res.status, 200, "catalog request {n}: {}", res.text);
        let res = sys
            .gw
            .get("/api/shop/orders")
            .bearer(&shop.customer)
            .send()
            .await;
        assert_eq!(res.status, 200, "orders request {n}: {}", res.text);
        if n % 10 == 0 {
            paid.push(shop.paid_order(n / 10).await);
        }
    }
    proxy.restore().await;
    for _ in 0..5 {
        sys.gw.get("/api/shop/products").send().await.expect(200);
    }
    shop.booked_once(&paid).await;
    sys.stop().await;
}

// ---------------------------------------------------------- dead letters

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_at_once_listed_and_replayed() {
    // Embedded bus on SQLite: the poison is an event whose payload cannot
    // be read, written into the shop's outbox as a bug would.
    let sys = start(&Backend::Sqlite, &vars(&[])).await;
    let poison =
        marimo_platform::bus::Envelope::new("shop", "shop.order.paid", json!("not an order"));
    {
        use sqlx::{ConnectOptions, sqlite::SqliteConnectOptions};
        let mut conn = SqliteConnectOptions::new()
            .filename(sys.data_dir.join("shop.db"))
            .connect()
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO outbox (id, event_type, envelope, created_at, attempts) VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(&poison.id)
        .bind(&poison.event_type)
        .bind(serde_json::to_string(&poison).unwrap())
        .bind(&poison.occurred_at)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    poisoned(&sys, &poison.id, "permanent").await;
    sys.stop().await;

    // RabbitMQ: a message that is not an envelope at all.
    let Some(rabbit) = RabbitVhost::create() else {
        return;
    };
    let backend = backends().pop().expect("a backend");
    let sys = start(&backend, &vars(&[("RABBITMQ_URL", rabbit.url.as_str())])).await;
    // The accounting queue exists once accounting subscribed (at start).
    let conn = lapin::Connection::connect(&rabbit.url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .basic_publish(
            "".into(),
            "accounting".into(),
            lapin::options::BasicPublishOptions::default(),
            b"{not json",
            lapin::BasicProperties::default().with_message_id("poison-1".into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let _ = conn.close(200, "OK".into()).await;
    poisoned(&sys, "poison-1", "unparseable").await;
    sys.stop().await;
}

/// The poison `event_id` is in accounting's dead letters with `reason`,
/// shows on the screen, and a Replay from the screen sends it back (it is
/// dead-lettered again: it still cannot be read).
async fn poisoned(sys: &Running, event_id: &str, reason: &str) {
    let shop = Shopper::new(&sys.gw).await;
    let depth = eventually("the poison in accounting's dead letters", async || {
        let queues = shop.get("/api/worker/dead-letters").await;
        queues["queues"]
            .as_array()?
            .iter()
            .find(|q| q["queue"] == "accounting" && q["depth"].as_u64() > Some(0))
            .map(|q| q["depth"].clone())
    })
    .await;
    assert_eq!(depth, 1);
    let listed = shop.get("/api/worker/dead-letters/accounting").await;
    let letter = &listed["dead_letters"][0];
    assert_eq!(letter["event_id"], event_id, "{listed}");
    assert_eq!(letter["reason"], reason, "{letter}");
    assert!(
        letter["attempts"].as_i64() <= Some(1),
        "not retried: {letter}"
    );

    // The screen lists it; its Replay button sends it back.
    let mut page = Page::new(sys);
    page.sign_in(ADMIN.0, ADMIN.1).await;
    let screen = page.get("/dead-letters?queue=accounting").await;
    assert_eq!(screen.status, 200);
    assert!(screen.body.contains(event_id), "{}", screen.body);
    assert!(screen.body.contains(reason));
    let replayed = page
        .submit("/dead-letters/accounting/replay", &[("id", event_id)])
        .await;
    assert_eq!(replayed.status, 303, "{}", replayed.body);
    assert_eq!(
        replayed.location,
        "/dead-letters?queue=accounting&done=replayed"
    );
    let after = page.get(&replayed.location).await;
    assert!(after.body.contains("Sent back to be consumed again."));
    // Consumed again, refused again, listed again.
    eventually("the replayed poison dead-lettered again", async || {
        let listed = shop.get("/api/worker/dead-letters/accounting").await;
        listed["dead_letters"]
            .as_array()?
            .iter()
            .any(|l| l["event_id"] == event_id)
            .then_some(())
    })
    .await;
    // Other users do not see the screen.
    let mut customer = Page::new(sys);
    let email = format!("peek-{}@example.com", marimo_platform::ids::new_id());
    register_and_login(&sys.gw, &email).await;
    customer.sign_in(&email, crate::support::PASSWORD).await;
    assert_eq!(customer.get("/dead-letters").await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_refused_for_a_closed_period_is_booked_once_reopened_and_replayed() {
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let sys = start(&backend, &vars(&[])).await;
        let shop = Shopper::new(&sys.gw).await;
        let period = marimo_platform::clock::now_text()[..7].to_owned();
        let close = |action: &'static str| {
            let (gw, admin, period) = (sys.gw.clone(), shop.admin.clone(), period.clone());
            async move {
                gw.post(&format!("/api/accounting/periods/{period}/{action}"))
                    .bearer(&admin)
                    .send()
                    .await
                    .expect(200);
            }
        };
        close("close").await;
        let paid = vec![shop.paid_order(0).await];
        let letter = eventually("the payment dead-lettered", async || {
            let listed = shop.get("/api/worker/dead-letters/accounting").await;
            listed["dead_letters"].as_array()?.first().cloned()
        })
        .await;
        assert_eq!(letter["reason"], "permanent");
        assert!(
            letter["error"]
                .as_str()
                .unwrap()
                .starts_with("PERIOD_CLOSED"),
            "{letter}"
        );

        close("reopen").await;
        let replayed = sys
            .gw
            .post("/api/worker/dead-letters/accounting/replay")
            .bearer(&shop.admin)
            .json(json!({"ids": [letter["event_id"]]}))
            .send()
            .await
            .expect(200);
        assert_eq!(replayed.json["replayed"], 1);
        shop.booked_once(&paid).await;
        shop.books_reconcile(&paid).await;
        shop.no_dead_letters().await;
        sys.stop().await;
    }
}
