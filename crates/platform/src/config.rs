//! Settings from environment variables. Unset means the embedded default, so
//! `marimo up` needs nothing configured. Every variable read here is listed
//! in the README and in `marimo --help`.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use base64::Engine;

use crate::service::ServiceName;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {message}")]
    Invalid { var: &'static str, message: String },
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn invalid(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Whether a service applies its own schema changes at start
/// (`MARIMO_MIGRATE`).
///
/// - `auto` (default): at start a service checks its recorded migration
///   versions and, only when something is missing, applies it under a lock
///   (PostgreSQL advisory lock per service schema; on SQLite an exclusive
///   lock file beside the database), so replicas starting together migrate
///   once and a start on a current schema runs no DDL at all.
/// - `off`: a service never changes its schema; one whose schema is behind
///   refuses to start and says to run `marimo migrate` (what a deployment
///   with a separate migration step, e.g. a Kubernetes Job, wants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrateMode {
    #[default]
    Auto,
    Off,
}

/// Where each service keeps its tables.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseConfig {
    /// One SQLite file per service under this directory.
    Sqlite { dir: PathBuf },
    /// One PostgreSQL database, one schema per service.
    Postgres { url: String },
}

impl std::fmt::Debug for DatabaseConfig {
    // Never print the PostgreSQL password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite { dir } => write!(f, "Sqlite({})", dir.display()),
            Self::Postgres { url } => write!(f, "Postgres({})", redact_url(url)),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The first admin, created at start when both variables are set.
#[derive(Clone)]
pub struct BootstrapAdmin {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for BootstrapAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapAdmin")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// A credential from the environment: `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    /// `MARIMO_MIGRATE`: see [`MigrateMode`].
    pub migrate: MigrateMode,
    /// HS256 key, at least 32 bytes.
    pub jwt_secret: Vec<u8>,
    /// True when the key was generated and stored in the data directory.
    pub jwt_secret_generated: bool,
    pub log_level: String,
    pub log_format: LogFormat,
    /// Address services bind to (`MARIMO_BIND`, default 127.0.0.1).
    pub bind: String,
    pub ports: HashMap<ServiceName, u16>,
    /// Base URLs of each service's instances (`<SERVICE>_URLS`).
    pub service_urls: HashMap<ServiceName, Vec<String>>,
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// `MARIMO_SIGNUP`: self-service sign-up of new tenants (`on`, the
    /// default, or `off`: the sign-up endpoint answers 404).
    pub signup: bool,
    /// `MARIMO_RATE_LIMITS`, parsed by the gateway.
    pub rate_limits: Option<String>,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<String>,
    /// Request body limit in bytes (`MAX_BODY_BYTES`, default 1 MiB).
    pub max_body_bytes: usize,
    /// `REDIS_ADDR`: `host:port` (or a `redis://` URL); unset means the
    /// in-process cache, local rate limits and in-process locks.
    pub redis_addr: Option<String>,
    pub redis_password: Option<String>,
    /// `MARIMO_REDIS_NAMESPACE`: the first part of every Redis key
    /// (default `marimo`), so deployments or test runs can share a Redis.
    pub redis_namespace: String,
    pub rabbitmq_url: Option<String>,
    pub consul_addr: Option<String>,
    /// `CONSUL_HTTP_TOKEN` (Consul's own name for it): the ACL token sent
    /// as `X-Consul-Token` on every Consul call.
    pub consul_token: Option<Secret>,
    /// `MARIMO_BREAKER`: circuit breaker thresholds, parsed by
    /// [`crate::resilience::BreakerConfig::parse`].
    pub breaker: Option<String>,
    /// `MARIMO_CACHE`: the gateway's response cache (`off`, `ttl_secs=300`).
    pub cache: Option<String>,
    /// `MARIMO_UPSTREAM`: the gateway's upstream limits
    /// (`connect_ms=2000,timeout_ms=30000,max_inflight=256`, per service
    /// `shop.timeout_ms=5000`).
    pub upstream: Option<String>,
    pub smtp_url: Option<String>,
    pub otel_endpoint: Option<String>,
    /// `JWT_SECRET_PREVIOUS`: during a key rotation, the key tokens were
    /// signed with before `JWT_SECRET`; still accepted, never used to sign.
    pub jwt_secret_previous: Option<Vec<u8>>,
    /// `WEBHOOK_ALLOWED_NETWORKS`: IPs/CIDRs webhooks may be delivered to
    /// although they are loopback, private, link-local... (none: only
    /// public addresses).
    pub webhook_allowed_networks: Vec<String>,
    /// `PAYMENT_WEBHOOK_SECRET`: the key payment providers sign their
    /// callbacks with (unset: the callback endpoint refuses everything).
    pub payment_webhook_secret: Option<Secret>,
    /// `MARIMO_EDGE_SECRET`: when set, the gateway signs every forwarded
    /// request with it and the services refuse API requests not so signed
    /// (direct service ports are no way around the edge).
    pub edge_secret: Option<Secret>,
}

/// Minimum HS256 key length (RFC 7518 §3.2: at least the hash size).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Reads settings through `get` (the environment, or a map in tests).
    pub fn from_source(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let environment = match get("MARIMO_ENV").as_deref() {
            None | Some("development") | Some("dev") | Some("test") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "MARIMO_ENV",
                    format!("unknown environment '{other}' (development|production)"),
                ));
            }
        };
        if environment == Environment::Production {
            for var in PRODUCTION_CREDENTIALS {
                if get(var).is_some_and(|v| is_placeholder(&v)) {
                    return Err(invalid(
                        var,
                        "still holds the template's placeholder; generate a value with `openssl rand -hex 32`",
                    ));
                }
            }
        }
        let data_dir = PathBuf::from(get("MARIMO_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database = database_from(&get, &data_dir)?;
        let migrate = match get("MARIMO_MIGRATE").as_deref() {
            None | Some("auto") => MigrateMode::Auto,
            Some("off") => MigrateMode::Off,
            Some(other) => {
                return Err(invalid(
                    "MARIMO_MIGRATE",
                    format!("unknown mode '{other}' (auto|off)"),
                ));
            }
        };

        let (jwt_secret, jwt_secret_generated) = match get("JWT_SECRET") {
            Some(s)
                if s.len() >= MIN_JWT_SECRET_BYTES && environment == Environment::Production =>
            {
                if let Some(why) = weak_secret(&s) {
                    return Err(invalid(
                        "JWT_SECRET",
                        format!("{why}; generate one with `openssl rand -hex 32`"),
                    ));
                }
                (s.into_bytes(), false)
            }
            Some(s) if s.len() >= MIN_JWT_SECRET_BYTES => (s.into_bytes(), false),
            Some(_) => {
                return Err(invalid(
                    "JWT_SECRET",
                    format!(
                        "must be at least {MIN_JWT_SECRET_BYTES} bytes; generate one with `openssl rand -hex 32`"
                    ),
                ));
            }
            None if environment == Environment::Production => {
                return Err(invalid(
                    "JWT_SECRET",
                    "is required when MARIMO_ENV=production; generate one with `openssl rand -hex 32`",
                ));
            }
            None => (load_or_create_secret(&data_dir)?, true),
        };

        let jwt_secret_previous = match get("JWT_SECRET_PREVIOUS") {
            Some(s) if s.len() >= MIN_JWT_SECRET_BYTES => Some(s.into_bytes()),
            Some(_) => {
                return Err(invalid(
                    "JWT_SECRET_PREVIOUS",
                    format!("must be at least {MIN_JWT_SECRET_BYTES} bytes, as JWT_SECRET"),
                ));
            }
            None => None,
        };

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("pretty") | Some("text") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("unknown format '{other}' (json|pretty)"),
                ));
            }
        };

        let mut ports = HashMap::new();
        let mut service_urls = HashMap::new();
        for name in ServiceName::ALL {
            let var = name.port_var();
            let port = match get(&var) {
                Some(p) => p.parse::<u16>().map_err(|_| ConfigError::Invalid {
                    var: leak(var),
                    message: format!("'{p}' is not a port"),
                })?,
                None => name.default_port(),
            };
            ports.insert(name, port);
            if let Some(urls) = get(&name.urls_var()) {
                service_urls.insert(name, split_list(&urls));
            }
        }

        let bootstrap_admin = match (get("MARIMO_ADMIN_EMAIL"), get("MARIMO_ADMIN_PASSWORD")) {
            (Some(email), Some(password)) => Some(BootstrapAdmin { email, password }),
            _ => None,
        };

        let signup = match get("MARIMO_SIGNUP").as_deref().map(str::trim) {
            None | Some("on") | Some("true") | Some("1") => true,
            Some("off") | Some("false") | Some("0") => false,
            Some(other) => {
                return Err(invalid(
                    "MARIMO_SIGNUP",
                    format!("'{other}' is neither on nor off"),
                ));
            }
        };

        let max_body_bytes = match get("MAX_BODY_BYTES") {
            Some(v) => v
                .parse()
                .map_err(|_| invalid("MAX_BODY_BYTES", format!("'{v}' is not a byte count")))?,
            None => 1024 * 1024,
        };

        Ok(Self {
            environment,
            data_dir,
            database,
            migrate,
            jwt_secret,
            jwt_secret_generated,
            log_level: get("LOG_LEVEL").unwrap_or_else(|| "info".into()),
            log_format,
            bind: get("MARIMO_BIND").unwrap_or_else(|| "127.0.0.1".into()),
            ports,
            service_urls,
            bootstrap_admin,
            signup,
            rate_limits: get("MARIMO_RATE_LIMITS"),
            cors_origins: get("CORS_ORIGINS")
                .map(|v| split_list(&v))
                .unwrap_or_default(),
            trusted_proxies: get("TRUSTED_PROXIES")
                .map(|v| split_list(&v))
                .unwrap_or_default(),
            max_body_bytes,
            redis_addr: get("REDIS_ADDR"),
            redis_password: get("REDIS_PASSWORD"),
            redis_namespace: get("MARIMO_REDIS_NAMESPACE")
                .unwrap_or_else(|| crate::redis::DEFAULT_NAMESPACE.into()),
            rabbitmq_url: get("RABBITMQ_URL"),
            consul_addr: get("CONSUL_ADDR"),
            consul_token: get("CONSUL_HTTP_TOKEN").map(Secret),
            breaker: get("MARIMO_BREAKER"),
            cache: get("MARIMO_CACHE"),
            upstream: get("MARIMO_UPSTREAM"),
            smtp_url: get("SMTP_URL"),
            otel_endpoint: otel_endpoint(get("OTEL_EXPORTER_OTLP_ENDPOINT"))?,
            jwt_secret_previous,
            webhook_allowed_networks: get("WEBHOOK_ALLOWED_NETWORKS")
                .map(|v| split_list(&v))
                .unwrap_or_default(),
            payment_webhook_secret: optional_secret(&get, "PAYMENT_WEBHOOK_SECRET")?,
            edge_secret: optional_secret(&get, "MARIMO_EDGE_SECRET")?,
        })
    }

    pub fn port(&self, name: ServiceName) -> u16 {
        self.ports
            .get(&name)
            .copied()
            .unwrap_or(name.default_port())
    }

    /// Base URLs of a service's instances: `<SERVICE>_URLS`, else its local port.
    pub fn urls_of(&self, name: ServiceName) -> Vec<String> {
        self.service_urls
            .get(&name)
            .cloned()
            .unwrap_or_else(|| vec![format!("http://127.0.0.1:{}", self.port(name))])
    }
}

