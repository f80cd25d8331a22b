//! The catalog: products, the rules for their fields, search patterns and
//! sort orders.

use marimo_platform::money::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{
    Invalid,
    pricing::{DEFAULT_CURRENCY, parse_currency, parse_price, scale},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    pub sku: Option<String>,
    pub name: String,
    pub description: String,
    /// Minor units of `currency`.
    pub price: i64,
    pub currency: String,
    /// Units available to order.
    pub stock: i64,
    pub category: String,
    pub image_url: String,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// The text search matches against: Unicode lower case (see the
/// migration's `name_key`).
pub fn search_key(text: &str) -> String {
    text.to_lowercase()
}

/// A `LIKE … ESCAPE '\'` pattern for "contains `q`", case-insensitively:
/// `%`, `_` and `\` in the query match themselves.
pub fn contains_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in search_key(q).chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

pub const MAX_QUERY_CHARS: usize = 200;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
pub const MAX_CATEGORY_CHARS: usize = 100;
pub const MAX_IMAGE_URL_CHARS: usize = 2048;
pub const MAX_SKU_CHARS: usize = 64;
/// Stock a product can hold; restocks beyond it are refused.
pub const MAX_STOCK: i64 = 1_000_000_000;

fn no_controls(field: &str, s: &str, allow_newlines: bool) -> Result<(), Invalid> {
    if s.chars()
        .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
    {
        return Err(Invalid::new(
            field.to_owned(),
            format!("{field} contains control characters"),
        ));
    }
    Ok(())
}

fn max_chars(field: &str, s: &str, max: usize) -> Result<(), Invalid> {
    if s.chars().count() > max {
        return Err(Invalid::new(
            field.to_owned(),
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(())
}

pub fn parse_name(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Invalid::new("name", "name is required"));
    }
    max_chars("name", s, MAX_NAME_CHARS)?;
    no_controls("name", s, false)?;
    Ok(s.to_owned())
}

pub fn parse_description(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    max_chars("description", s, MAX_DESCRIPTION_CHARS)?;
    no_controls("description", s, true)?;
    Ok(s.to_owned())
}

pub fn parse_category(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    max_chars("category", s, MAX_CATEGORY_CHARS)?;
    no_controls("category", s, false)?;
    Ok(s.to_owned())
}

/// Empty, an absolute http(s) URL or a path on this site (`/img/x.png`):
/// anything else (`javascript:`, `data:`) could run in the shop's pages.
pub fn parse_image_url(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    max_chars("image_url", s, MAX_IMAGE_URL_CHARS)?;
    if s.is_empty() {
        return Ok(String::new());
    }
    let lower = s.to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://") || s.starts_with('/'))
        && !s.starts_with("//")
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(Invalid::new(
            "image_url",
            "image_url must be an http(s) URL or a path starting with /",
        ));
    }
    Ok(s.to_owned())
}

/// A stock-keeping unit: 1..=64 of `A-Z a-z 0-9 . _ -`, kept as written
/// (it must equal the factory's SKU to link the product to it).
pub fn parse_sku(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.len() <= MAX_SKU_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(Invalid::new(
            "sku",
            format!("sku must be 1 to {MAX_SKU_CHARS} letters, digits, '.', '_' or '-'"),
        ));
    }
    Ok(s.to_owned())
}

/// A stock level or amount: a whole number `min..=MAX_STOCK`.
pub fn parse_units(field: &str, v: &Value, min: i64) -> Result<i64, Invalid> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    };
    n.filter(|n| (min..=MAX_STOCK).contains(n)).ok_or_else(|| {
        Invalid::new(
            field.to_owned(),
            format!("{field} must be a whole number from {min} to {MAX_STOCK}"),
        )
    })
}

/// The JSON body of creating (`POST`) and changing (`PUT`, partial) a
/// product. Absent fields are unchanged; `"sku": null` removes the link.
/// Unknown fields are refused (400).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Premium Widget", "description": "Our best widget", "price": "29.99", "currency": "USD", "stock": 50, "category": "Electronics", "sku": "WIDGET-PREMIUM"}))]
pub struct ProductFields {
    /// Required on creation; 1 to 200 characters.
    pub name: Option<String>,
    pub description: Option<String>,
    /// Required on creation; positive, with the currency's decimals.
    pub price: Option<Decimal>,
    /// ISO 4217 (default USD).
    #[schema(example = "USD")]
    pub currency: Option<String>,
    /// Units available (default 0): a whole number or a digit string.
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub stock: Option<Value>,
    pub category: Option<String>,
    pub image_url: Option<String>,
    /// The factory item it is made as; `null` removes the link.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub sku: Option<Option<String>>,
    /// Inactive products are hidden from the public catalog.
    pub active: Option<bool>,
}

