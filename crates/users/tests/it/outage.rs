//! A database outage: the service answers 503 in the error shape, quickly
//! and without panicking, and recovers by itself when the database returns.
//! PostgreSQL only: refusing connections to one database is how an outage
//! looks to a service there (SQLite is a local file).

use std::time::{Duration, Instant};

use marimo_platform::config::DatabaseConfig;
use marimo_testkit::{self as testkit, Backend};
use sqlx::Connection;

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, App};

async fn admin_sql(server_url: &str, sql: String) {
    let mut conn = sqlx::AnyConnection::connect(server_url)
        .await
        .expect("admin connection");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("admin statement");
    let _ = conn.close().await;
}

#[tokio::test]
async fn a_database_outage_is_a_quick_503_and_the_service_recovers() {
    for backend in testkit::backends() {
        let Backend::Postgres { server_url } = &backend else {
            continue;
        };
        let app = App::start(&backend).await;
        let DatabaseConfig::Postgres { url } = &app.settings.database else {
            unreachable!()
        };
        let db_name = url
            .rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status, 200);

        // The database goes away: no new connections, existing ones cut.
        admin_sql(
            server_url,
            format!("ALTER DATABASE {db_name} WITH ALLOW_CONNECTIONS false"),
        )
        .await;
        admin_sql(
            server_url,
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}'"
            ),
        )
        .await;

        let started = Instant::now();
        let res = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(res.status, 503, "{}", res.text);
        assert_eq!(res.json["success"], false);
        assert_eq!(res.code(), "SERVICE_UNAVAILABLE");
        assert!(res.header("retry-after").is_some());
        // Bounded by the pool's acquire timeout, not a hang.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
        let health = app.http().get("/health").send().await;
        assert_eq!(health.status, 503, "{}", health.text);
        assert_eq!(health.json["checks"]["database"]["status"], "down");

        // It comes back; so does the service, without a restart.
        admin_sql(
            server_url,
            format!("ALTER DATABASE {db_name} WITH ALLOW_CONNECTIONS true"),
        )
        .await;
        testkit::eventually_within(
            Duration::from_secs(30),
            "the sign-in to recover",
            async || {
                let res = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
                if res.status == 200 {
                    Ok(())
                } else {
                    Err(format!("{}: {}", res.status, res.text))
                }
            },
        )
        .await;
        assert_eq!(app.http().get("/health").send().await.status, 200);
    }
}
