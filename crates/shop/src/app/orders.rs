//! Placing orders, moving them through their lifecycle, and expiring the
//! ones nobody paid.
//!
//! Lock order, so PostgreSQL transactions never wait on each other in a
//! cycle: an order row first (transitions, expiry), then product rows in
//! ascending id order (placement reserves, cancellation and expiry
//! release). The key-share locks that the order lines' foreign key takes
//! on products conflict with neither. SQLite takes its write lock up front
//! (`Db::begin`).
//!
//! Every transaction runs in one tenant (`Db::tenant`): the caller's, or
//! for the provider's callback and the expiry sweep the order's own, found
//! first in an `all_tenants` read. `Idempotency-Key`s are scoped to tenant
//! and caller (`TenantId::scope`), so two tenants' users never meet on a
//! key.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use marimo_platform::{
    auth::Caller,
    clock,
    db::Tx,
    idempotency::{self, Claim},
    ids,
    tenant::TenantId,
};
use serde_json::Value;

use super::Shop;
use crate::{
    ShopError,
    domain::{
        catalog::Product,
        order::{self, Action, Actor, Order, OrderItem, Refusal, Status},
        payment::Received,
        pricing::{self, PricedLine},
        request::{self, Unorderable},
    },
    events,
    store::{
        self,
        orders::{HistoryEntry, HistoryRow, PaymentKind, PaymentRow, Proof},
        products,
    },
};

/// The answer to a placement: status and JSON body, exactly as first sent
/// (a replay of an `Idempotency-Key` returns the stored one).
#[derive(Debug, Clone)]
pub struct Placement {
    pub status: u16,
    pub body: String,
    pub replayed: bool,
}

/// An `Idempotency-Key` claimed in a transition's own transaction, the
/// view stored as its answer, and (after the transition) that answer.
struct Keyed<'a> {
    /// The key's scope: tenant and caller (`TenantId::scope`).
    caller: String,
    key: &'a str,
    fingerprint: String,
    respond: &'a (dyn Fn(&Order) -> Value + Sync),
    /// Set by the attempt that got an answer; behind a lock because every
    /// attempt of a transaction retried on a conflict shares the key.
    answer: Mutex<Option<Placement>>,
}