/// Tells "absent" (`None`, by `default`) from "null" (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn parse_optional_sku(sku: &Option<String>) -> Result<Option<String>, Invalid> {
    match sku.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => parse_sku(s).map(Some),
    }
}

/// A new product from `f`: name and price are required; the currency
/// defaults to USD, the stock to 0, the product is active unless told.
pub fn new_product(f: &ProductFields, id: String, now: &str) -> Result<Product, Invalid> {
    let name = parse_name(f.name.as_deref().unwrap_or(""))?;
    let currency = match &f.currency {
        Some(c) => parse_currency("currency", c)?,
        None => DEFAULT_CURRENCY.to_owned(),
    };
    let price = f
        .price
        .as_ref()
        .ok_or_else(|| Invalid::new("price", "price is required"))?;
    Ok(Product {
        id,
        sku: f
            .sku
            .as_ref()
            .map(parse_optional_sku)
            .transpose()?
            .flatten(),
        name,
        description: parse_description(f.description.as_deref().unwrap_or(""))?,
        price: parse_price("price", price, &currency)?,
        currency,
        stock: f
            .stock
            .as_ref()
            .map_or(Ok(0), |v| parse_units("stock", v, 0))?,
        category: parse_category(f.category.as_deref().unwrap_or(""))?,
        image_url: parse_image_url(f.image_url.as_deref().unwrap_or(""))?,
        active: f.active.unwrap_or(true),
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    })
}

/// A partial change: the product with `f` applied, and the new absolute
/// stock level when `f` sets one (written separately, see the store).
pub fn changed_product(
    current: &Product,
    f: &ProductFields,
    now: &str,
) -> Result<(Product, Option<i64>), Invalid> {
    let mut p = current.clone();
    if let Some(name) = &f.name {
        p.name = parse_name(name)?;
    }
    if let Some(d) = &f.description {
        p.description = parse_description(d)?;
    }
    if let Some(c) = &f.category {
        p.category = parse_category(c)?;
    }
    if let Some(u) = &f.image_url {
        p.image_url = parse_image_url(u)?;
    }
    if let Some(sku) = &f.sku {
        p.sku = parse_optional_sku(sku)?;
    }
    if let Some(active) = f.active {
        p.active = active;
    }
    if let Some(c) = &f.currency {
        p.currency = parse_currency("currency", c)?;
    }
    match &f.price {
        Some(price) => p.price = parse_price("price", price, &p.currency)?,
        // Minor units mean something else in a currency with other
        // decimals (29.99 USD is not 2999 JPY): ask for the price.
        None if scale(&p.currency) != scale(&current.currency) => {
            return Err(Invalid::new(
                "price",
                "give the price in the new currency when changing it",
            ));
        }
        None => {}
    }
    let stock = f
        .stock
        .as_ref()
        .map(|v| parse_units("stock", v, 0))
        .transpose()?;
    p.updated_at = now.to_owned();
    Ok((p, stock))
}

/// Catalog sort orders (`?sort=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Name,
    Price,
    PriceDesc,
    Newest,
}

impl Sort {
    pub const NAMES: [&'static str; 4] = ["name", "price", "-price", "newest"];

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Ok(match s.trim() {
            "" | "name" => Self::Name,
            "price" => Self::Price,
            "-price" => Self::PriceDesc,
            "newest" => Self::Newest,
            other => {
                return Err(Invalid::new(
                    "sort",
                    format!("unknown sort '{other}'; one of: {}", Self::NAMES.join(", ")),
                ));
            }
        })
    }

