//! Email: one mail per event, as a file or over SMTP, retried while the
//! server is down.

use std::path::Path;

use marimo_platform::bus::Envelope;
use marimo_testkit::backends;
use marimo_testkit::eventually;
use serde_json::json;

use crate::{smtp::SmtpServer, support::world};

fn registered(email: &str, name: &str) -> Envelope {
    Envelope::new(
        "users",
        "users.user.registered",
        json!({"user_id": marimo_platform::ids::new_id(), "email": email, "name": name}),
    )
}

fn eml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn a_registration_writes_exactly_one_welcome_eml_even_when_redelivered() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let dir = w.settings.data_dir.join("mail");
        let env = registered("ann@example.com", "Ann");
        w.publish(&env).await;

        let files = eventually("the welcome mail file", || async {
            let f = eml_files(&dir);
            (!f.is_empty()).then_some(f)
        })
        .await;
        assert_eq!(files.len(), 1, "{}", w.name());
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: ann@example.com"), "{text}");
        assert!(text.contains("Subject: Welcome to Marimo ERP"), "{text}");
        assert!(text.contains("Hello Ann,"), "{text}");
        assert!(
            text.contains(&format!("Message-ID: <{}@worker.marimo-erp>", env.id)),
            "{text}"
        );
        eventually("the mail marked sent", || async {
            (w.count("SELECT COUNT(*) FROM outgoing_mail WHERE status = 'sent'")
                .await
                == 1)
                .then_some(())
        })
        .await;

        // The relay "crashed" before marking the event sent: it comes again.
        w.redeliver_all().await;
        // Had the redelivery stored a second mail, the sender would write
        // a second file once it has nothing pending.
        eventually("nothing pending", || async {
            (w.count("SELECT COUNT(*) FROM outgoing_mail WHERE status = 'pending'")
                .await
                == 0)
                .then_some(())
        })
        .await;
        assert_eq!(eml_files(&dir).len(), 1, "{}", w.name());
        assert_eq!(w.count("SELECT COUNT(*) FROM outgoing_mail").await, 1);
        assert_eq!(
            w.count("SELECT COUNT(*) FROM outgoing_mail WHERE status = 'sent' AND attempts = 1")
                .await,
            1
        );
        assert_eq!(
            w.count("SELECT COUNT(*) FROM processed_events WHERE consumer = 'email_queue'")
                .await,
            1
        );
    }
}

#[tokio::test]
async fn only_the_bound_events_send_mail_and_orders_get_confirmations() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        w.publish(&Envelope::new(
            "users",
            "users.user.logged_in",
            json!({"user_id": "u1", "email": "x@example.com"}),
        ))
        .await;
        w.publish(&Envelope::new(
            "shop",
            "shop.order.placed",
            json!({"order_id": "o-1", "user_id": "u1", "email": "buyer@example.com",
                   "total": "25.00", "currency": "EUR", "status": "placed",
                   "items": [{"name": "Mug", "quantity": "2", "unit_price": "12.50", "line_total": "25.00"}]}),
        ))
        .await;
        w.relayed().await;
        eventually("the confirmation sent", || async {
            (w.count("SELECT COUNT(*) FROM outgoing_mail WHERE status = 'sent'")
                .await
                == 1)
                .then_some(())
        })
        .await;
        let files = eml_files(&w.settings.data_dir.join("mail"));
        assert_eq!(files.len(), 1, "{}", w.name());
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: buyer@example.com"), "{text}");
        assert!(text.contains("Order confirmation o-1"), "{text}");
        assert!(text.contains("2 x Mug @ 12.50 = 25.00 EUR"), "{text}");
    }
}

