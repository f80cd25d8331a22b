//! Events: what the ledger consumes from other services, and the events it
//! publishes (see `app::ENTRY_POSTED` / `ENTRY_REVERSED`, written to the
//! outbox in the posting transaction). Payloads are the types of
//! `marimo_contracts`, read tolerantly: a payload without `currency` is in
//! the ledger's, one without `tax` has none.
//!
//! Consumed (queue `accounting`, payloads in docs/EVENTS.md), each applied
//! exactly once: `inbox::begin_in` records the event id in the same
//! transaction as the posting. Each acts in the event's tenant
//! (`Envelope.tenant`): its transaction is that tenant's, so it reads and
//! posts only that tenant's books. `users.tenant.created` seeds a new
//! tenant's books (standard chart, category mapping, its currency, the
//! month its fiscal year starts in); `users.tenant.updated` changes the
//! currency and fiscal year start while the ledger is empty; a posting
//! event of a tenant not seeded yet is deferred until it is.
//!
//! | event | entry | reference |
//! |---|---|---|
//! | `shop.order.paid` | Dr Cash total / Cr Sales revenue subtotal / Cr Tax payable tax | `shop:order:<id>` |
//! | `shop.order.cancelled` (was_paid) | reversal of the paid order's entry | same |
//! | `factory.stock.received` | Dr Raw materials / Cr Accounts payable, total_cost | `factory:receipt:<move_id>` |
//! | `factory.work_order.completed` | Dr Finished goods / Cr Raw materials, total_cost | `factory:work_order:<id>` |
//!
//! The entry is dated on the day (UTC) the event occurred. An event dated
//! in a closed or locked period is dead-lettered as permanent with a
//! `PERIOD_CLOSED: ...` error, which the dead-letter listing shows (API,
//! web screen, CLI): moving it silently into another period would
//! misstate both periods, and the decision belongs to an accountant. The
//! dead letter keeps the whole envelope, and since nothing was recorded as
//! processed, replaying it after the period is reopened posts it.
//! Payloads that can never post (wrong currency, totals that do not add
//! up, more decimals than the currency has) are dead-lettered too.
//!
//! Database trouble (the database away, a deadlock, a busy file) is
//! transient: the queue pauses and retries it for as long as it lasts, so
//! a paid order is never lost to an outage (`bus::retry`). A cancellation
//! that arrives before the payment it reverses, or a currency change this
//! replica learnt of just now, is deferred: retried a bounded number of
//! times.

use std::sync::Arc;

use marimo_contracts::{
    config::SETTING_CHANGED,
    factory::{STOCK_RECEIVED, WORK_ORDER_COMPLETED},
    ids::Sku,
    shop::{ORDER_CANCELLED, ORDER_PAID},
    users::{TENANT_CREATED, TENANT_UPDATED},
    values::{self, Money},
};
use marimo_platform::{
    bus::{BusError, Envelope, HandlerError, inbox},
    clock,
    money::Decimal,
    service::ServiceContext,
};
use time::Date;

use crate::{
    app::{Ledger, Origin},
    domain::{
        accounts::codes,
        calendar::{FiscalCalendar, parse_date, today},
        entry::{self, Draft, DraftLine},
        money::{self, Currency},
    },
    error::LedgerError,
    store::{journal, schema},
};

pub const QUEUE: &str = "accounting";
pub const BINDINGS: &[&str] = &[
    SETTING_CHANGED.name(),
    ORDER_PAID.name(),
    ORDER_CANCELLED.name(),
    STOCK_RECEIVED.name(),
    WORK_ORDER_COMPLETED.name(),
    TENANT_CREATED.name(),
    TENANT_UPDATED.name(),
];

/// What an event asks of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Post(Draft),
    /// Reverse the entry posted with this reference.
    Reverse {
        reference: String,
    },
    Nothing,
}

fn permanent(msg: impl Into<String>) -> HandlerError {
    HandlerError::Permanent(msg.into())
}

/// An absent currency is the ledger's (read as empty).
fn check_currency(c: &Currency, got: &values::Currency) -> Result<(), HandlerError> {
    let code = got.as_str();
    if code.is_empty() || code.eq_ignore_ascii_case(c.code()) {
        return Ok(());
    }
    Err(permanent(format!(
        "the ledger keeps {}; an amount in {code} cannot be posted",
        c.code()
    )))
}

fn units(c: &Currency, field: &str, amount: &Money) -> Result<i64, HandlerError> {
    let d = Decimal::from(amount.decimal());
    let v = money::units(c, field, &d).map_err(|r| permanent(r.message))?;
    if v < 0 {
        return Err(permanent(format!("{field} is negative: {d}")));
    }
    Ok(v)
}

