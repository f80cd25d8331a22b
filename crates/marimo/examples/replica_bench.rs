//! Measures what clients see when a replica dies and when the database
//! comes back (a measurement, not a test: `scripts/replica-bench.sh` runs
//! it for the binaries to compare).
//!
//! Every service runs as its own `marimo serve` process of the binary
//! given (`--bin`), two shop replicas behind the gateway, on a fresh
//! PostgreSQL database (reached through a TCP fault proxy) and a RabbitMQ
//! virtual host of its own:
//!
//! 1. **Replica kill**: readers (a product, the customer's orders) and
//!    payers (place an order, pay it, both with an `Idempotency-Key`, no
//!    client retries) run for `--before` seconds, then one shop replica
//!    gets SIGKILL and they run `--after` seconds more. Reported: failed
//!    requests (any answer but 2xx) by kind and status, and throughput per
//!    second against the mean before the kill.
//! 2. **Breaker recovery**: on a fresh system, readers of the customer's
//!    orders (a database read in the shop) run while the database is cut
//!    for `--cut` seconds; reported: how long after the database returned
//!    the first request succeeded and the last one failed.
//!
//! Environment: `MARIMO_TEST_DATABASE_URL` (a PostgreSQL server, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and
//! `MARIMO_TEST_RABBITMQ_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`,
//! with `rabbitmqctl` on the PATH to make the virtual host).

#![allow(clippy::print_stdout)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use marimo_platform::{config::DatabaseConfig, ids::new_id, service::ServiceName};
use marimo_testkit::{Backend, TEST_JWT_SECRET, TcpProxy};
use serde_json::{Value, json};

const ADMIN: (&str, &str) = ("bench@marimo.test", "Bench-Passw0rd");

struct Args {
    bin: PathBuf,
    label: String,
    before: u64,
    after: u64,
    cut: u64,
    clients: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        bin: PathBuf::from("target/debug/marimo"),
        label: String::new(),
        before: 10,
        after: 10,
        cut: 10,
        clients: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--bin" => a.bin = PathBuf::from(value()?),
            "--label" => a.label = value()?,
            "--before" => a.before = value()?.parse()?,
            "--after" => a.after = value()?.parse()?,
            "--cut" => a.cut = value()?.parse()?,
            "--clients" => a.clients = value()?.parse()?,
            other => anyhow::bail!(
                "unknown argument {other}; usage: replica_bench --bin <marimo> [--label L] [--before S] [--after S] [--cut S] [--clients N]"
            ),
        }
    }
    if a.label.is_empty() {
        a.label = a.bin.display().to_string();
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    println!("# {}", args.label);
    replica_kill(&args).await?;
    breaker_recovery(&args).await?;
    Ok(())
}

/// A port nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("rabbitmqctl").arg("-q").args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Every service as a process of `bin`, shop twice; all on a fresh
/// database through `proxy`.
struct System {
    procs: Vec<(ServiceName, u16, Child)>,
    gateway: String,
    vhost: String,
    proxy: TcpProxy,
    _dir: PathBuf,
}

