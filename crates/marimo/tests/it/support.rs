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
    let settings = backend.settings(overrides).await;
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

/// Polls `check` until it returns `Some` (bounded: fails after 30 s).
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
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
