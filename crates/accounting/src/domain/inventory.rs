//! Perpetual inventory: which accounts the factory's stock moves post to
//! (the tenant's inventory-account mapping), how a mapping is validated,
//! how one `factory.stock.moved` becomes the lines of one journal entry,
//! and how the ledger's inventory balances reconcile with the factory's
//! valuation.
//!
//! Each move's `value` (signed, minor units) is the change of its bin's
//! booked value; the inventory account of the move's (category,
//! warehouse) moves by exactly that, so its balance is the sum of the
//! values mapped to it: the factory's valuation. The counter-account of
//! the move's reason takes the opposite.

use std::collections::{BTreeMap, BTreeSet};

use marimo_contracts::factory::{ItemCategory, MoveReason};
use serde_json::json;

use super::{
    Rejection, RejectionKind,
    accounts::{AccountType, parse_code, parse_text},
    entry::DraftLine,
};

/// What an inventory-account mapping row is for: a category's inventory
/// account, or one of the counter-accounts of the moves' reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Category(Category),
    /// Goods received not invoiced: the counter-account of receipts.
    Grni,
    /// Work in progress: of production issues and output.
    Wip,
    /// Cost of goods sold: of shipments and customer returns.
    Cogs,
    /// Inventory adjustments: of counts, scrap and transfer rounding.
    Adjustments,
    /// Opening balance equity: of opening stock.
    Opening,
}

/// An item category, as the ledger stores it (the contract's
/// [`ItemCategory`], ordered for stable output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    RawMaterial,
    SubAssembly,
    FinishedGood,
    Merchandise,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Self::RawMaterial,
        Self::SubAssembly,
        Self::FinishedGood,
        Self::Merchandise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RawMaterial => "raw_material",
            Self::SubAssembly => "sub_assembly",
            Self::FinishedGood => "finished_good",
            Self::Merchandise => "merchandise",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl From<ItemCategory> for Category {
    fn from(c: ItemCategory) -> Self {
        match c {
            ItemCategory::RawMaterial => Self::RawMaterial,
            ItemCategory::SubAssembly => Self::SubAssembly,
            ItemCategory::FinishedGood => Self::FinishedGood,
            ItemCategory::Merchandise => Self::Merchandise,
        }
    }
}

/// The counter-account roles, in the order the API lists them.
pub const COUNTER_ROLES: [Role; 5] = [
    Role::Grni,
    Role::Wip,
    Role::Cogs,
    Role::Adjustments,
    Role::Opening,
];

impl Role {
    /// The stored name (`inventory_accounts.role`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Category(c) => c.as_str(),
            Self::Grni => "grni",
            Self::Wip => "wip",
            Self::Cogs => "cogs",
            Self::Adjustments => "adjustments",
            Self::Opening => "opening",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Category::parse(s)
            .map(Self::Category)
            .or_else(|| COUNTER_ROLES.into_iter().find(|r| r.as_str() == s))
    }

    /// The type an account must have to serve this role (the database
    /// holds the same rule: a CHECK on the role and the account's type,
    /// which a foreign key keeps equal to the account's).
    pub fn account_type(self) -> AccountType {
        match self {
            Self::Category(_) | Self::Wip => AccountType::Asset,
            Self::Grni => AccountType::Liability,
            Self::Cogs | Self::Adjustments => AccountType::Expense,
            Self::Opening => AccountType::Equity,
        }
    }

    /// The counter-account role of a move's reason; `None` for a transfer,
    /// whose other side is the other bin's inventory account.
    pub fn counter_of(reason: MoveReason) -> Option<Self> {
        match reason {
            MoveReason::Receipt => Some(Self::Grni),
            MoveReason::ProductionIssue | MoveReason::ProductionOutput => Some(Self::Wip),
            MoveReason::Shipment | MoveReason::CustomerReturn => Some(Self::Cogs),
            MoveReason::Adjustment | MoveReason::Scrap => Some(Self::Adjustments),
            MoveReason::Opening => Some(Self::Opening),
            MoveReason::Transfer => None,
        }
    }
}

