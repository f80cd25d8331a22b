//! `marimo`: the Marimo ERP command line.

// The command line answers on stdout (logs go to stderr).
#![allow(clippy::print_stdout)]

use std::{io::BufRead, process::ExitCode, sync::Arc, time::Instant};

use clap::{Parser, Subcommand};
use marimo_platform::{
    auth::Role,
    bus,
    config::{MigrateMode, Settings},
    http::serve::shutdown_signal,
    service::{ServiceContext, ServiceName},
    telemetry,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

mod probe;

const ENVIRONMENT: &str = "\
Environment (unset means the embedded default):
  MARIMO_ENV              development (default) or production
  MARIMO_DATA_DIR         data directory for SQLite files, mail, keys [./data]
  MARIMO_BIND             address services listen on [127.0.0.1]
  DATABASE_URL            postgres://user:pass@host:5432/db, or sqlite:<dir> [SQLite]
  DB_HOST DB_PORT DB_USER DB_PASSWORD DB_NAME
                          the seed's PostgreSQL settings, used when DATABASE_URL is unset
  MARIMO_MIGRATE          auto: a service applies missing schema changes at start, once, under a
                          lock; off: it never changes the schema and refuses to start on one that
                          is behind (run `marimo migrate` first) [auto]
  JWT_SECRET              HS256 key, >= 32 bytes; required in production, where a
                          template, repetitive or low-entropy value is refused
                          (use `openssl rand -hex 32`); otherwise generated once
                          into the data directory
  JWT_SECRET_PREVIOUS     during a key rotation, the previous JWT_SECRET: its tokens still
                          verify until they expire, nothing new is signed with it [none]
  MARIMO_ADMIN_EMAIL MARIMO_ADMIN_PASSWORD
                          the first admin, created at start if absent (never overwritten);
                          MARIMO_ADMIN_PASSWORD is also read by `admin create-user`
  MARIMO_SIGNUP           on|off: self-service sign-up of new businesses (tenants) with
                          their first admin; off answers 404 [on]
  GATEWAY_PORT USERS_PORT CONFIG_PORT ACCOUNTING_PORT FACTORY_PORT SHOP_PORT MAIN_PORT WORKER_PORT
                          listening ports [8080..8087]
  GATEWAY_URLS USERS_URLS CONFIG_URLS ACCOUNTING_URLS FACTORY_URLS SHOP_URLS MAIN_URLS WORKER_URLS
                          comma-separated base URLs of a service's instances [its local port]
  MARIMO_RATE_LIMITS      e.g. login=10/m:3,register=5/m:2,refresh=30/m:5,user=300/m:50,tenant=3000/m:500,
                          or off (tenant: one bucket per tenant for all its signed-in users)
  CORS_ORIGINS            comma-separated allowed origins [none]
  TRUSTED_PROXIES         comma-separated IPs/CIDRs whose X-Forwarded-For is believed [none]
  MAX_BODY_BYTES          request body limit [1048576]
  MARIMO_BREAKER          gateway circuit breaker, e.g. min_requests=5,failure_rate=50,open_ms=1000,half_open=3
  MARIMO_UPSTREAM         upstream timeouts and limits, e.g. connect_ms=2000,timeout_ms=30000,max_inflight=256,shop.timeout_ms=5000
  MARIMO_CACHE            gateway response cache: ttl_secs=300 (default) or off
  LOG_LEVEL               tracing filter, e.g. info or marimo_users=debug [info]
  LOG_FORMAT              pretty or json (lines with service, request_id, trace_id, span_id, user_id) [pretty]
  REDIS_ADDR REDIS_PASSWORD  Redis (host:port) shared by replicas: gateway cache, rate limits,
                          job leases; if it goes away requests still succeed [in-process]
  MARIMO_REDIS_NAMESPACE  prefix of every Redis key [marimo]
  RABBITMQ_URL            amqp://user:pass@host:5672/%2f for the event bus [in-process]
  CONSUL_ADDR             Consul agent for discovery and KV [static addresses]
  CONSUL_HTTP_TOKEN       Consul ACL token, sent as X-Consul-Token [none]
  SMTP_URL                smtp://... for outgoing mail [.eml files in the data directory]
  MARIMO_EDGE_SECRET      shared by gateway and services (>= 32 bytes): services answer only
                          API requests the gateway signed [none]
  PAYMENT_WEBHOOK_SECRET  key (>= 32 bytes) the payment provider signs its callbacks with
                          [none: callbacks refused]
  WEBHOOK_ALLOWED_NETWORKS  comma-separated IPs/CIDRs webhooks may be delivered to although
                          loopback, private or link-local [none: public addresses only]
  OTEL_EXPORTER_OTLP_ENDPOINT  OTLP/HTTP base URL for traces, e.g. http://jaeger:4318
                          (JSON to <url>/v1/traces) [off]";

/// Marimo ERP: users, configuration, ledger, production, shop and dashboard
/// behind one API gateway.
#[derive(Parser)]
#[command(name = "marimo", version, about, after_long_help = ENVIRONMENT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service in this process, each on its own port (gateway and web UI on 8080).
    Up,
    /// Run one service; start several processes for replicas.
    Serve {
        /// gateway, users, config, accounting, factory, shop, main or worker.
        service: ServiceName,
        /// Listen on this port instead of the service's configured one.
        #[arg(long)]
        port: Option<u16>,
    },
    /// Apply every service's database migrations and schema parts (or only the
    /// named services') and exit; whatever MARIMO_MIGRATE says.
    Migrate {
        /// Services to migrate [all with a database].
        services: Vec<ServiceName>,
    },
    /// Exit 0 when a service answers its readiness check (for container
    /// health checks; the image has no curl).
    Probe {
        /// The service to check on 127.0.0.1 at its configured port.
        #[arg(long, default_value = "gateway")]
        service: ServiceName,
        /// Check this URL instead.
        #[arg(long)]
        url: Option<String>,
    },
    /// Administration tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Event bus tasks.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Dead letters: events a queue's consumer gave up on (RabbitMQ's
    /// <queue>.dlq, or the consuming service's database when embedded).
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Show a queue's dead letters without removing them.
    List {
        /// The queue, e.g. accounting or email_queue.
        queue: String,
    },
    /// Send a queue's dead letters back to it to be consumed again.
    Replay {
        /// The queue, e.g. accounting or email_queue.
        queue: String,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user with a role; the password is read from
    /// MARIMO_ADMIN_PASSWORD or, when unset, from the first line of stdin.
    CreateUser {
        #[arg(long)]
        email: String,
        /// admin, manager, accountant, shop_manager or user.
        #[arg(long, default_value = "admin")]
        role: Role,
        /// Display name [the part of the email before @].
        #[arg(long)]
        name: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("marimo: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&settings.log_level, settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("marimo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("marimo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Up => run_services(settings, &ServiceName::ALL, None).await,
        Command::Serve { service, port } => run_services(settings, &[service], port).await,
        Command::Migrate { services } => migrate(settings, services).await,
        Command::Probe { service, url } => {
            let url =
                url.unwrap_or_else(|| format!("http://127.0.0.1:{}/ready", settings.port(service)));
            match probe::status(&url).await {
                Ok(code) if (200..300).contains(&code) => Ok(()),
                Ok(code) => anyhow::bail!("{url} answered {code}"),
                Err(e) => anyhow::bail!("{e}"),
            }
        }
        Command::Admin {
            command: AdminCommand::CreateUser { email, role, name },
        } => create_user(settings, &email, role, name).await,
        Command::Events { command } => events(settings, command).await,
    }
}

async fn run_services(
    settings: Settings,
    services: &[ServiceName],
    port: Option<u16>,
) -> anyhow::Result<()> {
    if settings.jwt_secret_generated {
        tracing::warn!(
            "JWT_SECRET is not set: using a generated key kept in {}; set JWT_SECRET for production and for services on several machines",
            settings.data_dir.display()
        );
    }
    let started = Instant::now();
    let listeners = marimo::bind(&settings, services, port)
        .await
        .map_err(anyhow::Error::from_boxed)?;
    let mut system = marimo::start(settings, listeners)
        .await
        .map_err(anyhow::Error::from_boxed)?;
    for &name in services {
        if let Some(addr) = system.addr(name) {
            tracing::info!(service = %name, %addr, "listening");
        }
    }
    tracing::info!(ms = started.elapsed().as_millis() as u64, "started");
    let failed = tokio::select! {
        () = shutdown_signal() => None,
        exited = system.any_server_exited() => Some(exited),
    };
    tracing::info!("shutting down: draining requests in flight");
    system.shutdown().await;
    match failed {
        None => {
            tracing::info!("stopped");
            Ok(())
        }
        Some((name, why)) => anyhow::bail!("{name} stopped unexpectedly: {why}"),
    }
}

/// A context for one-off commands: its relay stops when the command ends.
async fn context(settings: Arc<Settings>, name: ServiceName) -> anyhow::Result<ServiceContext> {
    let shutdown = CancellationToken::new();
    let bus = bus::connect(&settings, shutdown.clone()).await?;
    ServiceContext::new(name, settings, bus, shutdown, TaskTracker::new())
        .await
        .map_err(anyhow::Error::from_boxed)
}

async fn migrate(settings: Settings, services: Vec<ServiceName>) -> anyhow::Result<()> {
    let services = if services.is_empty() {
        ServiceName::ALL
            .iter()
            .copied()
            .filter(|s| s.has_database())
            .collect()
    } else {
        services
    };
    // This is the step that changes the schema, also where the services
    // themselves run with MARIMO_MIGRATE=off.
    let settings = Arc::new(Settings {
        migrate: MigrateMode::Auto,
        ..settings
    });
    for name in services {
        let ctx = context(settings.clone(), name).await?;
        // Building a service's router applies its migrations and seeds;
        // the router itself is not needed.
        let _router = marimo::system::router_of(ctx.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        if let Some(db) = &ctx.db {
            db.close().await;
        }
        println!("{name}: migrated");
    }
    Ok(())
}

async fn create_user(
    settings: Settings,
    email: &str,
    role: Role,
    name: Option<String>,
) -> anyhow::Result<()> {
    let password = match std::env::var("MARIMO_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if password.is_empty() {
        anyhow::bail!("no password: set MARIMO_ADMIN_PASSWORD or pipe it on stdin");
    }
    let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_owned());
    let ctx = context(Arc::new(settings), ServiceName::Users).await?;
    let result = marimo_users::create_user(&ctx, email, &name, &password, role).await;
    ctx.db().close().await;
    result.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("created {role} {email}");
    Ok(())
}

/// `marimo events dlq list|replay <queue>`.
async fn events(settings: Settings, command: EventsCommand) -> anyhow::Result<()> {
    let EventsCommand::Dlq { command } = command;
    match command {
        DlqCommand::List { queue } => {
            let letters = bus::dlq::list(&settings, &queue).await?;
            for l in &letters {
                println!(
                    "{} {} reason={} attempts={} failed_at={}\n  error: {}\n  envelope: {}",
                    l.event_id,
                    l.event_type,
                    l.reason,
                    l.attempts,
                    l.failed_at,
                    l.error,
                    l.envelope
                );
            }
            println!("{} dead letter(s) in {queue}", letters.len());
        }
        DlqCommand::Replay { queue } => {
            let n = bus::dlq::replay(&settings, &queue).await?;
            println!("replayed {n} dead letter(s) of {queue}");
        }
    }
    Ok(())
}
