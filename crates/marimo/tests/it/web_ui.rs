//! The web UI in a real browser (headless Chromium over WebDriver), the
//! way a newcomer would use it: an admin creates a product with stock; a
//! customer registers, puts it in the cart and checks out; the admin
//! records the payment received, makes a colleague accountant and ships
//! the order; the accountant finds
//! the revenue in the income statement and on the dashboard's chart. Then
//! a shorter walk in Russian. Screenshots of each main screen are saved
//! under `target/ui-screenshots/`.
//!
//! Runs on the embedded backends (the browser, not the database, is what
//! this suite adds; the API suites cover PostgreSQL). Without Chromium it
//! is skipped with a note, except under `CI=true`, where it fails.

use marimo_platform::service::ServiceName;
use marimo_testkit::Backend;

use crate::{
    support::start,
    webdriver::{self, Browser, Driver},
};

const ADMIN: (&str, &str) = ("admin@walk.test", "Admin-Passw0rd");
const PASSWORD: &str = "Walk-Passw0rd1";

async fn sign_in(b: &Browser, base: &str, email: &str, password: &str) {
    b.goto(&format!("{base}/login")).await;
    b.type_into("#email", email).await;
    b.type_into("#password", password).await;
    b.click("#login-submit").await;
    b.find("#signed-in-as").await;
}

async fn sign_out(b: &Browser) {
    b.click("#logout").await;
    b.find("#login-submit").await;
}

async fn register(b: &Browser, base: &str, name: &str, email: &str) {
    b.goto(&format!("{base}/register")).await;
    b.type_into("#name", name).await;
    b.type_into("#email", email).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#register-submit").await;
    b.find("#signed-in-as").await;
}

