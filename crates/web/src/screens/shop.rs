//! `/shop`: the public catalog (search, categories), the cart (a cookie of
//! product ids and quantities; prices always come from the catalog, and
//! the shop prices the order itself), checkout, and catalog management
//! for shop managers.

use askama::Template;
use axum::{
    extract::{Path, Query},
    response::{IntoResponse, Redirect, Response},
};
use http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    access::Area,
    cookies, format,
    page::{
        Chrome, FieldErrors, FormData, PageResult, Session, WebError, done, flash, form_answer,
        render, text, urlencode,
    },
};

/// A product as the pages show it.
pub struct ProductView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: String,
    pub stock: i64,
    pub active: bool,
    pub sku: String,
}

fn product_view(v: &Value, s: &Session) -> ProductView {
    ProductView {
        id: text(v, "id"),
        name: text(v, "name"),
        description: text(v, "description"),
        category: text(v, "category"),
        price: format::money(&text(v, "price"), &text(v, "currency"), s.lang),
        stock: v["stock"].as_i64().unwrap_or(0),
        active: v["active"].as_bool().unwrap_or(true),
        sku: text(v, "sku"),
    }
}

pub struct Category {
    pub name: String,
    pub count: i64,
    pub href: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "shop/catalog.html")]
struct CatalogPage {
    p: Chrome,
    q: String,
    category: String,
    categories: Vec<Category>,
    products: Vec<ProductView>,
    total: i64,
    flash: Option<String>,
    can_manage: bool,
    cart_count: u32,
}

#[derive(Deserialize)]
pub struct CatalogQuery {
    q: Option<String>,
    category: Option<String>,
    done: Option<String>,
}

pub async fn catalog(s: Session, headers: HeaderMap, Query(q): Query<CatalogQuery>) -> PageResult {
    let search = q.q.unwrap_or_default().trim().to_owned();
    let category = q.category.unwrap_or_default().trim().to_owned();
    let mut path = format!("/api/shop/products?limit=100&q={}", urlencode(&search));
    if !category.is_empty() {
        path.push_str(&format!("&category={}", urlencode(&category)));
    }
    let (list, cats) = tokio::join!(s.api.get(&path), s.api.get("/api/shop/categories"));
    let list = list.map_err(WebError::from)?;
    let cats = cats.unwrap_or(Value::Null);
    let categories = cats["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let name = text(c, "name");
            Category {
                href: format!("/shop?category={}", urlencode(&name)),
                current: name == category,
                count: c["count"].as_i64().unwrap_or(0),
                name,
            }
        })
        .collect();
    let products = list["products"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| product_view(p, &s))
        .collect();
    let tr = s.tr();
    Ok(render(&CatalogPage {
        p: s.chrome("nav.shop").await,
        total: list["total"].as_i64().unwrap_or(0),
        q: search,
        category,
        categories,
        products,
        flash: flash(&tr, q.done.as_deref()),
        can_manage: s.may(Area::ShopManage),
        cart_count: Cart::from_headers(&headers, s.secure).count(),
    }))
}

// ---------------------------------------------------------------- cart

/// The cart cookie: `id:qty|id:qty`, at most `Cart::MAX_LINES` lines.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Cart(pub Vec<(String, u32)>);

impl Cart {
    const MAX_LINES: usize = 30;
    pub const MAX_QTY: u32 = 999;

    fn valid_id(id: &str) -> bool {
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    }

    pub fn parse(cookie: &str) -> Self {
        let lines = cookie
            .split('|')
            .filter_map(|part| {
                let (id, qty) = part.split_once(':')?;
                let qty: u32 = qty.parse().ok()?;
                (Self::valid_id(id) && (1..=Self::MAX_QTY).contains(&qty))
                    .then(|| (id.to_owned(), qty))
            })
            .take(Self::MAX_LINES)
            .collect();
        Self(lines)
    }

    pub fn from_headers(h: &HeaderMap, secure: bool) -> Self {
        cookies::get(h, cookies::CART, secure)
            .map(Self::parse)
            .unwrap_or_default()
    }

    pub fn encode(&self) -> String {
        self.0
            .iter()
            .map(|(id, q)| format!("{id}:{q}"))
            .collect::<Vec<_>>()
            .join("|")
    }

    pub fn count(&self) -> u32 {
        self.0.iter().map(|(_, q)| q).sum()
    }

    /// Sets a line's quantity (0 removes it); adds when `add`.
    pub fn put(&mut self, id: &str, qty: u32, add: bool) {
        if !Self::valid_id(id) {
            return;
        }
        let room = self.0.len() < Self::MAX_LINES;
        match self.0.iter_mut().find(|(i, _)| i == id) {
            Some(line) => line.1 = if add { line.1 + qty } else { qty }.min(Self::MAX_QTY),
            None if qty > 0 && room => self.0.push((id.to_owned(), qty.min(Self::MAX_QTY))),
            None => {}
        }
        self.0.retain(|(_, q)| *q > 0);
    }

