//! The Grafana dashboards only chart metrics the services really export:
//! every panel query's metric names are looked up in the `/metrics` of a
//! running system after a little traffic (a sign-in, an order, a work
//! order), so that a renamed or missing metric shows up here, not as an
//! empty panel in production.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
};

use marimo_platform::service::ServiceName;
use marimo_testkit::Http;
use serde_json::Value;

use crate::support::system_with_traffic;

/// Series that Prometheus writes itself for every target; no service
/// exports them.
const WRITTEN_BY_PROMETHEUS: &[&str] = &["up"];

/// PromQL keywords, aggregation operators and literals that look like
/// identifiers but never name a metric.
const NOT_METRICS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "atan2",
    "inf",
    "nan",
];

/// Modifiers followed by a parenthesised list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// A histogram's series (`x_bucket`, `x_sum`, `x_count`) as the histogram `x`.
fn histogram_base(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
}

#[derive(Debug, PartialEq)]
enum Token<'a> {
    Ident(&'a str),
    Open,
    Close,
    Other,
}

/// The expression without label matchers (`{...}`), ranges and subqueries
/// (`[...]`), string literals and Grafana variables, split into tokens.
fn tokens(expr: &str) -> Vec<Token<'_>> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut depth) = (0, 0usize);
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'"' | b'\'' | b'`' => {
                // Skip the string; backslash escapes (not in raw strings).
                i += 1;
                while i < bytes.len() && bytes[i] != c {
                    i += if bytes[i] == b'\\' && c != b'`' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ if depth > 0 => i += 1,
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b')' => {
                out.push(Token::Close);
                i += 1;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
                {
                    i += 1;
                }
                out.push(Token::Ident(&expr[start..i]));
            }
            // Numbers and durations (`0.95`, `1e3`, `5m`) and Grafana
            // variables (`$service`, `$__range`) as one token each.
            _ if c.is_ascii_digit() || c == b'.' || c == b'$' => {
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
                {
                    i += 1;
                }
                out.push(Token::Other);
            }
            _ if c.is_ascii_whitespace() => i += 1,
            _ => {
                out.push(Token::Other);
                i += 1;
            }
        }
    }
    out
}

/// The metric names a PromQL expression reads, histogram series mapped to
/// their histogram: function calls, aggregation operators, keywords,
/// `by (...)`-style label lists, label matchers, ranges, numbers and
/// strings are not metric names.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let tokens = tokens(expr);
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Token::Ident(word) = tokens[i] {
            let lower = word.to_ascii_lowercase();
            let called = tokens.get(i + 1) == Some(&Token::Open);
            if LABEL_LISTS.contains(&lower.as_str()) {
                // Skip `by (a, b)`: label names, not metrics.
                if called {
                    i += 2;
                    while i < tokens.len() && tokens[i] != Token::Close {
                        i += 1;
                    }
                }
            } else if !called && !NOT_METRICS.contains(&lower.as_str()) {
                names.insert(histogram_base(word).to_owned());
            }
        }
        i += 1;
    }
    names
}

/// Every panel query (`targets[].expr`) of a dashboard, rows included, as
/// (panel title, expression).
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("(untitled)");
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap_or_default();
                out.push((title.to_owned(), expr.to_owned()));
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn dashboards_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/dashboards")
}

/// (file name, parsed JSON) of every dashboard.
fn dashboards() -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(dashboards_dir())
        .expect("deploy/grafana/dashboards exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable dashboard");
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), json)
        })
        .collect()
}

/// Metric names present in a Prometheus text exposition (samples and
/// `# TYPE` lines), histogram series mapped to their histogram.
fn exported_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|line| match line.strip_prefix("# TYPE ") {
            Some(rest) => rest.split_whitespace().next(),
            None if line.starts_with('#') => None,
            None => line.split(['{', ' ']).next(),
        })
        .filter(|name| !name.is_empty())
        .map(|name| histogram_base(name).to_owned())
        .collect()
}

/// The union of every service's `/metrics`.
async fn scrape_all(urls: &[(ServiceName, String)]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (_, url) in urls {
        let res = Http::new(url).get("/metrics").send().await.expect(200);
        names.extend(exported_names(&res.text));
    }
    names
}

