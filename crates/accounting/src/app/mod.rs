//! The accounting service's use cases, on [`Ledger`]: the one posting path
//! that the API, the original API's transactions and the event consumers
//! all go through (here), posting on a client's request with its
//! Idempotency-Key (`entries`), the chart (`chart`), periods (`periods`),
//! the reports (`reports`) and perpetual inventory's mapping and
//! reconciliation (`inventory`). Each function runs in the caller's
//! transaction (`*_in`) or opens its own.
//!
//! Posting, in one transaction: check the accounts (exist, active), hold
//! the period open (its row stays locked until commit, so a concurrent
//! close waits), take the next number of the fiscal year from its counter
//! row (locked until commit: gapless), insert the entry and its lines, add
//! to the monthly balances, link a reversal to its original (a unique
//! index makes that once only), and write the events to the outbox.

pub mod chart;
pub mod entries;
pub mod inventory;
pub mod periods;
pub mod reports;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, RwLock},
};

use marimo_contracts::{
    accounting::{self as contract, EntryPosted, EntryReversed},
    ids::EntryId,
    values::{self, Money},
};
use marimo_platform::{
    bus::{Envelope, Outbox},
    clock,
    db::Db,
    ids,
    tenant::TenantId,
};
use serde_json::json;
use time::Date;

use crate::{
    domain::{
        Rejection, RejectionKind,
        calendar::{Period, format_date, parse_date, today},
        entry::{self, Draft, PostedEntry, PostedLine},
        money::Currency,
        period,
    },
    error::LedgerResult,
    store::journal::{self, NewEntry},
};

/// A write transaction (`Db::begin` or `inbox::begin`).
pub use marimo_platform::db::Tx;

/// Who posts and through which path.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// `api`, `compat` or `event`.
    pub source: &'a str,
    /// A user id, or `system`.
    pub created_by: &'a str,
}

/// Event types this service publishes.
pub const ENTRY_POSTED: &str = contract::ENTRY_POSTED.name();
pub const ENTRY_REVERSED: &str = contract::ENTRY_REVERSED.name();
/// A posting refused because the base currency changed under it.
pub const CURRENCY_CHANGED: &str = "CURRENCY_CHANGED";
/// A posting refused because the fiscal year's start changed under it.
pub const FISCAL_YEAR_CHANGED: &str = "FISCAL_YEAR_CHANGED";

/// The ledger of one service instance: the books of every tenant, each
/// in its own rows (`tenant_id`), acted on in that tenant's transactions
/// (`Db::tenant`).
#[derive(Debug, Clone)]
pub struct Ledger {
    pub db: Db,
    pub outbox: Outbox,
    /// Each tenant's base currency, as its `ledger_settings` says (a cache,
    /// filled on first use): it is the tenant's currency at creation
    /// (`users.tenant.created`), follows the config service's `currency`
    /// only while the tenant's ledger is empty (see
    /// `events::base_currency`), and every posting checks it in its
    /// transaction, so a replica that has not heard of a change yet
    /// refuses to post rather than post in the old currency.
    currencies: Arc<RwLock<HashMap<TenantId, Currency>>>,
    /// The currency of a tenant accounting has not seeded (it has no
    /// accounts either, so nothing can post there).
    fallback: Currency,
}

/// The tenant a ledger transaction was opened in (`Db::tenant`). A
/// transaction without one is a bug: refuse it rather than guess.
pub(crate) fn tenant_of(tx: &Tx) -> LedgerResult<TenantId> {
    tx.tenant().cloned().ok_or_else(|| {
        sqlx::Error::Protocol("a ledger transaction must be opened in a tenant".into()).into()
    })
}

fn not_found() -> Rejection {
    Rejection::new(
        RejectionKind::NotFound,
        "NOT_FOUND",
        "no such journal entry",
    )
}

impl Ledger {
    /// `fallback`: the currency of tenants accounting has not seeded.
    pub fn new(db: Db, outbox: Outbox, fallback: Currency) -> Self {
        Self {
            db,
            outbox,
            currencies: Arc::new(RwLock::new(HashMap::new())),
            fallback,
        }
    }

    fn cached_currency(&self, t: &TenantId) -> Option<Currency> {
        self.currencies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(t)
            .cloned()
    }

    /// A tenant's base currency (from the cache, else its settings).
    pub async fn currency(&self, t: &TenantId) -> LedgerResult<Currency> {
        if let Some(c) = self.cached_currency(t) {
            return Ok(c);
        }
        let mut tx = self.db.tenant(t).read().await?;
        let code = crate::store::schema::currency_in(&mut tx, t).await?;
        tx.rollback().await?;
        Ok(self.remember(t, code))
    }