impl Keyed<'_> {
    fn answer(&self, placement: Placement) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = Some(placement);
    }

    fn into_answer(self) -> Option<Placement> {
        self.answer
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Who the caller is to this order.
pub fn actor(caller: &Caller, order: &Order) -> Actor {
    Actor {
        owner: caller.user_id == order.user_id,
        staff: crate::is_staff(caller),
    }
}

const NO_SUCH_ORDER: &str = "no such order";

/// The actor named in history and events for the provider's callbacks.
pub const PAYMENT_PROVIDER: &str = "payment-provider";

/// On whose behalf a transition runs.
#[derive(Debug, Clone, Copy)]
enum Who<'a> {
    Caller(&'a Caller),
    /// The payment provider's verified callback, with what it captured.
    Provider {
        amount: i64,
        currency: &'a str,
    },
}

/// Only a provider callback can be a duplicate (`None`); for a caller's
/// transition that would be a broken rule, answered 500 and logged.
fn applied(order: Option<Order>) -> Result<Order, ShopError> {
    order.ok_or_else(|| ShopError::Internal("a caller's transition reported a duplicate".into()))
}

fn unorderable(u: Unorderable) -> ShopError {
    match u {
        Unorderable::Unknown { product_id } => ShopError::UnknownProduct { product_id },
        Unorderable::Inactive { product_id, name } => {
            ShopError::InactiveProduct { product_id, name }
        }
        Unorderable::MixedCurrencies { currencies } => ShopError::MixedCurrencies { currencies },
    }
}

impl Shop {
    /// Places an order for `caller`: validates the request, reserves the
    /// stock of every line atomically (all or nothing), prices it from the
    /// catalog, writes the order, its history and `shop.order.placed`, in
    /// one transaction. `respond` shapes the 201 body from the order (it
    /// is stored under the `Idempotency-Key` before the commit, so a
    /// replay answers exactly the first response).
    ///
    /// Run again, whole, when it lost against another transaction (a
    /// deadlock or serialization failure under a rush on one product:
    /// `Db::retry_conflicts`); `respond` may be called once per run.
    pub async fn place_order(
        &self,
        caller: &Caller,
        body: &Value,
        idempotency_key: Option<&str>,
        respond: impl Fn(&Order) -> Value,
    ) -> Result<Placement, ShopError> {
        let respond = &respond;
        self.db
            .retry_conflicts(|| self.place_order_once(caller, body, idempotency_key, respond))
            .await
    }

    async fn place_order_once(
        &self,
        caller: &Caller,
        body: &Value,
        idempotency_key: Option<&str>,
        respond: &impl Fn(&Order) -> Value,
    ) -> Result<Placement, ShopError> {
        let lines = request::order_lines(body)?;
        // Only UUIDs can be catalog ids: anything else is unknown, without
        // a query.
        if let Some(line) = lines.iter().find(|l| !ids::is_uuid(&l.product_id)) {
            return Err(ShopError::UnknownProduct {
                product_id: line.product_id.clone(),
            });
        }
        let now = clock::now();
        let now_text = clock::format(now);
        let t = &caller.tenant;
        let scope = t.scope(&caller.user_id);
        let mut tx = self.db.tenant(t).begin().await?;
        if let Some(key) = idempotency_key {
            let fingerprint = request::fingerprint(body);
            match idempotency::claim(&mut tx, &scope, key, &fingerprint, &now_text).await? {
                Claim::Fresh => {}
                Claim::Replay { status, body } => {
                    tx.rollback().await?;
                    return Ok(Placement {
                        status,
                        body,
                        replayed: true,
                    });
                }
                Claim::Mismatch => return Err(ShopError::IdempotencyMismatch),
            }
        }
        let settings = store::settings::load(&mut *tx, t).await?;
        let ids: Vec<&str> = lines.iter().map(|l| l.product_id.as_str()).collect();
        let found = products::find_many(&mut tx, t, &ids).await?;
        let currency = request::check_products(&lines, &found).map_err(|u| {
            self.count_rejection("unavailable");
            unorderable(u)
        })?;
        let by_id: HashMap<&str, &Product> = found.iter().map(|p| (p.id.as_str(), p)).collect();

        // Priced from the catalog as read in this transaction; a client's
        // price never gets here.
        let mut items = Vec::with_capacity(lines.len());
        let mut priced = Vec::with_capacity(lines.len());
        for line in &lines {
            let p = by_id
                .get(line.product_id.as_str())
                .ok_or_else(|| ShopError::Internal("a checked product went missing".into()))?;
            let price = PricedLine {
                unit_price: p.price,
                quantity: line.quantity,
            };
            let line_total = price
                .total()
                .ok_or_else(|| ShopError::Internal("line total overflows".into()))?;
            priced.push(price);
            items.push(OrderItem {
                product_id: p.id.clone(),
                sku: p.sku.clone(),
                name: p.name.clone(),
                quantity: line.quantity,
                unit_price: p.price,
                line_total,
            });
        }
        let totals = pricing::totals(&priced, settings.tax_rate)
            .ok_or_else(|| ShopError::Internal("order totals overflow".into()))?;
        let expires_at = time::Duration::try_from(settings.order_ttl)
            .ok()
            .and_then(|ttl| now.checked_add(ttl))
            .ok_or_else(|| ShopError::Internal("order TTL out of range".into()))?;
        let order = Order {
            id: ids::new_id(),
            user_id: caller.user_id.clone(),
            email: caller.email.clone(),
            status: Status::Pending,
            currency,
            subtotal: totals.subtotal,
            tax: totals.tax,
            total: totals.total,
            tax_rate: settings.tax_rate,
            created_at: now_text.clone(),
            updated_at: now_text.clone(),
            expires_at: clock::format(expires_at),
            items,
        };
        store::orders::insert(&mut tx, t, &order).await?;
        store::orders::append_history(
            &mut *tx,
            t,
            &HistoryEntry {
                order_id: &order.id,
                from: None,
                to: Status::Pending,
                actor: &caller.user_id,
                reason: None,
                at: &now_text,
            },
        )
        .await?;
        self.outbox
            .publish(
                &mut tx,
                &events::order_event(events::PLACED, &order, Some(&caller.user_id), None, None),
            )
            .await?;

        // The reservation comes last: on PostgreSQL its row locks are held
        // until the commit, so the shorter the rest of the transaction
        // after it, the more orders a popular product can take per second.
        // Lines in product id order: two orders never lock in a cycle.
        let mut sorted: Vec<&OrderItem> = order.items.iter().collect();
        sorted.sort_by(|a, b| a.product_id.cmp(&b.product_id));
        for item in sorted {
            match products::reserve(&mut *tx, t, &item.product_id, item.quantity).await? {
                // What was charged must be what the locked row says (on
                // PostgreSQL an admin may have committed a change since
                // the read); otherwise nothing is placed.
                Some(r) if r.price == item.unit_price && r.currency == order.currency => {}
                Some(_) => {
                    return Err(ShopError::PriceChanged {
                        product_id: item.product_id.clone(),
                        name: item.name.clone(),
                    });
                }
                // Dropping `tx` rolls back the order and the reservations
                // made so far.
                None => return Err(self.not_reserved(&mut tx, t, item).await?),
            }
        }
        let body = respond(&order).to_string();
        if let Some(key) = idempotency_key {
            idempotency::complete(&mut tx, &scope, key, 201, &body).await?;
        }
        tx.commit().await?;
        self.outbox.wake();
        self.count_order(Status::Pending);
        Ok(Placement {
            status: 201,
            body,
            replayed: false,
        })
    }

    /// Why the conditional update did not reserve `line`.
    async fn not_reserved(
        &self,
        tx: &mut Tx,
        t: &TenantId,
        line: &OrderItem,
    ) -> Result<ShopError, ShopError> {
        let found = products::find(&mut **tx, t, &line.product_id).await?;
        Ok(match found {
            // Deleted or deactivated since the first read.
            None => {
                self.count_rejection("unavailable");
                ShopError::UnknownProduct {
                    product_id: line.product_id.clone(),
                }
            }
            Some(p) if !p.active => {
                self.count_rejection("unavailable");
                ShopError::InactiveProduct {
                    product_id: p.id,
                    name: p.name,
                }
            }
            Some(p) => {
                self.count_rejection("insufficient_stock");
                ShopError::InsufficientStock {
                    product_id: p.id,
                    name: p.name,
                    requested: line.quantity,
                    available: p.stock,
                }
            }
        })
    }

    /// The order, if `caller` may see it (owner or staff of its tenant);
    /// otherwise it does not exist for them.
    pub async fn visible_order(&self, caller: &Caller, id: &str) -> Result<Order, ShopError> {
        Ok(self.order_detail(caller, id).await?.0)
    }

    /// The order `caller` may see, with its history and payments, read in
    /// the caller's tenant.
    pub async fn order_detail(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(Order, Vec<HistoryRow>, Vec<PaymentRow>), ShopError> {
        if !ids::is_uuid(id) {
            return Err(ShopError::NotFound(NO_SUCH_ORDER));
        }
        let t = &caller.tenant;
        let mut tx = self.db.tenant(t).read().await?;
        let order = match store::orders::find(&mut tx, t, id).await? {
            Some(o) if actor(caller, &o).can_see() => o,
            _ => return Err(ShopError::NotFound(NO_SUCH_ORDER)),
        };
        let history = store::orders::history(&mut *tx, t, &order.id).await?;
        let payments = store::orders::payments(&mut *tx, t, &order.id).await?;
        Ok((order, history, payments))
    }

    /// Moves an order along its lifecycle on `caller`'s behalf, with the
    /// transition's effects (payment, stock, refund), history and event.
    /// Paying goes through [`Self::record_payment`] instead (it needs proof).
    pub async fn transition(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
        reason: Option<&str>,
    ) -> Result<Order, ShopError> {
        if action == Action::Pay {
            return Err(ShopError::Internal(
                "a payment is recorded with its proof (record_payment)".into(),
            ));
        }
        self.apply(
            &caller.tenant,
            Who::Caller(caller),
            id,
            action,
            reason,
            None,
            None,
            None,
        )
        .await
        .and_then(applied)
    }

    /// Staff record a payment received for order `id`: pending → paid,
    /// with the capture's method and reference. A customer is refused
    /// (403) whatever they send.
    ///
    /// With an `Idempotency-Key` (and the fingerprint of the request) the
    /// key is claimed in the payment's own transaction and `respond`'s
    /// body stored before the commit, as for placing an order: a payment
    /// is captured once, and a retry gets the first answer again, also
    /// when the first answer was lost with the process that sent it.
    pub async fn record_payment(
        &self,
        caller: &Caller,
        id: &str,
        received: &Received,
        key: Option<(&str, String)>,
        respond: impl Fn(&Order) -> Value + Sync,
    ) -> Result<Placement, ShopError> {
        let keyed = key.map(|(key, fingerprint)| Keyed {
            caller: caller.tenant.scope(&caller.user_id),
            key,
            fingerprint,
            respond: &respond,
            answer: Mutex::new(None),
        });
        let order = self
            .apply(
                &caller.tenant,
                Who::Caller(caller),
                id,
                Action::Pay,
                None,
                Some(received),
                None,
                keyed.as_ref(),
            )
            .await?;
        if let Some(answer) = keyed.and_then(Keyed::into_answer) {
            return Ok(answer);
        }
        let order = applied(order)?;
        Ok(Placement {
            status: 200,
            body: respond(&order).to_string(),
            replayed: false,
        })
    }

    /// The payment provider's (already verified) callback: order `id` was
    /// paid `amount` minor units of `currency`. `None` when callback
    /// `event_id` was applied before (a retry or a replay: nothing changes).
    ///
    /// The callback has no token, so no tenant of its own. It acts in the
    /// tenant of the order it names, read by primary key in an
    /// `all_tenants` transaction. That is safe because (1) the order id
    /// comes from a body whose signature was verified, i.e. the provider
    /// says it, not a client; (2) the lookup returns only where that one
    /// order lives and nothing else crosses over: everything after it runs
    /// in that tenant's transaction, under its row policies, with the
    /// order re-read there; and (3) the tenant is never taken from the
    /// request (no header is believed), so a callback cannot be pointed at
    /// another tenant. An unknown order is a 404 as before.
    pub async fn provider_paid(
        &self,
        event_id: &str,
        id: &str,
        amount: i64,
        currency: &str,
        reference: &str,
    ) -> Result<Option<Order>, ShopError> {
        let received = Received {
            method: "provider".into(),
            reference: reference.to_owned(),
        };
        if !ids::is_uuid(id) {
            return Err(ShopError::NotFound(NO_SUCH_ORDER));
        }
        let mut lookup = self.db.all_tenants().read().await?;
        let tenant = store::orders::tenant_of(&mut *lookup, id).await?;
        drop(lookup);
        let Some(tenant) = tenant else {
            return Err(ShopError::NotFound(NO_SUCH_ORDER));
        };
        self.apply(
            &tenant,
            Who::Provider { amount, currency },
            id,
            Action::Pay,
            None,
            Some(&received),
            Some(event_id),
            None,
        )
        .await
    }

    /// The one transition path: authorize, effects, history, event, in one
    /// transaction. `callback` (a provider event id) is noted in the same
    /// transaction; `Ok(None)` when it was noted before. `keyed` claims an
    /// `Idempotency-Key` in the same transaction and gets the answer
    /// (`Ok(None)` with `keyed.answer` set: a replay). Run again, whole,
    /// when it lost against another transaction (`Db::retry_conflicts`).
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        t: &TenantId,
        who: Who<'_>,
        id: &str,
        action: Action,
        reason: Option<&str>,
        received: Option<&Received>,
        callback: Option<&str>,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<Option<Order>, ShopError> {
        self.db
            .retry_conflicts(|| {
                self.apply_once(t, who, id, action, reason, received, callback, keyed)
            })
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply_once(
        &self,
        t: &TenantId,
        who: Who<'_>,
        id: &str,
        action: Action,
        reason: Option<&str>,
        received: Option<&Received>,
        callback: Option<&str>,
        keyed: Option<&Keyed<'_>>,
    ) -> Result<Option<Order>, ShopError> {
        if !ids::is_uuid(id) {
            return Err(ShopError::NotFound(NO_SUCH_ORDER));
        }
        let now = clock::now_text();
        let mut tx = self.db.tenant(t).begin().await?;
        if let Some(k) = keyed {
            // First in the transaction: a concurrent repeat waits here for
            // this one's commit (or rollback), then finds its answer.
            match idempotency::claim(&mut tx, &k.caller, k.key, &k.fingerprint, &now).await? {
                Claim::Fresh => {}
                Claim::Replay { status, body } => {
                    tx.rollback().await?;
                    k.answer(Placement {
                        status,
                        body,
                        replayed: true,
                    });
                    return Ok(None);
                }
                Claim::Mismatch => return Err(ShopError::IdempotencyMismatch),
            }
        }
        let Some(mut order) = store::orders::find(&mut tx, t, id).await? else {
            return Err(ShopError::NotFound(NO_SUCH_ORDER));
        };
        if let Some(event_id) = callback
            && !store::orders::note_callback(&mut *tx, t, event_id, &order.id, &now).await?
        {
            return Ok(None);
        }
        let (actor_of, actor_id) = match who {
            Who::Caller(caller) => (actor(caller, &order), caller.user_id.as_str()),
            Who::Provider { amount, currency } => {
                // The provider must have taken exactly what the order costs.
                if amount != order.total || currency != order.currency {
                    return Err(ShopError::PaymentMismatch);
                }
                (
                    Actor {
                        owner: false,
                        staff: true,
                    },
                    PAYMENT_PROVIDER,
                )
            }
        };
        let to = order::authorize(actor_of, order.status, action).map_err(|r| match r {
            Refusal::Hidden => ShopError::NotFound(NO_SUCH_ORDER),
            Refusal::Forbidden(why) => ShopError::Forbidden(why),
            Refusal::Illegal(t) => ShopError::InvalidTransition(t),
        })?;
        // Past its deadline the sweep is about to release the stock: no
        // money is taken for it. Expire it now, then refuse.
        if action == Action::Pay && order.expires_at < now {
            let refused = ShopError::illegal(Status::Expired, Status::Paid);
            if self.expire_in(&mut tx, t, &mut order, &now).await? {
                // The expiry commits, and with it the key's claim: it is
                // completed with this refusal, which every retry gets.
                if let Some(k) = keyed {
                    let err = marimo_platform::ApiError::from(ShopError::illegal(
                        Status::Expired,
                        Status::Paid,
                    ));
                    let body = err.body().to_string();
                    idempotency::complete(&mut tx, &k.caller, k.key, err.status.as_u16(), &body)
                        .await?;
                }
                tx.commit().await?;
                self.outbox.wake();
                self.count_order(Status::Expired);
            }
            return Err(refused);
        }
        let from = order.status;
        if !store::orders::set_status(&mut *tx, t, &order.id, from, to, &now).await? {
            // Another transition committed since the read (PostgreSQL;
            // SQLite's write lock prevents it): report the status it left.
            let current = store::orders::find(&mut tx, t, id)
                .await?
                .map_or(from, |o| o.status);
            return Err(ShopError::illegal(current, to));
        }
        let fx = order::effects(from, action);
        if fx.release_stock {
            release_stock(&mut tx, t, &order).await?;
        }
        if fx.capture {
            let Some(received) = received else {
                return Err(ShopError::Internal(
                    "a capture without a payment received".into(),
                ));
            };
            let proof = Proof {
                method: &received.method,
                reference: &received.reference,
                recorded_by: actor_id,
            };
            store::orders::record_payment(
                &mut *tx,
                t,
                &order,
                PaymentKind::Capture,
                Some(proof),
                &now,
            )
            .await?;
        }
        if fx.refund {
            store::orders::record_payment(&mut *tx, t, &order, PaymentKind::Refund, None, &now)
                .await?;
        }
        store::orders::append_history(
            &mut *tx,
            t,
            &HistoryEntry {
                order_id: &order.id,
                from: Some(from),
                to,
                actor: actor_id,
                reason,
                at: &now,
            },
        )
        .await?;
        order.status = to;
        order.updated_at = now.clone();
        let was_paid = (action == Action::Cancel).then_some(from == Status::Paid);
        self.outbox
            .publish(
                &mut tx,
                &events::order_event(
                    events::type_of(to),
                    &order,
                    Some(actor_id),
                    was_paid,
                    reason,
                ),
            )
            .await?;
        if let Some(k) = keyed {
            let body = (k.respond)(&order).to_string();
            idempotency::complete(&mut tx, &k.caller, k.key, 200, &body).await?;
            k.answer(Placement {
                status: 200,
                body,
                replayed: false,
            });
        }
        tx.commit().await?;
        self.outbox.wake();
        self.count_order(to);
        if fx.capture {
            self.count_money("revenue_total", &order.currency, order.total);
        }
        if fx.refund {
            self.count_money("refunds_total", &order.currency, order.total);
        }
        Ok(Some(order))
    }

    /// Expires `order` within `tx` if it is still pending and past its
    /// deadline: releases its stock, appends history and publishes
    /// `shop.order.cancelled` (reason `expired`). `false` when another
    /// replica or request got there first (the conditional update missed).
    async fn expire_in(
        &self,
        tx: &mut Tx,
        t: &TenantId,
        order: &mut Order,
        now: &str,
    ) -> Result<bool, ShopError> {
        if !store::orders::expire_if_due(&mut **tx, t, &order.id, now).await? {
            return Ok(false);
        }
        release_stock(tx, t, order).await?;
        store::orders::append_history(
            &mut **tx,
            t,
            &HistoryEntry {
                order_id: &order.id,
                from: Some(Status::Pending),
                to: Status::Expired,
                actor: "system",
                reason: Some("expired"),
                at: now,
            },
        )
        .await?;
        order.status = Status::Expired;
        order.updated_at = now.to_owned();
        self.outbox
            .publish(
                tx,
                &events::order_event(events::CANCELLED, order, None, Some(false), Some("expired")),
            )
            .await?;
        Ok(true)
    }

    /// One sweep: expires pending orders past their deadline, `batch` at a
    /// time, each in its own transaction. Safe on several replicas at once:
    /// only the replica whose conditional update hit releases the stock.
    /// Returns how many this call expired.
    ///
    /// Across tenants: the due orders are listed in an `all_tenants` read,
    /// then each is expired in a transaction of its own tenant, so its
    /// stock, history and event stay in that tenant (the event carries it).
    pub async fn expire_due(&self, batch: i64) -> Result<usize, ShopError> {
        let mut expired = 0;
        loop {
            let now = clock::now_text();
            let mut list = self.db.all_tenants().read().await?;
            let due = store::orders::due_for_expiry(&mut *list, &now, batch).await?;
            drop(list);
            let mut hit = 0;
            for (t, id) in &due {
                let mut tx = self.db.tenant(t).begin().await?;
                let Some(mut order) = store::orders::find(&mut tx, t, id).await? else {
                    continue;
                };
                if self.expire_in(&mut tx, t, &mut order, &now).await? {
                    tx.commit().await?;
                    self.outbox.wake();
                    self.count_order(Status::Expired);
                    hit += 1;
                }
            }
            expired += hit;
            // A short page is the last; a page where nothing applied means
            // another replica is on it, and looping would spin.
            if (due.len() as i64) < batch || hit == 0 {
                return Ok(expired);
            }
        }
    }
}

/// Puts the order's units back, in product id order (see the lock order).
async fn release_stock(tx: &mut Tx, t: &TenantId, order: &Order) -> Result<(), ShopError> {
    let mut items: Vec<&OrderItem> = order.items.iter().collect();
    items.sort_by(|a, b| a.product_id.cmp(&b.product_id));
    for item in items {
        products::release(&mut **tx, t, &item.product_id, item.quantity).await?;
    }
    Ok(())
}
