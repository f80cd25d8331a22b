//! What the bus suites share: a count in a service's database, and waiting
//! for it (through `testkit::eventually_within`).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use marimo_platform::service::ServiceContext;

/// How long the bus suites wait: a broker's redelivery after a cut takes
/// longer than `testkit::EVENTUALLY`.
pub const PATIENCE: Duration = Duration::from_secs(40);

pub async fn scalar(ctx: &ServiceContext, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(ctx.db().pool())
        .await
        .unwrap()
}

/// Waits until `sql` counts `want` in `ctx`'s database.
pub async fn count_reaches(ctx: &ServiceContext, sql: &'static str, want: i64) {
    marimo_testkit::eventually_within(PATIENCE, sql, async || {
        let got = scalar(ctx, sql).await;
        if got == want {
            Ok(())
        } else {
            Err(format!("got {got}, want {want}"))
        }
    })
    .await;
}

/// Takes one service's database away from it and gives it back, on either
/// backend, the way an operator meets it: on PostgreSQL the service talks
/// to the server through a [`TcpProxy`] that is cut (open connections
/// closed, new ones refused); on SQLite another connection holds the
/// file's write lock, so the service's writers fail with `SQLITE_BUSY`
/// once their busy timeout runs out.
pub struct DbOutage {
    proxy: Option<marimo_testkit::TcpProxy>,
    /// SQLite: the database file.
    file: Option<std::path::PathBuf>,
    locker: tokio::sync::Mutex<Option<sqlx::SqliteConnection>>,
}

impl DbOutage {
    /// `settings` for `service`, with its database reachable only through
    /// this outage's proxy (PostgreSQL).
    pub async fn for_service(
        settings: &marimo_platform::config::Settings,
        service: &str,
    ) -> (Self, marimo_platform::config::Settings) {
        use marimo_platform::config::DatabaseConfig;
        let mut through = settings.clone();
        let outage = match &settings.database {
            DatabaseConfig::Postgres { url } => {
                let proxy = marimo_testkit::TcpProxy::to_url(url).await;
                through.database = DatabaseConfig::Postgres {
                    url: with_authority(url, &proxy.addr().to_string()),
                };
                Self {
                    proxy: Some(proxy),
                    file: None,
                    locker: tokio::sync::Mutex::new(None),
                }
            }
            DatabaseConfig::Sqlite { dir } => Self {
                proxy: None,
                file: Some(dir.join(format!("{service}.db"))),
                locker: tokio::sync::Mutex::new(None),
            },
        };
        (outage, through)
    }

    /// The database goes away.
    pub async fn begin(&self) {
        if let Some(proxy) = &self.proxy {
            proxy.cut().await;
        }
        if let Some(file) = &self.file {
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
            *self.locker.lock().await = Some(conn);
        }
    }

    /// The database is back.
    pub async fn end(&self) {
        if let Some(proxy) = &self.proxy {
            proxy.restore().await;
        }
        if let Some(conn) = self.locker.lock().await.take() {
            use sqlx::Connection;
            let _ = conn.close().await;
        }
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

/// Log lines written to memory (a `tracing_subscriber` writer), read back
/// as JSON.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

impl Capture {
    pub fn lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}
