//! A minimal builder for the few queries whose text depends on the caller's
//! input (the same as the host store's). It numbers placeholders `$1, $2,
//! ...`, which both engines accept; sqlx's `QueryBuilder<Any>` writes `?`,
//! which PostgreSQL does not.

use sqlx::any::{Any, AnyArguments};
use sqlx::query::Query;

enum Arg {
    Text(String),
    Int(i64),
}

/// SQL text plus its arguments, in placeholder order.
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Sql {
        Sql { text: text.to_owned(), args: Vec::new() }
    }

    /// Appends trusted SQL text (never a caller's value).
    pub(crate) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    fn placeholder(&mut self, arg: Arg) -> &mut Sql {
        self.args.push(arg);
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }

    pub(crate) fn bind_text(&mut self, value: &str) -> &mut Sql {
        self.placeholder(Arg::Text(value.to_owned()))
    }

    pub(crate) fn bind_int(&mut self, value: i64) -> &mut Sql {
        self.placeholder(Arg::Int(value))
    }

    pub(crate) fn build(self) -> Query<'static, Any, AnyArguments> {
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
