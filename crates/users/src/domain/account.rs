//! The fields of an account: what a valid email, display name and new
//! password are.

use super::{Invalid, invalid};

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
        assert_eq!(parse_email("").unwrap_err().rule, Some("required"));
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
        assert_eq!(parse_email(&over).unwrap_err().rule, Some("max_length"));
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
        assert_eq!(parse_name("").unwrap_err().rule, Some("required"));
        assert_eq!(parse_name(" \t ").unwrap_err().rule, Some("required"));
        assert!(parse_name(&"é".repeat(100)).is_ok()); // 200 bytes, 100 chars
        assert_eq!(
            parse_name(&"é".repeat(101)).unwrap_err().rule,
            Some("max_length")
        );
        assert_eq!(parse_name("a\u{0}b").unwrap_err().rule, Some("format"));
        assert_eq!(parse_name("line\nbreak").unwrap_err().rule, Some("format"));
    }

    // ---- password

    #[test]
    fn password_length_edges() {
        assert_eq!(
            check_password("Abcdef1").unwrap_err().rule,
            Some("min_length")
        ); // 7
        assert!(check_password("Abcdefg1").is_ok()); // 8
        let p128 = format!("Ab1{}", "x".repeat(125));
        assert_eq!(p128.chars().count(), 128);
        assert!(check_password(&p128).is_ok());
        let p129 = format!("{p128}x");
        assert_eq!(check_password(&p129).unwrap_err().rule, Some("max_length"));
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
        assert_eq!(
            (err.field.as_ref(), err.rule),
            ("password", Some("uppercase"))
        );
        assert!(err.message.contains("upper-case"));
        assert_eq!(
            check_password("ABCDEFG1").unwrap_err().rule,
            Some("lowercase")
        );
        assert_eq!(check_password("Abcdefgh").unwrap_err().rule, Some("digit"));
        assert!(check_password("Pässwört9").is_ok());
        assert!(check_password("ПАРОЛЬпароль7").is_ok());
    }
}