/// ` (SKU)` for descriptions; nothing when the payload had none.
fn sku_suffix(sku: &Sku) -> String {
    if sku.is_empty() {
        String::new()
    } else {
        format!(" ({sku})")
    }
}

/// The day an event happened (UTC); today if its time is unreadable.
fn event_date(env: &Envelope) -> Date {
    clock::parse(&env.occurred_at).map_or_else(today, |t| t.to_offset(time::UtcOffset::UTC).date())
}

/// Decides what an event means for the ledger (pure, no I/O).
pub fn plan(env: &Envelope, currency: &Currency) -> Result<Action, HandlerError> {
    if env.version != 1 {
        return Err(permanent(format!(
            "{} v{} is not understood (v1 only)",
            env.event_type, env.version
        )));
    }
    let date = event_date(env);
    let draft = |description: String, reference: String, lines: Vec<DraftLine>| {
        entry::build(date, &description, Some(&reference), lines, currency)
            .map(Action::Post)
            .map_err(|r| permanent(format!("{}: {}", r.code, r.message)))
    };
    if env.is(ORDER_PAID) {
        let p = env.decode(ORDER_PAID)?;
        check_currency(currency, &p.currency)?;
        let subtotal = units(currency, "subtotal", &p.subtotal)?;
        let tax = units(currency, "tax", &p.tax)?;
        let total = units(currency, "total", &p.total)?;
        if subtotal + tax != total {
            return Err(permanent(format!(
                "order {}: subtotal {} + tax {} ≠ total {}",
                p.order_id, p.subtotal, p.tax, p.total
            )));
        }
        if total == 0 {
            return Ok(Action::Nothing);
        }
        let mut lines = vec![DraftLine::debit(codes::CASH, total)];
        if subtotal > 0 {
            lines.push(DraftLine::credit(codes::SALES_REVENUE, subtotal));
        }
        if tax > 0 {
            lines.push(DraftLine::credit(codes::TAX_PAYABLE, tax));
        }
        draft(
            format!("Shop order {} paid", p.order_id),
            format!("shop:order:{}", p.order_id),
            lines,
        )
    } else if env.is(ORDER_CANCELLED) {
        let p = env.decode(ORDER_CANCELLED)?;
        Ok(if p.was_paid == Some(true) {
            Action::Reverse {
                reference: format!("shop:order:{}", p.order_id),
            }
        } else {
            Action::Nothing
        })
    } else if env.is(STOCK_RECEIVED) {
        let p = env.decode(STOCK_RECEIVED)?;
        check_currency(currency, &p.currency)?;
        let cost = units(currency, "total_cost", &p.total_cost)?;
        if cost == 0 {
            return Ok(Action::Nothing);
        }
        draft(
            format!("Stock receipt {}{}", p.move_id, sku_suffix(&p.sku)),
            format!("factory:receipt:{}", p.move_id),
            vec![
                DraftLine::debit(codes::RAW_MATERIALS, cost),
                DraftLine::credit(codes::ACCOUNTS_PAYABLE, cost),
            ],
        )
    } else if env.is(WORK_ORDER_COMPLETED) {
        let p = env.decode(WORK_ORDER_COMPLETED)?;
        check_currency(currency, &p.currency)?;
        let cost = units(currency, "total_cost", &p.total_cost)?;
        if cost == 0 {
            return Ok(Action::Nothing);
        }
        draft(
            format!(
                "Work order {} completed{}",
                p.work_order_id,
                sku_suffix(&p.sku)
            ),
            format!("factory:work_order:{}", p.work_order_id),
            vec![
                DraftLine::debit(codes::FINISHED_GOODS, cost),
                DraftLine::credit(codes::RAW_MATERIALS, cost),
            ],
        )
    } else {
        Err(permanent(format!(
            "{} is not an event the ledger consumes",
            env.event_type
        )))
    }
}

fn ledger_failure(e: LedgerError) -> HandlerError {
    match e {
        // This replica learnt of a new base currency (or fiscal calendar)
        // just now: retry.
        LedgerError::Rejected(r)
            if r.code == crate::app::CURRENCY_CHANGED
                || r.code == crate::app::FISCAL_YEAR_CHANGED =>
        {
            HandlerError::Deferred(r.message)
        }
        // `CODE: message`: the code is what the dead-letter listing shows
        // an operator first (e.g. PERIOD_CLOSED).
        LedgerError::Rejected(r) => permanent(format!("{}: {}", r.code, r.message)),
        LedgerError::Db(e) => HandlerError::from_db(e),
    }
}

