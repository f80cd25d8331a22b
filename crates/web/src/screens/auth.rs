//! Sign in, register, sign out, switch language.

use askama::Template;
use axum::{
    extract::{Path, Query},
    response::Response,
};
use http::header;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    cookies,
    i18n::Lang,
    page::{
        Chrome, FieldErrors, FormData, PageResult, Session, WebError, render, safe_next, see_other,
    },
};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    p: Chrome,
    next: String,
    email: String,
    error: String,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    p: Chrome,
    name: String,
    email: String,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    p: Chrome,
    business_name: String,
    slug: String,
    currency: String,
    month: String,
    admin_name: String,
    email: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(s: Session, Query(q): Query<NextQuery>) -> PageResult {
    // Shown even to a signed-in browser: a session the API refuses (e.g.
    // a deactivated account) is sent here, and a redirect back would loop.
    let next = safe_next(q.next.as_deref())?;
    Ok(render(&LoginPage {
        p: s.chrome("auth.login").await,
        next,
        email: String::new(),
        error: String::new(),
    }))
}

/// Sets the session cookies from a login answer and goes to `next`. The
/// CSRF token is replaced: one seen before sign-in is worth nothing after.
fn signed_in(s: &Session, body: &Value, next: &str) -> Response {
    let at = body["access_token"].as_str().unwrap_or_default();
    let rt = body["refresh_token"].as_str().unwrap_or_default();
    let ttl = body["expires_in"].as_u64().unwrap_or(900);
    let mut res = see_other(next);
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookies::set(cookies::ACCESS, at, ttl, s.secure),
    );
    h.append(
        header::SET_COOKIE,
        cookies::set(cookies::REFRESH, rt, cookies::REFRESH_MAX_AGE, s.secure),
    );
    h.append(header::SET_COOKIE, cookies::clear(cookies::CSRF, s.secure));
    res
}

pub async fn login(s: Session, form: FormData) -> PageResult {
    let next = safe_next(Some(form.get("next")))?;
    let email = form.get("email").to_owned();
    let answer = s
        .api
        .post(
            "/api/users/login",
            json!({"email": email, "password": form.get("password")}),
        )
        .await;
    match answer {
        Ok(body) => Ok(signed_in(&s, &body, &next)),
        Err(f) => {
            let tr = s.tr();
            let error = match f.status.as_u16() {
                401 => tr.t("auth.bad_credentials").to_owned(),
                429 => tr.t("auth.too_many").to_owned(),
                503 => tr.t("error.unavailable.text").to_owned(),
                _ => f.message,
            };
            let mut res = render(&LoginPage {
                p: s.chrome("auth.login").await,
                next,
                email,
                error,
            });
            *res.status_mut() = f.status;
            Ok(res)
        }
    }
}

pub async fn register_form(s: Session) -> PageResult {
    Ok(render(&RegisterPage {
        p: s.chrome("auth.register").await,
        name: String::new(),
        email: String::new(),
        errors: FieldErrors::default(),
    }))
}

pub async fn register(s: Session, form: FormData) -> PageResult {
    let (name, email, password) = (form.get("name"), form.get("email"), form.get("password"));
    let created = s
        .api
        .post(
            "/api/users/register",
            json!({"name": name, "email": email, "password": password}),
        )
        .await;
    let fail = match created {
        Ok(_) => match s
            .api
            .post(
                "/api/users/login",
                json!({"email": email, "password": password}),
            )
            .await
        {
            Ok(body) => return Ok(signed_in(&s, &body, "/shop")),
            Err(f) => f,
        },
        Err(f) => f,
    };
    let mut errors = FieldErrors::from_fail(&fail);
    if fail.status.as_u16() == 409 {
        errors.field = Some("email".into());
        errors.message = Some(s.tr().t("auth.email_taken").to_owned());
    }
    let mut res = render(&RegisterPage {
        p: s.chrome("auth.register").await,
        name: name.to_owned(),
        email: email.to_owned(),
        errors,
    });
    *res.status_mut() = fail.status;
    Ok(res)
}

