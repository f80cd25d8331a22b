//! Start-up and the schema (`MARIMO_MIGRATE`): replicas starting together
//! on a fresh database all come up; a start on a current schema runs no
//! DDL; with `MARIMO_MIGRATE=off` a schema that is behind is refused, and
//! `marimo migrate` is what brings it up to date.

use std::{process::Command, sync::Arc, time::Duration};

use marimo_platform::{
    bus::Bus,
    config::{DatabaseConfig, MigrateMode, Settings},
    service::{ServiceContext, ServiceName},
};
use marimo_testkit::{Backend, TEST_JWT_SECRET, backends};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// The services that keep tables.
fn with_tables() -> impl Iterator<Item = ServiceName> {
    ServiceName::ALL.into_iter().filter(|s| s.has_database())
}

/// One start of `name` as `marimo serve` does it (context, then router:
/// migrations, schema parts, seeds, background jobs); stopped on `stop`.
async fn start(
    name: ServiceName,
    settings: &Settings,
    stop: &CancellationToken,
) -> Result<ServiceContext, String> {
    let ctx = ServiceContext::new(
        name,
        Arc::new(settings.clone()),
        Bus::embedded(),
        stop.clone(),
        TaskTracker::new(),
    )
    .await
    .map_err(|e| e.to_string())?;
    // Building the router is the start; serving it adds nothing here.
    let _router = marimo::system::router_of(ctx.clone())
        .await
        .map_err(|e| format!("{name}: {e}"))?;
    Ok(ctx)
}

fn with_migrate(settings: &Settings, migrate: MigrateMode) -> Settings {
    Settings {
        migrate,
        ..settings.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_on_a_fresh_database_all_come_up() {
    const REPLICAS: usize = 4;
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let settings = backend.settings(&[]).await;
        let stop = CancellationToken::new();
        for name in with_tables() {
            let starts = (0..REPLICAS).map(|_| {
                let (settings, stop) = (settings.clone(), stop.clone());
                tokio::spawn(async move { start(name, &settings, &stop).await })
            });
            let mut failed = Vec::new();
            for handle in starts.collect::<Vec<_>>() {
                if let Err(e) = handle.await.expect("start does not panic") {
                    failed.push(e);
                }
            }
            assert!(
                failed.is_empty(),
                "{}: {} of {REPLICAS} {name} starts failed: {failed:?}",
                backend.name(),
                failed.len()
            );
        }
        stop.cancel();
    }
}

/// PostgreSQL: every DDL command in the database, logged by an event
/// trigger (it fires for `IF NOT EXISTS` no-ops and `CREATE OR REPLACE`
/// too).
const PG_DDL_LOG: &str = "
    CREATE TABLE public.ddl_log (tag TEXT NOT NULL);
    CREATE FUNCTION public.log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO public.ddl_log (tag) VALUES (tg_tag); END $$;
    CREATE EVENT TRIGGER log_ddl ON ddl_command_start EXECUTE FUNCTION public.log_ddl();";

/// SQLite: what changes with every schema change of a service's file.
async fn schema_version(settings: &Settings, name: ServiceName) -> i64 {
    use sqlx::Connection;
    let path = settings.data_dir.join(format!("{name}.db"));
    let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open the service's SQLite file");
    let v: i64 = sqlx::query_scalar("PRAGMA schema_version")
        .fetch_one(&mut conn)
        .await
        .expect("schema_version");
    let _ = conn.close().await;
    v
}

/// Holds the SQLite schema lock of `name` (the file beside its database),
/// as a replica that is migrating would.
fn hold_sqlite_lock(settings: &Settings, name: ServiceName) -> std::fs::File {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(settings.data_dir.join(format!("{name}.db.migrate-lock")))
        .expect("lock file");
    file.lock().expect("lock");
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_on_a_current_schema_runs_no_ddl() {
    sqlx::any::install_default_drivers();
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let settings = backend.settings(&[]).await;
        let first = CancellationToken::new();
        for name in with_tables() {
            start(name, &settings, &first)
                .await
                .unwrap_or_else(|e| panic!("first start: {e}"));
        }
        first.cancel();

        let stop = CancellationToken::new();
        match &backend {
            Backend::Postgres { .. } => {
                let DatabaseConfig::Postgres { url } = &settings.database else {
                    panic!("PostgreSQL settings without a PostgreSQL URL");
                };
                let pool = sqlx::AnyPool::connect(url).await.unwrap();
                sqlx::raw_sql(PG_DDL_LOG).execute(&pool).await.unwrap();
                for name in with_tables() {
                    start(name, &settings, &stop)
                        .await
                        .unwrap_or_else(|e| panic!("second start: {e}"));
                }
                let ddl: Vec<String> = sqlx::query_scalar("SELECT tag FROM public.ddl_log")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                assert!(
                    ddl.is_empty(),
                    "starts on a current schema ran DDL: {ddl:?}"
                );
                pool.close().await;
            }
            Backend::Sqlite => {
                for name in with_tables() {
                    let before = schema_version(&settings, name).await;
                    // Changing the schema takes this lock: a start that
                    // wanted to would wait here until the timeout.
                    let held = hold_sqlite_lock(&settings, name);
                    tokio::time::timeout(Duration::from_secs(30), start(name, &settings, &stop))
                        .await
                        .unwrap_or_else(|_| {
                            panic!("{name} waited for the schema lock on a current schema")
                        })
                        .unwrap_or_else(|e| panic!("second start: {e}"));
                    drop(held);
                    assert_eq!(
                        schema_version(&settings, name).await,
                        before,
                        "{name}: a start on a current schema changed it"
                    );
                }
            }
        }
        stop.cancel();
    }
}

#[tokio::test]
async fn with_migrate_off_a_schema_that_is_behind_is_refused_until_migrated() {
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        let fresh = backend.settings(&[]).await;
        let off = with_migrate(&fresh, MigrateMode::Off);
        let stop = CancellationToken::new();
        for name in with_tables() {
            let err = start(name, &off, &stop).await.err().unwrap_or_else(|| {
                panic!("{name} started on an empty database with MARIMO_MIGRATE=off")
            });
            assert!(
                err.contains("MARIMO_MIGRATE=off") && err.contains("run `marimo migrate`"),
                "{name}: {err}"
            );
        }
        // What `marimo migrate` does: every service once, with auto.
        let auto = with_migrate(&fresh, MigrateMode::Auto);
        for name in with_tables() {
            start(name, &auto, &stop)
                .await
                .unwrap_or_else(|e| panic!("migrating start: {e}"));
        }
        for name in with_tables() {
            start(name, &off, &stop).await.unwrap_or_else(|e| {
                panic!("{name} with MARIMO_MIGRATE=off on a migrated schema: {e}")
            });
        }
        stop.cancel();
    }
}

