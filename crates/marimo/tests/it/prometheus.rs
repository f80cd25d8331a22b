//! The real Prometheus (Debian's `prometheus` package) scrapes a running
//! system with the project's own configuration (deploy/prometheus/
//! prometheus.yml, retargeted at the test's ports, 1 s intervals) and rules
//! (alerts.yml); its HTTP API must show every service up, the gateway's
//! request counter, and every alert rule loaded and evaluating cleanly.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use marimo_platform::{ids::new_id, service::ServiceName};
use serde_json::Value;

use crate::support::system_with_traffic;

/// How long Prometheus gets to start, scrape and evaluate (1 s intervals).
const DEADLINE: Duration = Duration::from_secs(60);

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus")
}

/// `PROMETHEUS_BIN`, else `prometheus` on the PATH or in /usr/bin.
fn prometheus_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("PROMETHEUS_BIN") {
        return Some(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file())
}

/// A Prometheus process, killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    log: PathBuf,
    dir: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    /// The end of its log, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<_> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// deploy/prometheus/prometheus.yml with the compose host names replaced
/// by the test's addresses and 1 s intervals. Every replacement must
/// apply, so a change of the deploy file's shape fails here loudly.
fn test_config(deployed: &str, services: &[(ServiceName, String)], own_port: u16) -> String {
    let mut config = deployed.to_owned();
    let mut replace = |from: &str, to: &str| {
        assert!(
            config.contains(from),
            "deploy/prometheus/prometheus.yml no longer contains {from:?}"
        );
        config = config.replace(from, to);
    };
    replace("scrape_interval: 15s", "scrape_interval: 1s");
    replace("evaluation_interval: 15s", "evaluation_interval: 1s");
    replace("localhost:9090", &format!("127.0.0.1:{own_port}"));
    for (name, url) in services {
        let host_port = url.trim_start_matches("http://");
        let compose = format!("\"{name}:{}\"", name.default_port());
        replace(&compose, &format!("\"{host_port}\""));
    }
    config
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn start_prometheus(bin: &Path, services: &[(ServiceName, String)]) -> Prometheus {
    let dir = std::env::temp_dir().join(format!("marimo-prometheus-{}", new_id()));
    std::fs::create_dir_all(dir.join("data")).expect("temp dir");
    let deployed = std::fs::read_to_string(deploy_dir().join("prometheus.yml")).expect("config");
    let port = free_port();
    std::fs::write(
        dir.join("prometheus.yml"),
        test_config(&deployed, services, port),
    )
    .expect("write config");
    // `rule_files: [alerts.yml]` is relative to the configuration file.
    std::fs::copy(deploy_dir().join("alerts.yml"), dir.join("alerts.yml")).expect("rules");
    let log = dir.join("prometheus.log");
    let child = Command::new(bin)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
        dir,
    }
}

/// GET an API path; `None` until Prometheus answers with `status: success`.
async fn api(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    query: &[(&str, &str)],
) -> Option<Value> {
    let res = client
        .get(format!("{base}{path}"))
        .query(query)
        .send()
        .await
        .ok()?;
    let body: Value = res.json().await.ok()?;
    (body["status"] == "success").then(|| body["data"].clone())
}