/// Applies one event exactly once.
pub async fn handle(ledger: &Ledger, env: Envelope) -> Result<(), HandlerError> {
    if env.event_type == SETTING_CHANGED.name() {
        return base_currency(ledger, &env).await;
    }
    if env.is(TENANT_CREATED) {
        return tenant_created(ledger, &env).await;
    }
    if env.is(TENANT_UPDATED) {
        return tenant_updated(ledger, &env).await;
    }
    let tenant = &env.tenant;
    let Some(mut tx) = inbox::begin_in(&ledger.db.tenant(tenant), QUEUE, &env.id).await? else {
        return Ok(());
    };
    // A tenant's books exist once its creation was consumed; an event of
    // its business may overtake that (another queue, a redelivery).
    if schema::currency_in(&mut tx, tenant).await?.is_none() {
        return Err(HandlerError::Deferred(format!(
            "tenant {tenant} has no books in accounting yet"
        )));
    }
    let currency = ledger
        .currency_in(&mut tx, tenant)
        .await
        .map_err(ledger_failure)?;
    let action = plan(&env, &currency)?;
    let actor = env
        .actor
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("system");
    let origin = Origin {
        source: "event",
        created_by: actor,
    };
    match action {
        Action::Nothing => {}
        Action::Post(draft) => {
            // A source document is posted once, even if its event were
            // published twice under different ids.
            let reference = draft.reference.as_deref().unwrap_or_default();
            if journal::find_event_posting(&mut tx, tenant, reference)
                .await?
                .is_some()
            {
                tracing::info!(event = %env.id, reference, "already posted; event recorded only");
            } else {
                ledger
                    .post_in(&mut tx, &draft, origin)
                    .await
                    .map_err(ledger_failure)?;
            }
        }
        Action::Reverse { reference } => {
            let Some(id) = journal::find_event_posting(&mut tx, tenant, &reference).await? else {
                // The paid event may not have been applied yet: retry; if it
                // never comes, the cancellation is dead-lettered for review.
                return Err(HandlerError::Deferred(format!(
                    "no posting with reference {reference} to reverse yet"
                )));
            };
            let original = journal::get(&mut tx, tenant, &id).await?;
            if let Some(o) = original.filter(|o| o.reversed_by.is_none()) {
                // Never before the original, even with skewed clocks.
                let date = parse_date("date", &o.date)
                    .map_or_else(|_| event_date(&env), |d| d.max(event_date(&env)));
                ledger
                    .reverse_in(&mut tx, &id, Some(date), origin)
                    .await
                    .map_err(|e| match e {
                        // Reversed concurrently: the retry finds it reversed.
                        LedgerError::Rejected(r) if r.code == "ALREADY_REVERSED" => {
                            HandlerError::Deferred(r.message)
                        }
                        other => ledger_failure(other),
                    })?;
            }
        }
    }
    tx.commit().await?;
    ledger.committed();
    Ok(())
}

/// A tenant event is published in the tenant it is about; one naming
/// another tenant than it travels in is refused rather than applied to
/// either.
fn about_its_tenant(env: &Envelope, tenant_id: &str) -> Result<(), HandlerError> {
    if tenant_id == env.tenant.as_str() {
        return Ok(());
    }
    Err(permanent(format!(
        "{} for {tenant_id} was published in tenant {}",
        env.event_type, env.tenant
    )))
}

/// Seeds the books of a new tenant in its own transaction (the envelope's
/// tenant, which must be the payload's): the standard chart, the category
/// mapping, its currency as the base currency and its fiscal year's start
/// month. Idempotent twice over:
/// the inbox skips a redelivered event, and the seed leaves rows that
/// exist alone.
async fn tenant_created(ledger: &Ledger, env: &Envelope) -> Result<(), HandlerError> {
    let created = env.decode(TENANT_CREATED)?;
    about_its_tenant(env, &created.tenant_id)?;
    let tenant = &env.tenant;
    let code = created.currency.trim().to_ascii_uppercase();
    let Some(currency) = Currency::new(&code) else {
        return Err(permanent(format!(
            "tenant {tenant}: unknown currency '{}'",
            created.currency
        )));
    };
    let Some(fiscal) = FiscalCalendar::starting(created.fiscal_year_start_month) else {
        return Err(permanent(format!(
            "tenant {tenant}: {} is not a month",
            created.fiscal_year_start_month
        )));
    };
    let Some(mut tx) = inbox::begin_in(&ledger.db.tenant(tenant), QUEUE, &env.id).await? else {
        return Ok(());
    };
    schema::seed_in(&mut tx, tenant, currency.code(), fiscal).await?;
    tx.commit().await?;
    tracing::info!(
        %tenant,
        currency = currency.code(),
        fiscal_start = fiscal.start_month(),
        "tenant books seeded"
    );
    Ok(())
}

