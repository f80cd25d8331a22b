//! Sessions and credentials: sign-in, refresh, sign-out, password change,
//! and the purge of dead sessions.
//!
//! A sign-in starts a refresh-token *family*; every refresh rotates the
//! token (at most one of concurrent refreshes of a token wins); presenting
//! a used token revokes its whole family. Refresh tokens are stored only
//! as SHA-256 hashes. Brute-force state lives in the database, so every
//! replica sees it.

use marimo_platform::{
    auth::{jwt::Identity, password},
    bus::Envelope,
    clock,
    db::{Db, Tx},
    ids,
    tenant::TenantId,
};

use super::{
    Users, lifetimes,
    observe::{self, Attempt, TokenType},
    with_ip,
};
use crate::{
    UsersError,
    domain::{self, Admission, Invalid, ThrottleKey, User},
    events::{self, FailReason},
    store::{self, TokenRecord, UserRecord},
};

/// What a sign-in, a refresh or a password change hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// A JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    /// Opaque; single use (each refresh rotates it).
    pub refresh_token: String,
}

const INVALID_REFRESH_TOKEN: &str = "the refresh token is invalid or expired; sign in again";

/// Deletes refresh tokens that expired, or whose family was revoked,
/// before `cutoff`, and the families left empty; returns the tokens
/// deleted. Live sessions and used tokens of live families are kept.
pub async fn purge_dead_sessions(db: &Db, cutoff: time::OffsetDateTime) -> Result<u64, UsersError> {
    let mut tx = db.begin().await?;
    let n = store::purge_dead_sessions(&mut tx, &clock::format(cutoff)).await?;
    tx.commit().await?;
    Ok(n)
}

/// A password check admitted under both delays, with the counts stored
/// for it (failures are marked against exactly these).
struct Counted {
    address: (ThrottleKey, i64),
    account: (ThrottleKey, i64),
}

