//! An order request `{items: [{product_id, quantity, price?}]}`: its
//! validation, the merging of duplicate lines, the fingerprint that an
//! `Idempotency-Key` is bound to, and the checks of the products it names.

use std::collections::HashMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Invalid, catalog::Product};

/// Lines per request (before merging duplicates).
pub const MAX_ITEMS: usize = 100;
/// Units per line (after merging duplicates too).
pub const MAX_QUANTITY: i64 = 1000;
/// The fields of a line: `price` is the original API's, ignored.
const LINE_FIELDS: [&str; 3] = ["product_id", "quantity", "price"];
/// Longest product id worth looking up; anything longer is unknown.
const MAX_PRODUCT_ID_CHARS: usize = 100;

/// One product and how many units of it, after merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedLine {
    pub product_id: String,
    pub quantity: i64,
}

/// Validates the request body and merges lines of the same product (in
/// the order of their first appearance). A client-sent `price` is
/// ignored: prices come from the catalog.
pub fn order_lines(body: &Value) -> Result<Vec<RequestedLine>, Invalid> {
    let Some(obj) = body.as_object() else {
        return Err(Invalid::new(
            "items",
            "expected a JSON object {\"items\": [...]}",
        ));
    };
    // Unknown fields are refused, naming them; `price` in a line is the
    // original API's and is accepted and ignored (prices come from the
    // catalog).
    if let Some(unknown) = obj.keys().find(|k| *k != "items") {
        return Err(Invalid::new(
            unknown.clone(),
            format!(
                "unknown field `{unknown}`; an order is {{\"items\": [{{\"product_id\", \"quantity\"}}]}}"
            ),
        ));
    }
    let Some(items) = obj.get("items").and_then(Value::as_array) else {
        return Err(Invalid::new("items", "items must be a list of order lines"));
    };
    if items.is_empty() {
        return Err(Invalid::new("items", "an order needs at least one item"));
    }
    if items.len() > MAX_ITEMS {
        return Err(Invalid::new(
            "items",
            format!("an order has at most {MAX_ITEMS} items"),
        ));
    }
    let mut lines: Vec<RequestedLine> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(unknown) = item
            .as_object()
            .and_then(|o| o.keys().find(|k| !LINE_FIELDS.contains(&k.as_str())))
        {
            return Err(Invalid::new(
                format!("items[{i}].{unknown}"),
                format!(
                    "unknown field `{unknown}` in items[{i}]; a line is {{\"product_id\", \"quantity\"}}"
                ),
            ));
        }
        let product_id = match item.get("product_id") {
            Some(Value::String(s)) => s.trim().to_owned(),
            // The original API's ids were numbers; such an id is simply
            // unknown here (422), not a malformed request.
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(Invalid::new(
                    format!("items[{i}].product_id"),
                    format!("items[{i}].product_id must be a product id"),
                ));
            }
        };
        if product_id.is_empty() || product_id.chars().count() > MAX_PRODUCT_ID_CHARS {
            return Err(Invalid::new(
                format!("items[{i}].product_id"),
                format!("items[{i}].product_id must be a product id"),
            ));
        }
        let quantity = quantity(item.get("quantity")).ok_or_else(|| {
            Invalid::new(
                format!("items[{i}].quantity"),
                format!("items[{i}].quantity must be a whole number from 1 to {MAX_QUANTITY}"),
            )
        })?;
        match index.get(&product_id) {
            Some(&at) => {
                let line = &mut lines[at];
                line.quantity += quantity;
                if line.quantity > MAX_QUANTITY {
                    return Err(Invalid::new(
                        format!("items[{i}].quantity"),
                        format!(
                            "at most {MAX_QUANTITY} units of one product per order (product {})",
                            line.product_id
                        ),
                    ));
                }
            }
            None => {
                index.insert(product_id.clone(), lines.len());
                lines.push(RequestedLine {
                    product_id,
                    quantity,
                });
            }
        }
    }
    Ok(lines)
}

/// A whole number 1..=MAX_QUANTITY, as a JSON integer or digit string.
fn quantity(v: Option<&Value>) -> Option<i64> {
    let q = match v? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()?
        }
        _ => return None,
    };
    (1..=MAX_QUANTITY).contains(&q).then_some(q)
}

