//! Tenancy (issue 19): sign-up, which tenant a sign-in acts in, switching,
//! per-tenant members and roles, refresh keeping the tenant, tokens from
//! before tenancy, and the row policy of `memberships` proved as an
//! application role on PostgreSQL.

use marimo_platform::tenant::TenantId;
use marimo_testkit::{AppRole, TEST_JWT_SECRET, backends, each_backend};
use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, App, PASSWORD, Tokens};

const FOUNDER_PASSWORD: &str = "Founder-1";

fn signup_body(slug: &str, email: &str) -> Value {
    json!({
        "business_name": format!("{slug} Ltd"),
        "slug": slug,
        "currency": "eur",
        "fiscal_year_start_month": 4,
        "admin_name": "Founder",
        "email": email,
        "password": FOUNDER_PASSWORD,
    })
}

/// The token pair of a sign-up or switch answer.
fn pair(res: &marimo_testkit::Res) -> Tokens {
    Tokens {
        access: res.json["access_token"].as_str().unwrap().to_owned(),
        refresh: res.json["refresh_token"].as_str().unwrap().to_owned(),
        user_id: res.json["user"]["id"].as_str().unwrap_or("").to_owned(),
    }
}

impl App {
    async fn signup(&self, slug: &str, email: &str) -> marimo_testkit::Res {
        self.http()
            .post("/api/v1/users/signup")
            .json(signup_body(slug, email))
            .send()
            .await
    }

    async fn login_in(&self, email: &str, password: &str, tenant: &str) -> marimo_testkit::Res {
        self.http()
            .post("/api/v1/users/login")
            .json(json!({"email": email, "password": password, "tenant": tenant}))
            .send()
            .await
    }

    async fn current_tenant(&self, access: &str) -> Value {
        self.http()
            .get("/api/v1/users/tenant")
            .bearer(access)
            .send()
            .await
            .expect(200)
            .json["tenant"]
            .clone()
    }

    async fn member_emails(&self, access: &str) -> Vec<String> {
        let res = self
            .http()
            .get("/api/v1/users/list")
            .bearer(access)
            .send()
            .await
            .expect(200);
        let mut emails: Vec<String> = res.json["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect();
        emails.sort();
        emails
    }

    async fn add_member(&self, admin: &str, body: Value) -> marimo_testkit::Res {
        self.http()
            .post("/api/v1/users/admin/members")
            .bearer(admin)
            .json(body)
            .send()
            .await
    }
}

#[tokio::test]
async fn signup_creates_the_tenant_its_admin_and_the_event_in_one_go() {
    each_backend(|app: App| async move {
        let res = app.signup("acme", "ann@acme.test").await.expect(201);
        let tenant_id = res.json["tenant"]["id"].as_str().unwrap().to_owned();
        assert!(TenantId::parse(&tenant_id).is_ok());
        assert_ne!(tenant_id, "default");
        assert_eq!(res.json["tenant"]["slug"], "acme");
        assert_eq!(res.json["tenant"]["currency"], "EUR");
        assert_eq!(res.json["tenant"]["fiscal_year_start_month"], 4);
        assert_eq!(res.json["user"]["role"], "admin");
        let ann = pair(&res);

        // The tokens act in the new tenant, as its admin.
        assert_eq!(
            app.current_tenant(&ann.access).await["id"],
            tenant_id.as_str()
        );
        assert_eq!(app.member_emails(&ann.access).await, ["ann@acme.test"]);

        // One users.tenant.created, stamped with the new tenant.
        let events = app.events("users.tenant.created").await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["tenant"], tenant_id.as_str());
        assert_eq!(
            events[0]["payload"],
            json!({"tenant_id": tenant_id, "slug": "acme", "name": "acme Ltd",
                   "currency": "EUR", "fiscal_year_start_month": 4})
        );

        // A taken slug and a taken email get the same answer; nothing new.
        let slug = app.signup("acme", "other@acme.test").await.expect(409);
        let email = app.signup("bolt", "ann@acme.test").await.expect(409);
        let root = app.signup("rootco", ADMIN_EMAIL).await.expect(409);
        assert_eq!(slug.json["message"], email.json["message"]);
        assert_eq!(slug.json["message"], root.json["message"]);
        let tenants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
            .fetch_one(app.pool())
            .await
            .unwrap();
        assert_eq!(tenants, 2, "default and acme");
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(app.pool())
            .await
            .unwrap();
        assert_eq!(users, 2, "root and ann");

        // Bad input is a 400 that names the field.
        let mut bad = signup_body("zeta", "z@zeta.test");
        bad["fiscal_year_start_month"] = json!(13);
        let res = app
            .http()
            .post("/api/v1/users/signup")
            .json(bad)
            .send()
            .await
            .expect(400);
        assert_eq!(
            res.json["error"]["details"]["field"],
            "fiscal_year_start_month"
        );
    })
    .await;
}