/// `GET /signup`: the sign-up form (404 when sign-up is off).
pub async fn signup_form(s: Session) -> PageResult {
    if !s.signup {
        return Err(WebError::NotFound);
    }
    Ok(render(&SignupPage {
        p: s.chrome("tenant.signup").await,
        business_name: String::new(),
        slug: String::new(),
        currency: String::new(),
        month: "1".to_owned(),
        admin_name: String::new(),
        email: String::new(),
        errors: FieldErrors::default(),
    }))
}

/// `POST /signup`: creates the business and its admin, signs them in.
pub async fn signup(s: Session, form: FormData) -> PageResult {
    if !s.signup {
        return Err(WebError::NotFound);
    }
    let month = form.get("fiscal_year_start_month").trim().to_owned();
    let body = json!({
        "business_name": form.get("business_name"),
        "slug": form.get("slug"),
        "currency": form.get("currency"),
        // Not a number: the API names the field in its refusal.
        "fiscal_year_start_month": month.parse::<i64>().map_or(json!(month), |m| json!(m)),
        "admin_name": form.get("admin_name"),
        "email": form.get("email"),
        "password": form.get("password"),
    });
    let fail = match s.api.post("/api/users/signup", body).await {
        Ok(answer) => return Ok(signed_in(&s, &answer, "/")),
        Err(f) => f,
    };
    let mut errors = FieldErrors::from_fail(&fail);
    match fail.status.as_u16() {
        409 => errors.message = Some(s.tr().t("tenant.taken").to_owned()),
        404 => errors.message = Some(s.tr().t("tenant.signup_off").to_owned()),
        _ => {}
    }
    let mut res = render(&SignupPage {
        p: s.chrome("tenant.signup").await,
        business_name: form.get("business_name").to_owned(),
        slug: form.get("slug").to_owned(),
        currency: form.get("currency").to_owned(),
        month,
        admin_name: form.get("admin_name").to_owned(),
        email: form.get("email").to_owned(),
        errors,
    });
    *res.status_mut() = fail.status;
    Ok(res)
}

/// `POST /tenant`: a new session in another of the user's tenants.
pub async fn switch_tenant(s: Session, form: FormData) -> PageResult {
    if s.user.is_none() {
        return Err(WebError::SignIn("/".to_owned()));
    }
    match s
        .api
        .post(
            "/api/users/tenants/switch",
            json!({"tenant": form.get("tenant")}),
        )
        .await
    {
        Ok(answer) => Ok(signed_in(&s, &answer, "/")),
        Err(f) => Err(f.into()),
    }
}

/// Revokes the refresh token (the API's logout) and clears the cookies.
pub async fn logout(s: Session, headers: http::HeaderMap) -> PageResult {
    let rt = cookies::get(&headers, cookies::REFRESH, s.secure).unwrap_or_default();
    // Whatever the API says, the browser forgets the session.
    if let Err(f) = s
        .api
        .post("/api/users/logout", json!({"refresh_token": rt}))
        .await
    {
        tracing::warn!(
            status = f.status.as_u16(),
            "logout was not confirmed by the users service"
        );
    }
    let mut res = see_other("/login");
    for name in [
        cookies::ACCESS,
        cookies::REFRESH,
        cookies::CSRF,
        cookies::CART,
    ] {
        res.headers_mut()
            .append(header::SET_COOKIE, cookies::clear(name, s.secure));
    }
    Ok(res)
}

/// `GET /lang/{code}?next=...`: remembers the language, back to the page.
pub async fn switch_language(
    s: Session,
    Path(code): Path<String>,
    Query(q): Query<NextQuery>,
) -> PageResult {
    let lang = Lang::parse(&code).unwrap_or(s.lang);
    let mut res = see_other(&safe_next(q.next.as_deref())?);
    res.headers_mut()
        .append(header::SET_COOKIE, cookies::lang(lang.code(), s.secure));
    Ok(res)
}