impl Drop for System {
    fn drop(&mut self) {
        for (_, _, child) in &mut self.procs {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = rabbitmqctl(&["delete_vhost", &self.vhost]);
    }
}

impl System {
    async fn start(bin: &Path) -> anyhow::Result<Self> {
        let server = std::env::var("MARIMO_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let rabbit = std::env::var("MARIMO_TEST_RABBITMQ_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
        let settings = Backend::Postgres { server_url: server }.settings(&[]).await;
        let DatabaseConfig::Postgres { url } = &settings.database else {
            anyhow::bail!("not a PostgreSQL database");
        };
        let proxy = TcpProxy::to_url(url).await;
        // The same database, through the proxy.
        let (scheme_user, rest) = url
            .split_once('@')
            .ok_or_else(|| anyhow::anyhow!("a database URL with user@host"))?;
        let path = rest.split_once('/').map_or("", |(_, p)| p);
        let db_url = format!("{scheme_user}@{}/{path}", proxy.addr());

        let vhost = format!("marimo-bench-{}", new_id());
        rabbitmqctl(&["add_vhost", &vhost])?;
        rabbitmqctl(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"])?;
        let root = rabbit.rsplit_once('/').map_or(rabbit.as_str(), |(r, _)| r);
        let rabbit_url = format!("{root}/{vhost}");

        let dir = settings.data_dir.clone();
        std::fs::create_dir_all(&dir)?;
        let mut ports: BTreeMap<ServiceName, Vec<u16>> = BTreeMap::new();
        for s in ServiceName::ALL {
            let n = if s == ServiceName::Shop { 2 } else { 1 };
            ports.insert(s, (0..n).map(|_| free_port()).collect::<Result<_, _>>()?);
        }
        let mut env: Vec<(String, String)> = vec![
            ("MARIMO_DATA_DIR".into(), dir.to_string_lossy().into()),
            ("DATABASE_URL".into(), db_url),
            ("JWT_SECRET".into(), TEST_JWT_SECRET.into()),
            ("RABBITMQ_URL".into(), rabbit_url),
            ("LOG_LEVEL".into(), "warn".into()),
            ("MARIMO_RATE_LIMITS".into(), "off".into()),
            // Reads reach the replicas, not the gateway's cache.
            ("MARIMO_CACHE".into(), "off".into()),
            ("MARIMO_ADMIN_EMAIL".into(), ADMIN.0.into()),
            ("MARIMO_ADMIN_PASSWORD".into(), ADMIN.1.into()),
        ];
        for (s, list) in &ports {
            let urls: Vec<String> = list
                .iter()
                .map(|p| format!("http://127.0.0.1:{p}"))
                .collect();
            env.push((s.urls_var(), urls.join(",")));
        }
        let mut procs = Vec::new();
        for (s, list) in &ports {
            for (i, port) in list.iter().enumerate() {
                let log = std::fs::File::create(dir.join(format!("{s}-{i}.log")))?;
                let child = Command::new(bin)
                    .env_clear()
                    .env("PATH", std::env::var("PATH").unwrap_or_default())
                    .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .args(["serve", s.as_str(), "--port", &port.to_string()])
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()?;
                procs.push((*s, *port, child));
            }
        }
        let system = Self {
            gateway: format!("http://127.0.0.1:{}", ports[&ServiceName::Gateway][0]),
            procs,
            vhost,
            proxy,
            _dir: dir,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(180);
        for (s, port, _) in &system.procs {
            loop {
                let ready = http
                    .get(format!("http://127.0.0.1:{port}/ready"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ready {
                    break;
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "{s} on :{port} never became ready"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(system)
    }

    fn kill(&mut self, service: ServiceName, n: usize) {
        if let Some((_, _, child)) = self.procs.iter_mut().filter(|p| p.0 == service).nth(n) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A client of the gateway.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                (status, res.json().await.unwrap_or(Value::Null))
            }
            // No answer at all: counted as status 0.
            Err(_) => (0, Value::Null),
        }
    }

    async fn token(&self, email: &str, password: &str, register: bool) -> anyhow::Result<String> {
        if register {
            self.call(
                reqwest::Method::POST,
                "/api/users/register",
                None,
                None,
                Some(&json!({"email": email, "password": password, "name": "Bench"})),
            )
            .await;
        }
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/users/login",
                None,
                None,
                Some(&json!({"email": email, "password": password})),
            )
            .await;
        anyhow::ensure!(status == 200, "login {email}: {status} {body}");
        Ok(body["access_token"].as_str().unwrap_or_default().to_owned())
    }
}

/// One answer: when (ms since the start), what, and its status.
type Log = Arc<Mutex<Vec<(u64, &'static str, u16)>>>;

fn record(log: &Log, start: Instant, what: &'static str, status: u16) {
    let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    log.lock().unwrap().push((ms, what, status));
}

async fn setup(c: &Client) -> anyhow::Result<(String, String, String)> {
    let admin = c.token(ADMIN.0, ADMIN.1, false).await?;
    let customer = c
        .token(
            &format!("bench-{}@example.com", new_id()),
            "Bench-Passw0rd-1",
            true,
        )
        .await?;
    let (status, body) = c
        .call(
            reqwest::Method::POST,
            "/api/shop/admin/products",
            Some(&admin),
            None,
            Some(&json!({"name": "Bench Lamp", "price": "2.50", "stock": 10_000_000})),
        )
        .await;
    anyhow::ensure!(status == 201, "product: {status} {body}");
    let product = body["product"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((admin, customer, product))
}

/// Reads a product and the customer's orders until stopped.
async fn reader(
    c: Client,
    log: Log,
    stop: Arc<AtomicBool>,
    start: Instant,
    customer: String,
    product: String,
) {
    while !stop.load(Ordering::SeqCst) {
        let path = format!("/api/shop/products/{product}");
        let (s, _) = c.call(reqwest::Method::GET, &path, None, None, None).await;
        record(&log, start, "GET product", s);
        let (s, _) = c
            .call(
                reqwest::Method::GET,
                "/api/shop/orders",
                Some(&customer),
                None,
                None,
            )
            .await;
        record(&log, start, "GET orders", s);
    }
}

/// Places an order as the customer and pays it as the admin, each with
/// a key of its own, until stopped.
async fn payer(
    c: Client,
    log: Log,
    stop: Arc<AtomicBool>,
    start: Instant,
    (customer, admin): (String, String),
    product: String,
) {
    while !stop.load(Ordering::SeqCst) {
        let body = json!({"items": [{"product_id": product, "quantity": 1}]});
        let (s, placed) = c
            .call(
                reqwest::Method::POST,
                "/api/shop/orders",
                Some(&customer),
                Some(&new_id()),
                Some(&body),
            )
            .await;
        record(&log, start, "POST order", s);
        let Some(id) = placed["order"]["id"].as_str() else {
            continue;
        };
        let pay = json!({"method": "card", "reference": "BENCH"});
        let (s, _) = c
            .call(
                reqwest::Method::POST,
                &format!("/api/shop/orders/{id}/pay"),
                Some(&admin),
                Some(&new_id()),
                Some(&pay),
            )
            .await;
        record(&log, start, "POST pay", s);
    }
}

async fn replica_kill(args: &Args) -> anyhow::Result<()> {
    let mut system = System::start(&args.bin).await?;
    let c = Client {
        http: reqwest::Client::new(),
        base: system.gateway.clone(),
    };
    let (admin, customer, product) = setup(&c).await?;
    let log: Log = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        tasks.push(tokio::spawn(reader(
            c.clone(),
            log.clone(),
            stop.clone(),
            start,
            customer.clone(),
            product.clone(),
        )));
        tasks.push(tokio::spawn(payer(
            c.clone(),
            log.clone(),
            stop.clone(),
            start,
            (customer.clone(), admin.clone()),
            product.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(args.before)).await;
    let killed_at = u64::try_from(start.elapsed().as_millis()).unwrap_or(0);
    system.kill(ServiceName::Shop, 0);
    tokio::time::sleep(Duration::from_secs(args.after)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let log = log.lock().unwrap().clone();

    println!(
        "== replica kill: SIGKILL of one of two shop replicas at {:.1} s",
        killed_at as f64 / 1000.0
    );
    let mut failures: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    let mut sent: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, what, status) in &log {
        *sent.entry(what).or_default() += 1;
        if !(200..300).contains(status) {
            *failures.entry((what, *status)).or_default() += 1;
        }
    }
    for (what, n) in &sent {
        let failed: usize = failures
            .iter()
            .filter(|((w, _), _)| w == what)
            .map(|(_, n)| n)
            .sum();
        let statuses: Vec<String> = failures
            .iter()
            .filter(|((w, _), _)| w == what)
            .map(|((_, s), n)| format!("{n}×{s}"))
            .collect();
        println!("  {what}: {n} sent, {failed} failed {statuses:?}");
    }
    let total_failed: usize = failures.values().sum();
    println!("  failed requests: {total_failed}");
    // Answers per second (successful ones), before and after the kill.
    let mut per_sec: BTreeMap<u64, usize> = BTreeMap::new();
    for (ms, _, status) in &log {
        if (200..300).contains(status) {
            *per_sec.entry(ms / 1000).or_default() += 1;
        }
    }
    let kill_sec = killed_at / 1000;
    // The baseline is the last 5 full seconds before the kill (the first
    // ones are warm-up: pools filling, first queries planned).
    let before: Vec<usize> = (kill_sec.saturating_sub(5).max(1)..kill_sec)
        .map(|s| per_sec.get(&s).copied().unwrap_or(0))
        .collect();
    let after: Vec<usize> = (kill_sec..kill_sec + args.after)
        .map(|s| per_sec.get(&s).copied().unwrap_or(0))
        .collect();
    let baseline = before.iter().sum::<usize>() as f64 / before.len().max(1) as f64;
    let lowest = after.iter().copied().min().unwrap_or(0);
    let under = after
        .iter()
        .filter(|n| (**n as f64) < 0.8 * baseline)
        .count();
    println!(
        "  throughput (successful answers/s): the 5 s before the kill {before:?} (mean {baseline:.0}); the seconds after it {after:?}"
    );
    println!(
        "  throughput dip: lowest second {lowest} ({:.0} % of before), {under} s under 80 %",
        100.0 * lowest as f64 / baseline.max(1.0)
    );
    Ok(())
}

async fn breaker_recovery(args: &Args) -> anyhow::Result<()> {
    let system = System::start(&args.bin).await?;
    let c = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
        base: system.gateway.clone(),
    };
    let (_, customer, _) = setup(&c).await?;
    let log: Log = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (c, log, stop, customer) = (c.clone(), log.clone(), stop.clone(), customer.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let (s, _) = c
                    .call(
                        reqwest::Method::GET,
                        "/api/shop/orders",
                        Some(&customer),
                        None,
                        None,
                    )
                    .await;
                record(&log, start, "GET orders", s);
                // A client polling, not a flood: the breaker's behaviour,
                // not the load, is measured.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cut_at = start.elapsed();
    system.proxy.cut().await;
    tokio::time::sleep(Duration::from_secs(args.cut)).await;
    system.proxy.restore().await;
    let back_at = u64::try_from(start.elapsed().as_millis()).unwrap_or(0);
    // Long enough for a 30 s open breaker to let a trial through.
    tokio::time::sleep(Duration::from_secs(45)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let log = log.lock().unwrap().clone();
    let after: Vec<&(u64, &str, u16)> = log.iter().filter(|(ms, _, _)| *ms >= back_at).collect();
    let first_ok = after
        .iter()
        .find(|(_, _, s)| *s == 200)
        .map(|(ms, _, _)| ms - back_at);
    let last_failure = after
        .iter()
        .rev()
        .find(|(_, _, s)| *s != 200)
        .map(|(ms, _, _)| ms - back_at);
    let failed_after = after.iter().filter(|(_, _, s)| *s != 200).count();
    let secs = |ms: Option<u64>| {
        ms.map_or_else(
            || "never".to_owned(),
            |ms| format!("{:.1} s", ms as f64 / 1000.0),
        )
    };
    println!(
        "== breaker recovery: database cut for {} s at {:.1} s, back at {:.1} s",
        args.cut,
        cut_at.as_secs_f64(),
        back_at as f64 / 1000.0
    );
    println!(
        "  after the database returned: first success {}, last failure {} ({failed_after} failed answers)",
        secs(first_ok),
        secs(last_failure)
    );
    Ok(())
}
