//! How an event becomes an audit row.
//!
//! Every event is audited (the audit queue is bound to `#`): the action is
//! the event type, the target names the thing acted on (`user:<id>`,
//! `order:<id>`, ...), the actor is who caused it. Details are the payload
//! with secret-looking fields redacted, so the log never keeps a password,
//! token or secret value even if a publisher sends one.

use marimo_platform::{bus::Envelope, clock};
use serde_json::Value;

use super::event::Event;

/// One `audit_log` row, before it gets its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub event_id: String,
    pub occurred_at: String,
    pub source: String,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: String,
}

/// The audit row of `env` (whose typed payload is `event`).
pub fn record(env: &Envelope, event: &Event) -> AuditRecord {
    AuditRecord {
        event_id: env.id.clone(),
        // Stored in the one sortable format so `from`/`to` filters compare
        // correctly; an unreadable publisher time falls back to now.
        occurred_at: clock::parse(&env.occurred_at)
            .map(clock::format)
            .unwrap_or_else(clock::now_text),
        source: env.source.clone(),
        actor: non_empty(env.actor.as_deref()).or_else(|| self_actor(event)),
        action: env.event_type.clone(),
        target: target(event),
        client_ip: non_empty(env.client_ip.as_deref()),
        request_id: non_empty(env.request_id.as_deref()),
        details: redact(&env.payload).to_string(),
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Events a user causes about themselves name that user when the
/// publisher did not set an actor (a sign-in has no signed-in caller yet).
fn self_actor(event: &Event) -> Option<String> {
    match event {
        Event::UserRegistered(p) => non_empty(Some(p.user_id.as_str())),
        Event::UserLoggedIn(p) => non_empty(Some(p.user_id.as_str())),
        Event::UserPasswordChanged(p) => non_empty(Some(p.user_id.as_str())),
        _ => None,
    }
}

/// What the event is about.
pub fn target(event: &Event) -> Option<String> {
    let t = match event {
        Event::UserRegistered(p) => format!("user:{}", p.user_id),
        Event::UserLoggedIn(p) | Event::UserDeactivated(p) | Event::UserReactivated(p) => {
            format!("user:{}", p.user_id)
        }
        // No account may exist for the address tried.
        Event::UserLoginFailed(p) if !p.email.is_empty() => format!("email:{}", p.email),
        Event::UserLoginFailed(_) => return None,
        Event::UserRoleChanged(p) => format!("user:{}", p.user_id),
        Event::UserPasswordChanged(p) => format!("user:{}", p.user_id),
        Event::MemberAdded(p) => format!("user:{}", p.user_id),
        Event::SettingChanged(p) => format!("setting:{}", p.key),
        Event::EntryPosted(p) => format!("entry:{}", p.entry_id),
        Event::EntryReversed(p) => format!("entry:{}", p.entry_id),
        Event::Order(_, p) => format!("order:{}", p.order_id),
        Event::WorkOrder(_, p) => format!("work_order:{}", p.work_order_id),
        Event::StockLow(p) => format!("sku:{}", p.sku),
        Event::Other => return None,
    };
    Some(t)
}

/// Field names whose values never go into the audit log.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// The payload with secret-looking fields replaced by `"[redacted]"`, at
/// any depth. A setting whose `value_type` is `secret` has its `value`
/// redacted too.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let secret_setting = map
                .get("value_type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("secret"));
            Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let hide = is_secret_key(k) || (secret_setting && k == "value");
                        let v = if hide {
                            Value::String("[redacted]".into())
                        } else {
                            redact(v)
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// `LIKE` pattern for "this action or any below it": `shop.order` matches
/// `shop.order.paid`. `\`, `%` and `_` are escaped (event names contain
/// `_`, which `LIKE` would otherwise read as "any character"); the query
/// uses `ESCAPE '\'`.
pub fn action_prefix_pattern(action: &str) -> String {
    let mut p = String::with_capacity(action.len() + 3);
    for c in action.trim_end_matches('.').chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push_str(".%");
    p
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn env(t: &str, payload: Value) -> Envelope {
        Envelope::new("users", t, payload)
    }

    #[test]
    fn a_sign_in_is_recorded_against_the_user_with_ip_and_request() {
        let e = env(
            "users.user.logged_in",
            json!({"user_id": "u1", "email": "a@b.c"}),
        )
        .client_ip("203.0.113.7");
        let mut e = e;
        e.request_id = Some("req-1".into());
        let r = record(&e, &Event::parse(&e).unwrap());
        assert_eq!(r.action, "users.user.logged_in");
        assert_eq!(r.actor.as_deref(), Some("u1"));
        assert_eq!(r.target.as_deref(), Some("user:u1"));
        assert_eq!(r.client_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(r.request_id.as_deref(), Some("req-1"));
        assert_eq!(r.event_id, e.id);
    }

    #[test]
    fn the_publishers_actor_wins_and_failed_sign_ins_target_the_address() {
        let e = env(
            "users.user.role_changed",
            json!({"user_id": "u2", "email": "x@y.z", "old_role": "user", "new_role": "manager"}),
        )
        .actor("admin-1");
        let r = record(&e, &Event::parse(&e).unwrap());
        assert_eq!(r.actor.as_deref(), Some("admin-1"));
        assert_eq!(r.target.as_deref(), Some("user:u2"));

        let e = env(
            "users.user.login_failed",
            json!({"email": "x@y.z", "reason": "bad_password"}),
        );
        let r = record(&e, &Event::parse(&e).unwrap());
        assert_eq!(r.actor, None);
        assert_eq!(r.target.as_deref(), Some("email:x@y.z"));
    }

    #[test]
    fn every_catalog_type_has_a_target() {
        let cases = [
            (
                "users.user.registered",
                json!({"user_id": "u", "email": "e@x.y", "name": "N"}),
                "user:u",
            ),
            ("users.user.deactivated", json!({"user_id": "u"}), "user:u"),
            ("users.user.reactivated", json!({"user_id": "u"}), "user:u"),
            (
                "users.user.password_changed",
                json!({"user_id": "u", "email": "e@x.y"}),
                "user:u",
            ),
            (
                "config.setting.changed",
                json!({"key": "shop.tax", "version": 3, "value_type": "decimal"}),
                "setting:shop.tax",
            ),
            (
                "accounting.entry.posted",
                json!({"entry_id": "e1", "number": "JE-1", "total": "10.00"}),
                "entry:e1",
            ),
            (
                "accounting.entry.reversed",
                json!({"entry_id": "e2"}),
                "entry:e2",
            ),
            (
                "shop.order.cancelled",
                json!({"order_id": "o1"}),
                "order:o1",
            ),
            (
                "shop.order.delivered",
                json!({"order_id": "o2"}),
                "order:o2",
            ),
            (
                "factory.work_order.completed",
                json!({"work_order_id": "w1", "sku": "S", "qty": "5"}),
                "work_order:w1",
            ),
            (
                "factory.stock.low",
                json!({"sku": "BOLT", "warehouse": "main", "on_hand": "1", "reorder_point": "10"}),
                "sku:BOLT",
            ),
        ];
        for (t, payload, want) in cases {
            let e = env(t, payload);
            let r = record(&e, &Event::parse(&e).unwrap());
            assert_eq!(r.target.as_deref(), Some(want), "{t}");
            assert_eq!(r.action, t);
        }
    }

    #[test]
    fn unknown_events_are_still_recorded() {
        let e = env("shop.cart.abandoned", json!({"cart": 1}));
        let r = record(&e, &Event::parse(&e).unwrap());
        assert_eq!(r.action, "shop.cart.abandoned");
        assert_eq!(r.target, None);
        assert_eq!(r.details, r#"{"cart":1}"#);
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let v = redact(&json!({
            "key": "smtp", "value_type": "secret", "value": "hunter2",
            "nested": [{"password": "p", "keep": 1}], "api_token": "t"
        }));
        assert_eq!(v["value"], "[redacted]");
        assert_eq!(v["nested"][0]["password"], "[redacted]");
        assert_eq!(v["nested"][0]["keep"], 1);
        assert_eq!(v["api_token"], "[redacted]");
        assert_eq!(v["key"], "smtp");
        let plain = redact(&json!({"key": "k", "value_type": "string", "value": "v"}));
        assert_eq!(plain["value"], "v");
    }

    #[test]
    fn occurred_at_is_normalised_to_the_storage_format() {
        let mut e = env("shop.order.paid", json!({"order_id": "o"}));
        e.occurred_at = "2026-01-02T03:04:05+03:00".into();
        assert_eq!(
            record(&e, &Event::Other).occurred_at,
            "2026-01-02T00:04:05.000000Z"
        );
    }

    #[test]
    fn action_prefixes_escape_like_wildcards() {
        assert_eq!(action_prefix_pattern("shop.order"), "shop.order.%");
        assert_eq!(action_prefix_pattern("shop.order."), "shop.order.%");
        assert_eq!(
            action_prefix_pattern("factory.work_order"),
            "factory.work\\_order.%"
        );
        assert_eq!(action_prefix_pattern("a%b\\"), "a\\%b\\\\.%");
    }
}
