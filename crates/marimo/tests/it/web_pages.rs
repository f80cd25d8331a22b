//! The web UI's rules over plain HTTP, against the whole system: CSRF
//! rejection, cookie flags (HttpOnly, SameSite=Strict, Secure under TLS),
//! transparent refresh, logout revoking the session, role-based hiding
//! *and* refusal, and the language by `Accept-Language`.

use marimo_platform::service::ServiceName;
use marimo_testkit::backends;
use serde_json::json;

use crate::support::{Running, login, register_and_login, start};

const ADMIN: (&str, &str) = ("admin@pages.test", "Admin-Passw0rd");

/// A browser-like client that never follows redirects and keeps cookies
/// by hand, so each answer can be inspected.
pub(crate) struct Page {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) cookies: Vec<(String, String)>,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) set_cookies: Vec<String>,
    pub(crate) location: String,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn new(sys: &Running) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: sys.system.as_ref().unwrap().url(ServiceName::Gateway),
            cookies: Vec::new(),
        }
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn set(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(k, _)| k != name);
        if !value.is_empty() {
            self.cookies.push((name.to_owned(), value.to_owned()));
        }
    }

    pub(crate) async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let header = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if header.is_empty() {
            req
        } else {
            req.header("cookie", header)
        };
        let res = req.send().await.expect("gateway answers");
        let status = res.status().as_u16();
        let set_cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.set(k, v);
        }
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        Answer {
            status,
            set_cookies,
            location,
            body: res.text().await.unwrap_or_default(),
        }
    }

    pub(crate) fn form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap())
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let req = self.form(path, form);
        self.send(req).await
    }

    /// Posts a form with the session's CSRF token.
    pub(crate) async fn submit(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        if self.cookie("marimo_csrf").is_none() {
            self.get("/login").await;
        }
        let token = self.cookie("marimo_csrf").expect("a CSRF cookie");
        let mut all = vec![("_csrf", token.as_str())];
        all.extend_from_slice(form);
        let req = self.form(path, &all);
        self.send(req).await
    }

    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) {
        let a = self
            .submit(
                "/login",
                &[("email", email), ("password", password), ("next", "/")],
            )
            .await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert!(self.cookie("marimo_at").is_some());
    }
}

/// The system on SQLite with limits off and the bootstrap admin, plus
/// `extra` settings.
async fn start_on_sqlite(extra: &[(&str, &str)]) -> Running {
    let mut vars = vec![
        ("MARIMO_RATE_LIMITS", "off"),
        ("MARIMO_ADMIN_EMAIL", ADMIN.0),
        ("MARIMO_ADMIN_PASSWORD", ADMIN.1),
    ];
    vars.extend_from_slice(extra);
    start(&marimo_testkit::Backend::Sqlite, &vars).await
}

/// [`start_on_sqlite`] and a browser session of the admin.
async fn start_signed_in(extra: &[(&str, &str)]) -> (Running, Page) {
    let sys = start_on_sqlite(extra).await;
    let mut admin = Page::new(&sys);
    admin.sign_in(ADMIN.0, ADMIN.1).await;
    (sys, admin)
}

pub(crate) fn flags(set_cookies: &[String], name: &str) -> String {
    set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {set_cookies:?}"))
        .clone()
}

