//! Pure rules of the users service, no I/O: what a valid email, name and
//! password are, how the brute-force delay grows, and what a refresh token
//! is and how it is stored.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use marimo_platform::auth::Role;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// An account as the API shows it (never with its password hash). Times are
/// RFC 3339 UTC text, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// An input that breaks a rule: which field, which rule (machine-readable),
/// and a human sentence naming the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub field: &'static str,
    pub rule: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, rule: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        rule,
        message: message.into(),
    }
}

// ---------------------------------------------------------------- email

/// Longest address accepted (RFC 5321 path limit minus the brackets).
pub const EMAIL_MAX_CHARS: usize = 254;
const LOCAL_MAX_CHARS: usize = 64;
const LABEL_MAX_CHARS: usize = 63;

/// Trimmed and lower-cased: the form every address is stored and looked up
/// in, so uniqueness is case-insensitive.
pub fn normalise_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// A normalised, syntactically valid address (`local@domain.tld`). Not the
/// whole of RFC 5322 (no quoted local parts, no IP literals), but every
/// address people actually type, including internationalised ones.
pub fn parse_email(raw: &str) -> Result<String, Invalid> {
    let email = normalise_email(raw);
    let bad = |msg: &str| invalid("email", "format", format!("email {msg}"));
    if email.is_empty() {
        return Err(invalid("email", "required", "email is required"));
    }
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(invalid(
            "email",
            "max_length",
            format!("email must be at most {EMAIL_MAX_CHARS} characters"),
        ));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(bad("must look like name@example.com"));
    };
    if local.is_empty() || local.chars().count() > LOCAL_MAX_CHARS {
        return Err(bad(
            "must have 1 to 64 characters before the @ (name@example.com)",
        ));
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !local_ok || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad("has characters that are not allowed before the @"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(bad("needs a domain with a dot after the @ (example.com)"));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.chars().count() <= LABEL_MAX_CHARS
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad("has an invalid domain after the @"));
        }
    }
    let tld = labels[labels.len() - 1];
    if tld.chars().count() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("has an invalid top-level domain"));
    }
    Ok(email)
}

// ----------------------------------------------------------------- name

pub const NAME_MAX_CHARS: usize = 100;

/// A display name: trimmed, 1 to 100 characters of any script (digits and
/// punctuation allowed), no control characters.
pub fn parse_name(raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(invalid("name", "required", "name is required"));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(invalid(
            "name",
            "max_length",
            format!("name must be at most {NAME_MAX_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            "format",
            "name must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

// ------------------------------------------------------------- password

pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 128;
/// Sign-in accepts any stored password (older ones may predate the policy)
/// but refuses absurd inputs before hashing them.
pub const LOGIN_PASSWORD_MAX_BYTES: usize = 1024;

/// The password policy for new passwords: 8 to 128 characters with at least
/// one upper-case letter, one lower-case letter and one digit (any script).
pub fn check_password(password: &str) -> Result<(), Invalid> {
    let rule = |rule, msg: &str| Err(invalid("password", rule, format!("password must {msg}")));
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return rule("min_length", "be at least 8 characters long");
    }
    if chars > PASSWORD_MAX_CHARS {
        return rule("max_length", "be at most 128 characters long");
    }
    if !password.chars().any(char::is_uppercase) {
        return rule("uppercase", "contain an upper-case letter");
    }
    if !password.chars().any(char::is_lowercase) {
        return rule("lowercase", "contain a lower-case letter");
    }
    if !password.chars().any(|c| c.is_numeric()) {
        return rule("digit", "contain a digit");
    }
    Ok(())
}

// ---------------------------------------------------------- brute force

/// Consecutive failures allowed before attempts are delayed.
pub const FREE_FAILURES: i64 = 5;
/// The longest delay; there is never a permanent lockout.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures older than this are forgotten (and their rows may be pruned).
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// How long sign-in stays closed after `failures` consecutive failures:
/// nothing for the first four, then 1 s, 2 s, 4 s, … capped at 15 minutes.
pub fn delay_after(failures: i64) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    // 2^10 s already exceeds the cap; clamping the shift avoids overflow.
    let doublings = (failures - FREE_FAILURES).min(10) as u32;
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

/// The stored throttle state of one (normalised) email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: i64,
    pub blocked_until: Option<OffsetDateTime>,
    pub last_attempt_at: OffsetDateTime,
}

/// Whether a sign-in attempt may be checked at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Closed: answer 429 without checking the password.
    Blocked { retry_after_secs: u64 },
    /// Check the password. The attempt is counted as a failure up front
    /// (`failures`, `blocked_until` are the state to store *before*
    /// checking), so concurrent attempts cannot slip past the delay; a
    /// success clears the state.
    Admit {
        failures: i64,
        blocked_until: Option<OffsetDateTime>,
    },
}

/// Decides on an attempt at `now` given the stored state.
pub fn admit(state: Option<&ThrottleState>, now: OffsetDateTime) -> Admission {
    let live = state.filter(|s| now - s.last_attempt_at < FORGET_AFTER);
    if let Some(until) = live.and_then(|s| s.blocked_until)
        && until > now
    {
        return Admission::Blocked {
            retry_after_secs: seconds_until(until, now),
        };
    }
    let failures = live.map_or(0, |s| s.failures) + 1;
    Admission::Admit {
        failures,
        blocked_until: blocked_until(failures, now),
    }
}

/// When sign-in reopens after `failures` failures, the last one at `at`.
pub fn blocked_until(failures: i64, at: OffsetDateTime) -> Option<OffsetDateTime> {
    let delay = delay_after(failures);
    (!delay.is_zero()).then(|| at + delay)
}

/// Whole seconds from `now` until `until`, rounded up, at least 1.
pub fn seconds_until(until: OffsetDateTime, now: OffsetDateTime) -> u64 {
    let secs = (until - now).as_seconds_f64().ceil();
    if secs.is_finite() && secs >= 1.0 {
        secs as u64
    } else {
        1
    }
}

// ------------------------------------------------------- refresh tokens

pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Random bytes in a refresh token (256 bits).
pub const REFRESH_TOKEN_BYTES: usize = 32;
/// Longer presented tokens are not even hashed.
pub const REFRESH_TOKEN_MAX_CHARS: usize = 256;

/// A new opaque refresh token: 32 bytes from the OS CSPRNG, base64url.
pub fn new_refresh_token() -> String {
    URL_SAFE_NO_PAD.encode(marimo_platform::ids::random_bytes::<REFRESH_TOKEN_BYTES>())
}

/// What is stored of a refresh token: its SHA-256, hex. The token has 256
/// bits of entropy, so a fast hash suffices (no salt or stretching needed).
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Cheap sanity check before a lookup.
pub fn plausible_refresh_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= REFRESH_TOKEN_MAX_CHARS
}

