//! Numbers, money and dates per locale, on the exact decimal strings the
//! APIs send: digits are regrouped as text, never through a float.
//!
//! - en: `1,234.56`, money `$1,234.56` (known symbols) or `1,234.56 EUR`.
//! - ru: `1 234,56` with a no-break space, money `1 234,56 ₽`.
//! - dates: en `Jan 5, 2026`, ru `05.01.2026`; times add `HH:MM` (UTC).

use crate::i18n::Lang;

/// U+00A0, the no-break space Russian typography groups digits with.
const NBSP: char = '\u{a0}';

/// Separators of a locale: (grouping, decimal point).
fn separators(lang: Lang) -> (char, char) {
    match lang {
        Lang::En => (',', '.'),
        Lang::Ru => (NBSP, ','),
    }
}

/// A decimal string (`-1234.5`, `10`, `0.250`) regrouped for `lang`.
/// Anything that is not a plain decimal is returned unchanged, so a
/// surprising value is shown as sent rather than hidden.
pub fn number(text: &str, lang: Lang) -> String {
    let t = text.trim();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let plain = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if !plain {
        return text.to_owned();
    }
    let (group, point) = separators(lang);
    let mut out = String::with_capacity(t.len() + int.len() / 3 + 1);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(group);
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push(point);
        out.push_str(f);
    }
    out
}

/// A quantity: trailing zeros of the fraction dropped (`10.000` → `10`,
/// `2.500` → `2.5`), then grouped.
pub fn quantity(text: &str, lang: Lang) -> String {
    let t = text.trim();
    let trimmed = match t.split_once('.') {
        Some((i, f)) => {
            let f = f.trim_end_matches('0');
            if f.is_empty() {
                i.to_owned()
            } else {
                format!("{i}.{f}")
            }
        }
        None => t.to_owned(),
    };
    number(&trimmed, lang)
}

fn symbol(currency: &str) -> Option<&'static str> {
    match currency {
        "USD" => Some("$"),
        "EUR" => Some("€"),
        "GBP" => Some("£"),
        "RUB" => Some("₽"),
        "JPY" => Some("¥"),
        _ => None,
    }
}

/// A money amount (exact decimal string) in `currency` for `lang`.
pub fn money(amount: &str, currency: &str, lang: Lang) -> String {
    let n = number(amount, lang);
    let unit = symbol(currency).unwrap_or(currency);
    match lang {
        Lang::En => match (symbol(currency), n.strip_prefix('-')) {
            (Some(s), Some(abs)) => format!("-{s}{abs}"),
            (Some(s), None) => format!("{s}{n}"),
            (None, _) => format!("{n} {currency}"),
        },
        Lang::Ru if unit.is_empty() => n,
        Lang::Ru => format!("{n}{NBSP}{unit}"),
    }
}

const EN_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `YYYY-MM-DD` (alone or the start of an RFC 3339 time) for `lang`.
pub fn date(text: &str, lang: Lang) -> String {
    let Some((y, m, d)) = ymd(text) else {
        return text.to_owned();
    };
    match lang {
        Lang::En => format!("{} {}, {y}", EN_MONTHS[m as usize - 1], d),
        Lang::Ru => format!("{d:02}.{m:02}.{y}"),
    }
}

/// An RFC 3339 time as a date and `HH:MM` (the APIs send UTC).
pub fn datetime(text: &str, lang: Lang) -> String {
    let day = date(text, lang);
    match text.get(11..16) {
        Some(hm) if text.as_bytes().get(10) == Some(&b'T') => format!("{day} {hm}"),
        _ => day,
    }
}

/// A short day label for chart axes: en `Jan 5`, ru `05.01`.
pub fn day_label(text: &str, lang: Lang) -> String {
    let Some((_, m, d)) = ymd(text) else {
        return text.to_owned();
    };
    match lang {
        Lang::En => format!("{} {d}", EN_MONTHS[m as usize - 1]),
        Lang::Ru => format!("{d:02}.{m:02}"),
    }
}

fn ymd(text: &str) -> Option<(u32, u32, u32)> {
    let head = text.get(..10)?;
    let b = head.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = head[..4].parse().ok()?;
    let m: u32 = head[5..7].parse().ok()?;
    let d: u32 = head[8..10].parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// A decimal string as integer hundredths (for chart geometry only; the
/// numbers people read are always the formatted strings). Saturates
/// rather than failing on absurd values.
pub fn hundredths(text: &str) -> i64 {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let int: i64 = int.parse().unwrap_or(0);
    let mut f = frac.chars().take(2).collect::<String>();
    while f.len() < 2 {
        f.push('0');
    }
    let v = int
        .saturating_mul(100)
        .saturating_add(f.parse::<i64>().unwrap_or(0));
    if neg { -v } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_per_locale() {
        assert_eq!(number("1234.56", Lang::En), "1,234.56");
        assert_eq!(number("1234.56", Lang::Ru), "1\u{a0}234,56");
        assert_eq!(number("1234567", Lang::En), "1,234,567");
        assert_eq!(number("123", Lang::En), "123");
        assert_eq!(number("0.50", Lang::Ru), "0,50");
        assert_eq!(number("-98765.4", Lang::En), "-98,765.4");
        assert_eq!(number("-98765.4", Lang::Ru), "-98\u{a0}765,4");
        // Exact: no float rounding, however long.
        assert_eq!(
            number("92233720368547758.07", Lang::En),
            "92,233,720,368,547,758.07"
        );
        for odd in ["", "abc", "1.2.3", "1e5", "1.", ".5"] {
            assert_eq!(number(odd, Lang::En), odd);
        }
    }

    #[test]
    fn money_per_locale() {
        assert_eq!(money("1234.56", "USD", Lang::En), "$1,234.56");
        assert_eq!(money("-5.00", "USD", Lang::En), "-$5.00");
        assert_eq!(money("1234.56", "CHF", Lang::En), "1,234.56 CHF");
        assert_eq!(money("1234.56", "RUB", Lang::Ru), "1\u{a0}234,56\u{a0}₽");
        assert_eq!(money("59.98", "USD", Lang::Ru), "59,98\u{a0}$");
    }

    #[test]
    fn quantities_drop_trailing_zeros() {
        assert_eq!(quantity("10.000", Lang::En), "10");
        assert_eq!(quantity("2.500", Lang::Ru), "2,5");
        assert_eq!(quantity("1500", Lang::Ru), "1\u{a0}500");
    }

    #[test]
    fn dates_per_locale() {
        assert_eq!(date("2026-01-05", Lang::En), "Jan 5, 2026");
        assert_eq!(date("2026-01-05", Lang::Ru), "05.01.2026");
        assert_eq!(
            datetime("2026-11-30T14:03:09.123Z", Lang::En),
            "Nov 30, 2026 14:03"
        );
        assert_eq!(
            datetime("2026-11-30T14:03:09Z", Lang::Ru),
            "30.11.2026 14:03"
        );
        assert_eq!(day_label("2026-03-09", Lang::En), "Mar 9");
        assert_eq!(day_label("2026-03-09", Lang::Ru), "09.03");
        assert_eq!(date("yesterday", Lang::En), "yesterday");
        assert_eq!(date("2026-13-01", Lang::En), "2026-13-01");
    }

    #[test]
    fn hundredths_for_geometry() {
        assert_eq!(hundredths("59.98"), 5998);
        assert_eq!(hundredths("10"), 1000);
        assert_eq!(hundredths("0.5"), 50);
        assert_eq!(hundredths("-1.25"), -125);
        assert_eq!(hundredths("junk"), 0);
    }
}
