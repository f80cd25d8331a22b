//! What the gateway refuses at the edge: forged tokens, brute force, bad
//! bodies.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use marimo_platform::auth::{JwtKeys, Role, jwt::Identity};
use marimo_testkit::{Backend, TEST_JWT_SECRET};
use serde_json::json;

use crate::support::{register_and_login, start};

fn forge(claims: serde_json::Value, header: &str, key: &[u8]) -> String {
    use hmac_sha256::sign;
    let head = B64.encode(header);
    let body = B64.encode(claims.to_string());
    let sig = B64.encode(sign(key, format!("{head}.{body}").as_bytes()));
    format!("{head}.{body}.{sig}")
}

mod hmac_sha256 {
    use sha2::{Digest, Sha256};

    /// HMAC-SHA256 (RFC 2104), to forge tokens the way an attacker would.
    pub fn sign(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let ih = Sha256::new()
            .chain_update(&inner)
            .chain_update(msg)
            .finalize();
        Sha256::new()
            .chain_update(&outer)
            .chain_update(ih)
            .finalize()
            .to_vec()
    }
}

#[tokio::test]
async fn forged_tokens_are_refused_at_the_edge() {
    let sys = start(&Backend::Sqlite, &[("MARIMO_RATE_LIMITS", "off")]).await;
    let gw = &sys.gw;
    let real = register_and_login(gw, "victim@example.com").await;
    let access = real["access_token"].as_str().unwrap();
    gw.get("/api/users/profile")
        .bearer(access)
        .send()
        .await
        .expect(200);

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let uid = real["user"]["id"].as_str().unwrap();
    let claims = |exp: i64, role: &str| {
        json!({"sub": uid, "user_id": uid, "email": "victim@example.com", "role": role,
               "iss": "marimo-erp", "aud": "marimo-api", "iat": now - 10, "exp": exp, "jti": "x"})
    };
    let hs256 = r#"{"alg":"HS256","typ":"JWT"}"#;
    let secret = TEST_JWT_SECRET.as_bytes();

    // Sanity: the forging code makes tokens the system accepts with the real key.
    let genuine = forge(claims(now + 600, "user"), hs256, secret);
    gw.get("/api/users/profile")
        .bearer(&genuine)
        .send()
        .await
        .expect(200);

    let alg_none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(claims(now + 600, "admin").to_string())
    );
    let wrong_key = forge(
        claims(now + 600, "admin"),
        hs256,
        b"another-key-another-key-another-key!!",
    );
    let expired = forge(claims(now - 3600, "user"), hs256, secret);
    let parts: Vec<&str> = access.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims(now + 600, "admin").to_string()),
        parts[2]
    );

    for (what, token) in [
        ("alg none", alg_none),
        ("wrong key", wrong_key),
        ("expired", expired),
        ("tampered", tampered),
    ] {
        let res = gw.get("/api/users/list").bearer(&token).send().await;
        assert_eq!(res.status, 401, "{what}: {}", res.text);
        assert_eq!(res.json["success"], false);
        assert_eq!(res.code(), "UNAUTHORIZED", "{what}");
    }
    // A token minted with the right key but for a role the user lacks is
    // still only what it says: services check roles themselves.
    let keys = JwtKeys::new(secret);
    let (as_user, _) = keys.issue(&Identity {
        user_id: uid.into(),
        email: "victim@example.com".into(),
        role: Role::User,
        tenant: Default::default(),
    });
    gw.get("/api/users/list")
        .bearer(&as_user)
        .send()
        .await
        .expect(403);
    sys.stop().await;
}

#[tokio::test]
async fn login_brute_force_is_rate_limited() {
    let sys = start(&Backend::Sqlite, &[]).await;
    let gw = &sys.gw;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let res = gw
            .post("/api/users/login")
            .json(json!({"email": "nobody@example.com", "password": "Wrong-Passw0rd"}))
            .send()
            .await;
        statuses.push(res.status);
        if res.status == 429 {
            let retry: u64 = res
                .header("retry-after")
                .expect("Retry-After")
                .parse()
                .unwrap();
            assert!(retry >= 1);
            assert_eq!(res.json["success"], false);
            assert_eq!(res.code(), "RATE_LIMITED");
        }
    }
    // Burst 3 at 10/min: three answers, then refusals.
    assert_eq!(&statuses[..3], &[401, 401, 401], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    sys.stop().await;
}

#[tokio::test]
async fn bad_bodies_get_clear_errors() {
    let sys = start(&Backend::Sqlite, &[("MARIMO_RATE_LIMITS", "off")]).await;
    let gw = &sys.gw;
    let malformed = gw
        .post("/api/users/register")
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
    assert_eq!(malformed.json["success"], false);

    let text = gw
        .post("/api/users/register")
        .header("content-type", "text/plain")
        .body("email=a")
        .send()
        .await;
    assert_eq!(text.status, 415, "{}", text.text);

    let huge = format!("{{\"email\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let big = gw
        .post("/api/users/register")
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await;
    assert_eq!(big.status, 413, "{}", big.text);
    assert_eq!(big.json["success"], false);

    // Nothing above created a user.
    let ok = register_and_login(gw, "after@example.com").await;
    assert_eq!(ok["user"]["email"], "after@example.com");
    sys.stop().await;
}
