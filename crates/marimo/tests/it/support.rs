//! Starting the whole system for a test.

use marimo::System;
use marimo_platform::service::ServiceName;
use marimo_testkit::{Backend, Http};
use serde_json::{Value, json};

pub struct Running {
    pub system: Option<System>,
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
    let listeners = marimo::bind(&settings, &ServiceName::ALL, Some(0))
        .await
        .expect("bind");
    let system = marimo::start(settings, listeners).await.expect("start");
    let gw = Http::new(&system.url(ServiceName::Gateway));
    Running {
        system: Some(system),
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