fn leak(s: String) -> &'static str {
    // Only on the error path of start-up configuration; a handful of bytes.
    Box::leak(s.into_boxed_str())
}

/// A shared secret that signs something (at least 32 bytes, as
/// `JWT_SECRET`), or `None` when `var` is unset.
fn optional_secret(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<Option<Secret>, ConfigError> {
    match get(var) {
        Some(s) if s.len() >= MIN_JWT_SECRET_BYTES => Ok(Some(Secret(s))),
        Some(_) => Err(invalid(
            var,
            format!(
                "must be at least {MIN_JWT_SECRET_BYTES} bytes; generate one with `openssl rand -hex 32`"
            ),
        )),
        None => Ok(None),
    }
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn database_from(
    get: &impl Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> Result<DatabaseConfig, ConfigError> {
    if let Some(url) = get("DATABASE_URL") {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseConfig::Postgres { url });
        }
        if let Some(dir) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Ok(DatabaseConfig::Sqlite {
                dir: PathBuf::from(dir),
            });
        }
        return Err(invalid(
            "DATABASE_URL",
            "must be postgres://... or sqlite:<directory>",
        ));
    }
    if let Some(host) = get("DB_HOST") {
        let port = get("DB_PORT").unwrap_or_else(|| "5432".into());
        let user = get("DB_USER").unwrap_or_else(|| "postgres".into());
        let name = get("DB_NAME").unwrap_or_else(|| "marimo".into());
        let auth = match get("DB_PASSWORD") {
            Some(pw) => format!("{}:{}", encode_userinfo(&user), encode_userinfo(&pw)),
            None => encode_userinfo(&user),
        };
        return Ok(DatabaseConfig::Postgres {
            url: format!("postgres://{auth}@{host}:{port}/{name}"),
        });
    }
    Ok(DatabaseConfig::Sqlite {
        dir: data_dir.to_path_buf(),
    })
}

