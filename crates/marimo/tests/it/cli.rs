//! The `marimo` binary as an operator uses it: help, admin creation from
//! stdin, `up` on ephemeral ports, and a graceful stop on SIGTERM.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::Duration,
};

use marimo_testkit::{Http, TEST_JWT_SECRET};
use serde_json::json;

fn marimo(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marimo"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MARIMO_DATA_DIR", data_dir)
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("LOG_FORMAT", "json")
        .env("MARIMO_RATE_LIMITS", "off");
    cmd
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("marimo-cli-{}", marimo_platform::ids::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn help_lists_every_command_and_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_marimo"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["up", "serve", "migrate", "admin"] {
        assert!(help.contains(word), "--help lacks {word}");
    }
    for var in [
        "DATABASE_URL",
        "DB_HOST",
        "JWT_SECRET",
        "MARIMO_DATA_DIR",
        "MARIMO_ENV",
        "REDIS_ADDR",
        "MARIMO_REDIS_NAMESPACE",
        "RABBITMQ_URL",
        "CONSUL_ADDR",
        "SMTP_URL",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "MARIMO_RATE_LIMITS",
        "MARIMO_MIGRATE",
        "GATEWAY_PORT",
        "SHOP_URLS",
    ] {
        assert!(help.contains(var), "--help lacks {var}");
    }
    let version = Command::new(env!("CARGO_BIN_EXE_marimo"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn production_without_a_secret_refuses_to_start() {
    let dir = temp_dir();
    let out = marimo(&dir)
        .env_remove("JWT_SECRET")
        .env("MARIMO_ENV", "production")
        .arg("up")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("JWT_SECRET"));
}

/// Reads JSON log lines until `gateway` reports its address, then keeps
/// draining the log so the child never blocks on a full pipe.
fn gateway_addr(stderr: impl std::io::Read + Send + 'static) -> String {
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if v["message"] == "listening" && v["service"] == "gateway" {
            std::thread::spawn(move || lines.for_each(drop));
            return v["addr"].as_str().unwrap().to_owned();
        }
    }
    panic!("marimo up exited before the gateway listened");
}

#[tokio::test]
async fn admin_from_stdin_then_up_then_sigterm_exits_cleanly() {
    let dir = temp_dir();
    let mut create = marimo(&dir)
        .args([
            "admin",
            "create-user",
            "--email",
            "boss@example.com",
            "--role",
            "admin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"Boss-Passw0rd\n")
        .unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Ports 0: the services find each other at their real addresses.
    let mut cmd = marimo(&dir);
    for name in [
        "GATEWAY",
        "USERS",
        "CONFIG",
        "ACCOUNTING",
        "FACTORY",
        "SHOP",
        "MAIN",
        "WORKER",
    ] {
        cmd.env(format!("{name}_PORT"), "0");
    }
    let mut up = cmd.arg("up").stderr(Stdio::piped()).spawn().unwrap();
    let addr = gateway_addr(up.stderr.take().unwrap());
    let gw = Http::new(&format!("http://{addr}"));

    let health = gw.get("/health").send().await;
    assert_eq!(health.status, 200, "{}", health.text);
    let login = gw
        .post("/api/users/login")
        .json(json!({"email": "boss@example.com", "password": "Boss-Passw0rd"}))
        .send()
        .await
        .expect(200);
    assert_eq!(login.json["user"]["role"], "admin");

    // SIGTERM: stop accepting, drain, exit 0.
    let pid = up.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = up.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "marimo did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
}
