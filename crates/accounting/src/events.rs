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
//! tenant's books (standard chart, category mapping, inventory-account
//! mapping, its currency, the month its fiscal year starts in);
//! `users.tenant.updated` changes the currency and fiscal year start while
//! the ledger is empty; a posting event of a tenant not seeded yet is
//! deferred until it is.
//!
//! | event | entry | reference |
//! |---|---|---|
//! | `shop.order.paid` | Dr Cash total / Cr Sales revenue subtotal / Cr Tax payable tax | `shop:order:<id>` |
//! | `shop.order.cancelled` (was_paid) | reversal of the paid order's entry | same |
//! | `factory.stock.moved` | per move: the inventory account of (category, warehouse) ± `value`, the reason's counter-account ∓ `value` (below) | `factory:<transaction>` |
//!
//! Perpetual inventory (`factory.stock.moved`, one entry per stock
//! transaction, lines aggregated per account, zero lines left out): the
//! tenant's inventory-account mapping (`inventory_accounts`, editable at
//! `/api/v1/accounting/inventory-accounts`) gives each category's
//! inventory account, optionally per warehouse, and the counter-accounts:
//!
//! | reason | counter-account (default) | a move in (value > 0) |
//! |---|---|---|
//! | `receipt` | goods received not invoiced (2050) | Dr inventory / Cr GRNI |
//! | `production_issue` | work in progress (1210) | (out) Dr WIP / Cr inventory |
//! | `production_output` | work in progress (1210) | Dr inventory / Cr WIP |
//! | `shipment` | cost of goods sold (5000) | (out) Dr COGS / Cr inventory |
//! | `customer_return` | cost of goods sold (5000) | Dr inventory / Cr COGS |
//! | `adjustment`, `scrap` | inventory adjustments (5100) | Dr inventory / Cr adjustments |
//! | `opening` | opening balance equity (3900) | Dr inventory / Cr opening equity |
//! | `transfer` | the other bin's inventory account; a residue (rounding) to adjustments | inventory to inventory |
//!
//! So each inventory account's balance is the sum of the values of the
//! moves mapped to it: the factory's valuation (the reconciliation report
//! compares them). A move whose account is missing or inactive is
//! dead-lettered (`NO_INVENTORY_ACCOUNT: ...`, `INACTIVE_ACCOUNT: ...`)
//! like any posting a rule refuses; fixed and replayed, it posts.
//! `factory.stock.received` and `factory.work_order.completed` no longer
//! post (other consumers still read them): the feed above replaces them,
//! and posting both would count every receipt and completion twice. (A
//! receipt's transaction `receipt:<move_id>` keeps the old reference
//! `factory:receipt:<move_id>`, so a receipt the old consumer posted is
//! not posted again.) A `factory:` reference posts once per tenant, held
//! by a unique index besides the inbox.
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
    factory::{STOCK_MOVED, STOCK_RECEIVED, StockMoved, WORK_ORDER_COMPLETED},
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
        inventory::{self, Mapping},
        money::{self, Currency},
    },
    error::LedgerError,
    store::{inventory as inventory_store, journal, schema},
};

pub const QUEUE: &str = "accounting";
pub const BINDINGS: &[&str] = &[
    SETTING_CHANGED.name(),
    ORDER_PAID.name(),
    ORDER_CANCELLED.name(),
    STOCK_MOVED.name(),
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
    /// Post a stock transaction through the tenant's inventory-account
    /// mapping (read in the posting transaction): see [`stock_moved`].
    Inventory(StockMoved),
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
    } else if env.is(STOCK_MOVED) {
        let p = env.decode(STOCK_MOVED)?;
        check_currency(currency, &p.currency)?;
        if p.moves.is_empty() {
            return Err(permanent(format!(
                "stock transaction {} has no moves",
                p.transaction
            )));
        }
        Ok(Action::Inventory(p))
    } else if env.is(STOCK_RECEIVED) || env.is(WORK_ORDER_COMPLETED) {
        // Posted from `factory.stock.moved` since perpetual inventory;
        // one still bound to the queue (a binding left by an older
        // replica) is acknowledged without posting twice.
        Ok(Action::Nothing)
    } else {
        Err(permanent(format!(
            "{} is not an event the ledger consumes",
            env.event_type
        )))
    }
}