/// The config service's `currency` (of the event's tenant) becomes that
/// tenant's base currency while nothing is posted in it yet; once anything
/// is, the books stay in their currency (converting posted history is not
/// a setting change) and the refusal is logged. A deleted setting changes
/// nothing.
async fn base_currency(ledger: &Ledger, env: &Envelope) -> Result<(), HandlerError> {
    let change = env.decode(SETTING_CHANGED)?;
    if change.key != schema::CURRENCY_SETTING {
        return Ok(());
    }
    let Some(code) = change.value.as_deref() else {
        return Ok(());
    };
    let Some(currency) = Currency::new(&code.trim().to_ascii_uppercase()) else {
        tracing::warn!(
            code,
            "unknown currency in the config service; base currency unchanged"
        );
        return Ok(());
    };
    apply_settings(ledger, env, Some(currency), None).await
}

/// `users.tenant.updated`: the tenant's currency and fiscal year start,
/// each applied only while the tenant's ledger is empty (entry numbers
/// and amounts already posted are facts); what is refused is logged. The
/// tenant's name is not the ledger's business.
async fn tenant_updated(ledger: &Ledger, env: &Envelope) -> Result<(), HandlerError> {
    let updated = env.decode(TENANT_UPDATED)?;
    about_its_tenant(env, &updated.tenant_id)?;
    let tenant = &env.tenant;
    let currency = Currency::new(&updated.currency.trim().to_ascii_uppercase());
    if currency.is_none() {
        tracing::warn!(%tenant, code = %updated.currency, "unknown currency; base currency unchanged");
    }
    let fiscal = FiscalCalendar::starting(updated.fiscal_year_start_month);
    if fiscal.is_none() {
        tracing::warn!(%tenant, month = updated.fiscal_year_start_month, "not a month; fiscal year unchanged");
    }
    apply_settings(ledger, env, currency, fiscal).await
}

/// Sets a tenant's base currency and fiscal calendar (those given) in the
/// event's transaction, while the tenant's ledger is empty; with postings
/// it keeps both and logs each refused change. A tenant without books yet
/// (its creation not consumed) is deferred, so the creation's seed does
/// not overwrite the change.
async fn apply_settings(
    ledger: &Ledger,
    env: &Envelope,
    currency: Option<Currency>,
    fiscal: Option<FiscalCalendar>,
) -> Result<(), HandlerError> {
    let tenant = &env.tenant;
    let Some(mut tx) = inbox::begin_in(&ledger.db.tenant(tenant), QUEUE, &env.id).await? else {
        return Ok(());
    };
    if schema::currency_in(&mut tx, tenant).await?.is_none() {
        return Err(HandlerError::Deferred(format!(
            "tenant {tenant} has no books in accounting yet"
        )));
    }
    if ledger.db.kind() == marimo_platform::db::DbKind::Postgres {
        // Waits for postings that took a number, and holds off new ones
        // until this commits (SQLite's write lock, taken at BEGIN, already
        // serialises them); postings check both settings after numbering.
        sqlx::query("LOCK TABLE entry_counters IN SHARE MODE")
            .execute(&mut *tx)
            .await?;
    }
    let entries = journal::count(&mut *tx, tenant).await?;
    let current = ledger
        .currency_in(&mut tx, tenant)
        .await
        .map_err(ledger_failure)?;
    let current_fiscal = schema::fiscal_calendar_in(&mut tx, tenant).await?;
    let mut new_currency = None;
    if let Some(c) = currency.filter(|c| *c != current) {
        if entries == 0 {
            schema::set_currency_in(&mut tx, tenant, c.code()).await?;
            new_currency = Some(c);
        } else {
            tracing::warn!(
                %tenant,
                entries,
                base = current.code(),
                requested = c.code(),
                "the ledger has postings; its base currency stays"
            );
        }
    }
    if let Some(f) = fiscal.filter(|f| *f != current_fiscal) {
        if entries == 0 {
            schema::set_fiscal_calendar_in(&mut tx, tenant, f).await?;
            tracing::info!(%tenant, start_month = f.start_month(), "fiscal year start changed");
        } else {
            // Moving the year's start under posted entries would change
            // their fiscal year and numbering: year-end work, not a setting.
            tracing::warn!(
                %tenant,
                entries,
                start_month = current_fiscal.start_month(),
                requested = f.start_month(),
                "the ledger has postings; its fiscal year start stays"
            );
        }
    }
    tx.commit().await?;
    if let Some(c) = new_currency {
        tracing::info!(
            %tenant,
            from = current.code(),
            to = c.code(),
            "base currency changed"
        );
        ledger.set_currency(tenant, c);
    }
    Ok(())
}