#[test]
fn metric_names_are_read_from_promql() {
    let cases: &[(&str, &[&str])] = &[
        (
            r#"sum by (service) (rate(http_requests_total{status=~"5.."}[5m])) / sum by (service) (rate(http_requests_total[5m])) > 0.05"#,
            &["http_requests_total"],
        ),
        (
            r#"histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket{service=~"$service"}[$__rate_interval])))"#,
            &["http_request_duration_seconds"],
        ),
        (
            "rate(db_query_duration_seconds_sum[5m]) / rate(db_query_duration_seconds_count[5m])",
            &["db_query_duration_seconds"],
        ),
        (
            "process_resident_memory_bytes / process_memory_limit_bytes > 0.9",
            &[
                "process_memory_limit_bytes",
                "process_resident_memory_bytes",
            ],
        ),
        (
            "sum by (service) (outbox_backlog) > 100 and deriv(sum by (service) (outbox_backlog)[10m:1m]) > 0",
            &["outbox_backlog"],
        ),
        (r#"up{job="marimo"} == 0"#, &["up"]),
        (
            "sum(increase(orders_placed_total[$__range] offset 1h)) * 1e3",
            &["orders_placed_total"],
        ),
        (
            r#"label_replace(up, "host", "$1", "instance", "(.*):\\d+{}")"#,
            &["up"],
        ),
        (
            "topk(10, count without (instance) (dlq_depth)) or vector(0)",
            &["dlq_depth"],
        ),
        (
            "a_total * on (service) group_left (route) b_seconds_bucket",
            &["a_total", "b_seconds"],
        ),
        (
            "SUM BY (queue) (rate(events_failed_total[1m])) unless bool 1",
            &["events_failed_total"],
        ),
    ];
    for (expr, want) in cases {
        let got: Vec<String> = metric_names(expr).into_iter().collect();
        assert_eq!(got, *want, "{expr}");
    }
}

#[test]
fn exported_names_come_from_samples_and_type_lines() {
    let text = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"b\"} 1\n\
                # TYPE lat_seconds histogram\nlat_seconds_bucket{le=\"0.1\"} 1\nlat_seconds_sum 0.1\n\
                lat_seconds_count 1\n# TYPE described_only gauge\nplain 3\n";
    let got: Vec<String> = exported_names(text).into_iter().collect();
    assert_eq!(got, ["described_only", "lat_seconds", "plain", "x_total"]);
}

#[test]
fn every_dashboard_panel_queries_prometheus() {
    let all = dashboards();
    assert!(!all.is_empty(), "no dashboard in deploy/grafana/dashboards");
    for (file, dashboard) in &all {
        assert!(dashboard["uid"].is_string(), "{file}: a stable uid");
        let mut titles = BTreeSet::new();
        let mut walk = vec![dashboard["panels"].clone()];
        while let Some(panels) = walk.pop() {
            for panel in panels.as_array().into_iter().flatten() {
                if panel["type"] == "row" {
                    walk.push(panel["panels"].clone());
                    continue;
                }
                let title = panel["title"].as_str().unwrap_or_default();
                assert!(
                    titles.insert(title.to_owned()),
                    "{file}: two panels titled {title:?}"
                );
                let targets = panel["targets"].as_array().map_or(0, Vec::len);
                assert!(targets > 0, "{file}: panel {title:?} has no query");
                // The uid the provisioned datasource has
                // (deploy/grafana/provisioning/datasources/prometheus.yml).
                assert_eq!(
                    panel["datasource"]["uid"], "prometheus",
                    "{file}: {title:?}"
                );
            }
        }
        for (title, expr) in panel_queries(dashboard) {
            assert!(
                !metric_names(&expr).is_empty(),
                "{file}: panel {title:?} reads no metric: {expr}"
            );
        }
    }
}

#[tokio::test]
async fn every_dashboard_metric_is_exported_by_a_service() {
    marimo_platform::telemetry::init_logging("warn", marimo_platform::config::LogFormat::Pretty);
    // metric name → the panels that chart it
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, dashboard) in dashboards() {
        for (title, expr) in panel_queries(&dashboard) {
            for name in metric_names(&expr) {
                if !WRITTEN_BY_PROMETHEUS.contains(&name.as_str()) {
                    wanted
                        .entry(name)
                        .or_default()
                        .insert(format!("{file}: {title}"));
                }
            }
        }
    }

    let (sys, urls) = system_with_traffic().await;
    // Counters from consumers and gauges from samplers appear shortly
    // after the requests that cause them: wait for them, bounded.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let missing = loop {
        let exported = scrape_all(&urls).await;
        let missing: Vec<_> = wanted
            .iter()
            .filter(|(name, _)| !exported.contains(*name))
            .collect();
        if missing.is_empty() || tokio::time::Instant::now() > deadline {
            break missing
                .into_iter()
                .map(|(name, panels)| format!("{name} (charted by {panels:?})"))
                .collect::<Vec<_>>();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    sys.stop().await;
    assert!(
        missing.is_empty(),
        "dashboard metrics no service exports:\n  {}",
        missing.join("\n  ")
    );
}
