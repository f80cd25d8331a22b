//! Posting on a client's request: the lifecycle around the posting path
//! that the API's journal entries, reversals and the original API's
//! transactions share. In one transaction: claim the `Idempotency-Key`
//! (a concurrent duplicate waits on it), post, store the response under
//! the key, commit, then wake the outbox relay. A failure rolls back and
//! leaves the key free.
//!
//! The response body is the caller's to shape (`respond`, from `api`): it
//! is stored with the key, so a replay answers exactly the first response.
//!
//! Each runs in [`Db::retry_conflicts`](marimo_platform::db::Db::retry_conflicts):
//! a posting that loses against another (a deadlock, a serialization
//! failure) is run again, whole, before the client hears of it.

use marimo_platform::{
    clock,
    idempotency::{Claim, Keyed},
    tenant::TenantId,
};
use serde_json::Value;
use time::Date;

use super::{Ledger, Origin, Tx};
use crate::{
    domain::{
        Rejection, RejectionKind,
        calendar::today,
        compat::{self, Transaction as CompatTransaction},
        entry::{Draft, PostedEntry},
    },
    error::LedgerResult,
    store::compat::{self as store, TransactionRecord},
};

/// A response: HTTP status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// What a request got.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Posted now.
    Posted(Reply),
    /// The key was seen with this same request: its first response, as
    /// stored (status and JSON text).
    Replay { status: u16, body: String },
}

/// The posting transaction, with the key it claimed.
struct Posting {
    tx: Tx,
    key: Option<Keyed>,
}

impl Ledger {
    /// Posts a validated entry (`entry::validate`).
    pub async fn create_entry(
        &self,
        t: &TenantId,
        draft: &Draft,
        origin: Origin<'_>,
        key: Option<Keyed>,
        respond: impl Fn(&PostedEntry) -> Reply,
    ) -> LedgerResult<Answer> {
        let (key, respond) = (&key, &respond);
        self.db
            .retry_conflicts(|| async move {
                let mut posting = match self.begin_posting(t, key.clone()).await? {
                    Ok(p) => p,
                    Err(replay) => return Ok(replay),
                };
                let posted = self.post_in(&mut posting.tx, draft, origin).await?;
                self.finish(posting, respond(&posted)).await
            })
            .await
    }

    /// Reverses entry `id` (see [`Ledger::reverse_in`]); `respond` gets
    /// the reversing entry.
    pub async fn reverse_entry(
        &self,
        t: &TenantId,
        id: &str,
        date: Option<Date>,
        origin: Origin<'_>,
        key: Option<Keyed>,
        respond: impl Fn(&PostedEntry) -> Reply,
    ) -> LedgerResult<Answer> {
        let (key, respond) = (&key, &respond);
        self.db
            .retry_conflicts(|| async move {
                let mut posting = match self.begin_posting(t, key.clone()).await? {
                    Ok(p) => p,
                    Err(replay) => return Ok(replay),
                };
                let reversal = self.reverse_in(&mut posting.tx, id, date, origin).await?;
                self.finish(posting, respond(&reversal)).await
            })
            .await
    }

    /// Records an original-API transaction (`compat::validate`): a balanced
    /// entry dated today between Cash and the account its category maps
    /// to (unmapped: the kind's default account), plus the transaction row.
    pub async fn record_transaction(
        &self,
        tenant: &TenantId,
        t: CompatTransaction,
        origin: Origin<'_>,
        key: Option<Keyed>,
        respond: impl Fn(&TransactionRecord) -> Reply,
    ) -> LedgerResult<Answer> {
        let (t, key, respond) = (&t, &key, &respond);
        self.db
            .retry_conflicts(|| async move {
                let mut posting = match self.begin_posting(tenant, key.clone()).await? {
                    Ok(p) => p,
                    Err(replay) => return Ok(replay),
                };
                let account = store::account_for(
                    &mut posting.tx,
                    tenant,
                    t.kind,
                    &compat::category_key(&t.category),
                )
                .await?
                .unwrap_or_else(|| t.kind.default_account().to_owned());
                let currency = self.currency_in(&mut posting.tx, tenant).await?;
                let draft = compat::draft(t, &account, today(), &currency)?;
                let posted = self.post_in(&mut posting.tx, &draft, origin).await?;
                store::insert(
                    &mut posting.tx,
                    tenant,
                    &posted.id,
                    t,
                    origin.created_by,
                    &posted.created_at,
                )
                .await?;
                let record = TransactionRecord {
                    id: posted.id,
                    tx: t.clone(),
                    created_by: origin.created_by.to_owned(),
                    created_at: posted.created_at,
                    number: posted.number,
                    reversed_by: None,
                };
                self.finish(posting, respond(&record)).await
            })
            .await
    }

    /// Opens the posting transaction and claims the key, if any; a key
    /// already answered gives its first response instead.
    async fn begin_posting(
        &self,
        t: &TenantId,
        key: Option<Keyed>,
    ) -> LedgerResult<Result<Posting, Answer>> {
        let mut tx = self.db.tenant(t).begin().await?;
        let Some(k) = key else {
            return Ok(Ok(Posting { tx, key: None }));
        };
        match k.claim(&mut tx, &clock::now_text()).await? {
            Claim::Fresh => Ok(Ok(Posting { tx, key: Some(k) })),
            Claim::Replay { status, body } => {
                tx.rollback().await?;
                Ok(Err(Answer::Replay { status, body }))
            }
            Claim::Mismatch => {
                tx.rollback().await?;
                Err(Rejection::new(
                    RejectionKind::Unprocessable,
                    "IDEMPOTENCY_KEY_REUSED",
                    "this Idempotency-Key was used with a different request",
                )
                .into())
            }
        }
    }

    /// Stores the reply under the key, commits and wakes the relay.
    async fn finish(&self, mut posting: Posting, reply: Reply) -> LedgerResult<Answer> {
        if let Some(k) = &posting.key {
            k.complete(&mut posting.tx, reply.status, &reply.body.to_string())
                .await?;
        }
        posting.tx.commit().await?;
        self.committed();
        Ok(Answer::Posted(reply))
    }
}
