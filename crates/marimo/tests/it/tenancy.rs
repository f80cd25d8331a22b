//! Tenancy end to end (issue 19): two businesses sign up on one running
//! system and do the whole ERP flow at the same time — staff, items, a BOM,
//! a stock receipt, a work order, a shop product with the same SKU in both,
//! a customer's paid order, the ledger's postings — on every backend.
//! Each tenant's trial balance, stock, orders and dashboard then hold its
//! own business only (figures computed by hand below), and every attempt
//! across tenants is refused or confined: the other tenant's ids on each
//! resource route, the `X-Marimo-Tenant` header while signed in, and a
//! token from before tenancy (no `tid`), which acts in the default tenant.

use marimo_testkit::{Backend, Http, Res, TEST_JWT_SECRET, backends, eventually};
use serde_json::{Value, json};

use crate::support::{PASSWORD, start};

/// One business's plan: what it buys, makes and sells. The expected
/// figures of each are worked out by hand in [`expected_trial_balance`]
/// and the assertions.
struct Plan {
    slug: &'static str,
    /// Raw material received: kg at `unit_cost`.
    receipt_kg: &'static str,
    unit_cost: &'static str,
    /// Widgets made (the BOM takes 2 kg of steel each).
    made: u32,
    /// The shop's price, opening stock and the customer's order.
    price: &'static str,
    opening_stock: i64,
    sold: i64,
}

const ACME: Plan = Plan {
    slug: "acme",
    receipt_kg: "10",
    unit_cost: "1.50",
    made: 3,
    price: "25.00",
    opening_stock: 5,
    sold: 2,
};

const GLOBEX: Plan = Plan {
    slug: "globex",
    receipt_kg: "20",
    unit_cost: "2.25",
    made: 5,
    price: "12.50",
    opening_stock: 10,
    sold: 3,
};

/// What one business ended up with: its tokens and the ids of its rows.
struct Business {
    slug: &'static str,
    tenant: String,
    admin: String,
    admin_id: String,
    manager: String,
    manager_id: String,
    customer: String,
    product: String,
    order: String,
    work_order: String,
    bom: String,
    entry: String,
}

#[tokio::test]
async fn two_tenants_run_the_whole_erp_at_once_and_stay_apart() {
    marimo_platform::telemetry::init_logging("warn", marimo_platform::config::LogFormat::Pretty);
    for backend in backends() {
        walk(&backend).await;
    }
}