    /// The ORDER BY clause; every order ends with the id, so pages never
    /// overlap or skip rows that tie.
    pub fn order_by(self) -> &'static str {
        match self {
            Self::Name => "name_key ASC, id ASC",
            Self::Price => "price ASC, id ASC",
            Self::PriceDesc => "price DESC, id DESC",
            Self::Newest => "created_at DESC, id DESC",
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn patterns_escape_wildcards_and_fold_case() {
        assert_eq!(contains_pattern("Widget"), "%widget%");
        assert_eq!(contains_pattern("100%_\\"), "%100\\%\\_\\\\%");
        assert_eq!(contains_pattern("ÄPFEL"), "%äpfel%");
    }

    #[test]
    fn fields_are_validated() {
        assert_eq!(parse_name("  Widget ").unwrap(), "Widget");
        assert!(parse_name("   ").is_err());
        assert!(parse_name(&"x".repeat(201)).is_err());
        assert!(parse_name("a\u{0}b").is_err());
        assert!(parse_description("line1\nline2").is_ok());
        assert!(parse_description("bell\u{7}").is_err());
        assert_eq!(parse_image_url("").unwrap(), "");
        assert!(parse_image_url("https://cdn.example/w.png").is_ok());
        assert!(parse_image_url("/img/w.png").is_ok());
        for bad in [
            "javascript:alert(1)",
            "//evil.example/x",
            "data:image/png;base64,xx",
            "ftp://x",
        ] {
            assert!(parse_image_url(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_sku(" WIDGET-PREMIUM ").unwrap(), "WIDGET-PREMIUM");
        for bad in ["", "a b", "x/y", &"A".repeat(65)] {
            assert!(parse_sku(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn units_are_whole_and_bounded() {
        assert_eq!(parse_units("stock", &json!(0), 0), Ok(0));
        assert_eq!(parse_units("stock", &json!("12"), 0), Ok(12));
        assert!(parse_units("quantity", &json!(0), 1).is_err());
        for bad in [
            json!(-1),
            json!(1.5),
            json!("x"),
            json!(null),
            json!(MAX_STOCK + 1),
        ] {
            assert!(parse_units("stock", &bad, 0).is_err(), "{bad}");
        }
    }

    fn fields(v: Value) -> ProductFields {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn new_products_need_a_name_and_a_price() {
        let p = new_product(
            &fields(json!({"name": " Gizmo ", "price": "12.50", "sku": "GIZ-1", "stock": 3})),
            "id".into(),
            "t",
        )
        .unwrap();
        assert_eq!(
            (
                p.name.as_str(),
                p.price,
                p.currency.as_str(),
                p.stock,
                p.sku.as_deref(),
                p.active
            ),
            ("Gizmo", 1250, "USD", 3, Some("GIZ-1"), true)
        );
        let err = |v: Value| new_product(&fields(v), "id".into(), "t").unwrap_err().field;
        assert_eq!(err(json!({"price": "1"})), "name");
        assert_eq!(err(json!({"name": "x"})), "price");
        assert_eq!(err(json!({"name": "x", "price": "1.001"})), "price");
        assert_eq!(err(json!({"name": "x", "price": "-1"})), "price");
        assert_eq!(
            err(json!({"name": "x", "price": "1", "stock": -1})),
            "stock"
        );
        assert_eq!(
            err(json!({"name": "x", "price": "1", "currency": "ZZZ"})),
            "currency"
        );
        assert_eq!(err(json!({"name": "x", "price": "1", "sku": "a b"})), "sku");
        let p = new_product(
            &fields(json!({"name": "x", "price": 5, "sku": null})),
            "i".into(),
            "t",
        )
        .unwrap();
        assert_eq!((p.price, p.sku), (500, None));
    }

    #[test]
    fn changes_are_partial() {
        let current = new_product(
            &fields(json!({"name": "Gizmo", "price": "12.50", "sku": "GIZ-1", "stock": 3})),
            "id".into(),
            "t0",
        )
        .unwrap();
        let (p, stock) = changed_product(&current, &fields(json!({"price": "13"})), "t1").unwrap();
        assert_eq!(
            (p.price, p.name.as_str(), p.sku.as_deref(), stock),
            (1300, "Gizmo", Some("GIZ-1"), None)
        );
        assert_eq!(p.updated_at, "t1");
        let (p, stock) =
            changed_product(&current, &fields(json!({"sku": null, "stock": 9})), "t1").unwrap();
        assert_eq!((p.sku, stock), (None, Some(9)));
        // Same decimals: the units carry over; other decimals: price needed.
        let (p, _) = changed_product(&current, &fields(json!({"currency": "EUR"})), "t1").unwrap();
        assert_eq!((p.currency.as_str(), p.price), ("EUR", 1250));
        assert_eq!(
            changed_product(&current, &fields(json!({"currency": "JPY"})), "t1")
                .unwrap_err()
                .field,
            "price"
        );
        let (p, _) = changed_product(
            &current,
            &fields(json!({"currency": "JPY", "price": 1800})),
            "t1",
        )
        .unwrap();
        assert_eq!(p.price, 1800);
        assert!(changed_product(&current, &fields(json!({"name": ""})), "t1").is_err());
        assert!(changed_product(&current, &fields(json!({"stock": "-2"})), "t1").is_err());
    }

    #[test]
    fn sorts_parse() {
        assert_eq!(Sort::parse("").unwrap(), Sort::Name);
        assert_eq!(Sort::parse("-price").unwrap(), Sort::PriceDesc);
        assert_eq!(Sort::parse("newest").unwrap(), Sort::Newest);
        assert_eq!(Sort::parse("random").unwrap_err().field, "sort");
    }
}