    fn cookie(&self, secure: bool) -> http::HeaderValue {
        if self.0.is_empty() {
            cookies::clear(cookies::CART, secure)
        } else {
            cookies::set(cookies::CART, &self.encode(), 30 * 24 * 3600, secure)
        }
    }
}

fn with_cart(mut res: Response, cart: &Cart, secure: bool) -> Response {
    res.headers_mut()
        .append(header::SET_COOKIE, cart.cookie(secure));
    res
}

pub async fn add_to_cart(s: Session, headers: HeaderMap, form: FormData) -> PageResult {
    let mut cart = Cart::from_headers(&headers, s.secure);
    let qty = form
        .get("quantity")
        .parse()
        .unwrap_or(1u32)
        .clamp(1, Cart::MAX_QTY);
    cart.put(form.get("product_id"), qty, true);
    Ok(with_cart(done("/shop/cart", "added"), &cart, s.secure))
}

pub async fn update_cart(s: Session, headers: HeaderMap, form: FormData) -> PageResult {
    let mut cart = Cart::from_headers(&headers, s.secure);
    let qty = form.get("quantity").parse().unwrap_or(0u32);
    cart.put(form.get("product_id"), qty, false);
    Ok(with_cart(
        Redirect::to("/shop/cart").into_response(),
        &cart,
        s.secure,
    ))
}

pub struct CartLine {
    pub id: String,
    pub name: String,
    pub price: String,
    pub quantity: u32,
    pub line_total: String,
    pub stock: i64,
}