/// Percent-encodes the characters that would break a URL's userinfo.
fn encode_userinfo(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Words that mark a template value (deploy/.env.example and its
/// predecessors), never part of a generated key.
const PLACEHOLDER_MARKS: [&str; 6] = [
    "replace-me",
    "replace_me",
    "change-me",
    "changeme",
    "change_me",
    "placeholder",
];

/// Credentials that, in production, must not hold a template value: a
/// placeholder password would be a password everyone knows.
const PRODUCTION_CREDENTIALS: [&str; 9] = [
    "DB_PASSWORD",
    "DATABASE_URL",
    "REDIS_PASSWORD",
    "RABBITMQ_URL",
    "CONSUL_HTTP_TOKEN",
    "MARIMO_ADMIN_PASSWORD",
    "JWT_SECRET_PREVIOUS",
    "PAYMENT_WEBHOOK_SECRET",
    "MARIMO_EDGE_SECRET",
];

fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    PLACEHOLDER_MARKS.iter().any(|m| lower.contains(m))
}

/// Least information a production key must show, in bits, estimated from
/// its own character frequencies (`openssl rand -hex 32` shows about 240).
pub const MIN_JWT_SECRET_BITS: f64 = 128.0;

/// Why `secret` is refused as a production key: a template value, one
/// character (or a few) repeated, or too little variety to be random.
pub fn weak_secret(secret: &str) -> Option<&'static str> {
    if is_placeholder(secret) {
        return Some("is the template's placeholder, not a key");
    }
    let bytes = secret.as_bytes();
    let mut counts = [0usize; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let distinct = counts.iter().filter(|&&c| c > 0).count();
    if distinct < 8 {
        return Some("repeats too few characters to be a random key");
    }
    // Shannon entropy of the key's own character distribution, times its
    // length: an upper bound on what it can hold, so low means weak.
    let len = bytes.len() as f64;
    let per_char: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / len;
            -p * p.log2()
        })
        .sum();
    if per_char * len < MIN_JWT_SECRET_BITS {
        return Some("has too little entropy to be a random key");
    }
    None
}

