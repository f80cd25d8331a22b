//! Items, warehouses and the original API's product statuses: what an
//! item is, and the rules for their names and codes.

use std::{fmt, str::FromStr};

use marimo_contracts::factory::{ItemCategory, MoveReason};
use marimo_platform::Invalid;

pub const MAX_SKU_LEN: usize = 64;
pub const MAX_WAREHOUSE_LEN: usize = 32;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_TEXT_CHARS: usize = 500;

fn code_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// A SKU: trimmed, upper-cased, then `[A-Z0-9._-]{1,64}`.
pub fn parse_sku(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let sku = raw.trim().to_ascii_uppercase();
    if sku.is_empty() || sku.len() > MAX_SKU_LEN || !code_chars(&sku) {
        return Err(Invalid::new(
            field,
            format!("{field} must be 1-{MAX_SKU_LEN} of A-Z, 0-9, '.', '_', '-'"),
        ));
    }
    Ok(sku)
}

/// A warehouse code: trimmed, upper-cased, then `[A-Z0-9._-]{1,32}`.
pub fn parse_warehouse(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let code = raw.trim().to_ascii_uppercase();
    if code.is_empty() || code.len() > MAX_WAREHOUSE_LEN || !code_chars(&code) {
        return Err(Invalid::new(
            field,
            format!("{field} must be 1-{MAX_WAREHOUSE_LEN} of A-Z, 0-9, '.', '_', '-'"),
        ));
    }
    Ok(code)
}