/// Account codes of the default mapping (also the migration's seed).
pub const DEFAULT_MAPPING: &[(Role, &str)] = &[
    (Role::Category(Category::RawMaterial), "1200"),
    (Role::Category(Category::SubAssembly), "1230"),
    (Role::Category(Category::FinishedGood), "1220"),
    (Role::Category(Category::Merchandise), "1240"),
    (Role::Grni, "2050"),
    (Role::Wip, "1210"),
    (Role::Cogs, "5000"),
    (Role::Adjustments, "5100"),
    (Role::Opening, "3900"),
];

/// A tenant's inventory-account mapping: an account per role, and per
/// (category, warehouse) overrides of a category's account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    pub roles: BTreeMap<Role, String>,
    pub overrides: BTreeMap<(Category, String), String>,
}

/// The longest warehouse code an override names.
pub const MAX_WAREHOUSE_LEN: usize = 40;

fn no_account(what: String) -> Rejection {
    Rejection::new(
        RejectionKind::Unprocessable,
        "NO_INVENTORY_ACCOUNT",
        format!("{what} has no account in the inventory-account mapping"),
    )
}

impl Mapping {
    /// The inventory account of a category in a warehouse: the override,
    /// else the category's.
    pub fn inventory(&self, c: Category, warehouse: &str) -> Result<&str, Rejection> {
        self.overrides
            .get(&(c, warehouse.to_owned()))
            .or_else(|| self.roles.get(&Role::Category(c)))
            .map(String::as_str)
            .ok_or_else(|| no_account(format!("category {}", c.as_str())))
    }

    pub fn counter(&self, r: Role) -> Result<&str, Rejection> {
        self.roles
            .get(&r)
            .map(String::as_str)
            .ok_or_else(|| no_account(format!("counter-account {}", r.as_str())))
    }

    /// Every inventory account (of a category or an override), by code.
    pub fn inventory_accounts(&self) -> BTreeSet<&str> {
        self.roles
            .iter()
            .filter(|(r, _)| matches!(r, Role::Category(_)))
            .map(|(_, a)| a.as_str())
            .chain(self.overrides.values().map(String::as_str))
            .collect()
    }

    /// Every (role, warehouse, account) row: what the store keeps
    /// (`warehouse` empty for a role's own account).
    pub fn rows(&self) -> Vec<(Role, String, String)> {
        self.roles
            .iter()
            .map(|(r, a)| (*r, String::new(), a.clone()))
            .chain(
                self.overrides
                    .iter()
                    .map(|((c, w), a)| (Role::Category(*c), w.clone(), a.clone())),
            )
            .collect()
    }

    /// A mapping as the API gives it: every role named, overrides unique
    /// per (category, warehouse). Account codes are checked for form only;
    /// [`Mapping::check_accounts`] checks them against the chart.
    pub fn parse(
        roles: &[(Role, &str)],
        overrides: &[(Category, &str, &str)],
    ) -> Result<Self, Rejection> {
        let mut m = Self::default();
        for (r, code) in roles {
            let code = parse_code(r.as_str(), code)?;
            m.roles.insert(*r, code);
        }
        for r in Category::ALL
            .into_iter()
            .map(Role::Category)
            .chain(COUNTER_ROLES)
        {
            if !m.roles.contains_key(&r) {
                return Err(Rejection::invalid(
                    r.as_str(),
                    format!("{} is required", r.as_str()),
                ));
            }
        }
        for (i, (c, warehouse, code)) in overrides.iter().enumerate() {
            let field = format!("overrides[{i}]");
            let w = parse_text(&format!("{field}.warehouse"), warehouse, MAX_WAREHOUSE_LEN)?;
            let code = parse_code(&format!("{field}.account"), code)?;
            if m.overrides.insert((*c, w.clone()), code).is_some() {
                return Err(Rejection::invalid(
                    &field,
                    format!("{field}: {} in warehouse {w} is mapped twice", c.as_str()),
                ));
            }
        }
        Ok(m)
    }

