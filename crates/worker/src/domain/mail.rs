//! Which events send mail, the texts, and the RFC 5322 message of a mail.
//!
//! The message is a pure function of the stored mail row: `Message-ID` is
//! derived from the event id and `Date` from the row's creation time, so
//! building it again (a retry, a redelivery, a crash between sending and
//! marking sent) gives the same bytes. A receiver that sees the same
//! Message-ID twice can drop the duplicate; the `.eml` file of a mail is
//! overwritten with identical content.

use std::fmt::Write as _;

use lettre::{
    Message,
    message::{Mailbox, header::ContentType},
};
use marimo_platform::clock;

use marimo_contracts::shop::Order;

use super::event::{Event, OrderStep};

/// A mail to store in `outgoing_mail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailDraft {
    pub template: &'static str,
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// What a stored mail needs to become a message.
#[derive(Debug, Clone)]
pub struct MailRow {
    pub id: String,
    pub event_id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub created_at: String,
}

/// Events the email consumer is bound to.
pub const BINDINGS: [&str; 5] = [
    "users.user.registered",
    "users.user.password_changed",
    "users.member.added",
    "shop.order.placed",
    "shop.order.paid",
];

/// The mail `event` sends, `Ok(None)` when it sends none, `Err` when it
/// should send one but cannot (no usable recipient address).
pub fn draft(event: &Event) -> Result<Option<MailDraft>, String> {
    let d = match event {
        Event::UserRegistered(p) => MailDraft {
            template: "welcome",
            to: address(&p.email)?,
            subject: "Welcome to Marimo ERP".into(),
            body: format!(
                "Hello {name},\n\n\
                 Welcome to Marimo ERP! Your account {email} has been created.\n\
                 You can sign in now with the password you chose.\n\n\
                 If you did not create this account, please contact support.\n\n\
                 -- Marimo ERP\n",
                name = greeting_name(&p.name),
                email = p.email.trim(),
            ),
        },
        Event::UserPasswordChanged(p) => MailDraft {
            template: "password_changed",
            to: address(&p.email)?,
            subject: "Your Marimo ERP password was changed".into(),
            body: format!(
                "Hello {name},\n\n\
                 The password of your Marimo ERP account {email} was just changed.\n\
                 If this was you, no action is needed. If it was not, contact your\n\
                 administrator at once: your account may be compromised.\n\n\
                 -- Marimo ERP\n",
                name = greeting_name(&p.name),
                email = p.email.trim(),
            ),
        },
        // Not a welcome: the account existed; its owner learns which
        // business they can now act in, and as what.
        Event::MemberAdded(p) => MailDraft {
            template: "member_added",
            to: address(&p.email)?,
            subject: format!("You were added to {}", tenant_name(&p.tenant_name)),
            body: format!(
                "Hello {name},\n\n\
                 Your Marimo ERP account {email} was added to {tenant} with the\n\
                 role {role}. Sign in with your usual password and choose {tenant}\n\
                 to work there.\n\n\
                 If you did not expect this, please contact the administrator of\n\
                 {tenant}.\n\n\
                 -- Marimo ERP\n",
                name = greeting_name(&p.name),
                email = p.email.trim(),
                tenant = tenant_name(&p.tenant_name),
                role = p.role.trim(),
            ),
        },
        Event::Order(OrderStep::Placed, o) => MailDraft {
            template: "order_confirmation",
            to: address(&o.email)?,
            subject: format!("Order confirmation {}", o.order_id),
            body: order_body(
                o,
                "Thank you for your order! We have received it and will let you\nknow when it has been paid and shipped.",
            ),
        },
        Event::Order(OrderStep::Paid, o) => MailDraft {
            template: "order_receipt",
            to: address(&o.email)?,
            subject: format!("Receipt for order {}", o.order_id),
            body: order_body(o, "We have received your payment. This is your receipt."),
        },
        _ => return Ok(None),
    };
    Ok(Some(d))
}

/// A tenant's name for a subject line: one line, never empty.
fn tenant_name(name: &str) -> String {
    let one_line: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.trim() {
        "" => "a business on Marimo ERP".to_owned(),
        n => n.to_owned(),
    }
}

fn greeting_name(name: &str) -> &str {
    match name.trim() {
        "" => "there",
        n => n,
    }
}

/// A syntactically valid address, or why not.
pub fn address(s: &str) -> Result<String, String> {
    let s = s.trim();
    s.parse::<lettre::Address>()
        .map(|a| a.to_string())
        .map_err(|e| format!("no usable recipient address '{s}': {e}"))
}

fn order_body(o: &Order, intro: &str) -> String {
    let mut b = format!("Hello,\n\n{intro}\n\nOrder: {}\n", o.order_id);
    if !o.items.is_empty() {
        b.push_str("\nItems:\n");
        for i in &o.items {
            // Amounts are the publisher's decimal strings, shown as given.
            let _ = writeln!(
                b,
                "  {} x {} @ {} = {} {}",
                i.quantity, i.name, i.unit_price, i.line_total, o.currency
            );
        }
    }
    let _ = write!(b, "\nTotal: {} {}\n\n-- Marimo ERP\n", o.total, o.currency);
    b
}