    /// A tenant's base currency, read (when not cached) in the caller's
    /// transaction of that tenant.
    pub async fn currency_in(&self, tx: &mut Tx, t: &TenantId) -> LedgerResult<Currency> {
        if let Some(c) = self.cached_currency(t) {
            return Ok(c);
        }
        let code = crate::store::schema::currency_in(tx, t).await?;
        Ok(self.remember(t, code))
    }

    /// Caches a tenant's currency as read from its settings; a tenant
    /// without settings (not seeded) gets the fallback, uncached.
    fn remember(&self, t: &TenantId, code: Option<String>) -> Currency {
        match code.as_deref().and_then(Currency::new) {
            Some(c) => {
                self.set_currency(t, c.clone());
                c
            }
            None => self.fallback.clone(),
        }
    }

    pub fn set_currency(&self, t: &TenantId, currency: Currency) {
        self.currencies
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(t.clone(), currency);
    }

    /// Posts `draft` in the caller's transaction.
    pub async fn post_in(
        &self,
        tx: &mut Tx,
        draft: &Draft,
        origin: Origin<'_>,
    ) -> LedgerResult<PostedEntry> {
        let mut posted = self
            .post_batch_in(tx, std::slice::from_ref(draft), origin, None, true)
            .await?;
        posted
            .pop()
            .ok_or_else(|| sqlx::Error::Protocol("posting returned nothing".into()).into())
    }