#[tokio::test]
async fn signup_can_be_turned_off() {
    for backend in backends() {
        let settings = backend
            .settings(&[
                ("MARIMO_ADMIN_EMAIL", ADMIN_EMAIL),
                ("MARIMO_ADMIN_PASSWORD", ADMIN_PASSWORD),
                ("MARIMO_SIGNUP", "off"),
            ])
            .await;
        let app = App::on(settings, backend.name()).await;
        app.signup("acme", "ann@acme.test").await.expect(404);
        let tenants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
            .fetch_one(app.pool())
            .await
            .unwrap();
        assert_eq!(tenants, 1);
    }
}

#[tokio::test]
async fn sign_in_picks_the_named_then_the_default_then_the_oldest_tenant() {
    each_backend(|app: App| async move {
        let acme = pair(&app.signup("acme", "ann@acme.test").await.expect(201));
        let acme_id = app.current_tenant(&acme.access).await["id"].clone();

        // Only in acme: a sign-in without a tenant lands there.
        let ann = app.login_ok("ann@acme.test", FOUNDER_PASSWORD).await;
        assert_eq!(app.current_tenant(&ann.access).await["id"], acme_id);

        // The default tenant's admin adds ann as an accountant: now the
        // default membership wins, with its own role.
        let root = app.admin().await;
        app.add_member(
            &root.access,
            json!({"email": "ann@acme.test", "role": "accountant"}),
        )
        .await
        .expect(201);
        let res = app
            .login("ann@acme.test", FOUNDER_PASSWORD)
            .await
            .expect(200);
        assert_eq!(res.json["tenant"]["id"], "default");
        assert_eq!(res.json["user"]["role"], "accountant");

        // Named, by slug or by id: that tenant, with the role there.
        let res = app
            .login_in("ann@acme.test", FOUNDER_PASSWORD, "acme")
            .await
            .expect(200);
        assert_eq!(res.json["tenant"]["id"], acme_id);
        assert_eq!(res.json["user"]["role"], "admin");
        let res = app
            .login_in("ann@acme.test", FOUNDER_PASSWORD, acme_id.as_str().unwrap())
            .await
            .expect(200);
        assert_eq!(res.json["user"]["role"], "admin");

        // Not a member (or no such tenant): exactly a wrong password's 401.
        let wrong = app.login("ann@acme.test", "Wrong-pass1").await.expect(401);
        let foreign = app
            .login_in(ADMIN_EMAIL, ADMIN_PASSWORD, "acme")
            .await
            .expect(401);
        let unknown = app
            .login_in(ADMIN_EMAIL, ADMIN_PASSWORD, "nope")
            .await
            .expect(401);
        assert_eq!(foreign.json["message"], wrong.json["message"]);
        assert_eq!(unknown.json["message"], wrong.json["message"]);
    })
    .await;
}

