//! The periodic purge of dead sessions.

use marimo_platform::clock;
use marimo_testkit::each_backend;
use marimo_users::{SESSION_RETENTION, domain::hash_refresh_token, purge_dead_sessions};
use serde_json::json;

use crate::support::{App, PASSWORD};

const LONG_AGO: &str = "2000-01-01T00:00:00.000000Z";

async fn logout(app: &App, refresh: &str) {
    app.http()
        .post("/api/users/logout")
        .json(json!({"refresh_token": refresh}))
        .send()
        .await
        .expect(200);
}

async fn count(app: &App, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(app.pool()).await.unwrap()
}

#[tokio::test]
async fn the_purge_forgets_long_dead_sessions_and_keeps_the_rest() {
    each_backend(|app: App| async move {
        app.register("gus@example.com", "Gus").await;
        let live = app.login_ok("gus@example.com", PASSWORD).await;
        let revoked_long_ago = app.login_ok("gus@example.com", PASSWORD).await;
        let expired_long_ago = app.login_ok("gus@example.com", PASSWORD).await;
        let revoked_now = app.login_ok("gus@example.com", PASSWORD).await;
        let rotated = app.refresh(&live.refresh).await.expect(200).json["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        logout(&app, &revoked_long_ago.refresh).await;
        logout(&app, &revoked_now.refresh).await;
        let family_of = "(SELECT family_id FROM refresh_tokens WHERE token_hash = $2)";
        for (sql, token) in [
            (
                format!("UPDATE token_families SET revoked_at = $1, created_at = $1 WHERE id = {family_of}"),
                &revoked_long_ago.refresh,
            ),
            (
                format!("UPDATE token_families SET created_at = $1 WHERE id = {family_of}"),
                &expired_long_ago.refresh,
            ),
            (
                "UPDATE refresh_tokens SET expires_at = $1 WHERE token_hash = $2".to_owned(),
                &expired_long_ago.refresh,
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(LONG_AGO)
                .bind(hash_refresh_token(token))
                .execute(app.pool())
                .await
                .unwrap();
        }
        assert_eq!(count(&app, "SELECT COUNT(*) FROM refresh_tokens").await, 5);

        let cutoff = clock::now() - SESSION_RETENTION;
        let purged = purge_dead_sessions(app.ctx.db(), cutoff).await.unwrap();
        assert_eq!(purged, 2, "{}", app.backend);
        let left: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM refresh_tokens")
            .fetch_all(app.pool())
            .await
            .unwrap();
        for (token, kept) in [
            (&live.refresh, true),
            (&rotated, true),
            (&revoked_now.refresh, true),
            (&revoked_long_ago.refresh, false),
            (&expired_long_ago.refresh, false),
        ] {
            assert_eq!(left.contains(&hash_refresh_token(token)), kept, "{token}");
        }
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM token_families").await,
            2,
            "the emptied old families are gone, the live and the recent ones kept"
        );
        // Nothing more to purge.
        assert_eq!(purge_dead_sessions(app.ctx.db(), cutoff).await.unwrap(), 0);
        // The used token of the live family was kept: presenting it again
        // is still detected as reuse and revokes the family.
        app.refresh(&live.refresh).await.expect(401);
        app.refresh(&rotated).await.expect(401);
    })
    .await;
}