    /// Every account exists, is active and has the type its role needs.
    /// `lookup` gives an account's type and whether it is active.
    pub fn check_accounts(
        &self,
        lookup: impl Fn(&str) -> Option<(AccountType, bool)>,
    ) -> Result<(), Rejection> {
        for (role, warehouse, code) in self.rows() {
            let what = if warehouse.is_empty() {
                role.as_str().to_owned()
            } else {
                format!("{} in warehouse {warehouse}", role.as_str())
            };
            let refuse = |msg: String| {
                Rejection::new(RejectionKind::Unprocessable, "INVALID_ACCOUNT", msg).with_details(
                    json!({ "role": role.as_str(), "warehouse": warehouse, "account": code }),
                )
            };
            let Some((t, active)) = lookup(&code) else {
                return Err(refuse(format!("{what}: account {code} does not exist")));
            };
            if !active {
                return Err(refuse(format!("{what}: account {code} is inactive")));
            }
            let want = role.account_type();
            if t != want {
                return Err(refuse(format!(
                    "{what}: account {code} is {t}; {} needs an {want} account",
                    role.as_str()
                )));
            }
        }
        Ok(())
    }
}

/// One move as the ledger needs it: its category, warehouse, reason and
/// signed value (minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move<'a> {
    pub category: Category,
    pub warehouse: &'a str,
    pub reason: MoveReason,
    pub value: i64,
}

/// The lines of the entry of one stock transaction: per move, the
/// inventory account moves by `value` and the reason's counter-account by
/// its opposite; a transfer's moves are inventory to inventory, and what
/// they do not net to zero (the bins' rounding) goes to the adjustments
/// account. Lines are aggregated per account (debits first, each side by
/// code) and zero lines left out; empty when nothing moves in the ledger.
pub fn lines(moves: &[Move<'_>], map: &Mapping) -> Result<Vec<DraftLine>, Rejection> {
    // Net debit per account; i128 so no sum of accepted values overflows.
    let mut net: BTreeMap<&str, i128> = BTreeMap::new();
    let mut transfer_residue: i128 = 0;
    for m in moves {
        let value = i128::from(m.value);
        *net.entry(map.inventory(m.category, m.warehouse)?)
            .or_default() += value;
        match Role::counter_of(m.reason) {
            Some(r) => *net.entry(map.counter(r)?).or_default() -= value,
            None => transfer_residue += value,
        }
    }
    if transfer_residue != 0 {
        *net.entry(map.counter(Role::Adjustments)?).or_default() -= transfer_residue;
    }
    let too_large = || {
        Rejection::new(
            RejectionKind::Unprocessable,
            "AMOUNT_TOO_LARGE",
            "a stock transaction moves more than an entry line can hold",
        )
    };
    let mut debits = Vec::new();
    let mut credits = Vec::new();
    for (account, n) in net {
        let amount = i64::try_from(n.abs()).map_err(|_| too_large())?;
        if n > 0 {
            debits.push(DraftLine::debit(account, amount));
        } else if n < 0 {
            credits.push(DraftLine::credit(account, amount));
        }
    }
    debits.extend(credits);
    Ok(debits)
}

/// One inventory account's line of the reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub account: String,
    /// The ledger's balance (debit − credit) at the end of the day.
    pub ledger: i64,
    /// Σ the factory's booked value of the (category, warehouse) mapped
    /// to the account.
    pub valuation: i64,
    /// `ledger − valuation`: zero when the books tie out.
    pub difference: i64,
}

/// Reconciles the ledger's inventory balances with the factory's
/// valuation per (category, warehouse): every inventory account of the
/// mapping appears, and so does any account a valuation row maps to.
/// A valuation row of a category without an account is a rejection.
pub fn reconcile(
    map: &Mapping,
    balances: impl Fn(&str) -> i64,
    valuation: &[(Category, String, i64)],
) -> Result<Vec<Reconciled>, Rejection> {
    let mut valued: BTreeMap<String, i64> = map
        .inventory_accounts()
        .into_iter()
        .map(|a| (a.to_owned(), 0))
        .collect();
    for (c, w, v) in valuation {
        let account = map.inventory(*c, w)?.to_owned();
        let sum = valued.entry(account).or_default();
        *sum = sum.saturating_add(*v);
    }
    Ok(valued
        .into_iter()
        .map(|(account, valuation)| {
            let ledger = balances(&account);
            Reconciled {
                difference: ledger.saturating_sub(valuation),
                account,
                ledger,
                valuation,
            }
        })
        .collect())
}

