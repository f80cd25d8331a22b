//! The transaction of a stock change.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use marimo_platform::{
    Invalid,
    bus::Envelope,
    clock,
    db::Tx,
    idempotency::{Claim, Keyed},
    ids,
    money::Currency,
    tenant::TenantId,
};
use serde_json::Value;

use crate::{
    Factory, FactoryError, Shortage,
    domain::{
        items::Reason,
        valuation::{self, Level, LevelError},
        work_order::Status,
    },
    events, store,
    store::{
        items as item_store,
        items::ItemRecord,
        stock::{self as stock_store, Change, MoveRecord},
    },
};

pub(crate) type Key = (String, String);

/// What a move is, besides its quantity and value.
#[derive(Debug, Clone)]
pub(crate) struct MoveSpec {
    pub reason: Reason,
    pub reference: Option<String>,
    pub note: Option<String>,
    pub work_order_id: Option<String>,
}

impl MoveSpec {
    pub fn new(reason: Reason) -> Self {
        Self {
            reason,
            reference: None,
            note: None,
            work_order_id: None,
        }
    }
}

pub(crate) struct Posting<'f> {
    pub f: &'f Factory,
    /// The tenant everything in this posting belongs to; `tx` is one of
    /// its transactions.
    pub tenant: TenantId,
    pub tx: Tx,
    pub actor: String,
    pub now: String,
    /// The tenant's base currency as this transaction read it at its
    /// start; checked again at commit.
    pub currency: Currency,
    levels: BTreeMap<Key, Level>,
    items: HashMap<String, ItemRecord>,
    pub moves: Vec<MoveRecord>,
    /// The stock transaction the moves make (`factory.stock.moved`'s
    /// `transaction`); `<reason>:<first move id>` when not named.
    pub transaction: Option<String>,
    events: Vec<Envelope>,
    statuses: Vec<Status>,
    /// The bins whose on hand or reserved this posting changed: each gets
    /// one `factory.stock.changed` with its state at commit.
    touched: BTreeSet<Key>,
    /// The `Idempotency-Key` this posting claimed: the answer to its
    /// moves is stored under it at commit.
    idem: Option<Idem<'f>>,
}

/// Who asks for a stock change — in which tenant — with the
/// `Idempotency-Key` they sent.
#[derive(Clone, Copy)]
pub struct Requester<'a> {
    pub tenant: &'a TenantId,
    pub actor: &'a str,
    pub idem: Option<Idem<'a>>,
}

impl<'a> Requester<'a> {
    /// A request without an `Idempotency-Key`.
    pub fn new(tenant: &'a TenantId, actor: &'a str) -> Self {
        Self {
            tenant,
            actor,
            idem: None,
        }
    }
}

/// An `Idempotency-Key` (scoped to the caller, with the request's
/// fingerprint) and how the request's answer looks: the answer is stored
/// under the key before the commit, so a replay answers exactly the first
/// response (`platform::idempotency`).
#[derive(Clone, Copy)]
pub struct Idem<'a> {
    pub keyed: &'a Keyed,
    /// The 201 body of the answer, from the moves written.
    pub respond: &'a (dyn Fn(&[MoveRecord]) -> Value + Send + Sync),
}

/// What a stock request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// Written now.
    Moves(Vec<MoveRecord>),
    /// The key was seen with this same request: its first answer, as
    /// stored (status and JSON text).
    Replay { status: u16, body: String },
}

pub(crate) enum Begun<'f> {
    Fresh(Box<Posting<'f>>),
    Replayed(Posted),
}

fn short(sku: &str, warehouse: &str, required: i64, available: i64) -> FactoryError {
    FactoryError::InsufficientStock(vec![Shortage {
        sku: sku.to_owned(),
        warehouse: warehouse.to_owned(),
        required,
        available: available.max(0),
    }])
}

