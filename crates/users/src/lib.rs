//! The users service: accounts, credentials, sessions and roles.
//!
//! - [`domain`]: pure rules (email, name, password policy, brute-force
//!   delays, refresh tokens, token lifetimes), unit-tested.
//! - `store`: the SQL for this service's tables (`migrations/`).
//! - `app`: the use cases — accounts, sessions, token lifetimes — each
//!   owning its transaction; the service's metrics.
//! - `api`: the HTTP handlers under `/api/users/...` and their response
//!   views.
//! - [`events`]: the published `users.user.*` events and the consumer of
//!   `config.setting.changed`.
//! - [`error`]: [`UsersError`], the crate's one error type, mapped to the
//!   platform's error shape once.
//!
//! Sessions: a sign-in starts a refresh-token *family*; every refresh
//! rotates the token (at most one of concurrent refreshes of a token wins);
//! presenting a used token revokes its whole family. Refresh tokens are
//! stored only as SHA-256 hashes. Tokens expired or revoked for longer than
//! [`SESSION_RETENTION`] are purged every [`SESSION_PURGE_EVERY`], on one
//! replica at a time ([`marimo_platform::lock`]). Brute-force state lives in the database,
//! so every replica sees it.

use std::time::Duration;

use axum::Router;
use marimo_platform::{
    auth::Role,
    clock,
    db::{Db, DbKind, Schema},
    http::ServiceApp,
    idempotency, lock,
    service::{ServiceContext, StartError},
    tenant,
};

// utoipa's macros expand to fully qualified paths of the types named in
// them, which the workspace's `unused_qualifications` lint would flag.
#[allow(unused_qualifications)]
mod api;
mod app;
pub mod domain;
pub mod error;
pub mod events;
mod store;

pub use app::sessions::purge_dead_sessions;
pub use domain::User;
pub use error::UsersError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// How long expired and revoked refresh tokens are kept before the purge.
pub const SESSION_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often the purge runs.
pub const SESSION_PURGE_EVERY: Duration = Duration::from_secs(15 * 60);
/// The purge's lease, renewed while it runs.
const SESSION_PURGE_LEASE: Duration = Duration::from_secs(120);
/// The purge's job name: its lease is `users.session-purge`.
pub const SESSION_PURGE_JOB: &str = "session-purge";

fn db_of(ctx: &ServiceContext) -> Result<Db, UsersError> {
    ctx.db.clone().ok_or(UsersError::NoDatabase)
}

/// Runs migrations, creates the bootstrap admin (`MARIMO_ADMIN_EMAIL` /
/// `MARIMO_ADMIN_PASSWORD`: created once if that email does not exist,
/// never overwritten), starts the session purge and returns the service's
/// router wrapped in the platform's [`ServiceApp`].
pub async fn router(ctx: ServiceContext) -> Result<Router, StartError> {
    let db = db_of(&ctx)?;
    prepare(&db).await?;
    if let Some(admin) = &ctx.settings.bootstrap_admin {
        app::accounts::bootstrap_admin(&db, &ctx.outbox, admin).await?;
    }
    let purge_db = db.clone();
    lock::spawn_periodic(
        &ctx,
        SESSION_PURGE_JOB,
        SESSION_PURGE_EVERY,
        SESSION_PURGE_LEASE,
        move || {
            let db = purge_db.clone();
            async move {
                let cutoff = clock::now() - SESSION_RETENTION;
                match purge_dead_sessions(&db, cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(tokens = n, "dead refresh tokens purged"),
                    Err(e) => tracing::warn!(error = %e, "session purge failed; retrying"),
                }
            }
        },
    );
    app::observe::collect_active_users(&ctx.metrics, &db);
    events::subscribe(&ctx, db.clone()).await?;
    let api = api::routes(app::Users {
        db,
        jwt: ctx.jwt.clone(),
        outbox: ctx.outbox.clone(),
        metrics: ctx.metrics.clone(),
        signup: ctx.settings.signup,
    });
    let idempotency = idempotency::Layer::prepare(&ctx).await?;
    idempotency::spawn_purge(&ctx, ctx.db().clone(), IDEMPOTENCY_TTL);
    Ok(ServiceApp::new(&ctx).idempotency(idempotency).api(api))
}

/// The business tables of this service: under the tenant policy on
/// PostgreSQL. `users`, `tenants`, sessions, revocation marks and the
/// sign-in throttle are global (a person signs in before any tenant is
/// known), so they are system tables.
pub const TENANT_TABLES: &[&str] = &["memberships"];

/// The migrations, and on PostgreSQL the row policies of
/// [`TENANT_TABLES`] (docs/TENANCY.md).
async fn prepare(db: &Db) -> Result<(), UsersError> {
    let mut schema = Schema::new().migrations(&MIGRATOR);
    if db.kind() == DbKind::Postgres {
        schema = schema.part("users_tenancy_rls", tenant::rls_ddl(TENANT_TABLES));
    }
    db.prepare(&schema).await?;
    Ok(())
}

/// How long an `Idempotency-Key` is remembered (the platform's layer
/// covers every mutating endpoint of a signed-in caller).
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// For `marimo admin create-user`: runs migrations, then creates an account
/// with `role` under the same rules as registration (email format, name,
/// password policy). A taken email is [`UsersError::DuplicateEmail`].
pub async fn create_user(
    ctx: &ServiceContext,
    email: &str,
    name: &str,
    password: &str,
    role: Role,
) -> Result<User, UsersError> {
    let db = db_of(ctx)?;
    prepare(&db).await?;
    app::accounts::create_account(
        &db,
        &ctx.outbox,
        &tenant::TenantId::default_tenant(),
        app::accounts::NewAccount {
            email,
            name,
            password,
            role,
        },
    )
    .await
}