/// The `Message-ID` of the mail sent for `event_id`.
pub fn message_id(event_id: &str) -> String {
    format!("<{event_id}@worker.marimo-erp>")
}

/// The RFC 5322 message of a stored mail, the same bytes every time.
pub fn message(row: &MailRow, from: &Mailbox) -> Result<Message, String> {
    let to: Mailbox = row
        .to
        .parse()
        .map_err(|e| format!("bad recipient '{}': {e}", row.to))?;
    let date = clock::parse(&row.created_at)
        .ok_or_else(|| format!("bad stored time '{}'", row.created_at))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(row.subject.clone())
        .message_id(Some(message_id(&row.event_id)))
        .date(date.into())
        .header(ContentType::TEXT_PLAIN)
        .body(row.body.clone())
        .map_err(|e| format!("cannot build mail {}: {e}", row.id))
}

#[cfg(test)]
mod tests {
    use marimo_platform::bus::Envelope;
    use serde_json::json;

    use super::*;

    fn event(t: &str, payload: serde_json::Value) -> Event {
        Event::parse(&Envelope::new("test", t, payload)).unwrap()
    }

    #[test]
    fn registration_sends_a_welcome_to_the_new_user() {
        let d = draft(&event(
            "users.user.registered",
            json!({"user_id": "u1", "email": " Ann@Example.com ", "name": "Ann"}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(d.template, "welcome");
        assert_eq!(d.to, "Ann@Example.com");
        assert!(d.subject.contains("Welcome"));
        assert!(d.body.starts_with("Hello Ann,"));
        assert!(d.body.contains("Ann@Example.com"));
    }

    #[test]
    fn an_added_member_is_told_the_tenant_and_role_not_welcomed() {
        let d = draft(&event(
            "users.member.added",
            json!({"tenant_id": "t1", "tenant_name": "Acme\r\nLtd", "user_id": "u1",
                   "email": "ann@example.com", "name": "Ann", "role": "accountant",
                   "added_by": "u0"}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(d.template, "member_added");
        assert_eq!(d.to, "ann@example.com");
        // A control character in the name cannot split the header.
        assert_eq!(d.subject, "You were added to Acme  Ltd");
        assert!(d.body.starts_with("Hello Ann,"));
        assert!(
            d.body.contains("ann@example.com was added to Acme  Ltd"),
            "{}",
            d.body
        );
        assert!(d.body.contains("role accountant"), "{}", d.body);
        assert!(!d.body.contains("Welcome"));
        let unnamed = draft(&event(
            "users.member.added",
            json!({"tenant_id": "t1", "user_id": "u1", "email": "ann@example.com",
                   "role": "user", "added_by": "u0"}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            unnamed.subject,
            "You were added to a business on Marimo ERP"
        );
    }

    #[test]
    fn orders_list_items_and_total_as_given() {
        let d = draft(&event(
            "shop.order.paid",
            json!({"order_id": "o-9", "email": "c@x.io", "total": "25.00", "currency": "EUR",
                   "items": [{"name": "Mug", "quantity": "2", "unit_price": "12.50", "line_total": "25.00"}]}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(d.template, "order_receipt");
        assert_eq!(d.subject, "Receipt for order o-9");
        assert!(d.body.contains("2 x Mug @ 12.50 = 25.00 EUR"), "{}", d.body);
        assert!(d.body.contains("Total: 25.00 EUR"));
    }

    #[test]
    fn other_events_send_nothing_and_bad_addresses_are_errors() {
        let none = draft(&event("shop.order.shipped", json!({"order_id": "o"}))).unwrap();
        assert_eq!(none, None);
        assert!(draft(&event("shop.order.placed", json!({"order_id": "o"}))).is_err());
        assert!(
            draft(&event(
                "users.user.registered",
                json!({"user_id": "u", "email": "not-an-address"})
            ))
            .is_err()
        );
    }

    #[test]
    fn the_message_is_deterministic_and_carries_the_event_id() {
        let row = MailRow {
            id: "m1".into(),
            event_id: "0190-evt".into(),
            to: "ann@example.com".into(),
            subject: "Welcome to Marimo ERP".into(),
            body: "Hello Ann,\n".into(),
            created_at: "2026-11-24T10:00:00.000000Z".into(),
        };
        let from: Mailbox = "Marimo ERP <no-reply@marimo.local>".parse().unwrap();
        let a = message(&row, &from).unwrap().formatted();
        let b = message(&row, &from).unwrap().formatted();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert!(
            text.contains("Message-ID: <0190-evt@worker.marimo-erp>"),
            "{text}"
        );
        assert!(text.contains("To: ann@example.com"));
        assert!(text.contains("Subject: Welcome to Marimo ERP"));
        assert!(
            text.contains("Date: Tue, 24 Nov 2026 10:00:00 +0000"),
            "{text}"
        );
        assert!(text.contains("Hello Ann,"));
    }
}