/// Polls `check` until it returns `Ok`, failing with its last error and
/// Prometheus' log after [`DEADLINE`] or when Prometheus exits.
async fn wait_for<T, F, Fut>(prom: &mut Prometheus, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let last = match check().await {
            Ok(v) => return v,
            Err(why) => why,
        };
        if let Ok(Some(status)) = prom.child.try_wait() {
            panic!(
                "prometheus exited ({status}) while waiting for {what}:\n{}",
                prom.log_tail()
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {last}\nprometheus log:\n{}",
            prom.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `(group names, alert names)` declared in alerts.yml.
fn declared_rules() -> (BTreeSet<String>, BTreeSet<String>) {
    let text = std::fs::read_to_string(deploy_dir().join("alerts.yml")).expect("alerts.yml");
    let mut groups = BTreeSet::new();
    let mut alerts = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- name:") {
            groups.insert(name.trim().to_owned());
        } else if let Some(name) = line.strip_prefix("- alert:") {
            alerts.insert(name.trim().to_owned());
        }
    }
    assert!(
        !groups.is_empty() && !alerts.is_empty(),
        "alerts.yml declares rules"
    );
    (groups, alerts)
}

/// The value of a one-series instant query, if it has one.
fn scalar(data: &Value) -> Option<f64> {
    data["result"][0]["value"][1].as_str()?.parse().ok()
}

#[tokio::test]
async fn real_prometheus_scrapes_every_service_and_loads_the_alert_rules() {
    let Some(bin) = prometheus_binary() else {
        assert!(
            !marimo_testkit::is_ci(),
            "CI=true but the prometheus binary is missing (apt-get install prometheus)"
        );
        eprintln!("note: no prometheus binary; real-Prometheus test skipped (it runs in CI)");
        return;
    };
    marimo_platform::telemetry::init_logging("warn", marimo_platform::config::LogFormat::Pretty);
    let (sys, services) = system_with_traffic().await;
    let mut prom = start_prometheus(&bin, &services);
    let (client, base) = (reqwest::Client::new(), prom.url.clone());
    let (client, base) = (&client, base.as_str());

    // Every service is a target and was scraped successfully.
    let all: BTreeSet<String> = services.iter().map(|(n, _)| n.to_string()).collect();
    wait_for(&mut prom, "every service up", || async {
        let data = api(
            client,
            base,
            "/api/v1/query",
            &[("query", r#"up{job="marimo"} == 1"#)],
        )
        .await
        .ok_or("no answer yet")?;
        let up: BTreeSet<String> = data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["metric"]["service"].as_str().map(str::to_owned))
            .collect();
        if up == all {
            return Ok(());
        }
        let targets = api(client, base, "/api/v1/targets", &[]).await;
        Err(format!("up: {up:?}; targets: {targets:?}"))
    })
    .await;

    // The traffic went through the gateway before the first scrape.
    let gateway_requests = wait_for(&mut prom, "the gateway's request count", || async {
        let q = r#"sum(http_requests_total{service="gateway"})"#;
        let data = api(client, base, "/api/v1/query", &[("query", q)])
            .await
            .ok_or("no answer yet")?;
        scalar(&data).ok_or_else(|| format!("no series yet: {data}"))
    })
    .await;
    assert!(gateway_requests > 0.0, "{gateway_requests}");

    // A series' own service and instance labels win (the relabelling in
    // prometheus.yml): the gateway's breaker gauge names the upstream
    // instance, so CircuitBreakerOpen does too; the gateway that reported
    // it is `scraped_instance`.
    let url_of = |name| &services.iter().find(|(n, _)| *n == name).unwrap().1;
    let (users_url, gateway_url) = (url_of(ServiceName::Users), url_of(ServiceName::Gateway));
    let q = format!(
        r#"circuit_breaker_state{{service="users",instance="{users_url}",scraped_instance="{}"}}"#,
        gateway_url.trim_start_matches("http://")
    );
    let breaker = wait_for(&mut prom, "the users breaker gauge", || async {
        let data = api(client, base, "/api/v1/query", &[("query", q.as_str())])
            .await
            .ok_or("no answer yet")?;
        let all = api(
            client,
            base,
            "/api/v1/query",
            &[("query", "circuit_breaker_state")],
        )
        .await;
        scalar(&data).ok_or_else(|| format!("no such series; all breaker series: {all:?}"))
    })
    .await;
    assert_eq!(breaker, 0.0, "closed");

    // Every group and alert of alerts.yml is loaded and has evaluated
    // without error.
    let (groups, alerts) = declared_rules();
    let loaded = wait_for(&mut prom, "every rule evaluated", || async {
        let data = api(client, base, "/api/v1/rules", &[])
            .await
            .ok_or("no answer yet")?;
        let rules: Vec<&Value> = data["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        let pending: Vec<_> = rules
            .iter()
            .filter(|r| r["health"] == "unknown")
            .map(|r| r["name"].clone())
            .collect();
        if rules.is_empty() || !pending.is_empty() {
            return Err(format!("not evaluated yet: {pending:?}"));
        }
        Ok(data)
    })
    .await;
    let loaded_groups: BTreeSet<String> = loaded["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(loaded_groups, groups);
    let rules: Vec<&Value> = loaded["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    let loaded_alerts: BTreeSet<String> = rules
        .iter()
        .filter(|r| r["type"] == "alerting")
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(loaded_alerts, alerts);
    for rule in rules {
        assert_eq!(rule["health"], "ok", "rule evaluation failed: {rule}");
    }

    drop(prom);
    sys.stop().await;
}
