//! The pieces every suite used to write for itself: run a test on each
//! backend, wait for something to happen, sign a token for a role, start a
//! service on an ephemeral port.

use std::{fmt, future::Future, time::Duration};

use axum::Router;
use marimo_platform::{
    auth::{JwtKeys, Role, jwt::Identity},
    bus::Bus,
    config::Settings,
    service::{ServiceContext, ServiceName},
};

use crate::{Backend, TEST_JWT_SECRET, TestServer, backends, context_on, spawn};

/// What [`each_backend`] hands a test: something started on a fresh
/// database of one backend (typically a crate's `App`).
pub trait Fixture: Sized {
    /// Starts on a fresh database of `backend`.
    fn start(backend: &Backend) -> impl Future<Output = Self>;
}

/// The backend itself, for tests that set up their own services.
impl Fixture for Backend {
    async fn start(backend: &Backend) -> Self {
        backend.clone()
    }
}

/// Runs `test` once per backend of [`backends`], each time on a fresh
/// [`Fixture`]: `each_backend(|app: App| async move { ... })`.
///
/// The backend's name is printed first, so a failure's output says which
/// backend it was on.
pub async fn each_backend<A, F, Fut>(test: F)
where
    A: Fixture,
    F: Fn(A) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in backends() {
        eprintln!("--- backend: {}", backend.name());
        test(A::start(&backend).await).await;
    }
}

/// How long [`eventually`] waits before it fails the test.
pub const EVENTUALLY: Duration = Duration::from_secs(30);

/// Polls `check` (every 20 ms) until it is ready, and returns its value;
/// fails the test after [`EVENTUALLY`] with a message naming `what` was
/// awaited. A check answers `bool`, `Option<T>` or `Result<T, E>` (where
/// the error says what it saw, for the failure message): see [`Ready`].
#[track_caller]
pub fn eventually<R: Ready>(
    what: &str,
    check: impl AsyncFnMut() -> R,
) -> impl Future<Output = R::Value> {
    eventually_within(EVENTUALLY, what, check)
}

/// [`eventually`] with its own deadline (for work that is slow by design,
/// e.g. a broker's redelivery).
#[track_caller]
pub fn eventually_within<R: Ready>(
    limit: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> R,
) -> impl Future<Output = R::Value> {
    // The caller's location, taken before the future runs: a panic inside
    // an async body would otherwise point here.
    let caller = std::panic::Location::caller();
    let what = what.to_owned();
    async move {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let last = match check().await.ready() {
                Ok(value) => return value,
                Err(last) => last,
            };
            if tokio::time::Instant::now() >= deadline {
                let seen = last
                    .map(|l| format!(" (last seen: {l})"))
                    .unwrap_or_default();
                panic!(
                    "timed out after {} s waiting for {what}{seen} [{caller}]",
                    limit.as_secs_f32()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An answer of an [`eventually`] check: ready with a value, or not yet
/// (with what it saw, when it can tell).
pub trait Ready {
    type Value;
    fn ready(self) -> Result<Self::Value, Option<String>>;
}

impl Ready for bool {
    type Value = ();
    fn ready(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

impl<T> Ready for Option<T> {
    type Value = T;
    fn ready(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: fmt::Display> Ready for Result<T, E> {
    type Value = T;
    fn ready(self) -> Result<T, Option<String>> {
        self.map_err(|e| Some(e.to_string()))
    }
}

/// A signed access token (the test secret, [`TEST_JWT_SECRET`]) for the
/// fixed user of `role`: `<role>-user`, so the same role is the same user
/// (what Idempotency-Key scoping and "own records" checks see).
pub fn token_for(role: Role) -> String {
    token_for_user(&format!("{}-user", role.as_str()), role)
}

/// A signed access token for `user_id` with `role` (email
/// `<user_id>@example.com`).
pub fn token_for_user(user_id: &str, role: Role) -> String {
    sign(&Identity {
        user_id: user_id.to_owned(),
        email: format!("{user_id}@example.com"),
        role,
        tenant: Default::default(),
    })
}

/// A signed access token for exactly this identity.
pub fn sign(who: &Identity) -> String {
    JwtKeys::new(TEST_JWT_SECRET.as_bytes()).issue(who).0
}

/// A service started for a test: its context and its server.
pub struct Service {
    pub ctx: ServiceContext,
    pub server: TestServer,
}

/// Starts service `name` on `settings` and `bus`: its context, the router
/// `router` builds from it (migrations, seeds, background jobs), served on
/// an ephemeral port. A service that cannot start fails the test with its
/// error.
pub async fn start_service<F, Fut, E>(
    name: ServiceName,
    settings: Settings,
    bus: Bus,
    router: F,
) -> Service
where
    F: FnOnce(ServiceContext) -> Fut,
    Fut: Future<Output = Result<Router, E>>,
    E: fmt::Display,
{
    let ctx = context_on(name, settings, bus).await;
    let router = router(ctx.clone())
        .await
        .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
    Service {
        ctx,
        server: spawn(router).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn eventually_returns_the_first_ready_value() {
        let mut n = 0;
        let got = eventually("n to reach 3", async || {
            n += 1;
            (n >= 3).then_some(n)
        })
        .await;
        assert_eq!(got, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for the answer (last seen: got 41)")]
    async fn eventually_names_what_it_waited_for() {
        eventually_within(Duration::from_millis(50), "the answer", async || {
            Err::<(), _>("got 41")
        })
        .await;
    }

    #[test]
    fn tokens_carry_the_role_and_a_stable_user() {
        let keys = JwtKeys::new(TEST_JWT_SECRET.as_bytes());
        let who = keys
            .verify_identity(&token_for(Role::Accountant))
            .expect("valid");
        assert_eq!(who.role, Role::Accountant);
        assert_eq!(who.user_id, "accountant-user");
        assert!(
            keys.verify_identity(&token_for_user("u-1", Role::User))
                .is_ok()
        );
    }
}
