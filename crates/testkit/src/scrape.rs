//! Reading a Prometheus text exposition (`/metrics`) in tests.

/// The value of the sample `name` whose labels include all of `labels`
/// (other labels may be present). `None` when there is no such sample.
pub fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(exposition)
        .into_iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.value)
}

/// `db_queries_total{service, operation, status="ok"}` (0 when absent):
/// the queries of one kind a service ran through its instrumented pool.
pub fn db_queries(exposition: &str, service: &str, operation: &str) -> f64 {
    let labels = [
        ("service", service),
        ("operation", operation),
        ("status", "ok"),
    ];
    sample(exposition, "db_queries_total", &labels).unwrap_or(0.0)
}

/// One sample line: `name{k="v",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Every sample of an exposition (comments and malformed lines skipped).
pub fn samples(exposition: &str) -> Vec<Sample> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        // Label values may hold braces (route templates) and escapes.
        let mut chars = inner.char_indices().peekable();
        let mut end = None;
        loop {
            while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
                chars.next();
            }
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return None;
            }
            let mut value = String::new();
            let mut escaped = false;
            for (_, c) in chars.by_ref() {
                match (escaped, c) {
                    (true, 'n') => {
                        value.push('\n');
                        escaped = false;
                    }
                    (true, c) => {
                        value.push(c);
                        escaped = false;
                    }
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    (false, c) => value.push(c),
                }
            }
            labels.push((key, value));
        }
        rest = &inner[end? + 1..];
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_braces_in_label_values_parse() {
        let text = "# TYPE http_requests_total counter\n\
            http_requests_total{service=\"shop\",method=\"POST\",route=\"/api/shop/orders/{id}/pay\",status=\"200\"} 3\n\
            outbox_backlog{service=\"shop\"} 0\n\
            process_resident_memory_bytes 1.5e7\n\
            odd{msg=\"a \\\"quoted\\\" }\"} 2\n";
        assert_eq!(
            sample(
                text,
                "http_requests_total",
                &[("route", "/api/shop/orders/{id}/pay"), ("status", "200")]
            ),
            Some(3.0)
        );
        assert_eq!(sample(text, "outbox_backlog", &[]), Some(0.0));
        assert_eq!(
            sample(text, "process_resident_memory_bytes", &[]),
            Some(1.5e7)
        );
        assert_eq!(sample(text, "odd", &[("msg", "a \"quoted\" }")]), Some(2.0));
        assert_eq!(
            sample(text, "http_requests_total", &[("status", "500")]),
            None
        );
    }
}