#[tokio::test]
async fn adding_an_existing_account_is_member_added_not_a_registration() {
    each_backend(|app: App| async move {
        let acme = pair(&app.signup("acme", "ann@acme.test").await.expect(201));
        let acme_id = app.current_tenant(&acme.access).await["id"].clone();
        let root = app.admin().await;
        let registered = app.events("users.user.registered").await.len();
        app.add_member(
            &root.access,
            json!({"email": "ann@acme.test", "role": "accountant"}),
        )
        .await
        .expect(201);

        // No second welcome: ann's account is not new.
        assert_eq!(app.events("users.user.registered").await.len(), registered);
        let added = app.events("users.member.added").await;
        assert_eq!(added.len(), 1);
        assert_eq!(added[0]["tenant"], "default");
        assert_eq!(added[0]["actor"], root.user_id.as_str());
        let p = &added[0]["payload"];
        assert_eq!(p["tenant_id"], "default");
        assert_eq!(p["user_id"], acme.user_id.as_str());
        assert_eq!(p["email"], "ann@acme.test");
        assert_eq!(p["name"], "Founder");
        assert_eq!(p["role"], "accountant");
        assert_eq!(p["added_by"], root.user_id.as_str());
        assert!(p["tenant_name"].as_str().is_some_and(|n| !n.is_empty()));

        // A new account created as a member is a registration, as before.
        app.add_member(
            &acme.access,
            json!({"email": "carl@acme.test", "role": "user", "name": "Carl", "password": PASSWORD}),
        )
        .await
        .expect(201);
        let registered = app.events("users.user.registered").await;
        let carl = registered.last().unwrap();
        assert_eq!(carl["payload"]["email"], "carl@acme.test");
        assert_eq!(carl["tenant"], acme_id);
        assert_eq!(app.events("users.member.added").await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn changing_the_tenant_publishes_tenant_updated_in_it() {
    each_backend(|app: App| async move {
        let acme = pair(&app.signup("acme", "ann@acme.test").await.expect(201));
        let acme_id = app.current_tenant(&acme.access).await["id"].clone();
        let put = |body: Value| {
            app.http()
                .put("/api/v1/users/tenant")
                .bearer(&acme.access)
                .json(body)
                .send()
        };
        put(json!({"currency": "gbp", "fiscal_year_start_month": 7}))
            .await
            .expect(200);
        let updated = app.events("users.tenant.updated").await;
        assert_eq!(updated.len(), 1);
        assert_eq!(updated[0]["tenant"], acme_id);
        assert_eq!(updated[0]["actor"], acme.user_id.as_str());
        assert_eq!(
            updated[0]["payload"],
            json!({"tenant_id": acme_id, "slug": "acme", "name": "acme Ltd",
                   "currency": "GBP", "fiscal_year_start_month": 7})
        );
        // The same values again change nothing and publish nothing; bad
        // input is a 400 that publishes nothing either.
        put(json!({"currency": "GBP"})).await.expect(200);
        put(json!({"fiscal_year_start_month": 13}))
            .await
            .expect(400);
        assert_eq!(app.events("users.tenant.updated").await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn switching_needs_a_membership_and_refresh_keeps_the_tenant() {
    each_backend(|app: App| async move {
        let acme = pair(&app.signup("acme", "ann@acme.test").await.expect(201));
        let acme_id = app.current_tenant(&acme.access).await["id"].clone();
        let root = app.admin().await;
        app.add_member(
            &root.access,
            json!({"email": "ann@acme.test", "role": "manager"}),
        )
        .await
        .expect(201);

        // Ann's tenants, with her role in each.
        let res = app
            .http()
            .get("/api/v1/users/tenants")
            .bearer(&acme.access)
            .send()
            .await
            .expect(200);
        let mine: Vec<(String, String, bool)> = res.json["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["slug"].as_str().unwrap().to_owned(),
                    t["role"].as_str().unwrap().to_owned(),
                    t["current"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            mine,
            [
                ("acme".to_owned(), "admin".to_owned(), true),
                ("default".to_owned(), "manager".to_owned(), false)
            ]
        );

        // Ann switches to default: a pair there, with her role there.
        let res = app
            .http()
            .post("/api/v1/users/tenants/switch")
            .bearer(&acme.access)
            .json(json!({"tenant": "default"}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["user"]["role"], "manager");
        let switched = pair(&res);
        assert_eq!(app.current_tenant(&switched.access).await["id"], "default");

        // The root admin is no member of acme: 404, as for no tenant.
        for wanted in ["acme", acme_id.as_str().unwrap(), "nope"] {
            app.http()
                .post("/api/v1/users/tenants/switch")
                .bearer(&root.access)
                .json(json!({"tenant": wanted}))
                .send()
                .await
                .expect(404);
        }

        // Refresh keeps each session's tenant.
        let next = App::tokens(app.refresh(&acme.refresh).await);
        assert_eq!(app.current_tenant(&next.access).await["id"], acme_id);
        let next = App::tokens(app.refresh(&switched.refresh).await);
        assert_eq!(app.current_tenant(&next.access).await["id"], "default");
    })
    .await;
}

#[tokio::test]
async fn each_admin_sees_and_changes_only_their_own_members() {
    each_backend(|app: App| async move {
        let root = app.admin().await;
        let bob = app.register("bob@example.com", "Bob").await;
        let bob_id = bob["id"].as_str().unwrap().to_owned();
        let acme = pair(&app.signup("acme", "ann@acme.test").await.expect(201));
        app.add_member(
            &acme.access,
            json!({"email": "carl@acme.test", "role": "shop_manager", "name": "Carl", "password": PASSWORD}),
        )
        .await
        .expect(201);
        // An existing account without a name and password to create one:
        // it is added, not recreated; an unknown one without them is 404.
        app.add_member(&acme.access, json!({"email": "nobody@acme.test", "role": "user"}))
            .await
            .expect(404);

        assert_eq!(
            app.member_emails(&acme.access).await,
            ["ann@acme.test", "carl@acme.test"]
        );
        assert_eq!(
            app.member_emails(&root.access).await,
            ["bob@example.com", ADMIN_EMAIL]
        );
        // Summary counts, by hand: acme 1 admin + 1 shop_manager.
        let res = app
            .http()
            .get("/api/v1/users/summary")
            .bearer(&acme.access)
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["total_users"], 2);
        assert_eq!(res.json["by_role"]["admin"], 1);
        assert_eq!(res.json["by_role"]["shop_manager"], 1);
        assert_eq!(res.json["by_role"]["user"], 0);

        // Acme's admin guesses bob's id: 404 everywhere, nothing changes.
        app.http()
            .post("/api/v1/users/admin/assign-role")
            .bearer(&acme.access)
            .json(json!({"user_id": bob_id, "role": "admin"}))
            .send()
            .await
            .expect(404);
        for action in ["deactivate", "reactivate"] {
            app.http()
                .post(&format!("/api/v1/users/admin/users/{bob_id}/{action}"))
                .bearer(&acme.access)
                .send()
                .await
                .expect(404);
        }
        let bob = app.login_ok("bob@example.com", PASSWORD).await;
        let res = app.profile(&bob.access).await.expect(200);
        assert_eq!(res.json["role"], "user");
        assert_eq!(res.json["active"], true);

        // Root makes bob a manager in default: the membership's role.
        app.http()
            .post("/api/v1/users/admin/assign-role")
            .bearer(&root.access)
            .json(json!({"user_id": bob_id, "role": "manager"}))
            .send()
            .await
            .expect(200);
        let role: String = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE tenant_id = 'default' AND user_id = $1",
        )
        .bind(&bob_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
        assert_eq!(role, "manager");

        // Only admins of the tenant change its settings.
        let res = app
            .http()
            .put("/api/v1/users/tenant")
            .bearer(&acme.access)
            .json(json!({"name": "Acme Tools", "currency": "gbp"}))
            .send()
            .await
            .expect(200);
        assert_eq!(res.json["tenant"]["currency"], "GBP");
        assert_eq!(res.json["tenant"]["fiscal_year_start_month"], 4);
        let carl = app.login_ok("carl@acme.test", PASSWORD).await;
        app.http()
            .put("/api/v1/users/tenant")
            .bearer(&carl.access)
            .json(json!({"name": "Mine now"}))
            .send()
            .await
            .expect(403);
        assert_eq!(app.current_tenant(&root.access).await["currency"], "USD");
    })
    .await;
}

/// An access token as issued before tenancy: the claims without `tid`.
fn token_without_tenant(who: &Tokens, email: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let claims = json!({
        "sub": who.user_id, "user_id": who.user_id, "email": email, "role": "admin",
        "iss": "marimo-erp", "aud": "marimo-api",
        "iat": now.as_secs(), "iat_ms": now.as_millis() as i64 + 1000,
        "exp": now.as_secs() + 600, "jti": "old-token",
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn tokens_from_before_tenancy_act_in_the_default_tenant() {
    each_backend(|app: App| async move {
        let root = app.admin().await;
        app.register("bob@example.com", "Bob").await;
        app.signup("acme", "ann@acme.test").await.expect(201);
        let old = token_without_tenant(&root, ADMIN_EMAIL);
        assert_eq!(app.current_tenant(&old).await["id"], "default");
        assert_eq!(
            app.member_emails(&old).await,
            ["bob@example.com", ADMIN_EMAIL]
        );
    })
    .await;
}

/// Every membership the transaction may see. Deliberately no tenant
/// filter: the policy does the filtering.
async fn members(tx: &mut marimo_platform::db::Tx) -> Vec<String> {
    sqlx::query_scalar("SELECT tenant_id || ':' || role FROM memberships ORDER BY 1")
        .fetch_all(&mut **tx)
        .await
        .unwrap()
}

#[tokio::test]
async fn memberships_are_under_the_row_policy_for_the_application_role() {
    let Some(backend) = marimo_testkit::postgres() else {
        return;
    };
    let app = <App as marimo_testkit::Fixture>::start(&backend).await;
    let acme = pair(&app.signup("acme", "ann@acme.test").await.expect(201));
    let acme_id = TenantId::parse(
        app.current_tenant(&acme.access).await["id"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    app.register("bob@example.com", "Bob").await;

    let role = AppRole::connect(&app.settings.database, "users").await;
    let db = &role.db;

    let mut tx = db.tenant(&acme_id).read().await.unwrap();
    assert_eq!(members(&mut tx).await, [format!("{acme_id}:admin")]);
    drop(tx);
    let mut tx = db.tenant(&TenantId::default_tenant()).read().await.unwrap();
    assert_eq!(members(&mut tx).await, ["default:admin", "default:user"]);
    drop(tx);
    let mut tx = db.begin().await.unwrap();
    assert!(members(&mut tx).await.is_empty(), "no tenant, no rows");
    drop(tx);
    // A membership cannot be written into another tenant.
    let mut tx = db.tenant(&acme_id).begin().await.unwrap();
    let foreign = sqlx::query("UPDATE memberships SET tenant_id = 'default'")
        .execute(&mut *tx)
        .await;
    assert!(foreign.is_err(), "a membership was moved to another tenant");
    drop(tx);
    role.drop_role().await;
}