/// The entry of one stock transaction (pure): per move, the inventory
/// account of its (category, warehouse) by `mapping` moves by `value`,
/// the counter-account of its reason by the opposite
/// (`domain::inventory::lines`); `Nothing` when no line is left.
pub fn stock_moved(
    env: &Envelope,
    p: &StockMoved,
    currency: &Currency,
    mapping: &Mapping,
) -> Result<Action, HandlerError> {
    let mut values = Vec::with_capacity(p.moves.len());
    for (i, m) in p.moves.iter().enumerate() {
        let d = Decimal::from(m.value.decimal());
        let v = money::units(currency, &format!("moves[{i}].value"), &d)
            .map_err(|r| permanent(r.message))?;
        values.push(v);
    }
    let moves: Vec<inventory::Move<'_>> = p
        .moves
        .iter()
        .zip(values)
        .map(|(m, value)| inventory::Move {
            category: m.category.into(),
            warehouse: m.warehouse.as_str(),
            reason: m.reason,
            value,
        })
        .collect();
    let lines = inventory::lines(&moves, mapping)
        .map_err(|r| permanent(format!("{}: {}", r.code, r.message)))?;
    if lines.is_empty() {
        return Ok(Action::Nothing);
    }
    let description = match p.reference.as_deref().filter(|r| !r.trim().is_empty()) {
        Some(r) => format!("Stock {} ({r})", p.transaction),
        None => format!("Stock {}", p.transaction),
    };
    let reference = format!("factory:{}", p.transaction);
    entry::build(
        event_date(env),
        &description,
        Some(&reference),
        lines,
        currency,
    )
    .map(Action::Post)
    .map_err(|r| permanent(format!("{}: {}", r.code, r.message)))
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
        // Not a use case of the consumers.
        LedgerError::Unavailable(why) => HandlerError::Deferred(why),
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
    let action = match plan(&env, &currency)? {
        Action::Inventory(p) => {
            let mapping = inventory_store::mapping(&mut tx, tenant).await?;
            stock_moved(&env, &p, &currency, &mapping)?
        }
        other => other,
    };
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
        Action::Nothing | Action::Inventory(_) => {}
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

    fn planned(payload: serde_json::Value, mapping: &Mapping) -> Result<Action, HandlerError> {
        let usd = Currency::usd();
        let e = env("factory.stock.moved", payload);
        match plan(&e, &usd)? {
            Action::Inventory(p) => stock_moved(&e, &p, &usd, mapping),
            other => panic!("{other:?}"),
        }
    }

    fn default_mapping() -> Mapping {
        Mapping {
            roles: inventory::DEFAULT_MAPPING
                .iter()
                .map(|(r, a)| (*r, (*a).to_owned()))
                .collect(),
            overrides: Default::default(),
        }
    }

    #[test]
    fn a_stock_transaction_posts_one_entry_through_the_mapping() {
        // Issue 4 legs at 6.00 (24.00) and a top (20.00) to a work order
        // and complete the table (44.00): WIP nets to zero.
        let Action::Post(d) = planned(
            json!({"transaction": "work_order:w1:complete", "reference": "WO-1", "currency": "USD", "moves": [
                {"move_id": "m1", "reason": "production_issue", "sku": "LEG", "category": "sub_assembly", "warehouse": "MAIN", "qty": "-4.000", "value": "-24.00"},
                {"move_id": "m2", "reason": "production_issue", "sku": "TOP", "category": "raw_material", "warehouse": "MAIN", "qty": "-1.000", "value": "-20.00"},
                {"move_id": "m3", "reason": "production_output", "sku": "TABLE", "category": "finished_good", "warehouse": "MAIN", "qty": "1.000", "value": "44.00"}
            ]}),
            &default_mapping(),
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            d.reference.as_deref(),
            Some("factory:work_order:w1:complete")
        );
        assert_eq!(d.description, "Stock work_order:w1:complete (WO-1)");
        assert_eq!(crate::domain::calendar::format_date(d.date), "2026-03-10");
        assert_eq!(
            d.lines,
            vec![
                DraftLine::debit("1220", 4400),
                DraftLine::credit("1200", 2000),
                DraftLine::credit("1230", 2400),
            ]
        );
    }

    #[test]
    fn stock_transactions_that_cannot_post() {
        let m = default_mapping();
        let one = |value: &str, currency: &str| {
            json!({"transaction": "receipt:r1", "currency": currency, "moves": [
                {"move_id": "m1", "reason": "receipt", "sku": "WOOD", "category": "raw_material", "warehouse": "MAIN", "qty": "1", "value": value}
            ]})
        };
        // Zero value: nothing to post.
        assert_eq!(planned(one("0.00", "USD"), &m).unwrap(), Action::Nothing);
        // Sub-cent values, another currency, no moves: dead letters.
        assert!(matches!(
            planned(one("0.001", "USD"), &m),
            Err(HandlerError::Permanent(_))
        ));
        let eur = env("factory.stock.moved", one("1.00", "EUR"));
        assert!(matches!(
            plan(&eur, &Currency::usd()),
            Err(HandlerError::Permanent(_))
        ));
        let empty = env(
            "factory.stock.moved",
            json!({"transaction": "t", "currency": "USD", "moves": []}),
        );
        assert!(matches!(
            plan(&empty, &Currency::usd()),
            Err(HandlerError::Permanent(_))
        ));
        // No account for the category: a dead letter that says so.
        let mut partial = m.clone();
        partial
            .roles
            .remove(&inventory::Role::Category(inventory::Category::RawMaterial));
        match planned(one("1.00", "USD"), &partial) {
            Err(HandlerError::Permanent(why)) => {
                assert!(why.starts_with("NO_INVENTORY_ACCOUNT: "), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_old_factory_events_no_longer_post() {
        let usd = Currency::usd();
        for (kind, payload) in [
            (
                "factory.stock.received",
                json!({"move_id": "m1", "total_cost": "7.50", "currency": "USD"}),
            ),
            (
                "factory.work_order.completed",
                json!({"work_order_id": "w1", "sku": "W", "qty": "1", "total_cost": "7.5"}),
            ),
        ] {
            assert_eq!(plan(&env(kind, payload), &usd).unwrap(), Action::Nothing);
        }
    }
}
