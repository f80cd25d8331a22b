//! Who may mark an order paid, and with what proof.
//!
//! Customers never do: an order becomes paid when a shop manager or an
//! admin records a payment received (with its method and reference: the
//! till receipt, the bank transfer's id), or when the payment provider's
//! callback says so, signed with the shared `PAYMENT_WEBHOOK_SECRET`.
//!
//! The callback's signature is `X-Payment-Signature: sha256=<hex>` over
//! `<timestamp>.<raw body>` with HMAC-SHA256, where the timestamp (unix
//! seconds) is `X-Payment-Timestamp`. A timestamp more than
//! [`CALLBACK_TOLERANCE_SECS`] away from now is refused, so a captured
//! callback cannot be replayed later; within the window the provider's
//! event id makes a replay a no-op.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::Invalid;

/// How far a callback's timestamp may be from our clock, either way.
pub const CALLBACK_TOLERANCE_SECS: i64 = 300;

pub const MAX_METHOD_CHARS: usize = 40;
pub const MAX_REFERENCE_CHARS: usize = 100;
pub const MAX_EVENT_ID_CHARS: usize = 200;

/// A payment received, as staff record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `card`, `cash`, `bank_transfer`, `provider`, ...: lower-case words.
    pub method: String,
    /// The receipt, transfer or provider id that proves it.
    pub reference: String,
}

/// A method (lower-case letters, digits and `_`) and a reference
/// (printable, no control characters), both required.
pub fn received(method: Option<&str>, reference: Option<&str>) -> Result<Received, Invalid> {
    let method = method.map(str::trim).unwrap_or_default();
    if method.is_empty()
        || method.chars().count() > MAX_METHOD_CHARS
        || !method
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Invalid::new(
            "method",
            format!(
                "method is required: how the payment was received, e.g. card, cash or bank_transfer (lower-case, at most {MAX_METHOD_CHARS} characters)"
            ),
        ));
    }
    let reference = reference.map(str::trim).unwrap_or_default();
    if reference.is_empty()
        || reference.chars().count() > MAX_REFERENCE_CHARS
        || reference.chars().any(char::is_control)
    {
        return Err(Invalid::new(
            "reference",
            format!(
                "reference is required: the receipt or transaction id of the payment (at most {MAX_REFERENCE_CHARS} characters)"
            ),
        ));
    }
    Ok(Received {
        method: method.to_owned(),
        reference: reference.to_owned(),
    })
}

/// Why a callback was not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackRefusal {
    /// No timestamp or signature header, or not in the expected form.
    Malformed,
    /// The timestamp is outside the tolerance.
    Stale,
    /// The signature does not match.
    BadSignature,
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn callback_signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a callback's headers against the raw body at time `now`.
pub fn verify_callback(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), CallbackRefusal> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(CallbackRefusal::Malformed);
    };
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| CallbackRefusal::Malformed)?;
    if (now - at).abs() > CALLBACK_TOLERANCE_SECS {
        return Err(CallbackRefusal::Stale);
    }
    let expected = callback_signature(secret, timestamp.trim(), body);
    if bool::from(expected.as_bytes().ct_eq(signature.trim().as_bytes())) {
        Ok(())
    } else {
        Err(CallbackRefusal::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"provider-shared-secret-0123456789abcdef";

    #[test]
    fn staff_must_say_how_and_with_what_reference() {
        assert_eq!(
            received(Some("card"), Some(" RCPT-1 ")),
            Ok(Received {
                method: "card".into(),
                reference: "RCPT-1".into()
            })
        );
        for (m, r, field) in [
            (None, Some("x"), "method"),
            (Some(""), Some("x"), "method"),
            (Some("Card"), Some("x"), "method"),
            (Some("card;drop"), Some("x"), "method"),
            (Some("card"), None, "reference"),
            (Some("card"), Some("  "), "reference"),
            (Some("card"), Some("a\nb"), "reference"),
        ] {
            assert_eq!(received(m, r).unwrap_err().field, field, "{m:?} {r:?}");
        }
        let long = "r".repeat(MAX_REFERENCE_CHARS + 1);
        assert!(received(Some("cash"), Some(&long)).is_err());
    }

    #[test]
    fn a_callback_is_believed_only_signed_and_fresh() {
        let body = br#"{"event_id":"evt_1"}"#;
        let now = 1_800_000_000;
        let ts = now.to_string();
        let sig = callback_signature(SECRET, &ts, body);
        assert_eq!(
            verify_callback(SECRET, Some(&ts), Some(&sig), body, now),
            Ok(())
        );
        assert_eq!(
            verify_callback(
                SECRET,
                Some(&ts),
                Some(&sig),
                body,
                now + CALLBACK_TOLERANCE_SECS
            ),
            Ok(())
        );
        assert_eq!(
            verify_callback(
                SECRET,
                Some(&ts),
                Some(&sig),
                body,
                now + CALLBACK_TOLERANCE_SECS + 1
            ),
            Err(CallbackRefusal::Stale)
        );
        assert_eq!(
            verify_callback(
                SECRET,
                Some(&ts),
                Some(&sig),
                br#"{"event_id":"evt_2"}"#,
                now
            ),
            Err(CallbackRefusal::BadSignature)
        );
        let other = callback_signature(b"another secret", &ts, body);
        assert_eq!(
            verify_callback(SECRET, Some(&ts), Some(&other), body, now),
            Err(CallbackRefusal::BadSignature)
        );
        // The timestamp is signed: moving it forward breaks the signature.
        let later = (now + 10).to_string();
        assert_eq!(
            verify_callback(SECRET, Some(&later), Some(&sig), body, now),
            Err(CallbackRefusal::BadSignature)
        );
        assert_eq!(
            verify_callback(SECRET, None, Some(&sig), body, now),
            Err(CallbackRefusal::Malformed)
        );
        assert_eq!(
            verify_callback(SECRET, Some("soon"), Some(&sig), body, now),
            Err(CallbackRefusal::Malformed)
        );
    }
}