#[tokio::test]
async fn with_smtp_url_the_welcome_goes_to_the_smtp_server() {
    for backend in backends() {
        let smtp = SmtpServer::start(false).await;
        let w = world(&backend, &[("SMTP_URL", &smtp.url)]).await;
        w.publish(&registered("bob@example.com", "Bob")).await;
        let got = eventually("the SMTP server to receive the mail", || async {
            smtp.messages().into_iter().next()
        })
        .await;
        assert!(
            got.mail_from.contains("no-reply@marimo-erp.local"),
            "{got:?}"
        );
        assert_eq!(got.rcpt_to, vec!["<bob@example.com>".to_owned()]);
        assert!(
            got.data.contains("Subject: Welcome to Marimo ERP"),
            "{got:?}"
        );
        assert!(got.data.contains("Hello Bob,"), "{got:?}");
        eventually("the mail marked sent", || async {
            (w.count("SELECT COUNT(*) FROM outgoing_mail WHERE status = 'sent'")
                .await
                == 1)
                .then_some(())
        })
        .await;
        assert!(eml_files(&w.settings.data_dir.join("mail")).is_empty());
        assert_eq!(smtp.messages().len(), 1, "{}", w.name());

        let metrics = w.server.http.get("/metrics").send().await.expect(200).text;
        assert!(
            metrics.contains("emails_sent_total{status=\"sent\"} 1"),
            "{metrics}"
        );
        assert!(metrics.contains("events_consumed_total"), "{metrics}");
    }
}

#[tokio::test]
async fn mail_is_retried_while_the_smtp_server_is_down_and_sent_when_it_is_back() {
    for backend in backends() {
        let smtp = SmtpServer::start(true).await;
        let w = world(&backend, &[("SMTP_URL", &smtp.url)]).await;
        w.publish(&registered("cy@example.com", "Cy")).await;

        // Several failed attempts, the mail still pending with the reason.
        eventually("failed attempts", || async {
            (w.count(
                "SELECT COUNT(*) FROM outgoing_mail
                 WHERE status = 'pending' AND attempts >= 2 AND last_error IS NOT NULL",
            )
            .await
                == 1)
                .then_some(())
        })
        .await;
        assert!(smtp.messages().is_empty());

        smtp.set_down(false);
        let got = eventually("the mail after the outage", || async {
            smtp.messages().into_iter().next()
        })
        .await;
        assert_eq!(
            got.rcpt_to,
            vec!["<cy@example.com>".to_owned()],
            "{}",
            w.name()
        );
        eventually("the mail marked sent", || async {
            (w.count(
                "SELECT COUNT(*) FROM outgoing_mail
                 WHERE status = 'sent' AND attempts >= 3 AND last_error IS NULL",
            )
            .await
                == 1)
                .then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn an_existing_account_added_to_a_tenant_gets_a_notice_not_a_welcome_and_is_audited() {
    for backend in backends() {
        let w = world(&backend, &[]).await;
        let dir = w.settings.data_dir.join("mail");
        let env = Envelope::new(
            "users",
            "users.member.added",
            json!({"tenant_id": "default", "tenant_name": "Acme Ltd", "user_id": "u-ann",
                   "email": "ann@example.com", "name": "Ann", "role": "accountant",
                   "added_by": "u-admin"}),
        )
        .actor("u-admin");
        w.publish(&env).await;
        let files = eventually("the notice's mail file", || async {
            let f = eml_files(&dir);
            (!f.is_empty()).then_some(f)
        })
        .await;
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: ann@example.com"), "{text}");
        assert!(
            text.contains("Subject: You were added to Acme Ltd"),
            "{text}"
        );
        assert!(!text.contains("Welcome"), "{text}");
        assert_eq!(
            w.count("SELECT COUNT(*) FROM outgoing_mail WHERE template = 'member_added'")
                .await,
            1,
            "{}",
            w.name()
        );
        eventually("the audit row", || async {
            (w.count(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'users.member.added' \
                 AND actor = 'u-admin' AND target = 'user:u-ann'",
            )
            .await
                == 1)
                .then_some(())
        })
        .await;
    }
}
