//! An ordinary PostgreSQL role for the tests that prove the tenant row
//! policies: superusers (the `postgres` the suites connect as) bypass
//! every policy, so only a connection as a role like production's shows
//! what a query that forgot its tenant filter really sees.

use marimo_platform::{
    config::{DatabaseConfig, MigrateMode},
    db::Db,
    ids::new_id,
};
use sqlx::Connection;

/// A fresh role (LOGIN, not a superuser) with every right on the tables of
/// one service schema, and that service's pool connected as it.
pub struct AppRole {
    /// The service's database, as the role.
    pub db: Db,
    name: String,
    schema: String,
    owner_url: String,
}

impl AppRole {
    /// Creates the role in the PostgreSQL database of `database` (a
    /// superuser's URL, as test settings hold) with `SELECT`, `INSERT`,
    /// `UPDATE` and `DELETE` on every table of `schema`, and connects the
    /// pool of service `schema` as it (without migrating).
    pub async fn connect(database: &DatabaseConfig, schema: &str) -> Self {
        let DatabaseConfig::Postgres { url } = database else {
            panic!("an application role needs a PostgreSQL backend");
        };
        let name = format!("marimo_app_{}", &new_id().replace('-', "")[..12]);
        owner_sql(
            url,
            &format!(
                "CREATE ROLE {name} LOGIN;
                 GRANT USAGE ON SCHEMA {schema} TO {name};
                 GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {name};"
            ),
        )
        .await;
        let db = Db::connect(
            schema,
            &DatabaseConfig::Postgres {
                url: as_user(url, &name),
            },
            MigrateMode::Off,
        )
        .await
        .expect("connect as the application role");
        Self {
            db,
            name,
            schema: schema.to_owned(),
            owner_url: url.clone(),
        }
    }

    /// Closes the pool and drops the role (roles belong to the server, not
    /// to the test's database, so they are not dropped with it).
    pub async fn drop_role(self) {
        self.db.close().await;
        let (name, schema) = (&self.name, &self.schema);
        owner_sql(
            &self.owner_url,
            &format!(
                "REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {name};
                 REVOKE ALL ON SCHEMA {schema} FROM {name};
                 DROP ROLE {name};"
            ),
        )
        .await;
    }
}

async fn owner_sql(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .expect("connect as the database's owner");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

/// `url` signing in as `user` instead.
fn as_user(url: &str, user: &str) -> String {
    let start = url.find("://").expect("a URL") + 3;
    let rest = &url[start..];
    let host = rest.find('@').map_or(rest, |at| &rest[at + 1..]);
    format!("{}{user}@{host}", &url[..start])
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_url_names_the_role() {
        assert_eq!(
            super::as_user("postgres://postgres@127.0.0.1:5432/db?x=1", "app"),
            "postgres://app@127.0.0.1:5432/db?x=1"
        );
        assert_eq!(
            super::as_user("postgres://127.0.0.1/db", "app"),
            "postgres://app@127.0.0.1/db"
        );
    }
}