/// The factory's valuation (`GET /api/v1/factory/valuation`), read
/// tolerantly: the booked value per (category, warehouse) from its
/// `totals` (or, without them, the sum of its `items`), each row's
/// `value` a decimal in the ledger's currency. `Err` says what is wrong
/// with the answer.
pub fn parse_valuation(
    body: &serde_json::Value,
    currency: &super::money::Currency,
) -> Result<Vec<(Category, String, i64)>, String> {
    let body = body.get("data").unwrap_or(body);
    if let Some(c) = body.get("currency").and_then(serde_json::Value::as_str)
        && !c.is_empty()
        && !c.eq_ignore_ascii_case(currency.code())
    {
        return Err(format!(
            "the factory values stock in {c}, the ledger keeps {}",
            currency.code()
        ));
    }
    let rows = ["totals", "items"]
        .into_iter()
        .find_map(|k| body.get(k).and_then(serde_json::Value::as_array))
        .ok_or("the valuation has neither totals nor items")?;
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let text = |k: &str| r.get(k).and_then(serde_json::Value::as_str);
            let category = text("category")
                .and_then(Category::parse)
                .ok_or(format!("row {i}: no known category"))?;
            let warehouse = text("warehouse").unwrap_or_default().to_owned();
            let value = match r.get("value") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => return Err(format!("row {i}: no value")),
            };
            let d = marimo_platform::money::Decimal::parse(value.trim())
                .map_err(|e| format!("row {i}: value {value}: {e}"))?;
            let units = super::money::units(currency, "value", &d)
                .map_err(|e| format!("row {i}: {}", e.message))?;
            Ok((category, warehouse, units))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_map() -> Mapping {
        Mapping {
            roles: DEFAULT_MAPPING
                .iter()
                .map(|(r, a)| (*r, (*a).to_owned()))
                .collect(),
            overrides: BTreeMap::from([((FinishedGood, "EU".to_owned()), "1225".to_owned())]),
        }
    }

    fn mv(category: Category, warehouse: &str, reason: MoveReason, value: i64) -> Move<'_> {
        Move {
            category,
            warehouse,
            reason,
            value,
        }
    }

    use Category::*;
    use MoveReason::*;

    #[test]
    fn every_reason_has_its_textbook_entry() {
        let m = default_map();
        let one = |c, r, v| lines(&[mv(c, "MAIN", r, v)], &m).unwrap();
        // Receipt of 12.50: Dr raw materials / Cr GRNI.
        assert_eq!(
            one(RawMaterial, Receipt, 1250),
            [
                DraftLine::debit("1200", 1250),
                DraftLine::credit("2050", 1250)
            ]
        );
        // Issue of 4.00 to production: Dr WIP / Cr raw materials.
        assert_eq!(
            one(RawMaterial, ProductionIssue, -400),
            [
                DraftLine::debit("1210", 400),
                DraftLine::credit("1200", 400)
            ]
        );
        // Output of a sub-assembly worth 4.00: Dr sub-assemblies / Cr WIP.
        assert_eq!(
            one(SubAssembly, ProductionOutput, 400),
            [
                DraftLine::debit("1230", 400),
                DraftLine::credit("1210", 400)
            ]
        );
        // Shipment at 48.05: Dr COGS / Cr finished goods.
        assert_eq!(
            one(FinishedGood, Shipment, -4805),
            [
                DraftLine::debit("5000", 4805),
                DraftLine::credit("1220", 4805)
            ]
        );
        // Return at 48.05: Dr finished goods / Cr COGS.
        assert_eq!(
            one(FinishedGood, CustomerReturn, 4805),
            [
                DraftLine::debit("1220", 4805),
                DraftLine::credit("5000", 4805)
            ]
        );
        // Count found 1.10 more: Dr merchandise / Cr adjustments.
        assert_eq!(
            one(Merchandise, Adjustment, 110),
            [
                DraftLine::debit("1240", 110),
                DraftLine::credit("5100", 110)
            ]
        );
        // Count found 0.35 less: Dr adjustments / Cr raw materials.
        assert_eq!(
            one(RawMaterial, Adjustment, -35),
            [DraftLine::debit("5100", 35), DraftLine::credit("1200", 35)]
        );
        // Scrap of 2.00: Dr adjustments / Cr sub-assemblies.
        assert_eq!(
            one(SubAssembly, Scrap, -200),
            [
                DraftLine::debit("5100", 200),
                DraftLine::credit("1230", 200)
            ]
        );
        // Opening stock of 100.00: Dr raw materials / Cr opening equity.
        assert_eq!(
            one(RawMaterial, Opening, 10000),
            [
                DraftLine::debit("1200", 10000),
                DraftLine::credit("3900", 10000)
            ]
        );
        // A zero-valued move posts nothing.
        assert_eq!(one(RawMaterial, Receipt, 0), []);
    }

    #[test]
    fn a_completion_aggregates_per_account() {
        let m = default_map();
        // A table from 4 legs (4 × 6.00 = 24.00) and a top (20.00): the
        // issues debit WIP 44.00, the output credits it 44.00, so WIP nets
        // to zero and drops out; the entry is Dr FG 44.00 / Cr SA 24.00 /
        // Cr RM 20.00.
        let l = lines(
            &[
                mv(SubAssembly, "MAIN", ProductionIssue, -2400),
                mv(RawMaterial, "MAIN", ProductionIssue, -2000),
                mv(FinishedGood, "MAIN", ProductionOutput, 4400),
            ],
            &m,
        )
        .unwrap();
        assert_eq!(
            l,
            [
                DraftLine::debit("1220", 4400),
                DraftLine::credit("1200", 2000),
                DraftLine::credit("1230", 2400),
            ]
        );
    }

    #[test]
    fn transfers_move_between_inventory_accounts_and_keep_the_rounding() {
        let m = default_map();
        // Same account on both sides: nothing to post.
        assert_eq!(
            lines(
                &[
                    mv(FinishedGood, "MAIN", Transfer, -1000),
                    mv(FinishedGood, "SIDE", Transfer, 1000)
                ],
                &m
            )
            .unwrap(),
            []
        );
        // Into the EU warehouse (its own account 1225): 10.00 moves.
        assert_eq!(
            lines(
                &[
                    mv(FinishedGood, "MAIN", Transfer, -1000),
                    mv(FinishedGood, "EU", Transfer, 1000)
                ],
                &m
            )
            .unwrap(),
            [
                DraftLine::debit("1225", 1000),
                DraftLine::credit("1220", 1000)
            ]
        );
        // The bins' rounding booked 3.33 out and 3.34 in: the 0.01 the
        // stock gained is credited to adjustments (333 + 1 = 334).
        assert_eq!(
            lines(
                &[
                    mv(RawMaterial, "MAIN", Transfer, -333),
                    mv(FinishedGood, "EU", Transfer, 334)
                ],
                &m
            )
            .unwrap(),
            [
                DraftLine::debit("1225", 334),
                DraftLine::credit("1200", 333),
                DraftLine::credit("5100", 1),
            ]
        );
    }

    #[test]
    fn a_missing_account_is_a_clear_rejection() {
        let mut m = default_map();
        m.roles.remove(&Role::Cogs);
        let e = lines(&[mv(FinishedGood, "MAIN", Shipment, -1)], &m).unwrap_err();
        assert_eq!(e.code, "NO_INVENTORY_ACCOUNT");
        assert!(e.message.contains("cogs"), "{}", e.message);
    }

    #[test]
    fn mappings_are_checked_against_the_chart() {
        let chart: BTreeMap<&str, (AccountType, bool)> = BTreeMap::from([
            ("1200", (AccountType::Asset, true)),
            ("1210", (AccountType::Asset, true)),
            ("1220", (AccountType::Asset, true)),
            ("1225", (AccountType::Asset, true)),
            ("1230", (AccountType::Asset, true)),
            ("1240", (AccountType::Asset, false)),
            ("2050", (AccountType::Liability, true)),
            ("3900", (AccountType::Equity, true)),
            ("5000", (AccountType::Expense, true)),
            ("5100", (AccountType::Expense, true)),
        ]);
        let lookup = |c: &str| chart.get(c).copied();
        let mut m = default_map();
        m.roles
            .insert(Role::Category(Merchandise), "1220".to_owned());
        assert_eq!(m.check_accounts(lookup), Ok(()));
        let refused = |m: &Mapping| m.check_accounts(lookup).unwrap_err().message;
        let mut inactive = m.clone();
        inactive
            .roles
            .insert(Role::Category(Merchandise), "1240".to_owned());
        assert!(refused(&inactive).contains("inactive"));
        let mut missing = m.clone();
        missing.roles.insert(Role::Opening, "3999".to_owned());
        assert!(refused(&missing).contains("does not exist"));
        let mut wrong = m.clone();
        wrong.roles.insert(Role::Cogs, "1200".to_owned());
        assert!(refused(&wrong).contains("needs an expense account"));
        let mut wrong = m.clone();
        wrong
            .overrides
            .insert((RawMaterial, "X".into()), "2050".into());
        assert!(refused(&wrong).contains("in warehouse X"));
    }

    #[test]
    fn parsing_needs_every_role_once() {
        let all: Vec<(Role, &str)> = DEFAULT_MAPPING.to_vec();
        assert!(Mapping::parse(&all, &[]).is_ok());
        assert!(Mapping::parse(&all[1..], &[]).is_err());
        assert!(Mapping::parse(&all, &[(FinishedGood, "EU", "1225")]).is_ok());
        assert!(
            Mapping::parse(
                &all,
                &[(FinishedGood, "EU", "1225"), (FinishedGood, " EU ", "1226")]
            )
            .is_err()
        );
        assert!(Mapping::parse(&all, &[(FinishedGood, "", "1225")]).is_err());
        assert!(Mapping::parse(&all, &[(FinishedGood, "EU", "12/25")]).is_err());
        for r in DEFAULT_MAPPING.iter().map(|(r, _)| *r) {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn the_factory_valuation_is_read_per_category_and_warehouse() {
        let usd = super::super::money::Currency::usd();
        let body = json!({"success": true, "currency": "USD", "totals": [
            {"category": "raw_material", "warehouse": "MAIN", "qty": "3.000", "value": "270.75"},
            {"category": "finished_good", "warehouse": "MAIN", "value": "0"},
        ], "items": []});
        assert_eq!(
            parse_valuation(&body, &usd).unwrap(),
            [
                (RawMaterial, "MAIN".to_owned(), 27075),
                (FinishedGood, "MAIN".to_owned(), 0)
            ]
        );
        let items = json!({"items": [{"category": "merchandise", "warehouse": "B", "value": 1.5}]});
        assert_eq!(
            parse_valuation(&items, &usd).unwrap(),
            [(Merchandise, "B".to_owned(), 150)]
        );
        for bad in [
            json!({"currency": "EUR", "totals": []}),
            json!({"totals": [{"category": "gold", "value": "1"}]}),
            json!({"totals": [{"category": "merchandise", "value": "1.001"}]}),
            json!({"nothing": 1}),
        ] {
            assert!(parse_valuation(&bad, &usd).is_err(), "{bad}");
        }
    }

    #[test]
    fn reconciliation_sums_the_valuation_per_account() {
        let m = default_map();
        let ledger = BTreeMap::from([("1200", 27075), ("1220", 9610), ("1230", 0)]);
        let r = reconcile(
            &m,
            |a| ledger.get(a).copied().unwrap_or(0),
            &[
                (RawMaterial, "MAIN".into(), 27000),
                (RawMaterial, "SIDE".into(), 75),
                (FinishedGood, "MAIN".into(), 9610),
                (FinishedGood, "EU".into(), 5),
            ],
        )
        .unwrap();
        let by: BTreeMap<&str, (i64, i64, i64)> = r
            .iter()
            .map(|x| (x.account.as_str(), (x.ledger, x.valuation, x.difference)))
            .collect();
        // 270.00 + 0.75 = 270.75 in the factory, 270.75 in the ledger.
        assert_eq!(by["1200"], (27075, 27075, 0));
        assert_eq!(by["1220"], (9610, 9610, 0));
        // 0.05 in the EU bin, nothing posted to its account.
        assert_eq!(by["1225"], (0, 5, -5));
        assert_eq!(by["1240"], (0, 0, 0));
        assert_eq!(r.len(), 5);
    }
}