// --------------------------------------------------------------- search

/// A `LIKE` pattern matching `q` anywhere, lower-cased, with `\` as the
/// escape character for `%`, `_` and `\` in the input.
pub fn contains_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- email

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            parse_email("  Alice.Smith@Example.COM \n").unwrap(),
            "alice.smith@example.com"
        );
        assert_eq!(normalise_email(" ÜSER@Bücher.DE "), "üser@bücher.de");
        assert_eq!(parse_email("ÜSER@Bücher.DE").unwrap(), "üser@bücher.de");
    }

    #[test]
    fn common_valid_emails_pass() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "o'brien@example.ie",
            "user_1@my-company.io",
            "x@xn--bcher-kva.example",
        ] {
            assert!(parse_email(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn invalid_emails_are_refused_with_the_field_named() {
        for bad in [
            "",
            "   ",
            "plainaddress",
            "@example.com",
            "user@",
            "user@localhost",
            "user@@example.com",
            "us er@example.com",
            "user@exa mple.com",
            ".user@example.com",
            "user.@example.com",
            "us..er@example.com",
            "user@-example.com",
            "user@example-.com",
            "user@example..com",
            "user@example.c",
            "user@example.123",
            "user@example.com.",
            "user<script>@example.com",
        ] {
            let err = parse_email(bad).expect_err(bad);
            assert_eq!(err.field, "email", "{bad}");
        }
        assert_eq!(parse_email("").unwrap_err().rule, "required");
    }

    #[test]
    fn email_length_limits() {
        let local64 = "a".repeat(64);
        assert!(parse_email(&format!("{local64}@example.com")).is_ok());
        assert!(parse_email(&format!("a{local64}@example.com")).is_err());
        // 254 characters in total is the most accepted.
        let domain = format!(
            "{}.{}.{}.com",
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(58)
        );
        let at_limit = format!("{}@{domain}", "a".repeat(254 - 1 - domain.len()));
        assert_eq!(at_limit.len(), 254);
        assert!(parse_email(&at_limit).is_ok());
        let over = format!("a{at_limit}");
        assert_eq!(parse_email(&over).unwrap_err().rule, "max_length");
    }

    // ---- name

    #[test]
    fn names_of_any_script_with_digits_are_accepted_and_trimmed() {
        assert_eq!(parse_name("  José Müller  ").unwrap(), "José Müller");
        assert_eq!(parse_name("山田太郎").unwrap(), "山田太郎");
        assert_eq!(parse_name("Олег 2").unwrap(), "Олег 2");
        assert_eq!(parse_name("محمد").unwrap(), "محمد");
        assert_eq!(parse_name("R2-D2").unwrap(), "R2-D2");
        assert_eq!(
            parse_name("O'Brien-Smith Jr.").unwrap(),
            "O'Brien-Smith Jr."
        );
    }

    #[test]
    fn name_limits_count_characters_not_bytes() {
        assert_eq!(parse_name("").unwrap_err().rule, "required");
        assert_eq!(parse_name(" \t ").unwrap_err().rule, "required");
        assert!(parse_name(&"é".repeat(100)).is_ok()); // 200 bytes, 100 chars
        assert_eq!(parse_name(&"é".repeat(101)).unwrap_err().rule, "max_length");
        assert_eq!(parse_name("a\u{0}b").unwrap_err().rule, "format");
        assert_eq!(parse_name("line\nbreak").unwrap_err().rule, "format");
    }

    // ---- password

    #[test]
    fn password_length_edges() {
        assert_eq!(check_password("Abcdef1").unwrap_err().rule, "min_length"); // 7
        assert!(check_password("Abcdefg1").is_ok()); // 8
        let p128 = format!("Ab1{}", "x".repeat(125));
        assert_eq!(p128.chars().count(), 128);
        assert!(check_password(&p128).is_ok());
        let p129 = format!("{p128}x");
        assert_eq!(check_password(&p129).unwrap_err().rule, "max_length");
    }

    #[test]
    fn password_length_counts_characters() {
        // 8 characters, 11 bytes.
        assert!(check_password("Ääbcdef1").is_ok());
        // 128 multi-byte characters are still within the limit.
        let p = format!("Ab1{}", "ж".repeat(125));
        assert!(check_password(&p).is_ok());
    }

    #[test]
    fn password_needs_upper_lower_and_digit() {
        let err = check_password("abcdefg1").unwrap_err();
        assert_eq!((err.field, err.rule), ("password", "uppercase"));
        assert!(err.message.contains("upper-case"));
        assert_eq!(check_password("ABCDEFG1").unwrap_err().rule, "lowercase");
        assert_eq!(check_password("Abcdefgh").unwrap_err().rule, "digit");
        assert!(check_password("Pässwört9").is_ok());
        assert!(check_password("ПАРОЛЬпароль7").is_ok());
    }

    // ---- brute force

    #[test]
    fn delay_schedule_grows_and_is_capped() {
        for n in 0..5 {
            assert_eq!(delay_after(n), Duration::ZERO, "{n}");
        }
        let secs: Vec<u64> = (5..=16).map(|n| delay_after(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(delay_after(i64::MAX), MAX_DELAY);
    }

    fn at(s: &str) -> OffsetDateTime {
        marimo_platform::clock::parse(s).unwrap()
    }

    #[test]
    fn first_attempts_are_admitted_and_counted() {
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(
            admit(None, now),
            Admission::Admit {
                failures: 1,
                blocked_until: None
            }
        );
        let four = ThrottleState {
            failures: 4,
            blocked_until: None,
            last_attempt_at: now,
        };
        // The fifth attempt closes the door for a second while it runs.
        assert_eq!(
            admit(Some(&four), now),
            Admission::Admit {
                failures: 5,
                blocked_until: Some(at("2026-01-01T00:00:01Z"))
            }
        );
    }

    #[test]
    fn attempts_inside_the_delay_are_blocked_with_retry_after() {
        let now = at("2026-01-01T00:00:00Z");
        let state = ThrottleState {
            failures: 7,
            blocked_until: Some(at("2026-01-01T00:00:03.2Z")),
            last_attempt_at: now,
        };
        assert_eq!(
            admit(Some(&state), now),
            Admission::Blocked {
                retry_after_secs: 4
            }
        );
        // Once the delay has passed, one attempt is admitted and counted.
        let later = at("2026-01-01T00:00:04Z");
        assert_eq!(
            admit(Some(&state), later),
            Admission::Admit {
                failures: 8,
                blocked_until: Some(at("2026-01-01T00:00:12Z"))
            }
        );
    }

    #[test]
    fn old_failures_are_forgotten() {
        let then = at("2026-01-01T00:00:00Z");
        let state = ThrottleState {
            failures: 30,
            blocked_until: Some(at("2026-01-01T00:15:00Z")),
            last_attempt_at: then,
        };
        let next_day = at("2026-01-02T00:00:01Z");
        assert_eq!(
            admit(Some(&state), next_day),
            Admission::Admit {
                failures: 1,
                blocked_until: None
            }
        );
    }

    #[test]
    fn seconds_until_rounds_up_and_is_at_least_one() {
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(seconds_until(at("2026-01-01T00:00:00.001Z"), now), 1);
        assert_eq!(seconds_until(at("2026-01-01T00:00:02Z"), now), 2);
        assert_eq!(seconds_until(at("2026-01-01T00:00:02.5Z"), now), 3);
        assert_eq!(seconds_until(now, now), 1);
    }

    // ---- refresh tokens

    #[test]
    fn refresh_tokens_are_long_random_and_url_safe() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn refresh_tokens_are_stored_as_sha256_hex() {
        assert_eq!(
            hash_refresh_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = new_refresh_token();
        assert_eq!(hash_refresh_token(&t), hash_refresh_token(&t));
        assert!(!hash_refresh_token(&t).contains(&t));
        assert!(!plausible_refresh_token(""));
        assert!(!plausible_refresh_token(&"x".repeat(257)));
        assert!(plausible_refresh_token(&t));
    }

    // ---- search

    #[test]
    fn search_patterns_escape_wildcards() {
        assert_eq!(contains_pattern(" Ann "), "%ann%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
