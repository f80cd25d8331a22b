//! AMQP topic matching (`*` one word, `#` zero or more), so the embedded
//! broker routes exactly as RabbitMQ's topic exchange does.

pub fn matches(pattern: &str, routing_key: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = routing_key.split('.').collect();
    match_words(&p, &k)
}

fn match_words(p: &[&str], k: &[&str]) -> bool {
    match (p.first(), k.first()) {
        (None, None) => true,
        (Some(&"#"), _) => match_words(&p[1..], k) || (!k.is_empty() && match_words(p, &k[1..])),
        (Some(&"*"), Some(_)) => match_words(&p[1..], &k[1..]),
        (Some(w), Some(kw)) if w == kw => match_words(&p[1..], &k[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn topic_patterns_match_like_rabbitmq() {
        assert!(matches("shop.order.paid", "shop.order.paid"));
        assert!(matches("shop.order.*", "shop.order.paid"));
        assert!(!matches("shop.order.*", "shop.order.paid.v2"));
        assert!(matches("shop.#", "shop.order.paid"));
        assert!(matches("#", "users.user.registered"));
        assert!(matches("*.user.*", "users.user.registered"));
        assert!(!matches("factory.#", "shop.order.paid"));
        assert!(matches("shop.#.paid", "shop.paid"));
        assert!(!matches("shop.order", "shop.order.paid"));
    }
}