/// Subscribes the `accounting` queue.
pub async fn subscribe(ctx: &ServiceContext, ledger: Arc<Ledger>) -> Result<(), BusError> {
    let db = ledger.db.clone();
    ctx.bus
        .subscribe(&db, QUEUE, BINDINGS, move |env: Envelope| {
            let ledger = ledger.clone();
            async move { handle(&ledger, env).await }
        })
        .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn env(kind: &str, payload: serde_json::Value) -> Envelope {
        let mut e = Envelope::new("shop", kind, payload);
        e.occurred_at = "2026-03-10T23:59:59.000000Z".into();
        e
    }

    #[test]
    fn a_paid_order_posts_cash_revenue_and_tax() {
        let a = plan(
            &env("shop.order.paid", json!({"order_id": "o1", "currency": "USD", "subtotal": "100.00", "tax": "8.25", "total": "108.25", "items": []})),
            &Currency::usd(),
        )
        .unwrap();
        let Action::Post(d) = a else { panic!("{a:?}") };
        assert_eq!(d.reference.as_deref(), Some("shop:order:o1"));
        assert_eq!(crate::domain::calendar::format_date(d.date), "2026-03-10");
        assert_eq!(
            d.lines,
            vec![
                DraftLine::debit("1000", 10825),
                DraftLine::credit("4000", 10000),
                DraftLine::credit("2100", 825),
            ]
        );
    }

    #[test]
    fn bad_payloads_are_permanent() {
        let usd = Currency::usd();
        for (kind, payload) in [
            (
                "shop.order.paid",
                json!({"order_id": "o", "subtotal": "1", "tax": "1", "total": "3"}),
            ),
            (
                "shop.order.paid",
                json!({"order_id": "o", "currency": "EUR", "subtotal": "1", "total": "1"}),
            ),
            (
                "shop.order.paid",
                json!({"order_id": "o", "subtotal": "1.001", "total": "1.001"}),
            ),
            ("shop.order.paid", json!({"subtotal": "1", "total": "1"})),
            (
                "factory.stock.received",
                json!({"move_id": "m", "total_cost": "-5"}),
            ),
            ("factory.other.thing", json!({})),
        ] {
            assert!(
                matches!(
                    plan(&env(kind, payload.clone()), &usd),
                    Err(HandlerError::Permanent(_))
                ),
                "{kind} {payload}"
            );
        }
    }

    #[test]
    fn cancellations_reverse_only_paid_orders() {
        let usd = Currency::usd();
        let paid = json!({"order_id": "o2", "subtotal": "1", "total": "1", "was_paid": true});
        assert_eq!(
            plan(&env("shop.order.cancelled", paid), &usd).unwrap(),
            Action::Reverse {
                reference: "shop:order:o2".into()
            }
        );
        let unpaid = json!({"order_id": "o3", "subtotal": "1", "total": "1", "was_paid": false});
        assert_eq!(
            plan(&env("shop.order.cancelled", unpaid), &usd).unwrap(),
            Action::Nothing
        );
    }

    #[test]
    fn factory_postings() {
        let usd = Currency::usd();
        let Action::Post(r) = plan(&env("factory.stock.received", json!({"move_id": "m1", "sku": "STEEL", "qty": "3", "unit_cost": "2.50", "total_cost": "7.50", "currency": "USD", "reference": "PO-1"})), &usd).unwrap() else { panic!() };
        assert_eq!(
            r.lines,
            vec![
                DraftLine::debit("1200", 750),
                DraftLine::credit("2000", 750)
            ]
        );
        assert_eq!(r.reference.as_deref(), Some("factory:receipt:m1"));
        let Action::Post(w) = plan(&env("factory.work_order.completed", json!({"work_order_id": "w1", "sku": "W", "qty": "1", "unit_cost": "7.5", "total_cost": "7.5", "currency": "USD", "consumed": []})), &usd).unwrap() else { panic!() };
        assert_eq!(
            w.lines,
            vec![
                DraftLine::debit("1220", 750),
                DraftLine::credit("1200", 750)
            ]
        );
        assert_eq!(w.reference.as_deref(), Some("factory:work_order:w1"));
    }
}