/// A display name: trimmed, 1..=200 characters, no control characters.
pub fn parse_name(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(Invalid::new(
            field,
            format!("{field} must be 1-{MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid::new(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(name.to_owned())
}

/// An optional free text (reference, note): trimmed, empty is none, at
/// most 500 characters.
pub fn parse_text(field: &'static str, raw: Option<&str>) -> Result<Option<String>, Invalid> {
    let Some(t) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > MAX_TEXT_CHARS {
        return Err(Invalid::new(
            field,
            format!("{field} must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(Some(t.to_owned()))
}

/// A unit-of-measure code as written (trimmed, lower-cased); whether it
/// exists is the `units` table's call.
pub fn parse_unit(raw: &str) -> Result<String, Invalid> {
    let u = raw.trim().to_ascii_lowercase();
    if u.is_empty() || u.len() > 16 || !u.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Invalid::new(
            "uom",
            "uom must be a unit code such as pcs or kg",
        ));
    }
    Ok(u)
}

/// An item as it is defined: everything a client sets. Its identity
/// (`id`) and history (who created it, when it changed) are the stored
/// record's (`ItemRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub sku: String,
    pub name: String,
    pub kind: Kind,
    /// Which inventory account holds its value: follows `kind`, except
    /// that a bought item may be merchandise ([`Category::of`]).
    pub category: Category,
    pub uom: String,
    /// Fine units of the base currency per unit (`domain::money`).
    pub standard_cost: i64,
    /// Thousandths.
    pub reorder_point: i64,
    pub active: bool,
    /// The original API's product status (planned for a new item).
    pub status: ProductStatus,
}

/// Validated changes to an item; `None` leaves a field as it is. The SKU
/// never changes: it is the item's key in every move and BOM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemChanges {
    pub name: Option<String>,
    pub kind: Option<Kind>,
    /// `Some(true)`: a bought item held for sale (merchandise);
    /// `Some(false)`: not merchandise.
    pub merchandise: Option<bool>,
    pub uom: Option<String>,
    pub standard_cost: Option<i64>,
    pub reorder_point: Option<i64>,
    pub active: Option<bool>,
}

impl Item {
    /// Applies `changes`. Whether the unit or the kind may change depends
    /// on the stock and the BOMs; the use case checks that first.
    pub fn apply(&mut self, changes: ItemChanges) {
        let ItemChanges {
            name,
            kind,
            merchandise,
            uom,
            standard_cost,
            reorder_point,
            active,
        } = changes;
        let merchandise = merchandise.unwrap_or(self.category == Category::Merchandise);
        if let Some(v) = name {
            self.name = v;
        }
        if let Some(v) = kind {
            self.kind = v;
        }
        self.category = Category::of(self.kind, merchandise);
        if let Some(v) = uom {
            self.uom = v;
        }
        if let Some(v) = standard_cost {
            self.standard_cost = v;
        }
        if let Some(v) = reorder_point {
            self.reorder_point = v;
        }
        if let Some(v) = active {
            self.active = v;
        }
    }
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!("unknown value '{s}'; one of: {}", Self::names().join(", ")))
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// What an item is for. Raw materials are bought, never made, so they
    /// cannot have a BOM.
    Kind {
        RawMaterial = "raw_material",
        Component = "component",
        FinishedGood = "finished_good",
    }
);

string_enum!(
    /// Which inventory account holds an item's value (the
    /// `factory.stock.moved` feed's `category`).
    Category {
        RawMaterial = "raw_material",
        SubAssembly = "sub_assembly",
        FinishedGood = "finished_good",
        Merchandise = "merchandise",
    }
);

impl Category {
    /// The category of an item of `kind`: a component is a sub-assembly;
    /// a bought item (a raw material) is merchandise when it is held to
    /// be sold as it is (`merchandise` says nothing for made items).
    pub fn of(kind: Kind, merchandise: bool) -> Self {
        match kind {
            Kind::RawMaterial if merchandise => Self::Merchandise,
            Kind::RawMaterial => Self::RawMaterial,
            Kind::Component => Self::SubAssembly,
            Kind::FinishedGood => Self::FinishedGood,
        }
    }

    /// Refuses `merchandise: true` on an item that is made (only a bought
    /// item can be held for sale as it is).
    pub fn check_merchandise(kind: Kind, merchandise: Option<bool>) -> Result<(), Invalid> {
        if merchandise == Some(true) && kind != Kind::RawMaterial {
            return Err(Invalid::new(
                "merchandise",
                "only a bought item (kind raw_material) can be merchandise",
            ));
        }
        Ok(())
    }

    /// The contract's spelling.
    pub fn contract(self) -> ItemCategory {
        match self {
            Self::RawMaterial => ItemCategory::RawMaterial,
            Self::SubAssembly => ItemCategory::SubAssembly,
            Self::FinishedGood => ItemCategory::FinishedGood,
            Self::Merchandise => ItemCategory::Merchandise,
        }
    }
}

string_enum!(
    /// The original API's product status (finished goods). Kept as the
    /// item's `status`; independent of `active`.
    ProductStatus {
        Planned = "planned",
        InProduction = "in_production",
        Completed = "completed",
        Discontinued = "discontinued",
    }
);

string_enum!(
    /// Why a stock move happened.
    Reason {
        Receipt = "receipt",
        Issue = "issue",
        ProductionConsume = "production_consume",
        ProductionOutput = "production_output",
        Adjustment = "adjustment",
        Transfer = "transfer",
        Shipment = "shipment",
        Scrap = "scrap",
        CustomerReturn = "customer_return",
        Opening = "opening",
    }
);

impl Reason {
    /// The reason as the ledger reads it: an issue outside a work order
    /// and a work order's consumption are both production issues.
    pub fn contract(self) -> MoveReason {
        match self {
            Self::Receipt => MoveReason::Receipt,
            Self::Issue | Self::ProductionConsume => MoveReason::ProductionIssue,
            Self::ProductionOutput => MoveReason::ProductionOutput,
            Self::Adjustment => MoveReason::Adjustment,
            Self::Transfer => MoveReason::Transfer,
            Self::Shipment => MoveReason::Shipment,
            Self::Scrap => MoveReason::Scrap,
            Self::CustomerReturn => MoveReason::CustomerReturn,
            Self::Opening => MoveReason::Opening,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_normalised_and_checked() {
        assert_eq!(
            parse_sku("sku", " steel-rod.10_a "),
            Ok("STEEL-ROD.10_A".into())
        );
        for bad in ["", "  ", "a b", "ä", "x/y", &"A".repeat(65)] {
            assert!(parse_sku("sku", bad).is_err(), "{bad:?}");
        }
        assert!(parse_sku("sku", &"A".repeat(64)).is_ok());
        assert_eq!(parse_warehouse("code", "east-1"), Ok("EAST-1".into()));
        assert!(parse_warehouse("code", &"W".repeat(33)).is_err());
    }

    #[test]
    fn names_texts_and_units() {
        assert_eq!(parse_name("name", "  Bolt "), Ok("Bolt".into()));
        assert!(parse_name("name", "").is_err());
        assert!(parse_name("name", "a\nb").is_err());
        assert_eq!(parse_text("reference", Some("  ")), Ok(None));
        assert!(parse_text("reference", Some(&"x".repeat(501))).is_err());
        assert_eq!(parse_unit(" KG "), Ok("kg".into()));
        assert!(parse_unit("k g").is_err());
    }

    #[test]
    fn changes_touch_only_what_they_name() {
        let mut item = Item {
            sku: "BOLT".into(),
            name: "Bolt".into(),
            kind: Kind::RawMaterial,
            category: Category::RawMaterial,
            uom: "pcs".into(),
            standard_cost: 5,
            reorder_point: 1000,
            active: true,
            status: ProductStatus::Planned,
        };
        let before = item.clone();
        item.apply(ItemChanges::default());
        assert_eq!(item, before);
        item.apply(ItemChanges {
            name: Some("Hex bolt".into()),
            active: Some(false),
            ..ItemChanges::default()
        });
        assert_eq!((item.name.as_str(), item.active), ("Hex bolt", false));
        assert_eq!((item.sku.as_str(), item.standard_cost), ("BOLT", 5));
    }

    #[test]
    fn enums_round_trip() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>(), Ok(*k));
        }
        assert!("raw".parse::<Kind>().is_err());
        assert_eq!(
            "completed".parse::<ProductStatus>(),
            Ok(ProductStatus::Completed)
        );
        assert!("shipped".parse::<ProductStatus>().is_err());
        assert_eq!(Reason::ALL.len(), 10);
        assert_eq!(Category::of(Kind::Component, true), Category::SubAssembly);
        assert_eq!(Category::of(Kind::RawMaterial, true), Category::Merchandise);
    }
}