const SECRET_FILE: &str = "jwt_secret";

/// Development convenience: a random key kept in the data directory, so
/// tokens survive restarts and every service of `marimo up` shares it.
fn load_or_create_secret(data_dir: &Path) -> Result<Vec<u8>, ConfigError> {
    let dir_err = |source| ConfigError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    };
    create_private_dir(data_dir).map_err(dir_err)?;
    let path = data_dir.join(SECRET_FILE);
    tighten(&path).map_err(dir_err)?;
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= MIN_JWT_SECRET_BYTES => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) | Err(_) => {}
    }
    let secret =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::ids::random_bytes::<48>());
    write_private(&path, secret.as_bytes()).map_err(dir_err)?;
    Ok(secret.into_bytes())
}

/// Creates `dir` (and its parents) readable by the owner only (0700 on
/// Unix); an existing directory open to others is tightened. The data
/// directory holds the signing key, the SQLite files and the mail outbox.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    tighten(dir)
}

/// Makes an existing file or directory owner-only (0600 / 0700) when
/// group or others have any access, with a warning: a key another local
/// user could read must not stay so. A missing path is fine.
pub fn tighten(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let owner_only = if meta.is_dir() { 0o700 } else { 0o600 };
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "data file was open to other users; made owner-only"
            );
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(owner_only))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates `path` empty and owner-only (0600) if it is missing; an existing
/// one keeps its content and is tightened. SQLite then opens it and creates
/// its `-wal` / `-shm` files with the same mode.
pub fn touch_private(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?;
    tighten(path)
}

