//! Tables whose rows are facts (journal lines, stock moves, audit rows,
//! order history): the database itself refuses UPDATE, DELETE and (on
//! PostgreSQL) TRUNCATE on them, so not even a bug or a hand-typed
//! statement can rewrite history.
//!
//! Trigger DDL differs between SQLite and PostgreSQL, so it cannot live in
//! the one-text migrations: each service calls [`install`] after its
//! migrations, at every start. The guards are a schema part (see
//! [`crate::db::migrate`]): on a current schema [`install`] only reads; the
//! DDL runs once, under the schema lock and in one transaction, so replicas
//! starting together neither fail on concurrent `CREATE OR REPLACE
//! FUNCTION` ("tuple concurrently updated") nor let a writer see a table
//! unguarded, and a replica starting under write load takes no table locks.

use crate::db::{Db, DbError, DbKind, Prepared, Schema};

/// A guarded table and what its refusal tells whoever tried: e.g.
/// `("stock_moves", "correct with a new move")`.
pub type Guarded<'a> = (&'a str, &'a str);

/// Installs the guards on `tables`, then `extra` (more backend-specific
/// DDL of the caller's, e.g. rows that may only grow) in the same go;
/// nothing but reads when they are installed already.
pub async fn install(db: &Db, tables: &[Guarded<'_>], extra: &str) -> Result<Prepared, DbError> {
    let ddl = format!("{}{extra}", ddl(db.kind(), tables));
    db.prepare(&Schema::new().part("append_only", ddl)).await
}

/// The DDL of the guards; every refusal reads `<table> is append-only: <why>`.
pub fn ddl(kind: DbKind, tables: &[Guarded<'_>]) -> String {
    let mut ddl = String::new();
    match kind {
        DbKind::Sqlite => {
            for (table, why) in tables {
                let message = literal(&format!("{table} is append-only: {why}"));
                for op in ["UPDATE", "DELETE"] {
                    let lower = op.to_ascii_lowercase();
                    ddl.push_str(&format!(
                        "CREATE TRIGGER IF NOT EXISTS {table}_no_{lower} BEFORE {op} ON {table}
                         BEGIN SELECT RAISE(ABORT, {message}); END;\n"
                    ));
                }
            }
        }
        DbKind::Postgres => {
            // One function per schema; the trigger passes its message.
            ddl.push_str(
                "CREATE OR REPLACE FUNCTION marimo_refuse_change() RETURNS trigger
                 LANGUAGE plpgsql AS $$
                 BEGIN
                   RAISE EXCEPTION '% is append-only: % (refused %)', TG_TABLE_NAME, TG_ARGV[0], TG_OP
                     USING ERRCODE = 'P0001';
                 END $$;\n",
            );
            for (table, why) in tables {
                let why = literal(why);
                ddl.push_str(&format!(
                    "DROP TRIGGER IF EXISTS {table}_immutable ON {table};
                     CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}
                       FOR EACH ROW EXECUTE FUNCTION marimo_refuse_change({why});
                     DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
                     CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                       FOR EACH STATEMENT EXECUTE FUNCTION marimo_refuse_change({why});\n"
                ));
            }
        }
    }
    ddl
}

/// A single-quoted SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_quoted_literals() {
        let sql = ddl(DbKind::Sqlite, &[("t", "it's a fact")]);
        assert!(
            sql.contains("RAISE(ABORT, 't is append-only: it''s a fact')"),
            "{sql}"
        );
        let sql = ddl(DbKind::Postgres, &[("t", "it's a fact")]);
        assert!(
            sql.contains("marimo_refuse_change('it''s a fact')"),
            "{sql}"
        );
        assert!(sql.contains("BEFORE TRUNCATE ON t"));
    }
}
