//! `/users` (admin): list and search accounts, assign a role, deactivate
//! or reactivate.

use askama::Template;
use axum::extract::{Path, Query};
use marimo_platform::auth::Role;
use serde::Deserialize;
use serde_json::json;

use crate::{
    access::Area,
    format,
    page::{Chrome, FormData, PageResult, Session, WebError, done, flash, render, text, urlencode},
};

pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub role_label: String,
    pub active: bool,
    pub created: String,
    pub is_me: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    p: Chrome,
    q: String,
    users: Vec<UserRow>,
    total: i64,
    roles: Vec<(&'static str, String)>,
    flash: Option<String>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    done: Option<String>,
}

pub async fn list(s: Session, Query(q): Query<ListQuery>) -> PageResult {
    let me = s.require(Area::Users)?.user_id.clone();
    let search = q.q.unwrap_or_default().trim().to_owned();
    let list = s
        .api
        .get(&format!(
            "/api/users/list?limit=100&q={}",
            urlencode(&search)
        ))
        .await
        .map_err(WebError::from)?;
    let tr = s.tr();
    let users = list["users"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| UserRow {
            id: text(u, "id"),
            email: text(u, "email"),
            name: text(u, "name"),
            role: text(u, "role"),
            role_label: tr.t(&format!("role.{}", text(u, "role"))).to_owned(),
            active: u["active"].as_bool().unwrap_or(true),
            created: format::date(&text(u, "created_at"), s.lang),
            is_me: text(u, "id") == me,
        })
        .collect();
    Ok(render(&UsersPage {
        p: s.chrome("nav.users").await,
        q: search,
        users,
        total: list["total"].as_i64().unwrap_or(0),
        roles: Role::ALL
            .iter()
            .map(|r| (r.as_str(), tr.t(&format!("role.{}", r.as_str())).to_owned()))
            .collect(),
        flash: flash(&tr, q.done.as_deref()),
    }))
}

pub async fn assign_role(s: Session, form: FormData) -> PageResult {
    s.require(Area::Users)?;
    s.api
        .post(
            "/api/users/admin/assign-role",
            json!({"user_id": form.get("user_id"), "role": form.get("role")}),
        )
        .await
        .map_err(WebError::from)?;
    Ok(done("/users", "role_assigned"))
}

/// `POST /users/{id}/deactivate` or `/reactivate`.
pub async fn set_active(s: Session, Path((id, action)): Path<(String, String)>) -> PageResult {
    s.require(Area::Users)?;
    if action != "deactivate" && action != "reactivate" {
        return Err(WebError::NotFound);
    }
    s.api
        .post(
            &format!("/api/users/admin/users/{}/{action}", urlencode(&id)),
            json!({}),
        )
        .await
        .map_err(WebError::from)?;
    Ok(done("/users", &format!("user_{action}d")))
}