/// Writes a file readable by the owner only (0600 on Unix), tightening one
/// that already exists with a wider mode.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    // `mode` applies to new files only.
    tighten(path)?;
    opts.open(path)?.write_all(bytes)
}

/// `OTEL_EXPORTER_OTLP_ENDPOINT`: an `http://` base URL (OTLP/HTTP; this
/// build has no TLS client, so a collector is reached on its plain port).
fn otel_endpoint(value: Option<String>) -> Result<Option<String>, ConfigError> {
    const VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    let Some(url) = value else { return Ok(None) };
    let url = url.trim().to_owned();
    if url.starts_with("https://") {
        return Err(invalid(
            VAR,
            "https:// is not supported by this build; send to the collector's plain OTLP/HTTP port (http://host:4318)",
        ));
    }
    match reqwest::Url::parse(&url) {
        Ok(u) if u.scheme() == "http" && u.host().is_some() => Ok(Some(url)),
        _ => Err(invalid(
            VAR,
            format!("'{url}' is not an http:// URL such as http://jaeger:4318"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_source(|k| map.get(k).cloned())
    }

    fn tmp() -> String {
        let dir = std::env::temp_dir().join(format!("marimo-cfg-{}", crate::ids::new_id()));
        dir.to_string_lossy().into_owned()
    }

    #[test]
    fn the_otlp_endpoint_is_an_http_url() {
        let dir = tmp();
        let with = |v: &str| {
            settings(&[
                ("MARIMO_DATA_DIR", &dir),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", v),
            ])
        };
        assert_eq!(
            with("http://jaeger:4318").unwrap().otel_endpoint.as_deref(),
            Some("http://jaeger:4318")
        );
        for bad in ["https://collector:4318", "jaeger:4318", "http://"] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{bad}: {err}");
        }
    }

    #[test]
    fn services_migrate_themselves_unless_told_not_to() {
        let dir = tmp();
        let with = |v: &str| settings(&[("MARIMO_DATA_DIR", &dir), ("MARIMO_MIGRATE", v)]);
        assert_eq!(
            settings(&[("MARIMO_DATA_DIR", &dir)]).unwrap().migrate,
            MigrateMode::Auto
        );
        assert_eq!(with("auto").unwrap().migrate, MigrateMode::Auto);
        assert_eq!(with("off").unwrap().migrate, MigrateMode::Off);
        let err = with("never").unwrap_err().to_string();
        assert!(err.contains("MARIMO_MIGRATE"), "{err}");
    }

    #[test]
    fn defaults_are_embedded() {
        let dir = tmp();
        let s = settings(&[("MARIMO_DATA_DIR", &dir)]).unwrap();
        assert_eq!(
            s.database,
            DatabaseConfig::Sqlite {
                dir: dir.clone().into()
            }
        );
        assert_eq!(s.port(ServiceName::Shop), 8085);
        assert!(s.jwt_secret.len() >= MIN_JWT_SECRET_BYTES);
        assert!(s.jwt_secret_generated);
        // The generated key is kept: a second start reads the same one.
        let again = settings(&[("MARIMO_DATA_DIR", &dir)]).unwrap();
        assert_eq!(s.jwt_secret, again.jwt_secret);
    }

    #[test]
    fn production_requires_a_long_secret() {
        let dir = tmp();
        assert!(settings(&[("MARIMO_ENV", "production"), ("MARIMO_DATA_DIR", &dir)]).is_err());
        assert!(settings(&[("JWT_SECRET", "short"), ("MARIMO_DATA_DIR", &dir)]).is_err());
        let ok = settings(&[
            ("MARIMO_ENV", "production"),
            (
                "JWT_SECRET",
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            ),
        ])
        .unwrap();
        assert!(!ok.jwt_secret_generated);
    }

    #[test]
    fn production_refuses_template_and_weak_secrets() {
        for (secret, why) in [
            (
                "change-me-to-64-random-characters-change-me-to-64-random-chars",
                "placeholder",
            ),
            (
                "REPLACE-ME-with-the-output-of-openssl-rand-hex-32",
                "placeholder",
            ),
            (&"k".repeat(64), "repeats"),
            (&"ab".repeat(32), "repeats"),
            ("aaaaaaaabbbbbbbbccccccccddddddddeeeeffgghh", "entropy"),
        ] {
            let err = settings(&[("MARIMO_ENV", "production"), ("JWT_SECRET", secret)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("JWT_SECRET"), "{err}");
            assert!(err.contains(why), "{secret}: {err}");
            assert!(err.contains("openssl rand -hex 32"), "{err}");
            // Development still takes it: `marimo up` on a laptop.
            assert!(settings(&[("JWT_SECRET", secret)]).is_ok(), "{secret}");
        }
    }

    #[test]
    fn production_refuses_the_env_templates_placeholders() {
        let template = include_str!("../../../deploy/.env.example");
        let value = |name: &str| {
            template
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name} in deploy/.env.example"))
                .to_owned()
        };
        let strong = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let err = settings(&[
            ("MARIMO_ENV", "production"),
            ("JWT_SECRET", &value("JWT_SECRET")),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("openssl rand -hex 32"), "{err}");
        for (var, from) in [
            ("DB_PASSWORD", "POSTGRES_PASSWORD"),
            ("REDIS_PASSWORD", "REDIS_PASSWORD"),
            ("CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN"),
            ("MARIMO_ADMIN_PASSWORD", "MARIMO_ADMIN_PASSWORD"),
        ] {
            let placeholder = value(from);
            let vars = [
                ("MARIMO_ENV", "production"),
                ("JWT_SECRET", strong),
                ("DB_HOST", "db"),
                (var, placeholder.as_str()),
            ];
            let err = settings(&vars).unwrap_err().to_string();
            assert!(err.contains(var) && err.contains("openssl rand"), "{err}");
        }
        let url = format!(
            "amqp://marimo:{}@rabbitmq:5672/%2f",
            value("RABBITMQ_PASSWORD")
        );
        let err = settings(&[
            ("MARIMO_ENV", "production"),
            ("JWT_SECRET", strong),
            ("RABBITMQ_URL", &url),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("RABBITMQ_URL"), "{err}");
        // A real host name with "example" in it is not a placeholder.
        assert!(
            settings(&[
                ("MARIMO_ENV", "production"),
                ("JWT_SECRET", strong),
                (
                    "DATABASE_URL",
                    "postgres://u:9f86d0818@db.example.com/marimo"
                ),
            ])
            .is_ok()
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_data_dir_and_key_are_owner_only_and_a_wide_key_is_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = PathBuf::from(tmp()).join("nested");
        let s = settings(&[("MARIMO_DATA_DIR", dir.to_str().unwrap())]).unwrap();
        assert!(s.jwt_secret_generated);
        assert_eq!(mode(&dir), 0o700);
        let key = dir.join(SECRET_FILE);
        assert_eq!(mode(&key), 0o600);
        // An existing key left readable by everyone is kept but tightened.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let again = settings(&[("MARIMO_DATA_DIR", dir.to_str().unwrap())]).unwrap();
        assert_eq!(again.jwt_secret, s.jwt_secret);
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn seed_db_variables_build_a_postgres_url() {
        let s = settings(&[
            ("JWT_SECRET", &"k".repeat(32)),
            ("DB_HOST", "db"),
            ("DB_USER", "marimo"),
            ("DB_PASSWORD", "p@ss word"),
            ("DB_NAME", "erp"),
        ])
        .unwrap();
        assert_eq!(
            s.database,
            DatabaseConfig::Postgres {
                url: "postgres://marimo:p%40ss%20word@db:5432/erp".into()
            }
        );
        assert!(!format!("{:?}", s.database).contains("p%40ss"));
    }

    #[test]
    fn ports_and_urls_are_overridable() {
        let s = settings(&[
            ("JWT_SECRET", &"k".repeat(32)),
            ("SHOP_PORT", "9185"),
            ("USERS_URLS", "http://a:1, http://b:2"),
        ])
        .unwrap();
        assert_eq!(s.port(ServiceName::Shop), 9185);
        assert_eq!(
            s.urls_of(ServiceName::Users),
            vec!["http://a:1", "http://b:2"]
        );
        assert_eq!(s.urls_of(ServiceName::Shop), vec!["http://127.0.0.1:9185"]);
        assert!(settings(&[("JWT_SECRET", &"k".repeat(32)), ("SHOP_PORT", "x")]).is_err());
    }
}
