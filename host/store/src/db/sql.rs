//! A minimal builder for the few queries whose WHERE clause depends on the
//! caller's filter. It numbers placeholders `$1, $2, ...`, which both engines
//! accept (sqlx's `QueryBuilder<Any>` writes `?`, which PostgreSQL does not).

use sqlx::any::{Any, AnyArguments};
use sqlx::query::Query;

enum Arg {
    Text(String),
    Int(i64),
}

/// SQL text plus its arguments, in placeholder order.
pub struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql { text: text.to_owned(), args: Vec::new() }
    }

    /// Appends trusted SQL text (never a caller's value).
    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    fn placeholder(&mut self, arg: Arg) -> &mut Sql {
        self.args.push(arg);
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }

    pub fn bind_text(&mut self, value: &str) -> &mut Sql {
        self.placeholder(Arg::Text(value.to_owned()))
    }

    pub fn bind_int(&mut self, value: i64) -> &mut Sql {
        self.placeholder(Arg::Int(value))
    }

    /// Appends `AND <column> = $n` when `value` is set.
    pub fn and_eq(&mut self, column: &str, value: Option<&str>) -> &mut Sql {
        if let Some(value) = value {
            self.push(" AND ").push(column).push(" = ").bind_text(value);
        }
        self
    }

    /// Appends `AND <column> <op> $n` when `value` is set.
    pub fn and_cmp(&mut self, column: &str, op: &str, value: Option<i64>) -> &mut Sql {
        if let Some(value) = value {
            self.push(" AND ").push(column).push(" ").push(op).push(" ").bind_int(value);
        }
        self
    }

    pub fn build(self) -> Query<'static, Any, AnyArguments> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(self.text));
        for arg in self.args {
            query = match arg {
                Arg::Text(value) => query.bind(value),
                Arg::Int(value) => query.bind(value),
            };
        }
        query
    }
}

/// The `VALUES` list of a multi-row INSERT: `rows` groups of `columns`
/// placeholders. Anonymous (`?`) on SQLite, whose driver looks each numbered
/// parameter up by name, a scan of all of them (a 1 000-parameter statement
/// cost quadratic time); numbered on PostgreSQL, which has no other kind.
pub fn values_list(kind: super::DbKind, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..columns {
            if col > 0 {
                sql.push_str(", ");
            }
            match kind {
                super::DbKind::Sqlite => sql.push('?'),
                super::DbKind::Postgres => {
                    sql.push('$');
                    sql.push_str(&(row * columns + col + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::values_list;
    use crate::db::DbKind;

    #[test]
    fn values_lists_number_placeholders_on_postgres_only() {
        assert_eq!(values_list(DbKind::Sqlite, 2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(values_list(DbKind::Postgres, 2, 2), "($1, $2), ($3, $4)");
    }
}
