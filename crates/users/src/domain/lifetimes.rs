//! Token lifetimes, set centrally in the config service under the keys
//! `access_token_ttl_minutes` and `refresh_token_ttl_days`. Unset, or
//! deleted, means the defaults (15 minutes, 7 days).

use std::time::Duration;

pub const ACCESS_KEY: &str = "access_token_ttl_minutes";
pub const REFRESH_KEY: &str = "refresh_token_ttl_days";

/// How long the tokens a sign-in issues are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub access: Duration,
    pub refresh: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access: marimo_platform::auth::jwt::ACCESS_TOKEN_TTL,
            refresh: super::REFRESH_TOKEN_TTL,
        }
    }
}

impl Lifetimes {
    /// The lifetimes stored settings give: a key of ours with a value in
    /// range replaces the default; anything else is ignored.
    pub fn from_settings<'a>(settings: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut lifetimes = Self::default();
        for (key, value) in settings {
            match (key, parse(key, value)) {
                (ACCESS_KEY, Ok(Some(d))) => lifetimes.access = d,
                (REFRESH_KEY, Ok(Some(d))) => lifetimes.refresh = d,
                _ => {}
            }
        }
        lifetimes
    }
}

/// The lifetime `value` sets for `key`, if the key is one of ours and the
/// value is in range (access: 1 minute to 24 hours; refresh: 1 to 90 days).
pub fn parse(key: &str, value: &str) -> Result<Option<Duration>, String> {
    let (range, unit) = match key {
        ACCESS_KEY => (1..=1440, 60),
        REFRESH_KEY => (1..=90, 24 * 3600),
        _ => return Ok(None),
    };
    let n: u64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{key} must be a whole number, not '{value}'"))?;
    if !range.contains(&n) {
        return Err(format!(
            "{key} must be between {} and {}",
            range.start(),
            range.end()
        ));
    }
    Ok(Some(Duration::from_secs(n * unit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_in_range_only() {
        assert_eq!(parse(ACCESS_KEY, "30"), Ok(Some(Duration::from_secs(1800))));
        assert_eq!(
            parse(REFRESH_KEY, " 14 "),
            Ok(Some(Duration::from_secs(14 * 86400)))
        );
        assert_eq!(parse("app_name", "x"), Ok(None));
        assert!(parse(ACCESS_KEY, "0").is_err());
        assert!(parse(ACCESS_KEY, "1441").is_err());
        assert!(parse(REFRESH_KEY, "91").is_err());
        assert!(parse(REFRESH_KEY, "1.5").is_err());
    }

    #[test]
    fn stored_settings_override_the_defaults_only_when_valid() {
        let l = Lifetimes::from_settings([(ACCESS_KEY, "30"), (REFRESH_KEY, "0"), ("x", "1")]);
        assert_eq!(l.access, Duration::from_secs(1800));
        assert_eq!(l.refresh, Lifetimes::default().refresh);
    }
}
