//! Charts drawn on the server as SVG: no script, no library, readable by
//! screen readers (`role="img"`, a title, a `<title>` per bar with its
//! exact figure) and by people on a phone (the SVG scales to the width).
//!
//! Geometry uses integer hundredths ([`crate::format::hundredths`]); the
//! numbers people read are the formatted decimal strings.

use std::fmt::Write;

/// One bar: its label, its size, and the text shown for it.
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub text: String,
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Vertical bars (a series over time). Every `label_every`-th label is
/// printed under its bar; all of them are in the bars' `<title>`s.
pub fn columns(id: &str, title: &str, bars: &[Bar], label_every: usize) -> String {
    let (w, h, top, bottom, left) = (600i64, 220i64, 16i64, 36i64, 8i64);
    let plot_h = h - top - bottom;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let n = bars.len().max(1) as i64;
    let slot = (w - 2 * left) * 100 / n;
    let bar_w = (slot * 7 / 10).max(100);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="{id}" class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-t" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{}</title>"#,
        esc(title)
    );
    let _ = write!(
        svg,
        r#"<line x1="{left}" y1="{y}" x2="{x2}" y2="{y}" class="axis"/>"#,
        y = h - bottom,
        x2 = w - left
    );
    for (i, b) in bars.iter().enumerate() {
        let bh = if b.value > 0 {
            (b.value * plot_h / max).max(2)
        } else {
            0
        };
        let x = left * 100 + slot * i as i64 + (slot - bar_w) / 2;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{}.{:02}" y="{}" width="{}.{:02}" height="{bh}" data-value="{}"><title>{}: {}</title></rect>"#,
            x / 100,
            x % 100,
            h - bottom - bh,
            bar_w / 100,
            bar_w % 100,
            b.value,
            esc(&b.label),
            esc(&b.text)
        );
        // Every n-th label, and the last one unless it would overlap.
        let last_fits = i + 1 == bars.len() && i % label_every.max(1) > label_every / 2;
        if label_every > 0 && (i % label_every == 0 || last_fits) {
            // The first label starts at its bar and the last ends at it,
            // so neither is cut at the chart's edges.
            let (cx, anchor) = match i {
                0 => (x, "start"),
                _ if i + 1 == bars.len() => (x + bar_w, "end"),
                _ => (x + bar_w / 2, "middle"),
            };
            let _ = write!(
                svg,
                r#"<text x="{}.{:02}" y="{}" class="tick" text-anchor="{anchor}">{}</text>"#,
                cx / 100,
                cx % 100,
                h - bottom + 16,
                esc(&b.label)
            );
        }
    }
    if let Some(peak) = bars.iter().max_by_key(|b| b.value).filter(|b| b.value > 0) {
        let _ = write!(
            svg,
            r#"<text x="{left}" y="{}" class="tick">{}</text>"#,
            top - 4,
            esc(&peak.text)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars (categories), each labelled with its figure.
pub fn rows(id: &str, title: &str, bars: &[Bar]) -> String {
    let row_h = 28i64;
    let (w, label_w, pad) = (600i64, 170i64, 6i64);
    let h = row_h * bars.len().max(1) as i64 + 2 * pad;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let plot_w = w - label_w - 120;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="{id}" class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-t" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{}</title>"#,
        esc(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = pad + row_h * i as i64;
        let bw = if b.value > 0 {
            (b.value * plot_w / max).max(2)
        } else {
            0
        };
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="label" text-anchor="end">{}</text><rect class="bar" x="{label_w}" y="{}" width="{bw}" height="{}" data-value="{}"><title>{}: {}</title></rect><text x="{}" y="{}" class="tick">{}</text>"#,
            label_w - 8,
            y + row_h / 2 + 5,
            esc(&b.label),
            y + 4,
            row_h - 8,
            b.value,
            esc(&b.label),
            esc(&b.text),
            label_w + bw + 6,
            y + row_h / 2 + 5,
            esc(&b.text)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: i64) -> Bar {
        Bar {
            label: label.into(),
            value,
            text: format!("<{value}>"),
        }
    }

    #[test]
    fn columns_scale_to_the_peak_and_escape_text() {
        let svg = columns(
            "c",
            "Revenue & more",
            &[bar("a", 0), bar("b", 50), bar("c", 100)],
            1,
        );
        assert!(svg.starts_with("<svg id=\"c\""));
        assert!(svg.contains("Revenue &amp; more"));
        assert!(svg.contains("&lt;100&gt;"));
        assert!(!svg.contains("<100>"));
        // The peak fills the plot (220 - 16 - 36 = 168), half the peak half.
        assert!(svg.contains(r#"height="168" data-value="100""#));
        assert!(svg.contains(r#"height="84" data-value="50""#));
        assert!(svg.contains(r#"height="0" data-value="0""#));
        assert_eq!(svg.matches("<rect").count(), 3);
    }

    #[test]
    fn rows_and_empty_series() {
        let svg = rows("r", "Orders", &[bar("paid", 3), bar("shipped", 1)]);
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains(">paid<"));
        let empty = columns("e", "None", &[], 5);
        assert!(empty.ends_with("</svg>"));
    }
}