#[test]
fn marimo_migrate_prepares_what_services_started_with_off_need() {
    let dir =
        std::env::temp_dir().join(format!("marimo-migrate-{}", marimo_platform::ids::new_id()));
    let marimo = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_marimo"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MARIMO_DATA_DIR", &dir)
            .env("JWT_SECRET", TEST_JWT_SECRET)
            .env("MARIMO_MIGRATE", "off")
            .output()
            .expect("marimo runs")
    };
    let refused = marimo(&["serve", "shop", "--port", "0"]);
    assert!(!refused.status.success(), "served on an empty database");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("run `marimo migrate`"), "{stderr}");

    // MARIMO_MIGRATE=off in the environment does not stop the migrate step.
    let migrated = marimo(&["migrate"]);
    let stdout = String::from_utf8_lossy(&migrated.stdout);
    assert!(
        migrated.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    for name in with_tables() {
        assert!(stdout.contains(&format!("{name}: migrated")), "{stdout}");
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let settings = Settings::from_source(|k| match k {
            "MARIMO_DATA_DIR" => Some(dir.to_string_lossy().into_owned()),
            "JWT_SECRET" => Some(TEST_JWT_SECRET.into()),
            "MARIMO_MIGRATE" => Some("off".into()),
            _ => None,
        })
        .unwrap();
        let stop = CancellationToken::new();
        for name in with_tables() {
            start(name, &settings, &stop)
                .await
                .unwrap_or_else(|e| panic!("{name} after `marimo migrate`: {e}"));
        }
        stop.cancel();
    });
}