    /// Posts drafts in the caller's transaction, in order, with consecutive
    /// numbers per fiscal year. `reverses` links a single draft to the
    /// entry it reverses. `publish = false` skips the outbox events: only
    /// the benchmark's bulk loader does that.
    pub async fn post_batch_in(
        &self,
        tx: &mut Tx,
        drafts: &[Draft],
        origin: Origin<'_>,
        reverses: Option<&PostedEntry>,
        publish: bool,
    ) -> LedgerResult<Vec<PostedEntry>> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        if reverses.is_some() && drafts.len() != 1 {
            return Err(sqlx::Error::Protocol("a reversal posts exactly one entry".into()).into());
        }
        let tenant = tenant_of(tx)?;
        let currency = self.currency_in(tx, &tenant).await?;
        // Drafts are built by `entry::validate`/`entry::build`, but their
        // fields are public: re-check the rules every entry obeys, so no
        // caller can post an unbalanced entry.
        for d in drafts {
            entry::build(
                d.date,
                &d.description,
                d.reference.as_deref(),
                d.lines.clone(),
                &currency,
            )?;
        }
        let names = self.check_accounts(tx, &tenant, drafts).await?;
        let now = clock::now_text();
        let periods: BTreeSet<Period> = drafts.iter().map(Draft::period).collect();
        for p in &periods {
            if let Err(status) = crate::store::periods::hold_open(tx, &tenant, *p, &now).await? {
                return Err(period::closed(*p, status).into());
            }
        }
        // Numbers: one counter update per fiscal year (the tenant's) in
        // the batch.
        let fiscal = crate::store::schema::fiscal_calendar_in(tx, &tenant).await?;
        let mut per_year: BTreeMap<i32, i64> = BTreeMap::new();
        for d in drafts {
            *per_year.entry(fiscal.year_of(d.date)).or_default() += 1;
        }
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for (year, n) in &per_year {
            let first = if *n == 1 {
                journal::next_seq(tx, &tenant, *year).await?
            } else {
                journal::reserve_seqs(tx, &tenant, *year, *n).await?
            };
            next.insert(*year, first);
        }
        // Checked after taking numbers: a base-currency change (only ever
        // made while no number was taken, see `events::base_currency`)
        // either waited for this posting or is seen here.
        if let Some(code) = crate::store::schema::currency_in(tx, &tenant).await?
            && code != currency.code()
        {
            if let Some(c) = Currency::new(&code) {
                self.set_currency(&tenant, c);
            }
            return Err(Rejection::new(
                RejectionKind::Conflict,
                CURRENCY_CHANGED,
                format!("the base currency is now {code}; send the entry again"),
            )
            .into());
        }
        // Likewise the fiscal calendar (changed only while the ledger is
        // empty, under the same lock).
        if crate::store::schema::fiscal_calendar_in(tx, &tenant).await? != fiscal {
            return Err(Rejection::new(
                RejectionKind::Conflict,
                FISCAL_YEAR_CHANGED,
                "the fiscal year's start changed; send the entry again",
            )
            .into());
        }
        let mut posted = Vec::with_capacity(drafts.len());
        let mut seqs = Vec::with_capacity(drafts.len());
        for d in drafts {
            let year = fiscal.year_of(d.date);
            let seq = next.get_mut(&year).map_or(0, |s| {
                *s += 1;
                *s - 1
            });
            seqs.push(seq);
            posted.push(PostedEntry {
                id: ids::new_id(),
                number: entry::entry_number(year, seq),
                date: format_date(d.date),
                period: d.period().to_string(),
                description: d.description.clone(),
                reference: d.reference.clone(),
                source: origin.source.to_owned(),
                currency: currency.code().to_owned(),
                total: d.total(),
                reverses: reverses.map(|r| r.id.clone()),
                reversed_by: None,
                created_by: origin.created_by.to_owned(),
                created_at: now.clone(),
                lines: d
                    .lines
                    .iter()
                    .zip(1..)
                    .map(|(l, no)| PostedLine {
                        line_no: no,
                        account: l.account.clone(),
                        account_name: names.get(&l.account).cloned().unwrap_or_default(),
                        debit: l.debit,
                        credit: l.credit,
                        memo: l.memo.clone(),
                    })
                    .collect(),
            });
        }
        // Headers, in statements of ROWS_PER_STATEMENT rows.
        let headers: Vec<NewEntry<'_>> = posted
            .iter()
            .zip(drafts)
            .zip(&seqs)
            .map(|((p, d), seq)| NewEntry {
                id: &p.id,
                number: &p.number,
                fiscal_year: fiscal.year_of(d.date),
                seq: *seq,
                date: &p.date,
                period: &p.period,
                description: &p.description,
                reference: p.reference.as_deref(),
                source: &p.source,
                reverses: p.reverses.as_deref(),
                currency: &p.currency,
                total: p.total,
                created_by: &p.created_by,
                created_at: &p.created_at,
            })
            .collect();
        for chunk in headers.chunks(journal::ROWS_PER_STATEMENT) {
            journal::insert_entries(tx, &tenant, chunk).await?;
        }
        let lines: Vec<journal::NewLine<'_>> = posted
            .iter()
            .zip(drafts)
            .flat_map(|(p, d)| {
                d.lines
                    .iter()
                    .map(move |l| (p.id.as_str(), p.date.as_str(), l))
            })
            .collect();
        journal::insert_lines(tx, &tenant, &lines).await?;
        let deltas = journal::balance_deltas(
            drafts
                .iter()
                .flat_map(|d| d.lines.iter().map(move |l| (d.period(), l))),
        );
        journal::add_balances(tx, &tenant, &deltas).await?;
        if let (Some(original), Some(reversal)) = (reverses, posted.first())
            && !journal::link_reversal(tx, &tenant, &original.id, &reversal.id, &now).await?
        {
            return Err(already_reversed(original, None).into());
        }
        if publish {
            for p in &posted {
                self.outbox.publish(tx, &posted_event(p, &currency)).await?;
            }
            if let (Some(original), Some(reversal)) = (reverses, posted.first()) {
                self.outbox
                    .publish(tx, &reversed_event(original, reversal, &currency))
                    .await?;
            }
        }
        Ok(posted)
    }
}

/// `accounting.entry.posted`, in the tenant's currency `c`.
fn posted_event(e: &PostedEntry, c: &Currency) -> Envelope {
    let payload = EntryPosted {
        entry_id: EntryId::new(&e.id),
        number: e.number.clone(),
        date: e.date.clone(),
        reference: e.reference.clone(),
        total: Money::from_minor(e.total, c.scale()),
        currency: values::Currency::new(c.code()),
        source: e.source.clone(),
    };
    Envelope::of(contract::ENTRY_POSTED, &payload).actor(e.created_by.clone())
}

/// The original is named by entry_id/number; the reversing entry by
/// the reversal fields (and by its own accounting.entry.posted).
fn reversed_event(original: &PostedEntry, reversal: &PostedEntry, c: &Currency) -> Envelope {
    let payload = EntryReversed {
        entry_id: EntryId::new(&original.id),
        number: original.number.clone(),
        date: reversal.date.clone(),
        reference: original.reference.clone(),
        total: Money::from_minor(original.total, c.scale()),
        currency: values::Currency::new(c.code()),
        source: original.source.clone(),
        reversal_entry_id: EntryId::new(&reversal.id),
        reversal_number: reversal.number.clone(),
    };
    Envelope::of(contract::ENTRY_REVERSED, &payload).actor(reversal.created_by.clone())
}