#[tokio::test]
async fn sessions_csrf_and_roles_in_the_web_ui() {
    for backend in backends() {
        let sys = start(
            &backend,
            &[
                ("MARIMO_RATE_LIMITS", "off"),
                ("MARIMO_ADMIN_EMAIL", ADMIN.0),
                ("MARIMO_ADMIN_PASSWORD", ADMIN.1),
                ("TRUSTED_PROXIES", "127.0.0.1,::1"),
            ],
        )
        .await;

        // A guest is sent to sign in, and back afterwards.
        let mut guest = Page::new(&sys);
        let a = guest.get("/accounting").await;
        assert_eq!(a.status, 303);
        assert_eq!(a.location, "/login?next=/accounting");
        let login_page = guest.get("/login").await;
        assert_eq!(login_page.status, 200);
        assert!(login_page.body.contains("name=\"_csrf\""));

        // CSRF: a form without the token, with a wrong one, or with a token
        // that is not ours is refused with the 403 page, and nothing happens.
        let a = guest
            .post("/login", &[("email", ADMIN.0), ("password", ADMIN.1)])
            .await;
        assert_eq!(a.status, 403);
        assert!(a.body.contains("The form has expired"), "{}", a.body);
        assert!(guest.cookie("marimo_at").is_none());
        let a = guest
            .post(
                "/login",
                &[
                    ("_csrf", "forged.token"),
                    ("email", ADMIN.0),
                    ("password", ADMIN.1),
                ],
            )
            .await;
        assert_eq!(a.status, 403);
        let real = guest.cookie("marimo_csrf").unwrap();
        guest.set("marimo_csrf", "planted.cookie");
        let a = guest
            .post(
                "/login",
                &[
                    ("_csrf", "planted.cookie"),
                    ("email", ADMIN.0),
                    ("password", ADMIN.1),
                ],
            )
            .await;
        assert_eq!(a.status, 403, "an unsigned cookie is not a token");
        guest.set("marimo_csrf", &real);
        let a = guest
            .post("/shop/cart/add", &[("product_id", "0190")])
            .await;
        assert_eq!(a.status, 403);

        // Signing in: cookies are HttpOnly and SameSite=Strict, not Secure
        // over plain HTTP; the CSRF token is replaced.
        let a = guest
            .submit(
                "/login",
                &[
                    ("email", ADMIN.0),
                    ("password", ADMIN.1),
                    ("next", "/users"),
                ],
            )
            .await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert_eq!(a.location, "/users");
        for name in ["marimo_at", "marimo_rt"] {
            let c = flags(&a.set_cookies, name);
            assert!(
                c.contains("HttpOnly") && c.contains("SameSite=Strict"),
                "{c}"
            );
            assert!(!c.contains("Secure"), "{c}");
        }
        assert!(flags(&a.set_cookies, "marimo_csrf").contains("Max-Age=0"));
        let mut admin = guest;
        let users = admin.get("/users").await;
        assert_eq!(users.status, 200);
        assert!(users.body.contains("href=\"/accounting\""));
        assert!(users.body.contains(ADMIN.0));
        let csp = admin
            .http
            .get(format!("{}/", admin.base))
            .send()
            .await
            .unwrap()
            .headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"));

        // Secure and `__Host-` named under TLS: a trusted proxy says the
        // client came over https.
        let mut tls = Page::new(&sys);
        let req = tls
            .http
            .get(format!("{}/login", tls.base))
            .header("x-forwarded-proto", "https");
        let a = tls.send(req).await;
        let c = flags(&a.set_cookies, "__Host-marimo_csrf");
        assert!(c.contains("; Secure") && c.contains("HttpOnly"), "{c}");

        // Transparent refresh: an expired (here: unusable) access token and
        // a valid refresh token give a page and a new pair of cookies.
        let old_refresh = admin.cookie("marimo_rt").unwrap();
        admin.set("marimo_at", "expired");
        let a = admin.get("/users").await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(flags(&a.set_cookies, "marimo_at").contains("HttpOnly"));
        let new_refresh = admin.cookie("marimo_rt").unwrap();
        assert_ne!(old_refresh, new_refresh, "rotated");

        // Two tabs whose access token expired load at the same moment with
        // the same refresh cookie: one rotation serves both, and the
        // session survives (no reuse alarm at the users service).
        admin.set("marimo_at", "expired");
        let mut tab2 = Page::new(&sys);
        tab2.cookies = admin.cookies.clone();
        let (a, b) = tokio::join!(admin.get("/users"), tab2.get("/users"));
        assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.body, b.body);
        assert_eq!(
            admin.cookie("marimo_rt"),
            tab2.cookie("marimo_rt"),
            "one rotation"
        );
        let again = admin.get("/users").await;
        assert_eq!(again.status, 200);
        assert!(again.body.contains(ADMIN.0), "still signed in");

        // A customer: staff screens are hidden and refused; so are actions.
        let customer = register_and_login(&sys.gw, "cy@pages.test").await;
        let mut cy = Page::new(&sys);
        cy.sign_in("cy@pages.test", crate::support::PASSWORD).await;
        let home = cy.get("/").await;
        assert_eq!(home.status, 200);
        for hidden in ["/accounting", "/users", "/factory", "/config", "/audit"] {
            assert!(
                !home.body.contains(&format!("href=\"{hidden}\"")),
                "{hidden} shown to a customer"
            );
            let a = cy.get(hidden).await;
            assert_eq!(a.status, 403, "{hidden}");
            assert!(a.body.contains("Not allowed"));
        }
        assert_eq!(cy.get("/shop/manage").await.status, 403);
        assert_eq!(cy.get("/orders/manage").await.status, 403);
        let catalog = cy.get("/shop").await;
        assert!(!catalog.body.contains("/shop/manage"));
        let a = cy
            .submit("/shop/manage/products", &[("name", "X"), ("price", "1.00")])
            .await;
        assert_eq!(a.status, 403);

        // The customer's own order: it awaits payment; neither recording a
        // payment nor shipping is shown or allowed to the customer.
        let product = sys
            .gw
            .get("/api/shop/products?q=premium")
            .send()
            .await
            .expect(200)
            .json["products"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let order = sys
            .gw
            .post("/api/shop/orders")
            .bearer(customer["access_token"].as_str().unwrap())
            .json(json!({"items": [{"product_id": product, "quantity": 1}]}))
            .send()
            .await
            .expect(201)
            .json["order"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let page = cy.get(&format!("/orders/{order}")).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("id=\"awaiting-payment\""));
        assert!(!page.body.contains("id=\"order-pay\""));
        assert!(!page.body.contains("id=\"order-ship\""));
        let a = cy.submit(&format!("/orders/{order}/ship"), &[]).await;
        assert_eq!(a.status, 403);
        let a = cy
            .submit(
                &format!("/orders/{order}/pay"),
                &[("method", "card"), ("reference", "mine")],
            )
            .await;
        assert_eq!(a.status, 403);
        // Staff see the payment form.
        let page = admin.get(&format!("/orders/{order}")).await;
        assert!(page.body.contains("id=\"order-pay\""));
        assert!(page.body.contains("id=\"payment-reference\""));
        // The admin, in the same state (pending), may not ship either: the
        // lifecycle (the shop's rule) refuses, and the page says so.
        let a = admin.submit(&format!("/orders/{order}/ship"), &[]).await;
        assert_eq!(a.status, 409, "{}", a.body);

        // An accountant sees accounting but not users.
        let acc = register_and_login(&sys.gw, "acc@pages.test").await;
        let admin_token = login(&sys.gw, ADMIN.0, ADMIN.1).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        sys.gw
            .post("/api/users/admin/assign-role")
            .bearer(&admin_token)
            .json(json!({"user_id": acc["user"]["id"], "role": "accountant"}))
            .send()
            .await
            .expect(200);
        let mut accountant = Page::new(&sys);
        accountant
            .sign_in("acc@pages.test", crate::support::PASSWORD)
            .await;
        let home = accountant.get("/").await;
        assert!(home.body.contains("href=\"/accounting\""));
        assert!(!home.body.contains("href=\"/users\""));
        assert_eq!(accountant.get("/accounting").await.status, 200);
        assert_eq!(
            accountant
                .get("/accounting/reports/income-statement")
                .await
                .status,
            200
        );
        let csv = accountant
            .get("/accounting/reports/trial-balance/csv")
            .await;
        assert_eq!(csv.status, 200);
        assert!(
            csv.body.lines().next().unwrap_or("").contains("code"),
            "{}",
            csv.body
        );
        assert_eq!(accountant.get("/users").await.status, 403);

        // Logout revokes the refresh token at the users service.
        let rt = cy.cookie("marimo_rt").unwrap();
        let a = cy.submit("/logout", &[]).await;
        assert_eq!(a.status, 303);
        assert!(flags(&a.set_cookies, "marimo_rt").contains("Max-Age=0"));
        sys.gw
            .post("/api/users/refresh")
            .json(json!({"refresh_token": rt}))
            .send()
            .await
            .expect(401);
        assert_eq!(cy.get("/orders").await.status, 303);

        // Language: Accept-Language, the switch link, Russian formatting.
        let mut ru = Page::new(&sys);
        let req = ru
            .http
            .get(format!("{}/shop", ru.base))
            .header("accept-language", "ru-RU,ru;q=0.9,en;q=0.5");
        let a = ru.send(req).await;
        assert!(a.body.contains("<html lang=\"ru\">"));
        assert!(a.body.contains("Магазин"));
        assert!(a.body.contains("29,99\u{a0}$"), "ru money format");
        let a = ru.get("/lang/en?next=/shop").await;
        assert_eq!(a.status, 303);
        assert_eq!(a.location, "/shop");
        let a = ru.get("/shop").await;
        assert!(a.body.contains("<html lang=\"en\">") && a.body.contains("$29.99"));

        // Unknown pages get the 404 page; unknown API paths keep JSON.
        assert_eq!(ru.get("/no/such/page").await.status, 404);
        let a = ru.get("/api/nope").await;
        assert_eq!(a.status, 404);
        assert!(a.body.starts_with('{'));
        // The assets are cacheable for a year under a hashed name.
        let css = home
            .body
            .split("href=\"/assets/")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_owned();
        let res = reqwest::get(format!("{}/assets/{css}", ru.base))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );

        sys.stop().await;
    }
}

