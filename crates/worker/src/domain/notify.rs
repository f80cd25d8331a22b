//! In-app notifications: who hears about which event, and the texts.
//!
//! The worker does not own users, so a notification for "the production
//! managers" is stored once, addressed to the role, and shown to every
//! caller whose token carries that role. A customer's order notifications
//! and a user's role change are addressed to that user.

use marimo_platform::auth::Role;

use super::event::{Event, OrderStep, WorkOrderStep};

/// Events the notification consumer is bound to.
pub const BINDINGS: [&str; 4] = [
    "shop.order.*",
    "factory.stock.low",
    "factory.work_order.*",
    "users.user.role_changed",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    User(String),
    Role(Role),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationDraft {
    pub recipient: Recipient,
    pub kind: String,
    pub title: String,
    pub body: String,
}

fn note(recipient: Recipient, kind: &str, title: String, body: String) -> NotificationDraft {
    NotificationDraft {
        recipient,
        kind: kind.to_owned(),
        title,
        body,
    }
}

/// The notifications `event` creates (none for events nobody follows).
pub fn drafts(event: &Event) -> Vec<NotificationDraft> {
    let mut out = Vec::new();
    match event {
        Event::Order(step, o) => {
            let kind = format!("order.{}", step.verb());
            let (title, body) = match step {
                OrderStep::Placed => (
                    "Order received".to_owned(),
                    format!(
                        "Your order {} was placed. Total: {} {}.",
                        o.order_id, o.total, o.currency
                    ),
                ),
                OrderStep::Paid => (
                    "Payment received".to_owned(),
                    format!(
                        "Your order {} has been paid. Total: {} {}.",
                        o.order_id, o.total, o.currency
                    ),
                ),
                OrderStep::Cancelled => (
                    "Order cancelled".to_owned(),
                    format!("Your order {} was cancelled.", o.order_id),
                ),
                OrderStep::Shipped => (
                    "Order shipped".to_owned(),
                    format!("Your order {} is on its way.", o.order_id),
                ),
                OrderStep::Delivered => (
                    "Order delivered".to_owned(),
                    format!("Your order {} was delivered.", o.order_id),
                ),
            };
            if let Some(user) = Some(o.user_id.as_str().trim()).filter(|u| !u.is_empty()) {
                out.push(note(Recipient::User(user.to_owned()), &kind, title, body));
            }
            // The shop's staff hear about work to do: new and cancelled orders.
            if matches!(step, OrderStep::Placed | OrderStep::Cancelled) {
                out.push(note(
                    Recipient::Role(Role::ShopManager),
                    &kind,
                    format!("Order {}", step.verb()),
                    format!(
                        "Order {} was {}. Total: {} {}.",
                        o.order_id,
                        step.verb(),
                        o.total,
                        o.currency
                    ),
                ));
            }
        }
        Event::StockLow(s) => {
            let body = format!(
                "{} in warehouse {} is down to {} (reorder point {}).",
                s.sku, s.warehouse, s.on_hand, s.reorder_point
            );
            // Production managers reorder; admins oversee when there is none.
            for role in [Role::Manager, Role::Admin] {
                out.push(note(
                    Recipient::Role(role),
                    "stock.low",
                    format!("Low stock: {}", s.sku),
                    body.clone(),
                ));
            }
        }
        Event::WorkOrder(step, w) => {
            let title = match step {
                WorkOrderStep::Released => "Work order released",
                WorkOrderStep::Started => "Work order started",
                WorkOrderStep::Completed => "Work order completed",
                WorkOrderStep::Cancelled => "Work order cancelled",
            };
            out.push(note(
                Recipient::Role(Role::Manager),
                &format!("work_order.{}", step.verb()),
                title.to_owned(),
                format!(
                    "Work order {} for {} x {} was {}.",
                    w.work_order_id,
                    w.qty,
                    w.sku,
                    step.verb()
                ),
            ));
        }
        Event::UserRoleChanged(r) => {
            out.push(note(
                Recipient::User(r.user_id.to_string()),
                "user.role_changed",
                "Your role has changed".to_owned(),
                if r.old_role.is_empty() {
                    format!("Your role is now {}.", r.new_role)
                } else {
                    format!(
                        "Your role changed from {} to {}. Sign in again to use it.",
                        r.old_role, r.new_role
                    )
                },
            ));
        }
        _ => {}
    }
    out
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
    fn a_paid_order_notifies_its_customer_only() {
        let n = drafts(&event(
            "shop.order.paid",
            json!({"order_id": "o1", "user_id": "u1", "total": "9.99", "currency": "USD"}),
        ));
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].recipient, Recipient::User("u1".into()));
        assert_eq!(n[0].kind, "order.paid");
        assert!(n[0].body.contains("o1") && n[0].body.contains("9.99 USD"));
    }

    #[test]
    fn a_placed_order_also_tells_the_shop_managers() {
        let n = drafts(&event(
            "shop.order.placed",
            json!({"order_id": "o1", "user_id": "u1"}),
        ));
        let to: Vec<_> = n.iter().map(|d| d.recipient.clone()).collect();
        assert_eq!(
            to,
            vec![
                Recipient::User("u1".into()),
                Recipient::Role(Role::ShopManager)
            ]
        );
    }

    #[test]
    fn factory_events_go_to_roles() {
        let n = drafts(&event(
            "factory.stock.low",
            json!({"sku": "BOLT", "warehouse": "main", "on_hand": "3", "reorder_point": "10"}),
        ));
        assert_eq!(
            n.iter().map(|d| &d.recipient).collect::<Vec<_>>(),
            vec![
                &Recipient::Role(Role::Manager),
                &Recipient::Role(Role::Admin)
            ]
        );
        assert!(n[0].body.contains("down to 3 (reorder point 10)"));
        let n = drafts(&event(
            "factory.work_order.completed",
            json!({"work_order_id": "w1", "sku": "CHAIR", "qty": "4"}),
        ));
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].recipient, Recipient::Role(Role::Manager));
        assert_eq!(n[0].kind, "work_order.completed");
    }

    #[test]
    fn a_role_change_tells_the_user() {
        let n = drafts(&event(
            "users.user.role_changed",
            json!({"user_id": "u7", "email": "e@x.y", "old_role": "user", "new_role": "manager"}),
        ));
        assert_eq!(n[0].recipient, Recipient::User("u7".into()));
        assert!(n[0].body.contains("from user to manager"));
    }

    #[test]
    fn orders_without_a_customer_and_other_events_notify_no_user() {
        let n = drafts(&event("shop.order.shipped", json!({"order_id": "o"})));
        assert!(n.is_empty());
        assert!(drafts(&event("users.user.logged_in", json!({"user_id": "u"}))).is_empty());
    }
}