/// SHA-256 of the body in a canonical form (object keys sorted, no
/// whitespace): the same request written differently has the same
/// fingerprint; any other difference, even in an ignored field, does not.
pub fn fingerprint(body: &Value) -> String {
    let mut text = String::new();
    canonical(body, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Why a requested product cannot be ordered (422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unorderable {
    Unknown { product_id: String },
    Inactive { product_id: String, name: String },
    MixedCurrencies { currencies: Vec<String> },
}

/// Checks that every requested product exists, is active and that they all
/// share one currency; returns that currency. `found` are the catalog rows
/// of the requested ids (in any order).
pub fn check_products(lines: &[RequestedLine], found: &[Product]) -> Result<String, Unorderable> {
    let by_id: HashMap<&str, &Product> = found.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut currencies: Vec<String> = Vec::new();
    for line in lines {
        let Some(p) = by_id.get(line.product_id.as_str()) else {
            return Err(Unorderable::Unknown {
                product_id: line.product_id.clone(),
            });
        };
        if !p.active {
            return Err(Unorderable::Inactive {
                product_id: p.id.clone(),
                name: p.name.clone(),
            });
        }
        if !currencies.contains(&p.currency) {
            currencies.push(p.currency.clone());
        }
    }
    match currencies.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(Unorderable::MixedCurrencies { currencies }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lines(v: Value) -> Result<Vec<RequestedLine>, Invalid> {
        order_lines(&v)
    }

    #[test]
    fn merges_duplicates_in_first_appearance_order_and_ignores_prices() {
        let got = lines(json!({"items": [
            {"product_id": "b", "quantity": 2, "price": "0.01"},
            {"product_id": "a", "quantity": "3"},
            {"product_id": "b", "quantity": 5},
        ]}))
        .unwrap();
        assert_eq!(
            got,
            vec![
                RequestedLine {
                    product_id: "b".into(),
                    quantity: 7
                },
                RequestedLine {
                    product_id: "a".into(),
                    quantity: 3
                },
            ]
        );
        assert_eq!(
            lines(json!({"items": [{"product_id": 7, "quantity": 1}]})).unwrap()[0].product_id,
            "7"
        );
    }

    #[test]
    fn refuses_bad_requests_naming_the_field() {
        let field = |v: Value| lines(v).unwrap_err().field;
        assert_eq!(field(json!([])), "items");
        assert_eq!(field(json!({})), "items");
        assert_eq!(field(json!({"items": []})), "items");
        assert_eq!(field(json!({"items": "x"})), "items");
        for q in [
            json!(0),
            json!(1001),
            json!(-1),
            json!(1.5),
            json!("1.0"),
            json!(null),
            json!(true),
        ] {
            assert_eq!(
                field(json!({"items": [{"product_id": "a", "quantity": q}]})),
                "items[0].quantity",
                "{q}"
            );
        }
        assert_eq!(
            field(json!({"items": [{"product_id": "a", "quantity": 1}, {"quantity": 1}]})),
            "items[1].product_id"
        );
        assert_eq!(
            field(json!({"items": [{"product_id": "", "quantity": 1}]})),
            "items[0].product_id"
        );
        // 600 + 600 of one product: over the limit once merged.
        assert_eq!(
            field(json!({"items": [
                {"product_id": "a", "quantity": 600},
                {"product_id": "a", "quantity": 600}
            ]})),
            "items[1].quantity"
        );
        let many: Vec<Value> = (0..101)
            .map(|i| json!({"product_id": format!("p{i}"), "quantity": 1}))
            .collect();
        assert_eq!(field(json!({ "items": many })), "items");
        let hundred: Vec<Value> = (0..100)
            .map(|i| json!({"product_id": format!("p{i}"), "quantity": 1}))
            .collect();
        assert_eq!(lines(json!({ "items": hundred })).unwrap().len(), 100);
        // Unknown fields are named; a line's `price` is the original API's.
        assert_eq!(
            field(json!({"items": [{"product_id": "a", "quantity": 1}], "coupon": "X"})),
            "coupon"
        );
        assert_eq!(
            field(json!({"items": [{"product_id": "a", "quantity": 1, "qty": 2}]})),
            "items[0].qty"
        );
        assert!(lines(json!({"items": [{"product_id": "a", "quantity": 1, "price": 5}]})).is_ok());
    }

    #[test]
    fn fingerprints_ignore_layout_but_not_content() {
        let a: Value =
            serde_json::from_str(r#"{"items":[{"product_id":"a","quantity":1}]}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{ "items" : [ { "quantity" : 1 , "product_id" : "a" } ] }"#)
                .unwrap();
        let c = json!({"items": [{"product_id": "a", "quantity": 2}]});
        let d = json!({"items": [{"product_id": "a", "quantity": 1, "price": "1.00"}]});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_ne!(fingerprint(&a), fingerprint(&d));
        assert_eq!(fingerprint(&a).len(), 64);
    }

    fn product(id: &str, currency: &str, active: bool) -> Product {
        Product {
            id: id.into(),
            sku: None,
            name: format!("P {id}"),
            description: String::new(),
            price: 100,
            currency: currency.into(),
            stock: 1,
            category: String::new(),
            image_url: String::new(),
            active,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn products_must_exist_be_active_and_share_a_currency() {
        let want = |ids: &[&str]| -> Vec<RequestedLine> {
            ids.iter()
                .map(|id| RequestedLine {
                    product_id: (*id).into(),
                    quantity: 1,
                })
                .collect()
        };
        let catalog = [
            product("a", "USD", true),
            product("b", "USD", true),
            product("c", "EUR", true),
            product("d", "USD", false),
        ];
        assert_eq!(
            check_products(&want(&["a", "b"]), &catalog),
            Ok("USD".into())
        );
        assert_eq!(
            check_products(&want(&["a", "x"]), &catalog),
            Err(Unorderable::Unknown {
                product_id: "x".into()
            })
        );
        assert!(matches!(
            check_products(&want(&["d"]), &catalog),
            Err(Unorderable::Inactive { .. })
        ));
        assert_eq!(
            check_products(&want(&["a", "c"]), &catalog),
            Err(Unorderable::MixedCurrencies {
                currencies: vec!["USD".into(), "EUR".into()]
            })
        );
    }
}
