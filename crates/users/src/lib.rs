//! The users service: accounts, credentials, sessions and roles.
//!
//! - [`domain`]: pure rules (email, name, password policy, brute-force
//!   delays, refresh tokens), unit-tested.
//! - `store`: the SQL for this service's tables (`migrations/`).
//! - `api`: the HTTP handlers under `/api/users/...`.
//!
//! Sessions: a sign-in starts a refresh-token *family*; every refresh
//! rotates the token (at most one of concurrent refreshes of a token wins);
//! presenting a used token revokes its whole family. Refresh tokens are
//! stored only as SHA-256 hashes. Tokens expired or revoked for longer than
//! [`SESSION_RETENTION`] are purged every [`SESSION_PURGE_EVERY`], on one
//! replica at a time ([`marimo_platform::lock`]). Brute-force state lives in the database,
//! so every replica sees it.

use std::time::Duration;

use axum::{Router, http::StatusCode};
use marimo_platform::{
    ApiError, ErrorCode,
    auth::{Role, password},
    bus::Outbox,
    clock,
    config::BootstrapAdmin,
    db::{Db, DbError},
    http::ServiceApp,
    ids, lock,
    service::{ServiceContext, StartError},
};
use serde_json::json;

mod api;
pub mod domain;
pub mod events;
pub mod lifetimes;
mod observe;
mod store;

pub use domain::User;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// How long expired and revoked refresh tokens are kept before the purge.
pub const SESSION_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often the purge runs.
pub const SESSION_PURGE_EVERY: Duration = Duration::from_secs(15 * 60);
/// The purge's lease, renewed while it runs.
const SESSION_PURGE_LEASE: Duration = Duration::from_secs(120);
/// The purge's job name: its lease is `users.session-purge`.
pub const SESSION_PURGE_JOB: &str = "session-purge";

/// Everything the users service can fail with, mapped to HTTP in one place
/// (`From<UsersError> for ApiError`) and printable for the CLI.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("{0}")]
    Invalid(#[from] domain::Invalid),
    #[error("an account with the email {0} already exists")]
    DuplicateEmail(String),
    #[error("the users service was started without a database")]
    NoDatabase,
    #[error(transparent)]
    Migrate(#[from] DbError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Password(#[from] password::PasswordError),
}

impl From<UsersError> for ApiError {
    fn from(err: UsersError) -> Self {
        match err {
            UsersError::Invalid(i) => ApiError::validation(i.message)
                .with_details(json!({"field": i.field, "rule": i.rule})),
            UsersError::DuplicateEmail(_) => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict.as_str(),
                "an account with this email already exists",
            )
            .with_details(json!({"field": "email"})),
            UsersError::Database(e) => e.into(),
            UsersError::Password(e) => {
                tracing::error!(error = %e, "password hashing failed");
                ApiError::internal("internal error")
            }
            UsersError::NoDatabase | UsersError::Migrate(_) => {
                tracing::error!(error = %err, "users service misconfigured");
                ApiError::internal("internal error")
            }
        }
    }
}

fn db_of(ctx: &ServiceContext) -> Result<Db, UsersError> {
    ctx.db.clone().ok_or(UsersError::NoDatabase)
}

/// Runs migrations, creates the bootstrap admin (`MARIMO_ADMIN_EMAIL` /
/// `MARIMO_ADMIN_PASSWORD`: created once if that email does not exist,
/// never overwritten), starts the session purge and returns the service's
/// router wrapped in the platform's [`ServiceApp`].
pub async fn router(ctx: ServiceContext) -> Result<Router, StartError> {
    let db = db_of(&ctx)?;
    db.migrate(&MIGRATOR).await?;
    if let Some(admin) = &ctx.settings.bootstrap_admin {
        bootstrap_admin(&db, &ctx.outbox, admin).await?;
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
    observe::collect_active_users(&ctx.metrics, &db);
    lifetimes::subscribe(&ctx, db.clone()).await?;
    let api = api::routes(api::AppState {
        db,
        jwt: ctx.jwt.clone(),
        outbox: ctx.outbox.clone(),
        metrics: ctx.metrics.clone(),
    });
    Ok(ServiceApp::new(&ctx).router(api))
}

/// Deletes refresh tokens that expired, or whose family was revoked,
/// before `cutoff`, and the families left empty; returns the tokens
/// deleted. Live sessions and used tokens of live families are kept.
pub async fn purge_dead_sessions(db: &Db, cutoff: time::OffsetDateTime) -> Result<u64, UsersError> {
    let mut tx = db.begin().await?;
    let n = store::purge_dead_sessions(&mut tx, &clock::format(cutoff)).await?;
    tx.commit().await?;
    Ok(n)
}

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
    db.migrate(&MIGRATOR).await?;
    create_account(
        &db,
        &ctx.outbox,
        NewAccount {
            email,
            name,
            password,
            role,
        },
    )
    .await
}

pub(crate) struct NewAccount<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password: &'a str,
    pub role: Role,
}

/// Validates and creates an account (registration, the CLI, the bootstrap
/// admin) and publishes `users.user.registered` in the same transaction.
pub(crate) async fn create_account(
    db: &Db,
    outbox: &Outbox,
    NewAccount {
        email,
        name,
        password,
        role,
    }: NewAccount<'_>,
) -> Result<User, UsersError> {
    let email = domain::parse_email(email)?;
    let name = domain::parse_name(name)?;
    domain::check_password(password)?;
    let hash = password::hash(password).await?;
    let now = clock::now_text();
    let user = User {
        id: ids::new_id(),
        email,
        name,
        role,
        active: true,
        created_at: now.clone(),
        updated_at: now,
    };
    // Hash first: the write transaction (SQLite's write lock) stays short.
    let mut tx = db.begin().await?;
    if !store::insert_user(&mut *tx, &user, &hash).await? {
        return Err(UsersError::DuplicateEmail(user.email));
    }
    outbox
        .publish(&mut tx, &events::registered(&user, None))
        .await?;
    tx.commit().await?;
    outbox.wake();
    Ok(user)
}

/// The first admin: created when its email is unknown; an existing account
/// with that email is left exactly as it is (its password, role and state
/// may have been changed since). Safe when replicas start together.
async fn bootstrap_admin(
    db: &Db,
    outbox: &Outbox,
    admin: &BootstrapAdmin,
) -> Result<(), StartError> {
    let email = domain::parse_email(&admin.email)
        .map_err(|e| format!("MARIMO_ADMIN_EMAIL: {}", e.message))?;
    if store::find_by_email(db.pool(), &email).await?.is_some() {
        tracing::debug!(%email, "bootstrap admin exists; left unchanged");
        return Ok(());
    }
    domain::check_password(&admin.password)
        .map_err(|e| format!("MARIMO_ADMIN_PASSWORD: {}", e.message))?;
    let account = NewAccount {
        email: &email,
        name: "Administrator",
        password: &admin.password,
        role: Role::Admin,
    };
    match create_account(db, outbox, account).await {
        Ok(user) => {
            tracing::info!(email = %user.email, id = %user.id, "bootstrap admin created");
            Ok(())
        }
        // Another replica created it between the check and the insert.
        Err(UsersError::DuplicateEmail(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