/// With the factory unreachable, the dashboard still renders every other
/// figure and says which service is missing.
#[tokio::test]
async fn the_dashboard_marks_a_service_that_is_down() {
    // A port nobody listens on: bound, noted, released.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead_url = format!("http://127.0.0.1:{dead}");
    let (sys, mut admin) = start_signed_in(&[("FACTORY_URLS", dead_url.as_str())]).await;
    let home = admin.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("id=\"degraded\""), "{}", home.body);
    assert!(home.body.contains("<span class=\"mark\">factory</span>"));
    // The figures of the services that answer are there; the factory's
    // are not made up.
    assert!(
        home.body.contains("id=\"kpi-users_total\""),
        "{}",
        home.body
    );
    assert!(home.body.contains("id=\"kpi-open_orders\""));
    assert!(!home.body.contains("id=\"kpi-work_orders_in_progress\""));
    sys.stop().await;
}

/// Stock receipts, adjustments and transfers from the factory's stock
/// screen reach the stock ledger; a refused one shows the API's reason.
#[tokio::test]
async fn stock_moves_from_the_factory_screen() {
    let (sys, mut admin) = start_signed_in(&[]).await;
    let a = admin
        .submit(
            "/factory/items",
            &[
                ("sku", "NUT"),
                ("name", "Nut"),
                ("kind", "raw_material"),
                ("uom", "pcs"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let token = login(&sys.gw, ADMIN.0, ADMIN.1).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    sys.gw
        .post("/api/factory/warehouses")
        .bearer(&token)
        .json(json!({"code": "EAST", "name": "East"}))
        .send()
        .await
        .expect(201);
    for (path, form) in [
        (
            "/factory/stock/receipts",
            vec![("sku", "NUT"), ("qty", "100"), ("unit_cost", "0,10")],
        ),
        (
            "/factory/stock/adjustments",
            vec![("sku", "NUT"), ("qty", "-2"), ("reason_note", "lost")],
        ),
        (
            "/factory/stock/transfers",
            vec![
                ("sku", "NUT"),
                ("qty", "30"),
                ("from", "MAIN"),
                ("to", "EAST"),
            ],
        ),
    ] {
        let a = admin.submit(path, &form).await;
        assert_eq!(a.status, 303, "{path}: {}", a.body);
    }
    let stock = sys
        .gw
        .get("/api/factory/stock?sku=NUT")
        .bearer(&token)
        .send()
        .await
        .expect(200);
    let on_hand = |wh: &str| {
        stock.json["stock"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["warehouse"] == wh)
            .map(|l| l["on_hand"].as_str().unwrap().to_owned())
    };
    assert_eq!(on_hand("MAIN").as_deref(), Some("68.000"), "{}", stock.text);
    assert_eq!(on_hand("EAST").as_deref(), Some("30.000"));

    // An adjustment without a reason: the API refuses it, nothing moves,
    // and the page says why next to the field.
    let a = admin
        .submit(
            "/factory/stock/adjustments",
            &[("sku", "NUT"), ("qty", "5")],
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        a.body
            .matches("<p class=\"field-error\">reason_note is required</p>")
            .count(),
        1,
        "next to the field, in the form that was sent only: {}",
        a.body
    );
    assert!(!a.body.contains("id=\"form-error\""), "{}", a.body);
    sys.stop().await;
}

/// The shop manager changes a price and takes a product off the catalog
/// from the management screen; a bad price is refused with the reason.
#[tokio::test]
async fn prices_and_the_catalog_from_the_management_screen() {
    let (sys, mut admin) = start_signed_in(&[]).await;
    let a = admin
        .submit(
            "/shop/manage/products",
            &[("name", "Desk Fan"), ("price", "19.99"), ("stock", "4")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let find = || async {
        let list = sys
            .gw
            .get("/api/shop/products?q=desk")
            .send()
            .await
            .expect(200);
        list.json["products"].as_array().unwrap().first().cloned()
    };
    let fan = find().await.expect("the new product is in the catalog");
    let id = fan["id"].as_str().unwrap().to_owned();

    let a = admin
        .submit(
            &format!("/shop/manage/products/{id}/price"),
            &[("price", "17,50")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(find().await.unwrap()["price"], "17.50");
    let a = admin
        .submit(
            &format!("/shop/manage/products/{id}/price"),
            &[("price", "-1")],
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body.contains("role=\"alert\"") || a.body.contains("field-error"),
        "{}",
        a.body
    );
    assert_eq!(find().await.unwrap()["price"], "17.50", "nothing changed");

    let a = admin
        .submit(&format!("/shop/manage/products/{id}/deactivate"), &[])
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(find().await.is_none(), "off the public catalog");
    let manage = admin.get("/shop/manage").await;
    assert!(
        manage
            .body
            .contains(&format!("/shop/manage/products/{id}/activate"))
    );
    let a = admin
        .submit(&format!("/shop/manage/products/{id}/activate"), &[])
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(find().await.is_some(), "back in the catalog");
    sys.stop().await;
}

/// More orders than fit a page: the list pages through them all.
#[tokio::test]
async fn the_orders_list_pages_through_many_orders() {
    let sys = start_on_sqlite(&[]).await;
    let customer = register_and_login(&sys.gw, "many@pages.test").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = login(&sys.gw, ADMIN.0, ADMIN.1).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = sys
        .gw
        .post("/api/shop/admin/products")
        .bearer(&admin)
        .json(json!({"name": "Pager Pen", "price": "1.00", "stock": 100}))
        .send()
        .await
        .expect(201);
    let product = created.json["product"]["id"].as_str().unwrap().to_owned();
    for _ in 0..55 {
        sys.gw
            .post("/api/shop/orders")
            .bearer(&customer)
            .json(json!({"items": [{"product_id": product, "quantity": 1}]}))
            .send()
            .await
            .expect(201);
    }
    let mut page = Page::new(&sys);
    page.sign_in("many@pages.test", crate::support::PASSWORD)
        .await;
    let first = page.get("/orders").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body.matches("data-order=").count(), 50);
    assert!(
        first.body.contains("href=\"/orders?page=2\""),
        "{}",
        first.body
    );
    assert!(!first.body.contains("id=\"prev-page\""));
    let second = page.get("/orders?page=2").await;
    assert_eq!(second.body.matches("data-order=").count(), 5);
    assert!(second.body.contains("href=\"/orders?page=1\""));
    assert!(!second.body.contains("id=\"next-page\""));
    sys.stop().await;
}

/// Sign-up from the web: the new business and its admin, signed in, with
/// the business's name in the header; once a member of a second business
/// the header offers the switch, and switching acts there. With
/// `MARIMO_SIGNUP=off` there is no page and no link.
#[tokio::test]
async fn signing_up_a_business_and_switching_tenants() {
    let sys = start_on_sqlite(&[]).await;
    let mut ann = Page::new(&sys);
    let form = ann.get("/signup").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("id=\"signup-submit\""), "{}", form.body);
    let done = ann
        .submit(
            "/signup",
            &[
                ("business_name", "Acme Tools"),
                ("slug", "acme"),
                ("currency", "eur"),
                ("fiscal_year_start_month", "4"),
                ("admin_name", "Ann"),
                ("email", "ann@acme.test"),
                ("password", "Founder-1"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let home = ann.get("/").await;
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("id=\"tenant-name\">Acme Tools<"),
        "{}",
        home.body
    );
    // A taken slug is refused next to the form.
    let mut other = Page::new(&sys);
    let taken = other
        .submit(
            "/signup",
            &[
                ("business_name", "Acme Again"),
                ("slug", "acme"),
                ("currency", "EUR"),
                ("fiscal_year_start_month", "1"),
                ("admin_name", "Otto"),
                ("email", "otto@acme.test"),
                ("password", "Founder-1"),
            ],
        )
        .await;
    assert_eq!(taken.status, 409);
    assert!(taken.body.contains("id=\"form-error\""), "{}", taken.body);

    // The default tenant's admin adds ann as an accountant.
    let admin = login(&sys.gw, ADMIN.0, ADMIN.1).await;
    sys.gw
        .post("/api/v1/users/admin/members")
        .bearer(admin["access_token"].as_str().unwrap())
        .json(json!({"email": "ann@acme.test", "role": "accountant"}))
        .send()
        .await
        .expect(201);
    let home = ann.get("/").await;
    assert!(home.body.contains("id=\"tenant-switch\""), "{}", home.body);
    assert!(
        home.body.contains("<option value=\"default\">"),
        "{}",
        home.body
    );
    let switched = ann.submit("/tenant", &[("tenant", "default")]).await;
    assert_eq!(switched.status, 303, "{}", switched.body);
    let home = ann.get("/").await;
    assert!(
        home.body.contains("<option value=\"default\" selected>"),
        "{}",
        home.body
    );
    sys.stop().await;

    let sys = start_on_sqlite(&[("MARIMO_SIGNUP", "off")]).await;
    let mut page = Page::new(&sys);
    assert_eq!(page.get("/signup").await.status, 404);
    let login_page = page.get("/login").await;
    assert!(!login_page.body.contains("id=\"signup-link\""));
    sys.stop().await;
}