/// A conditional update refused what the locked balance said it could
/// do: the row changed under the lock, which only a bug or a hand edit of
/// the database can cause. Nothing is written (the transaction rolls back).
fn drifted(sku: &str, warehouse: &str) -> FactoryError {
    tracing::error!(sku, warehouse, "stock balance changed under its lock");
    FactoryError::conflict(
        "CONCURRENT_UPDATE",
        format!("the balance of {sku} in {warehouse} changed meanwhile; try again"),
    )
}

impl<'f> Posting<'f> {
    pub async fn begin(
        f: &'f Factory,
        tenant: &TenantId,
        actor: &str,
    ) -> Result<Posting<'f>, FactoryError> {
        let tx = f.db.tenant(tenant).begin().await?;
        Self::in_tx(f, tenant, actor, tx).await
    }

    /// A posting in `tx`, a transaction of `tenant` already begun (an
    /// event consumer's, which recorded the event in its inbox).
    pub async fn in_tx(
        f: &'f Factory,
        tenant: &TenantId,
        actor: &str,
        mut tx: Tx,
    ) -> Result<Posting<'f>, FactoryError> {
        let currency = store::schema::currency_in(&mut tx, tenant).await?;
        Ok(Self {
            f,
            tenant: tenant.clone(),
            tx,
            actor: actor.to_owned(),
            now: clock::now_text(),
            currency,
            levels: BTreeMap::new(),
            items: HashMap::new(),
            moves: Vec::new(),
            transaction: None,
            events: Vec::new(),
            statuses: Vec::new(),
            touched: BTreeSet::new(),
            idem: None,
        })
    }

    /// Begins a posting that claims the request's key first: a key seen
    /// before with the same request gives back the answer stored then;
    /// with another request, 422 (`FactoryError::KeyReused`).
    pub async fn begin_keyed(f: &'f Factory, by: Requester<'f>) -> Result<Begun<'f>, FactoryError> {
        let mut p = Box::new(Self::begin(f, by.tenant, by.actor).await?);
        let Some(idem) = by.idem else {
            return Ok(Begun::Fresh(p));
        };
        match idem.keyed.claim(&mut p.tx, &p.now).await? {
            Claim::Fresh => {
                p.idem = Some(idem);
                Ok(Begun::Fresh(p))
            }
            Claim::Replay { status, body } => Ok(Begun::Replayed(Posted::Replay { status, body })),
            Claim::Mismatch => Err(FactoryError::KeyReused),
        }
    }

    /// The item with `sku` (cached for the transaction); 404 when unknown.
    pub async fn item(&mut self, sku: &str) -> Result<ItemRecord, FactoryError> {
        if let Some(item) = self.items.get(sku) {
            return Ok(item.clone());
        }
        let item = item_store::find_by_sku(&mut *self.tx, &self.tenant, sku)
            .await?
            .ok_or_else(|| FactoryError::not_found(format!("no item with SKU {sku}")))?;
        self.items.insert(sku.to_owned(), item.clone());
        Ok(item)
    }

    /// 404 unless the warehouse exists.
    pub async fn warehouse(&mut self, code: &str) -> Result<(), FactoryError> {
        if item_store::warehouse_exists(&mut *self.tx, &self.tenant, code).await? {
            Ok(())
        } else {
            Err(FactoryError::not_found(format!("no warehouse {code}")))
        }
    }

    /// Locks the balance rows of `keys` (creating empty ones), sorted, so
    /// every transaction takes its locks in the same order.
    pub async fn lock(&mut self, keys: impl IntoIterator<Item = Key>) -> Result<(), FactoryError> {
        let mut keys: Vec<Key> = keys.into_iter().collect();
        keys.sort();
        keys.dedup();
        for (sku, wh) in keys {
            if self.levels.contains_key(&(sku.clone(), wh.clone())) {
                continue;
            }
            stock_store::ensure_level(&mut *self.tx, &self.tenant, &sku, &wh, &self.now).await?;
            let level = stock_store::lock_level(&mut *self.tx, &self.tenant, &sku, &wh)
                .await?
                .unwrap_or_default();
            self.levels.insert((sku, wh), level);
        }
        Ok(())
    }

    /// The locked balance of `key`.
    pub fn level(&self, key: &Key) -> Level {
        self.levels.get(key).copied().unwrap_or_default()
    }

    /// Writes the move that took the locked balance of `key` from `before`
    /// to `after` (`qty` and `fine_value` signed), books the change of its
    /// booked value, and keeps `after` as the balance.
    async fn record(
        &mut self,
        key: &Key,
        (before, after): (Level, Level),
        (qty, fine_value): (i64, i64),
        unit_cost: i64,
        spec: MoveSpec,
    ) -> Result<MoveRecord, FactoryError> {
        let category = self.item(&key.0).await?.item.category;
        let m = MoveRecord {
            id: ids::new_id(),
            sku: key.0.clone(),
            warehouse: key.1.clone(),
            qty,
            unit_cost,
            value: valuation::booked_change(&before, &after),
            fine_value,
            category,
            reason: spec.reason,
            reference: spec.reference,
            note: spec.note,
            work_order_id: spec.work_order_id,
            created_by: self.actor.clone(),
            created_at: self.now.clone(),
        };
        stock_store::insert_move(&mut *self.tx, &self.tenant, &m).await?;
        self.levels.insert(key.clone(), after);
        self.moves.push(m.clone());
        Ok(m)
    }

    /// Books `qty` (> 0) worth `value` (fine units) into the locked
    /// balance of `key`.
    pub async fn put(
        &mut self,
        key: &Key,
        qty: i64,
        value: i64,
        unit_cost: i64,
        spec: MoveSpec,
    ) -> Result<MoveRecord, FactoryError> {
        self.lock([key.clone()]).await?;
        let before = self.level(key);
        let after = before.receive(qty, value).map_err(|e| match e {
            LevelError::TooLarge => FactoryError::too_large("the balance"),
            other => FactoryError::Invalid(Invalid::new("qty", other.to_string())),
        })?;
        if !self.change(key, Change::Add, qty, value).await? {
            return Err(drifted(&key.0, &key.1));
        }
        self.record(key, (before, after), (qty, value), unit_cost, spec)
            .await
    }

    /// Takes `qty` (> 0) out of the locked balance of `key` at the moving
    /// average: from the available stock, or from what is reserved. 409
    /// `INSUFFICIENT_STOCK` when the balance cannot cover it.
    pub async fn take(
        &mut self,
        key: &Key,
        qty: i64,
        from_reserved: bool,
        spec: MoveSpec,
    ) -> Result<MoveRecord, FactoryError> {
        self.lock([key.clone()]).await?;
        let before = self.level(key);
        let (after, value) = before.remove(qty, from_reserved).map_err(|e| match e {
            LevelError::Short { available } => short(&key.0, &key.1, qty, available),
            LevelError::TooLarge => FactoryError::too_large("the value"),
            LevelError::NotPositive => {
                FactoryError::Invalid(Invalid::new("qty", "qty must be positive"))
            }
        })?;
        let change = if from_reserved {
            Change::TakeReserved
        } else {
            Change::TakeAvailable
        };
        if !self.change(key, change, qty, value).await? {
            return Err(drifted(&key.0, &key.1));
        }
        let unit_cost = valuation::unit_cost(value, qty);
        let m = self
            .record(key, (before, after), (-qty, -value), unit_cost, spec)
            .await?;
        let item = self.item(&key.0).await?.item;
        if valuation::crosses_reorder_point(before.on_hand, after.on_hand, item.reorder_point) {
            self.event(events::stock_low(
                &key.0,
                &key.1,
                after.on_hand,
                item.reorder_point,
            ));
        }
        Ok(m)
    }

    /// Reserves `qty` of `key` with a conditional update (no lock-read
    /// needed: the condition is the whole rule). `Err(available)` when the
    /// stock cannot cover it.
    pub async fn reserve(&mut self, key: &Key, qty: i64) -> Result<Result<(), i64>, FactoryError> {
        if self.change(key, Change::Reserve, qty, 0).await? {
            return Ok(Ok(()));
        }
        let available = stock_store::read_level(&mut *self.tx, &self.tenant, &key.0, &key.1)
            .await?
            .map_or(0, |l| l.available());
        Ok(Err(available))
    }

    /// Gives back `qty` of a reservation of `key`.
    pub async fn unreserve(&mut self, key: &Key, qty: i64) -> Result<(), FactoryError> {
        if self.change(key, Change::Unreserve, qty, 0).await? {
            Ok(())
        } else {
            Err(drifted(&key.0, &key.1))
        }
    }

    /// Applies `change` of `qty` (worth `value`) to the balance of `key`
    /// in this transaction; `false` when the row cannot cover it.
    async fn change(
        &mut self,
        key: &Key,
        change: Change,
        qty: i64,
        value: i64,
    ) -> Result<bool, FactoryError> {
        let (sku, warehouse) = key;
        let applied = stock_store::apply(
            &mut *self.tx,
            &self.tenant,
            change,
            (sku, warehouse),
            qty,
            value,
            &self.now,
        )
        .await?;
        if applied {
            self.touched.insert(key.clone());
        }
        Ok(applied)
    }

    /// Queues an event to publish in this transaction.
    pub fn event(&mut self, env: Envelope) {
        self.events.push(env.actor(self.actor.clone()));
    }

    /// Counts a work order entering `status` (recorded after commit).
    pub fn entered(&mut self, status: Status) {
        self.statuses.push(status);
    }

    /// Stores the answer under the claimed key, publishes the queued
    /// events into the outbox, commits, wakes the relay and records
    /// metrics. Returns the moves written.
    pub async fn commit(mut self) -> Result<Vec<MoveRecord>, FactoryError> {
        // The currency may only change while no stock holds value, under
        // a lock this posting's balance writes waited for: read again, it
        // is either what the posting valued in, or the posting must be
        // sent again (nothing is written).
        if store::schema::currency_in(&mut self.tx, &self.tenant).await? != self.currency {
            return Err(FactoryError::conflict(
                "CURRENCY_CHANGED",
                "the tenant's base currency changed meanwhile; try again",
            ));
        }
        // Every move is in the stock transaction's one event: whatever
        // recorded it, the ledger hears of it exactly once (the outbox).
        if let Some(first) = self.moves.first() {
            let transaction = self
                .transaction
                .take()
                .unwrap_or_else(|| format!("{}:{}", first.reason.as_str(), first.id));
            let env = events::stock_moved(&transaction, &self.moves, &self.currency);
            self.event(env);
        }
        if let Some(idem) = self.idem {
            let body = (idem.respond)(&self.moves).to_string();
            idem.keyed.complete(&mut self.tx, 201, &body).await?;
        }
        // Each changed bin's state as committed, once per transaction
        // (its row is locked by this transaction's updates, so the
        // counter read is the one that commits).
        for (sku, warehouse) in std::mem::take(&mut self.touched) {
            if let Some(bin) =
                stock_store::bin_state(&mut *self.tx, &self.tenant, &sku, &warehouse).await?
            {
                let env = events::stock_changed(&sku, &warehouse, bin);
                self.events.push(env.actor(self.actor.clone()));
            }
        }
        for env in &self.events {
            self.f.outbox.publish(&mut self.tx, env).await?;
        }
        self.tx.commit().await?;
        if !self.events.is_empty() {
            self.f.outbox.wake();
        }
        let moves = std::mem::take(&mut self.moves);
        self.f.metrics.record(|| {
            for m in &moves {
                metrics::counter!("stock_moves_total", "reason" => m.reason.as_str()).increment(1);
            }
            for s in &self.statuses {
                metrics::counter!("work_orders_total", "status" => s.as_str()).increment(1);
            }
        });
        Ok(moves)
    }
}
