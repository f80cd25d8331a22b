//! Process gauges: resident memory and the memory limit it must stay under
//! (the `HighMemoryUsage` alert divides one by the other).
//!
//! - `process_resident_memory_bytes`: `VmRSS` of `/proc/self/status` (the
//!   resident set that `statm` counts in pages, here already in kB, so no
//!   page-size assumption is needed).
//! - `process_memory_limit_bytes`: the cgroup's limit (`memory.max` in
//!   cgroup v2, `memory.limit_in_bytes` in v1) when there is one, else the
//!   machine's memory (`MemTotal` of `/proc/meminfo`): what the process can
//!   use before it is killed or swaps.
//!
//! Both carry the `service` label, so the ratio matches per service; in
//! `marimo up` every service reports the one process. Elsewhere than Linux
//! neither is exported.

use super::Metrics;

/// Sets the memory gauges of `m` (a scrape-time collector).
pub(crate) fn record_memory(m: &Metrics) {
    let resident = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| kb_field(&s, "VmRSS:"));
    let limit = cgroup_limit().or_else(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| kb_field(&s, "MemTotal:"))
    });
    m.record(|| {
        if let Some(n) = resident {
            metrics::gauge!("process_resident_memory_bytes", "service" => m.service())
                .set(n as f64);
        }
        if let Some(n) = limit {
            metrics::gauge!("process_memory_limit_bytes", "service" => m.service()).set(n as f64);
        }
    });
}

/// The cgroup memory limit, if one is set.
fn cgroup_limit() -> Option<u64> {
    // cgroup v2 (the process's own group is mounted at /sys/fs/cgroup in a
    // container), then v1.
    for path in [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ] {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Some(n) = parse_limit(&text)
        {
            return Some(n);
        }
    }
    None
}

/// A cgroup limit: a number of bytes, or `max` / a v1 "unlimited" value.
fn parse_limit(text: &str) -> Option<u64> {
    let n: u64 = text.trim().parse().ok()?;
    // v1 reports "no limit" as a huge page-aligned number.
    (n < (1 << 60)).then_some(n)
}

/// A `Name:  24531234 kB` line of `/proc/self/status` or `/proc/meminfo`,
/// in bytes.
fn kb_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_parse() {
        assert_eq!(
            kb_field("Name: marimo\nVmRSS:\t   51200 kB\n", "VmRSS:"),
            Some(51_200 * 1024)
        );
        assert_eq!(kb_field("Name: marimo\n", "VmRSS:"), None);
        assert_eq!(parse_limit("536870912\n"), Some(536_870_912));
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(
            kb_field("MemTotal:       24531234 kB\nMemFree: 1 kB\n", "MemTotal:"),
            Some(24_531_234 * 1024)
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_scrape_shows_resident_memory_below_the_limit() {
        let m = Metrics::new("users");
        let text = m.scrape().await;
        let value = |name: &str| -> f64 {
            text.lines()
                .find(|l| l.starts_with(&format!("{name}{{service=\"users\"}}")))
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
                .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
        };
        let resident = value("process_resident_memory_bytes");
        let limit = value("process_memory_limit_bytes");
        assert!(resident > 0.0 && resident < limit, "{resident} / {limit}");
    }
}
