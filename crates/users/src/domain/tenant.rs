//! Tenants (businesses) and memberships: what a valid slug, business name,
//! currency and fiscal year start are, and which membership a sign-in
//! acts in.

use marimo_platform::{auth::Role, tenant::TenantId};

use super::{Invalid, invalid};

/// A business as stored in `tenants`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub currency: String,
    pub fiscal_year_start_month: u8,
    pub active: bool,
    pub created_at: String,
}

/// A person's place in a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub tenant: Tenant,
    pub role: Role,
    pub active: bool,
    pub created_at: String,
}

pub const SLUG_MIN_CHARS: usize = 3;
pub const SLUG_MAX_CHARS: usize = 40;
pub const BUSINESS_NAME_MAX_CHARS: usize = 200;

/// Slugs that name something else (the first business, or paths and host
/// names an operator may want for the installation itself).
const RESERVED_SLUGS: &[&str] = &["default", "admin", "api", "www", "app", "system"];

/// A tenant's slug: trimmed and lower-cased, 3 to 40 characters of `a-z`,
/// `0-9` and `-`, starting with a letter and not ending with `-`, not
/// reserved. Starting with a letter keeps slugs apart from tenant ids
/// (UUIDv7 text starts with a digit), so "slug or id" is never ambiguous.
pub fn parse_slug(raw: &str) -> Result<String, Invalid> {
    let slug = raw.trim().to_ascii_lowercase();
    if slug.is_empty() {
        return Err(invalid("slug", "required", "slug is required"));
    }
    let n = slug.chars().count();
    let well_formed = (SLUG_MIN_CHARS..=SLUG_MAX_CHARS).contains(&n)
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && !slug.ends_with('-')
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !well_formed {
        return Err(invalid(
            "slug",
            "format",
            format!(
                "slug must be {SLUG_MIN_CHARS} to {SLUG_MAX_CHARS} lower-case letters, digits or '-', starting with a letter"
            ),
        ));
    }
    if RESERVED_SLUGS.contains(&slug.as_str()) {
        return Err(invalid("slug", "reserved", "this slug is reserved"));
    }
    Ok(slug)
}

/// A business's name: trimmed, 1 to 200 characters, no control characters.
pub fn parse_business_name(raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(invalid(
            "business_name",
            "required",
            "business_name is required",
        ));
    }
    if name.chars().count() > BUSINESS_NAME_MAX_CHARS {
        return Err(invalid(
            "business_name",
            "max_length",
            format!("business_name must be at most {BUSINESS_NAME_MAX_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(
            "business_name",
            "format",
            "business_name must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// An ISO 4217 code: three letters, stored upper-case.
pub fn parse_currency(raw: &str) -> Result<String, Invalid> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(invalid(
            "currency",
            "format",
            "currency must be an ISO 4217 code (three letters)",
        ))
    }
}

/// The month a fiscal year starts in: 1 (January) to 12.
pub fn parse_fiscal_month(month: i64) -> Result<u8, Invalid> {
    match u8::try_from(month) {
        Ok(m @ 1..=12) => Ok(m),
        _ => Err(invalid(
            "fiscal_year_start_month",
            "range",
            "fiscal_year_start_month must be 1 to 12",
        )),
    }
}

/// Which membership a sign-in acts in: the one `wanted` names (slug or
/// id), else the default tenant's, else the oldest. `None` when the person
/// is not a member of what they asked for (or of anything): the caller
/// answers exactly as for a wrong password.
pub fn pick_membership<'a>(
    memberships: &'a [Membership],
    wanted: Option<&str>,
) -> Option<&'a Membership> {
    let usable = || memberships.iter().filter(|m| m.tenant.active);
    match wanted.map(str::trim).filter(|w| !w.is_empty()) {
        Some(w) => usable().find(|m| m.tenant.slug == w || m.tenant.id.as_str() == w),
        None => usable()
            .find(|m| m.tenant.id.is_default())
            .or_else(|| usable().min_by(|a, b| a.created_at.cmp(&b.created_at))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, slug: &str, created: &str) -> Membership {
        Membership {
            tenant: Tenant {
                id: TenantId::parse(id).unwrap(),
                slug: slug.into(),
                name: slug.into(),
                currency: "USD".into(),
                fiscal_year_start_month: 1,
                active: true,
                created_at: created.into(),
            },
            role: Role::User,
            active: true,
            created_at: created.into(),
        }
    }

    #[test]
    fn slugs_are_checked() {
        assert_eq!(parse_slug("  Acme-Tools ").unwrap(), "acme-tools");
        for bad in [
            "",
            "ab",
            "1acme",
            "acme-",
            "ac me",
            "acmé",
            "default",
            &"a".repeat(41),
        ] {
            assert!(parse_slug(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn currencies_and_months_are_checked() {
        assert_eq!(parse_currency("eur").unwrap(), "EUR");
        for bad in ["", "EU", "EURO", "E1R"] {
            assert!(parse_currency(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_fiscal_month(1).unwrap(), 1);
        assert_eq!(parse_fiscal_month(12).unwrap(), 12);
        for bad in [0, 13, -1, 300] {
            assert!(parse_fiscal_month(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sign_in_picks_the_named_then_the_default_then_the_oldest() {
        let a = member("0193f1d2-7c1e-7a00-8000-00000000000a", "acme", "2026-02-01");
        let b = member("0193f1d2-7c1e-7a00-8000-00000000000b", "bolt", "2026-01-01");
        let d = member("default", "default", "2026-03-01");
        let all = [a.clone(), b.clone(), d.clone()];
        assert_eq!(pick_membership(&all, None), Some(&d));
        assert_eq!(pick_membership(&all[..2], None), Some(&b));
        assert_eq!(pick_membership(&all, Some("acme")), Some(&a));
        assert_eq!(pick_membership(&all, Some(b.tenant.id.as_str())), Some(&b));
        assert_eq!(pick_membership(&all, Some("other")), None);
        assert_eq!(pick_membership(&[], None), None);
    }
}
