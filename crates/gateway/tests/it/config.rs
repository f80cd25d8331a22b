//! Start-up refuses bad configuration with a message naming the variable.

use crate::support::gateway;

#[tokio::test]
async fn bad_configuration_is_a_start_up_error() {
    for (var, value) in [
        ("MARIMO_RATE_LIMITS", "login=10/m:3,bogus=1/m"),
        ("MARIMO_RATE_LIMITS", "login=ten/m"),
        ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"),
        ("CORS_ORIGINS", "*"),
        ("USERS_URLS", "not a url"),
        ("MARIMO_BREAKER", "failure_rate=200"),
        ("MARIMO_UPSTREAM", "timeout_ms=soon"),
        ("MARIMO_CACHE", "ttl_secs=0"),
    ] {
        let err = gateway(&[(var, value)])
            .await
            .expect_err(&format!("{var}={value} must be refused"));
        assert!(err.contains(var), "{var}={value}: {err}");
    }
    assert!(
        gateway(&[("MARIMO_RATE_LIMITS", "login=1/s:1,user=off")])
            .await
            .is_ok()
    );
}