impl Ledger {
    /// Every account of the drafts exists and is active; returns names.
    async fn check_accounts(
        &self,
        tx: &mut Tx,
        tenant: &TenantId,
        drafts: &[Draft],
    ) -> LedgerResult<BTreeMap<String, String>> {
        let codes: BTreeSet<&str> = drafts
            .iter()
            .flat_map(|d| d.lines.iter().map(|l| l.account.as_str()))
            .collect();
        let codes: Vec<&str> = codes.into_iter().collect();
        let mut found = BTreeMap::new();
        for chunk in codes.chunks(journal::ROWS_PER_STATEMENT) {
            found.extend(crate::store::accounts::activity(tx, tenant, chunk).await?);
        }
        let unknown: Vec<&str> = codes
            .iter()
            .copied()
            .filter(|c| !found.contains_key(*c))
            .collect();
        let inactive: Vec<&str> = codes
            .iter()
            .copied()
            .filter(|c| found.get(*c).is_some_and(|(_, active)| !active))
            .collect();
        if !unknown.is_empty() || !inactive.is_empty() {
            let (code, what) = if unknown.is_empty() {
                (
                    "INACTIVE_ACCOUNT",
                    format!("inactive accounts: {}", inactive.join(", ")),
                )
            } else if inactive.is_empty() {
                (
                    "UNKNOWN_ACCOUNT",
                    format!("unknown accounts: {}", unknown.join(", ")),
                )
            } else {
                (
                    "UNKNOWN_ACCOUNT",
                    format!(
                        "unknown accounts: {}; inactive accounts: {}",
                        unknown.join(", "),
                        inactive.join(", ")
                    ),
                )
            };
            return Err(Rejection::new(
                RejectionKind::Unprocessable,
                code,
                format!("cannot post to {what}"),
            )
            .with_details(json!({ "unknown": unknown, "inactive": inactive }))
            .into());
        }
        Ok(found
            .into_iter()
            .map(|(code, (name, _))| (code, name))
            .collect())
    }

    /// Reverses `original_id` in the caller's transaction: posts the mirror
    /// entry dated `date` (default today, never before the original) and
    /// links both. Returns the reversing entry.
    pub async fn reverse_in(
        &self,
        tx: &mut Tx,
        original_id: &str,
        date: Option<Date>,
        origin: Origin<'_>,
    ) -> LedgerResult<PostedEntry> {
        let tenant = tenant_of(tx)?;
        let original = journal::get(tx, &tenant, original_id)
            .await?
            .ok_or_else(not_found)?;
        if let Some(of) = &original.reverses {
            return Err(Rejection::new(
                RejectionKind::Conflict,
                "NOT_REVERSIBLE",
                format!(
                    "{} is itself a reversal; post a new entry instead",
                    original.number
                ),
            )
            .with_details(json!({ "reverses": of }))
            .into());
        }
        if original.reversed_by.is_some() {
            return Err(already_reversed(&original, original.reversed_by.as_deref()).into());
        }
        let original_date = parse_date("date", &original.date)?;
        let date = date.unwrap_or_else(today);
        if date < original_date {
            return Err(Rejection::invalid(
                "date",
                format!(
                    "a reversal cannot be dated before the entry it reverses ({})",
                    original.date
                ),
            )
            .into());
        }
        let draft = entry::reversal(
            &original.number,
            &original.description,
            original.reference.as_deref(),
            &original.draft_lines(),
            date,
            &self.currency_in(tx, &tenant).await?,
        )?;
        let mut posted = self
            .post_batch_in(
                tx,
                std::slice::from_ref(&draft),
                origin,
                Some(&original),
                true,
            )
            .await?;
        posted
            .pop()
            .ok_or_else(|| sqlx::Error::Protocol("reversal returned nothing".into()).into())
    }

    /// An entry of tenant `t` with its lines.
    pub async fn get(&self, t: &TenantId, id: &str) -> LedgerResult<PostedEntry> {
        let mut tx = self.db.tenant(t).read().await?;
        let entry = journal::get(&mut tx, t, id).await?;
        tx.rollback().await?;
        entry.ok_or_else(|| not_found().into())
    }

    /// Tells the outbox relay that committed events wait.
    pub fn committed(&self) {
        self.outbox.wake();
    }
}

fn already_reversed(original: &PostedEntry, by: Option<&str>) -> Rejection {
    Rejection::new(
        RejectionKind::Conflict,
        "ALREADY_REVERSED",
        format!("{} has already been reversed", original.number),
    )
    .with_details(json!({ "entry_id": original.id, "reversed_by": by }))
}
