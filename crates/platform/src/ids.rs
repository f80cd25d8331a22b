//! Identifiers: UUIDv7 everywhere, so ids sort by creation time.

use uuid::Uuid;

/// A new UUIDv7 as its canonical hyphenated string (ids are stored as text).
pub fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// True when `s` is a syntactically valid UUID; lets handlers answer 404
/// for garbage ids without a database round-trip.
pub fn is_uuid(s: &str) -> bool {
    Uuid::parse_str(s).is_ok()
}

/// `n` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::fill(&mut buf);
    buf
}