#[tokio::test]
async fn a_business_day_in_the_browser_in_english_and_russian() {
    if !webdriver::available() {
        return;
    }
    marimo_platform::telemetry::init_logging("warn", marimo_platform::config::LogFormat::Pretty);
    let backend = Backend::Sqlite;
    let sys = start(
        &backend,
        &[
            ("MARIMO_RATE_LIMITS", "off"),
            ("MARIMO_ADMIN_EMAIL", ADMIN.0),
            ("MARIMO_ADMIN_PASSWORD", ADMIN.1),
        ],
    )
    .await;
    let base = sys
        .system
        .as_ref()
        .expect("running")
        .url(ServiceName::Gateway);
    let driver = Driver::start().await;
    let b = driver.browser("en-US").await;

    // The admin signs in and lands on the dashboard.
    sign_in(&b, &base, ADMIN.0, ADMIN.1).await;
    b.find("#kpis").await;
    b.find("#chart-revenue").await;

    // ... and creates a product with stock.
    b.goto(&format!("{base}/shop/manage")).await;
    b.type_into("#product-name", "Walk Lamp").await;
    b.type_into("#product-price", "12.50").await;
    b.type_into("#product-stock", "7").await;
    b.type_into("#product-category", "Lighting").await;
    b.click("#create-product").await;
    b.find("p.ok").await;
    assert!(b.text("#manage-products").await.contains("Walk Lamp"));
    b.screenshot("shop-manage").await;
    sign_out(&b).await;

    // A customer registers, finds the lamp, puts two in the cart and checks
    // out; the order awaits payment (customers cannot mark it paid).
    register(&b, &base, "Ann", "ann@walk.test").await;
    b.goto(&format!("{base}/shop?q=walk")).await;
    b.find("li.product[data-product=\"Walk Lamp\"]").await;
    b.screenshot("shop-catalog").await;
    b.type_into(
        "li.product[data-product=\"Walk Lamp\"] input[name=quantity]",
        "2",
    )
    .await;
    b.click("li.product[data-product=\"Walk Lamp\"] button.add-to-cart")
        .await;
    b.find("#cart").await;
    assert_eq!(b.text("#cart-subtotal").await, "$25.00");
    b.screenshot("shop-cart").await;
    b.click("#checkout").await;
    b.find("#awaiting-payment").await;
    assert!(
        b.try_find("#order-pay").await.is_none(),
        "no pay button for customers"
    );
    assert_eq!(b.text("#order-total").await, "$25.00");
    b.find("#order-status[data-status=\"pending\"]").await;
    b.screenshot("order-placed").await;
    b.goto(&format!("{base}/orders")).await;
    b.find("#orders span[data-status=\"pending\"]").await;
    // A customer sees no staff screens, and is refused them.
    let nav = b.text("header nav").await;
    assert!(
        !nav.contains("Accounting") && !nav.contains("Users"),
        "{nav}"
    );
    b.goto(&format!("{base}/accounting")).await;
    assert_eq!(b.text("#error-title").await, "Not allowed");
    sign_out(&b).await;

    // A colleague registers; the admin makes her the accountant and ships the order.
    register(&b, &base, "Bea", "bea@walk.test").await;
    sign_out(&b).await;
    sign_in(&b, &base, ADMIN.0, ADMIN.1).await;
    b.goto(&format!("{base}/users?q=bea")).await;
    let row = "tr[data-email=\"bea@walk.test\"]";
    b.select(&format!("{row} select.role-select"), "accountant")
        .await;
    b.click(&format!("{row} button.assign-role")).await;
    b.find("p.ok").await;
    b.screenshot("users").await;
    // The payment reached the shop: the admin records it on the order.
    b.goto(&format!("{base}/orders/manage")).await;
    b.click("#orders tbody tr:first-child td a").await;
    b.select("#payment-method", "bank_transfer").await;
    b.type_into("#payment-reference", "TRF-2026-0042").await;
    b.click("#order-pay").await;
    b.find("#order-status[data-status=\"paid\"]").await;
    b.screenshot("order-paid").await;
    b.goto(&format!("{base}/orders/manage")).await;
    b.click("#orders button.ship").await;
    b.find("#orders span[data-status=\"shipped\"]").await;
    b.screenshot("orders-manage").await;
    sign_out(&b).await;

    // The accountant sees the revenue in the income statement ...
    sign_in(&b, &base, "bea@walk.test", PASSWORD).await;
    let statement = format!("{base}/accounting/reports/income-statement");
    marimo_testkit::eventually("the revenue in the income statement", || async {
        b.goto(&statement).await;
        b.text("#report-1").await.contains("$25.00").then_some(())
    })
    .await;
    b.screenshot("income-statement").await;
    // The line editor shows the running difference as one types, then posts.
    b.goto(&format!("{base}/accounting")).await;
    b.type_into("#entry-description", "Owner's contribution")
        .await;
    let line =
        |n: usize, field: &str| format!("#entry-form tbody tr:nth-child({n}) input[name={field}]");
    b.type_into(&line(1, "account"), "1000").await;
    b.type_into(&line(1, "debit"), "100.50").await;
    assert_eq!(b.text("#entry-difference").await, "100.50");
    b.type_into(&line(2, "account"), "3000").await;
    b.type_into(&line(2, "credit"), "100.50").await;
    assert_eq!(b.text("#entry-difference").await, "0.00");
    b.screenshot("journal").await;
    b.click("#post-entry").await;
    b.find("p.ok").await;
    assert!(b.text("#journal").await.contains("Owner's contribution"));

    // ... and on the dashboard's chart: today's bar is the 25.00.
    b.goto_until(
        &format!("{base}/"),
        "#chart-revenue rect[data-value=\"2500\"]",
    )
    .await;
    b.screenshot("dashboard").await;
    sign_out(&b).await;
    b.quit().await;

    // The same in Russian: labels, numbers and money per locale.
    let ru = driver.browser("ru-RU").await;
    ru.goto(&format!("{base}/login")).await;
    assert_eq!(ru.text("main h1").await, "Вход");
    ru.screenshot("ru-login").await;
    sign_in(&ru, &base, "ann@walk.test", PASSWORD).await;
    ru.goto(&format!("{base}/shop?q=walk")).await;
    let card = ru.text("li.product[data-product=\"Walk Lamp\"]").await;
    assert!(card.contains("12,50 $"), "{card}");
    assert!(ru.text("header nav").await.contains("Магазин"));
    ru.screenshot("ru-shop").await;
    ru.goto(&format!("{base}/orders")).await;
    assert!(ru.text("#orders").await.contains("отправлен"));
    ru.screenshot("ru-orders").await;
    // On a phone's width the same page still works.
    ru.resize(390, 844).await;
    ru.goto(&format!("{base}/shop?q=walk")).await;
    ru.find("li.product[data-product=\"Walk Lamp\"] button.add-to-cart")
        .await;
    ru.screenshot("ru-shop-phone").await;
    ru.resize(1280, 1100).await;
    ru.goto(&format!("{base}/orders")).await;
    // Switching the language back by the link.
    ru.click("header a.lang").await;
    ru.find("#orders").await;
    assert!(ru.text("header nav").await.contains("Shop"));
    ru.quit().await;

    sys.stop().await;
}