#[derive(Template)]
#[template(path = "shop/cart.html")]
struct CartPage {
    p: Chrome,
    lines: Vec<CartLine>,
    subtotal: String,
    flash: Option<String>,
    error: String,
    signed_in: bool,
    checkout_key: String,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// Multiplies an exact decimal price by a quantity, as text (no floats).
pub fn times(price: &str, qty: u32) -> String {
    let c = format::hundredths(price) * i64::from(qty);
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

async fn cart_page(s: &Session, cart: &Cart, error: String, done: Option<&str>) -> Response {
    let mut lines = Vec::new();
    let mut subtotal = 0i64;
    let mut currency = String::from("USD");
    for (id, qty) in &cart.0 {
        // A product gone from the catalog simply drops out of the cart.
        let Ok(p) = s.api.get(&format!("/api/shop/products/{id}")).await else {
            continue;
        };
        let price = text(&p, "price");
        currency = text(&p, "currency");
        let line = times(&price, *qty);
        subtotal += format::hundredths(&line);
        lines.push(CartLine {
            id: id.clone(),
            name: text(&p, "name"),
            price: format::money(&price, &currency, s.lang),
            quantity: *qty,
            line_total: format::money(&line, &currency, s.lang),
            stock: p["stock"].as_i64().unwrap_or(0),
        });
    }
    let sub = format!("{}.{:02}", subtotal / 100, subtotal % 100);
    let tr = s.tr();
    render(&CartPage {
        p: s.chrome("shop.cart").await,
        lines,
        subtotal: format::money(&sub, &currency, s.lang),
        flash: flash(&tr, done),
        error,
        signed_in: s.user.is_some(),
        checkout_key: marimo_platform::ids::new_id(),
    })
}

pub async fn cart(s: Session, headers: HeaderMap, Query(q): Query<DoneQuery>) -> PageResult {
    let cart = Cart::from_headers(&headers, s.secure);
    Ok(cart_page(&s, &cart, String::new(), q.done.as_deref()).await)
}

/// Places the order from the cart; the shop prices it and reserves stock.
pub async fn checkout(s: Session, headers: HeaderMap, form: FormData) -> PageResult {
    s.require(Area::Customer)?;
    let cart = Cart::from_headers(&headers, s.secure);
    if cart.0.is_empty() {
        return Ok(Redirect::to("/shop/cart").into_response());
    }
    let items: Vec<Value> = cart
        .0
        .iter()
        .map(|(id, q)| json!({"product_id": id, "quantity": q}))
        .collect();
    // The form's one-time key makes a double submit one order.
    let key = form.get("checkout_key");
    let answer = if key.is_empty() {
        s.api
            .post("/api/shop/orders", json!({"items": items}))
            .await
    } else {
        s.api
            .post_with_key("/api/shop/orders", json!({"items": items}), key)
            .await
    };
    match answer {
        Ok(body) => {
            let id = text(&body["order"], "id");
            let res = done(&format!("/orders/{id}"), "ordered");
            Ok(with_cart(res, &Cart::default(), s.secure))
        }
        Err(f) if matches!(f.status.as_u16(), 400 | 409 | 422) => {
            Ok(cart_page(&s, &cart, f.message, None).await)
        }
        Err(f) => Err(f.into()),
    }
}

// ----------------------------------------------------------- management

#[derive(Template)]
#[template(path = "shop/manage.html")]
struct ManagePage {
    p: Chrome,
    products: Vec<ProductView>,
    form: FormData,
    errors: FieldErrors,
    flash: Option<String>,
}

async fn manage_page(
    s: &Session,
    form: FormData,
    errors: FieldErrors,
    done: Option<&str>,
) -> PageResult {
    let list = s
        .api
        .get("/api/shop/admin/products?limit=100")
        .await
        .map_err(WebError::from)?;
    let products = list["products"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| product_view(p, s))
        .collect();
    let tr = s.tr();
    Ok(render(&ManagePage {
        p: s.chrome("shop.manage").await,
        products,
        form,
        errors,
        flash: flash(&tr, done),
    }))
}

pub async fn manage(s: Session, Query(q): Query<DoneQuery>) -> PageResult {
    s.require(Area::ShopManage)?;
    manage_page(
        &s,
        FormData(Vec::new()),
        FieldErrors::default(),
        q.done.as_deref(),
    )
    .await
}

pub async fn create_product(s: Session, form: FormData) -> PageResult {
    s.require(Area::ShopManage)?;
    let stock = form.get("stock");
    let body = json!({
        "name": form.get("name"),
        "description": form.get("description"),
        "price": form.get("price"),
        "currency": form.opt("currency"),
        "stock": if stock.is_empty() { json!(0) } else { stock.parse::<i64>().map(Value::from).unwrap_or(json!(stock)) },
        "category": form.opt("category"),
        "sku": form.opt("sku"),
    });
    let sent = s.api.post("/api/shop/admin/products", body).await;
    form_answer(
        sent,
        || done("/shop/manage", "product_created"),
        |errors| manage_page(&s, form, errors, None),
    )
    .await
}

pub async fn restock(s: Session, Path(id): Path<String>, form: FormData) -> PageResult {
    s.require(Area::ShopManage)?;
    let qty = form.get("quantity");
    let quantity = qty.parse::<i64>().map(Value::from).unwrap_or(json!(qty));
    s.api
        .post(
            &format!("/api/shop/admin/products/{}/restock", urlencode(&id)),
            json!({ "quantity": quantity }),
        )
        .await
        .map_err(WebError::from)?;
    Ok(done("/shop/manage", "restocked"))
}

/// `POST /shop/manage/products/{id}/price`: a new catalog price (orders
/// already placed keep the price they were charged).
pub async fn change_price(s: Session, Path(id): Path<String>, form: FormData) -> PageResult {
    s.require(Area::ShopManage)?;
    let price = form.get("price").replace(',', ".");
    let sent = s
        .api
        .put(
            &format!("/api/shop/admin/products/{}", urlencode(&id)),
            json!({ "price": price }),
        )
        .await;
    form_answer(
        sent,
        || done("/shop/manage", "price_changed"),
        |errors| manage_page(&s, FormData(Vec::new()), errors, None),
    )
    .await
}

/// `POST /shop/manage/products/{id}/{deactivate|activate}`: takes a product
/// off the catalog (it stays in past orders) or puts it back.
pub async fn set_active(s: Session, Path((id, action)): Path<(String, String)>) -> PageResult {
    s.require(Area::ShopManage)?;
    let active = match action.as_str() {
        "activate" => true,
        "deactivate" => false,
        _ => return Err(WebError::NotFound),
    };
    s.api
        .put(
            &format!("/api/shop/admin/products/{}", urlencode(&id)),
            json!({ "active": active }),
        )
        .await
        .map_err(WebError::from)?;
    Ok(done(
        "/shop/manage",
        if active { "activated" } else { "deactivated" },
    ))
}

/// Bad input the user can correct (shown next to the form).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cart_cookie_round_trip_and_limits() {
        let mut c = Cart::parse("0190-ab:2|bad id:1|0190-cd:0|0190-ef:5000|0190-fa:1");
        assert_eq!(c.0, vec![("0190-ab".into(), 2), ("0190-fa".into(), 1)]);
        c.put("0190-ab", 3, true);
        c.put("0190-fa", 0, false);
        c.put("<script>", 1, true);
        assert_eq!(c.encode(), "0190-ab:5");
        assert_eq!(c.count(), 5);
        assert_eq!(Cart::parse(""), Cart::default());
    }

    #[test]
    fn line_totals_are_exact() {
        assert_eq!(times("29.99", 3), "89.97");
        assert_eq!(times("0.10", 7), "0.70");
    }
}