impl Users {
    /// Signs in with a normalised email: checked under the brute-force
    /// delay, the same answer and timing whether or not the email exists;
    /// a legacy or weaker hash is upgraded. Acts in the tenant `wanted`
    /// names (slug or id), else the account's default-tenant membership,
    /// else its oldest; not a member is the same 401 as a wrong password.
    /// Starts a session and publishes `users.user.logged_in` (or
    /// `users.user.login_failed`).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        wanted: Option<&str>,
        ip: Option<&str>,
    ) -> Result<(User, domain::Tenant, Tokens), UsersError> {
        // No account can have such inputs; refuse before hashing them.
        if email.chars().count() > domain::EMAIL_MAX_CHARS
            || password.len() > domain::LOGIN_PASSWORD_MAX_BYTES
        {
            return Err(UsersError::BadCredentials);
        }
        let pool = self.db.pool();
        let counted = match self.admit_attempt(email, ip).await? {
            Ok(counted) => counted,
            Err(retry_after_secs) => {
                observe::count_attempt(&self.metrics, Attempt::Locked);
                return Err(UsersError::TooManyAttempts { retry_after_secs });
            }
        };

        // Unknown accounts spend the time of a real check, so the answer
        // and its timing are the same whether or not the email exists.
        let record = store::find_by_email(pool, email).await?;
        let verdict = match &record {
            Some(r) => password::verify(password, &r.password_hash).await,
            None => password::verify_nothing(password).await,
        }?;
        let reason = match &record {
            Some(_) => FailReason::WrongPassword,
            None => FailReason::UnknownEmail,
        };
        let Some(record) = record.filter(|_| verdict.ok) else {
            observe::count_attempt(&self.metrics, Attempt::Failure);
            self.login_failed(email, &counted, reason, ip).await?;
            return Err(UsersError::BadCredentials);
        };
        self.attempt_succeeded(&counted).await?;
        if verdict.needs_rehash {
            self.rehash(&record, password).await;
        }

        let memberships = self.memberships_of(&record.user.id).await?;
        let Some(member) = domain::pick_membership(&memberships, wanted) else {
            // Right password, but no such tenant for this account: the
            // answer of a wrong password, so tenants cannot be probed.
            observe::count_attempt(&self.metrics, Attempt::Failure);
            return Err(UsersError::BadCredentials);
        };
        let tenant = member.tenant.clone();
        // Only the account's owner (right password) learns it is
        // deactivated (everywhere, or in this tenant).
        if !record.user.active || !member.active {
            observe::count_attempt(&self.metrics, Attempt::Inactive);
            let event = with_ip(events::login_failed(email, FailReason::Deactivated), ip);
            let mut tx = self.db.tenant(&tenant.id).begin().await?;
            self.outbox.publish(&mut tx, &event).await?;
            tx.commit().await?;
            self.outbox.wake();
            return Err(UsersError::AccountDeactivated);
        }
        let user = User {
            role: member.role,
            ..record.user
        };
        let event = with_ip(events::logged_in(&user), ip);
        let refresh_token = self.start_session(&user, &tenant.id, Some(event)).await?;
        observe::count_attempt(&self.metrics, Attempt::Success);
        let tokens = self.tokens(&user, &tenant.id, refresh_token).await?;
        Ok((user, tenant, tokens))
    }

    /// Every membership of account `user_id`, oldest first: the one read
    /// across tenants, keyed by the verified account, never by a request's
    /// tenant (see `store::memberships_of`).
    pub(crate) async fn memberships_of(
        &self,
        user_id: &str,
    ) -> Result<Vec<domain::Membership>, UsersError> {
        let mut tx = self.db.all_tenants().read().await?;
        Ok(store::memberships_of(&mut *tx, user_id).await?)
    }

    /// A new session of account `caller` in the tenant `wanted` names
    /// (slug or id): a new token pair there. Not a member (or a member
    /// deactivated there) is 404, whichever tenant it is.
    pub async fn switch_tenant(
        &self,
        user_id: &str,
        wanted: &str,
    ) -> Result<(User, domain::Tenant, Tokens), UsersError> {
        let Some(record) = store::find_by_id(self.db.pool(), user_id).await? else {
            return Err(UsersError::Unauthenticated("this account no longer exists"));
        };
        if !record.user.active {
            return Err(UsersError::Unauthenticated("this account is deactivated"));
        }
        let memberships = self.memberships_of(user_id).await?;
        let Some(member) = domain::pick_membership(&memberships, Some(wanted)).filter(|m| m.active)
        else {
            return Err(UsersError::NoSuchTenant);
        };
        let tenant = member.tenant.clone();
        let user = User {
            role: member.role,
            ..record.user
        };
        let refresh_token = self.start_session(&user, &tenant.id, None).await?;
        let tokens = self.tokens(&user, &tenant.id, refresh_token).await?;
        Ok((user, tenant, tokens))
    }

    /// Rotates a refresh token: marks it used and issues its successor in
    /// the same family. A used token presented again revokes the family.
    pub async fn refresh(&self, presented: &str) -> Result<Tokens, UsersError> {
        if !domain::plausible_refresh_token(presented) {
            return Err(UsersError::Unauthenticated(INVALID_REFRESH_TOKEN));
        }
        let hash = domain::hash_refresh_token(presented);
        // Read before the transaction: it must not wait for a second
        // connection while holding the write lock.
        let refresh_ttl = lifetimes::current(&self.db).await?.refresh;
        let now = clock::now();
        let now_text = clock::format(now);

        // The session's tenant first (sessions are system rows), so the
        // transaction that rotates the token acts in it.
        let Some(tenant) = store::find_token(self.db.pool(), &hash)
            .await?
            .map(|t| t.tenant)
        else {
            return Err(UsersError::Unauthenticated(INVALID_REFRESH_TOKEN));
        };
        let mut tx = self.db.tenant(&tenant).begin().await?;
        let Some(token) = store::find_token(&mut *tx, &hash).await? else {
            return Err(UsersError::Unauthenticated(INVALID_REFRESH_TOKEN));
        };
        if token.family_revoked {
            return Err(UsersError::Unauthenticated(
                "this session has been revoked; sign in again",
            ));
        }
        if token.used {
            return Err(reuse_detected(tx, &token, &now_text).await);
        }
        if token.expires_at <= now {
            return Err(UsersError::Unauthenticated(INVALID_REFRESH_TOKEN));
        }
        if !token.user.active {
            return Err(UsersError::Unauthenticated("this account is deactivated"));
        }
        // The role and the standing in the session's tenant, as stored now.
        let Some(member) = store::find_member(&mut *tx, &token.tenant, &token.user.id).await?
        else {
            return Err(UsersError::Unauthenticated(
                "you are no longer a member of this tenant; sign in again",
            ));
        };
        if !member.user.active {
            return Err(UsersError::Unauthenticated("this account is deactivated"));
        }
        // The one guard against concurrent refreshes of the same token:
        // only the request whose conditional UPDATE marks it gets a new
        // one; the others were racing a rotation and are treated as reuse.
        if !store::mark_token_used(&mut *tx, &hash, &now_text).await? {
            return Err(reuse_detected(tx, &token, &now_text).await);
        }
        let next = domain::new_refresh_token();
        store::insert_token(
            &mut *tx,
            &domain::hash_refresh_token(&next),
            &token.family_id,
            &now_text,
            &clock::format(now + refresh_ttl),
        )
        .await?;
        tx.commit().await?;
        observe::count_token(&self.metrics, TokenType::Refresh);
        self.tokens(&member.user, &token.tenant, next).await
    }

    /// Ends the session of `refresh_token` (unknown, used or revoked tokens
    /// are fine: idempotent), or with `all` every session of the account of
    /// `bearer` (a verified user id) or else of a live `refresh_token`.
    pub async fn logout(
        &self,
        bearer: Option<&str>,
        refresh_token: Option<&str>,
        all: bool,
    ) -> Result<(), UsersError> {
        let now = clock::now();
        let now_text = clock::format(now);
        let token = match refresh_token.filter(|t| domain::plausible_refresh_token(t)) {
            Some(t) => store::find_token(self.db.pool(), &domain::hash_refresh_token(t)).await?,
            None => None,
        };
        if !all {
            if let Some(t) = &token {
                store::revoke_family(self.db.pool(), &t.family_id, &now_text).await?;
            }
            return Ok(());
        }
        let owner = match (bearer, &token) {
            (Some(user_id), _) => Some(user_id.to_owned()),
            (None, Some(t)) if !t.used && !t.family_revoked && t.expires_at > now => {
                Some(t.user.id.clone())
            }
            _ => None,
        };
        let Some(user_id) = owner else {
            return Err(UsersError::Unauthenticated(
                "signing out everywhere needs a valid bearer token",
            ));
        };
        let mut tx = self.db.begin().await?;
        if let Some(t) = &token {
            store::revoke_family(&mut *tx, &t.family_id, &now_text).await?;
        }
        let n = store::revoke_user_families(&mut *tx, &user_id, &now_text).await?;
        self.revoke_access(&mut tx, &user_id, &user_id).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(%user_id, sessions = n, "signed out everywhere");
        Ok(())
    }

    /// Changes the password of the signed-in `record`. The current password
    /// is checked under the same brute-force delay as sign-in (a stolen
    /// access token must not become a password oracle); on success every
    /// session is revoked, `users.user.password_changed` published, and a
    /// new session started for this client.
    pub async fn change_password(
        &self,
        record: &UserRecord,
        tenant: &TenantId,
        current: &str,
        new: &str,
        ip: Option<&str>,
    ) -> Result<Tokens, UsersError> {
        domain::check_password(new).map_err(|mut e| {
            e.field = "new_password".into();
            e
        })?;
        if new == current {
            return Err(Invalid::new(
                "new_password",
                "the new password must differ from the current one",
            )
            .with_rule("unchanged")
            .into());
        }
        if current.len() > domain::LOGIN_PASSWORD_MAX_BYTES {
            return Err(UsersError::WrongCurrentPassword);
        }
        let email = &record.user.email;
        let counted = match self.admit_attempt(email, ip).await? {
            Ok(counted) => counted,
            Err(retry_after_secs) => {
                return Err(UsersError::TooManyAttempts { retry_after_secs });
            }
        };
        let verdict = password::verify(current, &record.password_hash).await?;
        if !verdict.ok {
            self.login_failed(email, &counted, FailReason::WrongCurrentPassword, ip)
                .await?;
            return Err(UsersError::WrongCurrentPassword);
        }
        self.attempt_succeeded(&counted).await?;

        let new_hash = password::hash(new).await?;
        let now = clock::now_text();
        let mut tx = self.db.tenant(tenant).begin().await?;
        if !store::change_password(
            &mut *tx,
            &record.user.id,
            &record.password_hash,
            &new_hash,
            &now,
        )
        .await?
        {
            return Err(UsersError::Conflict(
                "the password was changed meanwhile; sign in again",
            ));
        }
        store::revoke_user_families(&mut *tx, &record.user.id, &now).await?;
        self.revoke_access(&mut tx, &record.user.id, &record.user.id)
            .await?;
        let event = with_ip(events::password_changed(&record.user), ip);
        self.outbox.publish(&mut tx, &event).await?;
        tx.commit().await?;
        self.outbox.wake();
        tracing::info!(user_id = %record.user.id, "password changed");

        let refresh_token = self.start_session(&record.user, tenant, None).await?;
        self.tokens(&record.user, tenant, refresh_token).await
    }

    /// An access token for `user` (with its role) in `tenant`, valid for
    /// the configured lifetime, with `refresh_token`.
    pub(crate) async fn tokens(
        &self,
        user: &User,
        tenant: &TenantId,
        refresh_token: String,
    ) -> Result<Tokens, UsersError> {
        let ttl = lifetimes::current(&self.db).await?.access;
        observe::count_token(&self.metrics, TokenType::Access);
        let (access_token, expires_in) = self.jwt.issue_for(
            &Identity {
                user_id: user.id.clone(),
                email: user.email.clone(),
                role: user.role,
                tenant: tenant.clone(),
            },
            ttl,
        );
        Ok(Tokens {
            access_token,
            expires_in,
            refresh_token,
        })
    }

    /// Starts a session (a new refresh-token family) and returns its first
    /// refresh token, publishing `event` in the same transaction. Sessions
    /// of the user that can no longer be used are pruned first.
    pub(crate) async fn start_session(
        &self,
        user: &User,
        tenant: &TenantId,
        event: Option<Envelope>,
    ) -> Result<String, UsersError> {
        let refresh_ttl = lifetimes::current(&self.db).await?.refresh;
        let now = clock::now();
        let now_text = clock::format(now);
        let token = domain::new_refresh_token();
        let family = ids::new_id();
        let mut tx = self.db.tenant(tenant).begin().await?;
        store::prune_sessions(&mut tx, &user.id, &now_text).await?;
        store::create_family(&mut *tx, &family, &user.id, tenant, &now_text).await?;
        store::insert_token(
            &mut *tx,
            &domain::hash_refresh_token(&token),
            &family,
            &now_text,
            &clock::format(now + refresh_ttl),
        )
        .await?;
        if let Some(event) = &event {
            self.outbox.publish(&mut tx, event).await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        observe::count_token(&self.metrics, TokenType::Refresh);
        Ok(token)
    }

    /// Records a failed sign-in: restarts the delay from now and publishes
    /// `users.user.login_failed`, in one transaction.
    /// Admits a password check on `email` from `ip` under both delays
    /// (the address's budget, then the account-from-address delay),
    /// counting it up front under each; `Err(retry_after_secs)` when one
    /// of them is closed.
    async fn admit_attempt(
        &self,
        email: &str,
        ip: Option<&str>,
    ) -> Result<Result<Counted, u64>, UsersError> {
        let pool = self.db.pool();
        let (address, account) = ThrottleKey::of_attempt(email, ip);
        let address_failures = match store::throttle_admit(pool, &address, clock::now()).await? {
            Admission::Blocked { retry_after_secs } => return Ok(Err(retry_after_secs)),
            Admission::Admit { failures, .. } => failures,
        };
        match store::throttle_admit(pool, &account, clock::now()).await? {
            Admission::Blocked { retry_after_secs } => {
                // No password was checked: the address's budget is not spent.
                store::throttle_refund(pool, &address, address_failures).await?;
                Ok(Err(retry_after_secs))
            }
            Admission::Admit { failures, .. } => Ok(Ok(Counted {
                address: (address, address_failures),
                account: (account, failures),
            })),
        }
    }

    /// The right password: the account's delay from this address is
    /// reset, the address gets back this one attempt (not its budget).
    async fn attempt_succeeded(&self, counted: &Counted) -> Result<(), UsersError> {
        let pool = self.db.pool();
        store::throttle_clear(pool, &counted.account.0).await?;
        store::throttle_refund(pool, &counted.address.0, counted.address.1).await?;
        Ok(())
    }

    async fn login_failed(
        &self,
        email: &str,
        counted: &Counted,
        reason: FailReason,
        ip: Option<&str>,
    ) -> Result<(), UsersError> {
        let mut tx = self.db.begin().await?;
        let now = clock::now();
        for (key, failures) in [&counted.address, &counted.account] {
            store::throttle_failed(&mut *tx, key, *failures, now).await?;
        }
        self.outbox
            .publish(&mut tx, &with_ip(events::login_failed(email, reason), ip))
            .await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }

    /// Upgrades a legacy or weaker hash after a successful sign-in; a
    /// failure only costs the upgrade, never the sign-in.
    async fn rehash(&self, record: &UserRecord, password: &str) {
        let result = async {
            let new = password::hash(password).await.map_err(|e| e.to_string())?;
            store::replace_password_hash(
                self.db.pool(),
                &record.user.id,
                &record.password_hash,
                &new,
            )
            .await
            .map_err(|e| e.to_string())
        }
        .await;
        match result {
            Ok(_) => tracing::info!(user_id = %record.user.id, "password hash upgraded"),
            Err(error) => {
                tracing::warn!(user_id = %record.user.id, %error, "password rehash failed")
            }
        }
    }
}

/// A used refresh token presented again means it leaked (or a client raced
/// itself): the whole family is revoked, so the thief's copy and the
/// owner's newer token both stop working.
async fn reuse_detected(mut tx: Tx, token: &TokenRecord, now: &str) -> UsersError {
    let revoked = async {
        store::revoke_family(&mut *tx, &token.family_id, now).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = revoked {
        return e.into();
    }
    tracing::warn!(
        user_id = %token.user.id,
        family_id = %token.family_id,
        "refresh token reused; session family revoked"
    );
    UsersError::Unauthenticated(
        "this refresh token was already used; the session has been revoked, sign in again",
    )
}