async fn walk(backend: &Backend) {
    let sys = start(backend, &[("MARIMO_RATE_LIMITS", "off")]).await;
    let gw = &sys.gw;

    // Both businesses at once, on the same SKUs.
    let (acme, globex) = tokio::join!(run_business(gw, &ACME), run_business(gw, &GLOBEX));
    assert_ne!(acme.tenant, globex.tenant);

    // The books: each tenant's own postings only.
    for (b, plan) in [(&acme, &ACME), (&globex, &GLOBEX)] {
        let want = expected_trial_balance(plan);
        eventually(&format!("{}'s trial balance", b.slug), || async {
            let tb = get(gw, "/api/v1/accounting/reports/trial-balance", &b.admin)
                .await
                .expect(200)
                .json;
            (net_rows(&tb) == want.0).then_some(tb)
        })
        .await;
        let tb = get(gw, "/api/v1/accounting/reports/trial-balance", &b.admin)
            .await
            .expect(200)
            .json;
        assert_eq!(tb["currency"], "USD");
        assert_eq!(tb["total_debit"], want.1, "{}", b.slug);
        assert_eq!(tb["total_credit"], want.1, "{}", b.slug);
        assert_eq!(tb["balanced"], true);
    }
    // Entry ids of each tenant, for the cross-tenant attempts below.
    let acme = with_entry(gw, acme).await;
    let globex = with_entry(gw, globex).await;

    // Factory stock, by hand: received − 2 kg per widget made.
    //   acme:   10 − 2 × 3 =  4 kg (value 4 × 1.50 = 6.00), 3 widgets (9.00)
    //   globex: 20 − 2 × 5 = 10 kg (10 × 2.25 = 22.50),     5 widgets (22.50)
    for (b, steel, steel_value, widgets, widget_value) in [
        (&acme, "4.000", "6.00", "3.000", "9.00"),
        (&globex, "10.000", "22.50", "5.000", "22.50"),
    ] {
        let stock = get(gw, "/api/v1/factory/stock", &b.admin)
            .await
            .expect(200)
            .json;
        let mut levels: Vec<(String, String, String)> = stock["stock"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["sku"].as_str().unwrap().to_owned(),
                    l["on_hand"].as_str().unwrap().to_owned(),
                    l["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        levels.sort();
        assert_eq!(
            levels,
            [
                ("RM-STEEL".into(), steel.into(), steel_value.into()),
                ("WIDGET".into(), widgets.into(), widget_value.into()),
            ],
            "{}",
            b.slug
        );
    }

    // The shop's stock of the shared SKU: opening − sold + made.
    //   acme: 5 − 2 + 3 = 6; globex: 10 − 3 + 5 = 12.
    for (b, want) in [(&acme, 6), (&globex, 12)] {
        eventually(
            &format!("{}'s shop stock after production", b.slug),
            || async {
                let p = get(
                    gw,
                    &format!("/api/v1/shop/products/{}", b.product),
                    &b.customer,
                )
                .await
                .json;
                (p["stock"].as_i64()? == want).then_some(())
            },
        )
        .await;
        // Each catalog lists its own one product only.
        let catalog = gw
            .get("/api/v1/shop/products")
            .header("x-marimo-tenant", &b.tenant)
            .send()
            .await
            .expect(200)
            .json;
        let ids: Vec<&str> = catalog["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [b.product.as_str()], "{}", b.slug);
    }

    // Orders: each tenant's staff see exactly its one order, its total the
    // price × quantity: acme 2 × 25.00 = 50.00, globex 3 × 12.50 = 37.50.
    for (b, total) in [(&acme, "50.00"), (&globex, "37.50")] {
        let orders = get(gw, "/api/v1/shop/admin/orders", &b.manager)
            .await
            .expect(200)
            .json;
        let got: Vec<(&str, &str, &str)> = orders["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["id"].as_str().unwrap(),
                    o["total"].as_str().unwrap(),
                    o["status"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, [(b.order.as_str(), total, "paid")], "{}", b.slug);
        let mine = get(gw, "/api/v1/shop/orders", &b.customer)
            .await
            .expect(200)
            .json;
        assert_eq!(mine["orders"].as_array().unwrap().len(), 1, "{}", b.slug);
    }

    // The dashboard: each admin's figures are their business's. Users:
    // the founder, the shop manager and the customer = 3 in each.
    for (b, revenue) in [(&acme, "50.00"), (&globex, "37.50")] {
        let d = get(gw, "/api/v1/main/dashboard", &b.admin)
            .await
            .expect(200)
            .json;
        let k = &d["kpis"];
        assert_eq!(k["revenue_today"], revenue, "{}: {d}", b.slug);
        assert_eq!(k["currency"], "USD", "{}", b.slug);
        assert_eq!(k["users_total"], 3, "{}: {d}", b.slug);
        assert_eq!(k["work_orders_in_progress"], 0, "{}", b.slug);
        assert_eq!(d["degraded"], json!([]), "{}", b.slug);
    }

    // Members: each tenant lists its own three people.
    for b in [&acme, &globex] {
        let list = get(gw, "/api/v1/users/list", &b.admin)
            .await
            .expect(200)
            .json;
        let mut emails: Vec<&str> = list["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        emails.sort();
        let s = b.slug;
        assert_eq!(
            emails,
            [
                format!("buyer@{s}.test"),
                format!("founder@{s}.test"),
                format!("manager@{s}.test")
            ],
        );
    }

    cross_tenant_ids_are_refused(gw, &acme, &globex).await;
    cross_tenant_ids_are_refused(gw, &globex, &acme).await;
    header_while_signed_in_is_ignored(gw, &acme, &globex).await;
    old_token_acts_in_default(gw, &acme).await;

    // Nothing above changed either business: the books are as before.
    for (b, plan) in [(&acme, &ACME), (&globex, &GLOBEX)] {
        let tb = get(gw, "/api/v1/accounting/reports/trial-balance", &b.admin)
            .await
            .expect(200)
            .json;
        assert_eq!(net_rows(&tb), expected_trial_balance(plan).0, "{}", b.slug);
    }
    sys.stop().await;
}

/// Sign-up, staff, factory, shop and a paid order for one business.
async fn run_business(gw: &Http, plan: &Plan) -> Business {
    let s = plan.slug;
    let signed = gw
        .post("/api/v1/users/signup")
        .json(json!({
            "business_name": format!("{s} Ltd"), "slug": s, "currency": "USD",
            "admin_name": "Founder", "email": format!("founder@{s}.test"), "password": PASSWORD,
        }))
        .send()
        .await
        .expect(201)
        .json;
    let tenant = signed["tenant"]["id"].as_str().unwrap().to_owned();
    let admin = signed["access_token"].as_str().unwrap().to_owned();
    let admin_id = signed["user"]["id"].as_str().unwrap().to_owned();

    // Staff: a shop manager added by the admin; a customer who registers
    // in the tenant's shop (anonymous, so the header names it).
    let added = gw
        .post("/api/v1/users/admin/members")
        .bearer(&admin)
        .json(
            json!({"email": format!("manager@{s}.test"), "role": "shop_manager",
                     "name": "Manager", "password": PASSWORD}),
        )
        .send()
        .await
        .expect(201)
        .json;
    let manager_id = added["user"]["id"]
        .as_str()
        .or(added["member"]["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let manager = login_in(gw, &format!("manager@{s}.test"), s).await;
    gw.post("/api/v1/users/register")
        .header("x-marimo-tenant", &tenant)
        .json(json!({"email": format!("buyer@{s}.test"), "password": PASSWORD, "name": "Buyer"}))
        .send()
        .await
        .expect(201);
    let customer = login_in(gw, &format!("buyer@{s}.test"), s).await;

    // The shop's product, linked to the factory's finished good by SKU.
    let product = post(
        gw,
        &manager,
        "/api/v1/shop/admin/products",
        json!({"name": "Widget", "price": plan.price, "stock": plan.opening_stock, "sku": "WIDGET"}),
    )
    .await
    .expect(201)
    .json["product"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Factory: the new tenant's units and warehouse are seeded when the
    // factory consumes `users.tenant.created`, so the first item waits.
    eventually(&format!("{s}: the first item"), || async {
        let res = post(
            gw,
            &admin,
            "/api/v1/factory/items",
            json!({"sku": "RM-STEEL", "name": "Steel", "kind": "raw_material", "unit": "kg",
                   "standard_cost": plan.unit_cost, "reorder_point": "0"}),
        )
        .await;
        (res.status == 201).then_some(())
    })
    .await;
    post(
        gw,
        &admin,
        "/api/v1/factory/items",
        json!({"sku": "WIDGET", "name": "Widget", "kind": "finished_good", "unit": "pcs",
               "standard_cost": "5.00", "reorder_point": "0"}),
    )
    .await
    .expect(201);
    post(
        gw,
        &admin,
        "/api/v1/factory/stock/receipts",
        json!({"sku": "RM-STEEL", "qty": plan.receipt_kg, "unit_cost": plan.unit_cost}),
    )
    .await
    .expect(201);
    let bom = post(
        gw,
        &admin,
        "/api/v1/factory/boms",
        json!({"product_sku": "WIDGET", "output_qty": "1", "components": [{"sku": "RM-STEEL", "qty": "2"}]}),
    )
    .await
    .expect(201)
    .json["bom"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let work_order = post(
        gw,
        &admin,
        "/api/v1/factory/work-orders",
        json!({"product_sku": "WIDGET", "qty": plan.made.to_string()}),
    )
    .await
    .expect(201)
    .json["work_order"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for step in ["release", "start", "complete"] {
        post(
            gw,
            &admin,
            &format!("/api/v1/factory/work-orders/{work_order}/{step}"),
            json!({}),
        )
        .await
        .expect(200);
    }

    // The customer's order, paid (recorded by the shop's staff).
    let order = post(
        gw,
        &customer,
        "/api/v1/shop/orders",
        json!({"items": [{"product_id": product, "quantity": plan.sold}]}),
    )
    .await
    .expect(201)
    .json["order"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        gw,
        &manager,
        &format!("/api/v1/shop/orders/{order}/pay"),
        json!({"method": "card", "reference": format!("{s}-receipt")}),
    )
    .await
    .expect(200);

    Business {
        slug: s,
        tenant,
        admin,
        admin_id,
        manager,
        manager_id,
        customer,
        product,
        order,
        work_order,
        bom,
        entry: String::new(),
    }
}

/// The trial balance of a plan, by hand: net rows (code, debit, credit)
/// and the total of each column.
///
/// - receipt (`factory.stock.moved`, perpetual inventory): Dr 1200 Raw
///   materials / Cr 2050 Goods received not invoiced, kg × cost
/// - work order: Dr 1220 Finished goods / Cr 1200, 2 kg × made × average
///   cost (the only receipt's cost), through work in progress (nets to 0)
/// - paid order: Dr 1000 Cash / Cr 4000 Sales revenue, sold × price (no tax)
fn expected_trial_balance(plan: &Plan) -> (Vec<(String, String, String)>, &'static str) {
    let row = |c: &str, d: &str, k: &str| (c.to_owned(), d.to_owned(), k.to_owned());
    match plan.slug {
        // receipt 10 × 1.50 = 15.00; made 3 × 2 kg × 1.50 = 9.00;
        // sold 2 × 25.00 = 50.00. Raw materials 15.00 − 9.00 = 6.00.
        // Debits 50.00 + 6.00 + 9.00 = 65.00 = credits 15.00 + 50.00.
        "acme" => (
            vec![
                row("1000", "50.00", "0.00"),
                row("1200", "6.00", "0.00"),
                row("1220", "9.00", "0.00"),
                row("2050", "0.00", "15.00"),
                row("4000", "0.00", "50.00"),
            ],
            "65.00",
        ),
        // receipt 20 × 2.25 = 45.00; made 5 × 2 kg × 2.25 = 22.50;
        // sold 3 × 12.50 = 37.50. Raw materials 45.00 − 22.50 = 22.50.
        // Debits 37.50 + 22.50 + 22.50 = 82.50 = credits 45.00 + 37.50.
        "globex" => (
            vec![
                row("1000", "37.50", "0.00"),
                row("1200", "22.50", "0.00"),
                row("1220", "22.50", "0.00"),
                row("2050", "0.00", "45.00"),
                row("4000", "0.00", "37.50"),
            ],
            "82.50",
        ),
        other => unreachable!("no plan {other}"),
    }
}

fn net_rows(tb: &Value) -> Vec<(String, String, String)> {
    tb["accounts"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
                    (s("code"), s("debit"), s("credit"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Adds the id of one of the business's journal entries.
async fn with_entry(gw: &Http, mut b: Business) -> Business {
    let entries = get(gw, "/api/v1/accounting/journal-entries", &b.admin)
        .await
        .expect(200)
        .json;
    let list = entries["entries"].as_array().unwrap();
    // Receipt, work order and payment: three postings, none of the other's.
    assert_eq!(list.len(), 3, "{}: {entries}", b.slug);
    b.entry = list[0]["id"].as_str().unwrap().to_owned();
    b
}

/// `me` names `other`'s ids on every resource route: each is the same 404
/// as an id that does not exist (so ids cannot be probed), and nothing of
/// `other` changes.
async fn cross_tenant_ids_are_refused(gw: &Http, me: &Business, other: &Business) {
    let who = format!("{} with {}'s ids", me.slug, other.slug);
    let reads = [
        (&me.customer, format!("/api/v1/shop/orders/{}", other.order)),
        (&me.manager, format!("/api/v1/shop/orders/{}", other.order)),
        (
            &me.admin,
            format!("/api/v1/shop/products/{}", other.product),
        ),
        (
            &me.admin,
            format!("/api/v1/factory/work-orders/{}", other.work_order),
        ),
        (&me.admin, format!("/api/v1/factory/boms/{}", other.bom)),
        (
            &me.admin,
            format!("/api/v1/factory/boms/{}/explode?qty=1", other.bom),
        ),
        (
            &me.admin,
            format!("/api/v1/accounting/journal-entries/{}", other.entry),
        ),
    ];
    for (token, path) in &reads {
        let res = get(gw, path, token).await;
        assert_eq!(res.status, 404, "{who}: GET {path}: {}", res.text);
    }
    // Anonymously, in my shop (the header names my tenant).
    let res = gw
        .get(&format!("/api/v1/shop/products/{}", other.product))
        .header("x-marimo-tenant", &me.tenant)
        .send()
        .await;
    assert_eq!(res.status, 404, "{who}: anonymous product: {}", res.text);

    let writes = [
        (
            &me.manager,
            format!("/api/v1/shop/orders/{}/pay", other.order),
            json!({"method": "card", "reference": "x"}),
        ),
        (
            &me.manager,
            format!("/api/v1/shop/orders/{}/ship", other.order),
            json!({}),
        ),
        (
            &me.manager,
            format!("/api/v1/shop/orders/{}/cancel", other.order),
            json!({}),
        ),
        (
            &me.customer,
            format!("/api/v1/shop/orders/{}/cancel", other.order),
            json!({}),
        ),
        (
            &me.manager,
            format!("/api/v1/shop/admin/products/{}/restock", other.product),
            json!({"quantity": 100}),
        ),
        (
            &me.admin,
            format!("/api/v1/factory/work-orders/{}/cancel", other.work_order),
            json!({}),
        ),
        (
            &me.admin,
            format!("/api/v1/factory/work-orders/{}/complete", other.work_order),
            json!({}),
        ),
        (
            &me.admin,
            format!("/api/v1/accounting/journal-entries/{}/reverse", other.entry),
            json!({}),
        ),
        (
            &me.admin,
            format!("/api/v1/users/admin/users/{}/deactivate", other.admin_id),
            json!({}),
        ),
        (
            &me.admin,
            format!("/api/v1/users/admin/users/{}/deactivate", other.manager_id),
            json!({}),
        ),
        (
            &me.manager,
            format!("/api/v1/shop/orders/{}/deliver", other.order),
            json!({}),
        ),
        (
            &me.admin,
            format!("/api/v1/factory/work-orders/{}/release", other.work_order),
            json!({}),
        ),
        (
            &me.admin,
            format!("/api/v1/factory/work-orders/{}/start", other.work_order),
            json!({}),
        ),
        (
            &me.admin,
            format!("/api/v1/users/admin/users/{}/reactivate", other.admin_id),
            json!({}),
        ),
    ];
    for (token, path, body) in &writes {
        let res = post(gw, token, path, body.clone()).await;
        assert_eq!(res.status, 404, "{who}: POST {path}: {}", res.text);
    }
    let res = gw
        .put(&format!("/api/v1/shop/admin/products/{}", other.product))
        .bearer(&me.manager)
        .json(json!({"price": "0.01"}))
        .send()
        .await;
    assert_eq!(res.status, 404, "{who}: PUT product: {}", res.text);
    let res = post(
        gw,
        &me.admin,
        "/api/v1/users/admin/assign-role",
        json!({"user_id": other.admin_id, "role": "user"}),
    )
    .await;
    assert_eq!(res.status, 404, "{who}: assign-role: {}", res.text);
    // An order for the other shop's product is refused, and no order made.
    let res = post(
        gw,
        &me.customer,
        "/api/v1/shop/orders",
        json!({"items": [{"product_id": other.product, "quantity": 1}]}),
    )
    .await;
    assert!(
        (400..500).contains(&res.status) && res.status != 401,
        "{who}: order of another shop's product: {} {}",
        res.status,
        res.text
    );
    assert!(
        res.json["error"]["code"].is_string(),
        "ApiError: {}",
        res.text
    );
    let mine = get(gw, "/api/v1/shop/orders", &me.customer)
        .await
        .expect(200)
        .json;
    assert_eq!(mine["orders"].as_array().unwrap().len(), 1, "{who}");

    // The SKU both use names my item, at my cost: acme's steel was
    // standard-costed at 1.50, globex's at 2.25.
    let my_plan = if me.slug == "acme" { &ACME } else { &GLOBEX };
    let item = get(gw, "/api/v1/factory/items/RM-STEEL", &me.admin)
        .await
        .expect(200)
        .json;
    assert_eq!(item["item"]["standard_cost"], my_plan.unit_cost, "{who}");

    // The other's rows are untouched: its order is still paid, its work
    // order completed, its founder still its admin.
    let o = get(
        gw,
        &format!("/api/v1/shop/orders/{}", other.order),
        &other.manager,
    )
    .await
    .expect(200)
    .json;
    assert_eq!(o["status"], "paid", "{who}");
    let wo = get(
        gw,
        &format!("/api/v1/factory/work-orders/{}", other.work_order),
        &other.admin,
    )
    .await
    .expect(200)
    .json;
    assert_eq!(wo["work_order"]["status"], "completed", "{who}");
    get(gw, "/api/v1/users/list", &other.admin)
        .await
        .expect(200);
}

/// A signed-in caller's `X-Marimo-Tenant` is ignored: the token decides.
async fn header_while_signed_in_is_ignored(gw: &Http, me: &Business, other: &Business) {
    let orders = gw
        .get("/api/v1/shop/admin/orders")
        .bearer(&me.manager)
        .header("x-marimo-tenant", &other.tenant)
        .send()
        .await
        .expect(200)
        .json;
    let ids: Vec<&str> = orders["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [me.order.as_str()]);
    let res = gw
        .get(&format!("/api/v1/shop/orders/{}", other.order))
        .bearer(&me.manager)
        .header("x-marimo-tenant", &other.tenant)
        .send()
        .await;
    assert_eq!(res.status, 404, "{}", res.text);
    // A write with the header lands in the token's tenant: a product made
    // so appears in my catalog, not the other's.
    let made = gw
        .post("/api/v1/shop/admin/products")
        .bearer(&me.manager)
        .header("x-marimo-tenant", &other.tenant)
        .json(json!({"name": "Header probe", "price": "1.00", "stock": 1}))
        .send()
        .await
        .expect(201)
        .json["product"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    get(gw, &format!("/api/v1/shop/products/{made}"), &me.manager)
        .await
        .expect(200);
    let res = get(gw, &format!("/api/v1/shop/products/{made}"), &other.manager).await;
    assert_eq!(res.status, 404, "{}", res.text);
    let tb = gw
        .get("/api/v1/accounting/reports/trial-balance")
        .bearer(&me.admin)
        .header("x-marimo-tenant", &other.tenant)
        .send()
        .await
        .expect(200)
        .json;
    let mine = if me.slug == "acme" { &ACME } else { &GLOBEX };
    assert_eq!(net_rows(&tb), expected_trial_balance(mine).0);
}

/// A token from before tenancy (no `tid`) acts in the default tenant, even
/// when the account behind it founded another: it sees none of that
/// tenant's rows and cannot act on them.
async fn old_token_acts_in_default(gw: &Http, b: &Business) {
    let old = token_without_tenant(&b.admin_id, &format!("founder@{}.test", b.slug));
    for path in [
        format!("/api/v1/shop/orders/{}", b.order),
        format!("/api/v1/factory/work-orders/{}", b.work_order),
        format!("/api/v1/accounting/journal-entries/{}", b.entry),
    ] {
        let res = get(gw, &path, &old).await;
        assert_eq!(res.status, 404, "old token: {path}: {}", res.text);
    }
    let res = post(
        gw,
        &old,
        &format!("/api/v1/shop/orders/{}/ship", b.order),
        json!({}),
    )
    .await;
    assert_eq!(res.status, 404, "{}", res.text);
    // The default tenant's books hold none of the business's postings:
    // no entry carries one of its references.
    let entries = get(gw, "/api/v1/accounting/journal-entries", &old)
        .await
        .expect(200)
        .json;
    let text = entries.to_string();
    assert!(!text.contains(&b.order), "{text}");
    assert!(!text.contains(&b.work_order), "{text}");
    let orders = get(gw, "/api/v1/shop/admin/orders", &old)
        .await
        .expect(200)
        .json;
    assert!(!orders.to_string().contains(&b.order));
    let stock = get(gw, "/api/v1/factory/stock", &old)
        .await
        .expect(200)
        .json;
    assert!(
        !stock.to_string().contains("RM-STEEL"),
        "the default tenant received no steel: {stock}"
    );
}

/// An access token as issued before tenancy: the claims without `tid`,
/// signed with the test key the system runs with.
fn token_without_tenant(user_id: &str, email: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let claims = json!({
        "sub": user_id, "user_id": user_id, "email": email, "role": "admin",
        "iss": "marimo-erp", "aud": "marimo-api",
        "iat": now.as_secs(), "iat_ms": now.as_millis() as i64 + 1000,
        "exp": now.as_secs() + 600, "jti": "old-token",
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

async fn login_in(gw: &Http, email: &str, tenant: &str) -> String {
    gw.post("/api/v1/users/login")
        .json(json!({"email": email, "password": PASSWORD, "tenant": tenant}))
        .send()
        .await
        .expect(200)
        .json["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn get(gw: &Http, path: &str, token: &str) -> Res {
    gw.get(path).bearer(token).send().await
}

async fn post(gw: &Http, token: &str, path: &str, body: Value) -> Res {
    gw.post(path).bearer(token).json(body).send().await
}
