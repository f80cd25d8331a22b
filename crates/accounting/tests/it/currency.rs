//! The base currency follows the config service's `currency` while the
//! ledger is empty, and never after; a replica that missed the change
//! refuses to post in the old currency.

use marimo_platform::{bus::Envelope, tenant::TenantId};
use serde_json::json;

use marimo_testkit::backends;

use crate::support::{app, simple, today};

fn currency_changed(code: &str, version: i64) -> Envelope {
    Envelope::new(
        "config",
        "config.setting.changed",
        json!({"key": "currency", "version": version, "value_type": "string",
               "value": code, "type": "system", "action": "update"}),
    )
}

#[tokio::test]
async fn the_base_currency_follows_config_only_while_the_ledger_is_empty() {
    for backend in backends() {
        let app = app(&backend).await;
        // A second replica on the same database; the HTTP one is the first.
        let replica = marimo_accounting::start(&app.ctx).await.unwrap();
        let default = TenantId::default_tenant();
        assert_eq!(replica.currency(&default).await.unwrap().code(), "USD");
        marimo_accounting::events::handle(&replica, currency_changed("eur", 2))
            .await
            .unwrap();
        assert_eq!(replica.currency(&default).await.unwrap().code(), "EUR");

        // The HTTP replica still thinks USD: it refuses rather than post
        // in the old currency, and the retry posts in euros.
        let (date, _) = today();
        let entry = simple(&date, "1000", "3000", "10.00");
        let refused = app.post(entry.clone()).await.expect(409);
        assert_eq!(refused.code(), "CURRENCY_CHANGED");
        let posted = app.post(entry).await.expect(201);
        assert_eq!(posted.json["entry"]["currency"], "EUR", "{}", posted.text);

        // With postings, the books stay in euros.
        marimo_accounting::events::handle(&replica, currency_changed("GBP", 3))
            .await
            .unwrap();
        assert_eq!(replica.currency(&default).await.unwrap().code(), "EUR");
        let stored: String =
            sqlx::query_scalar("SELECT value FROM ledger_settings WHERE name = 'currency'")
                .fetch_one(app.ctx.db().pool())
                .await
                .unwrap();
        assert_eq!(stored, "EUR");
    }
}
