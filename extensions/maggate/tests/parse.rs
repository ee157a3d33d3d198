//! The query-string grammar and the SQL text it becomes, without a database.

use maggate::db::{Column, Dialect, Table};
use maggate::request::{
    Condition, Filter, IsValue, Op, Operand, OrderTerm, SelectItem, parse_accept, parse_query, parse_range,
};
use maggate::sql::{Builder, Field, like_to_glob, projection, quote_ident};

fn col(name: &str, ty: &str, pk: bool) -> Column {
    Column { name: name.into(), data_type: ty.into(), nullable: !pk, primary_key: pk, has_default: pk }
}

fn todos() -> Table {
    Table {
        name: "todos".into(),
        columns: vec![col("id", "bigint", true), col("title", "text", false), col("done", "boolean", false)],
    }
}

fn cond(column: &str, negate: bool, op: Op, operand: Operand) -> Filter {
    Filter::Cond(Condition { column: column.into(), negate, op, operand })
}

#[test]
fn filters_parse_into_conditions() {
    // col=op.value, not., in lists with quotes and is values become typed conditions.
    let q = parse_query("id=eq.1&title=not.like.*a,b*&id=in.(1,%222,3%22,x)&done=is.NULL").expect("parses");
    assert_eq!(
        q.filters,
        vec![
            cond("id", false, Op::Eq, Operand::Value("1".into())),
            cond("title", true, Op::Like, Operand::Value("*a,b*".into())),
            cond("id", false, Op::In, Operand::List(vec!["1".into(), "2,3".into(), "x".into()])),
            cond("done", false, Op::Is, Operand::Is(IsValue::Null)),
        ]
    );
}

#[test]
fn plus_is_a_space_and_values_are_raw() {
    // + decodes to a space; a top-level value keeps its quotes and parentheses.
    let q = parse_query("title=eq.a+b&x=eq.\"q\"(1)").expect("parses");
    assert_eq!(q.filters[0], cond("title", false, Op::Eq, Operand::Value("a b".into())));
    assert_eq!(q.filters[1], cond("x", false, Op::Eq, Operand::Value("\"q\"(1)".into())));
}

#[test]
fn logic_trees_nest() {
    // or=(a,and(b,c)) and not.and=(...) parse into nested groups.
    let q = parse_query("or=(id.eq.1,and(done.is.true,title.in.(a,\"b)\")))&not.and=(id.gt.1,id.lt.3)")
        .expect("parses");
    assert_eq!(
        q.filters[0],
        Filter::Logic {
            or: true,
            negate: false,
            children: vec![
                cond("id", false, Op::Eq, Operand::Value("1".into())),
                Filter::Logic {
                    or: false,
                    negate: false,
                    children: vec![
                        cond("done", false, Op::Is, Operand::Is(IsValue::True)),
                        cond("title", false, Op::In, Operand::List(vec!["a".into(), "b)".into()])),
                    ],
                },
            ],
        }
    );
    assert!(matches!(q.filters[1], Filter::Logic { or: false, negate: true, .. }));
}

#[test]
fn select_order_limit_offset_parse() {
    // select with aliases and quoted names, order with direction and nulls, limit and offset.
    let q =
        parse_query("select=id,label:title,%22a%5C%22b%22,*&order=title.desc.nullslast,id&limit=5&offset=10")
            .expect("parses");
    assert_eq!(
        q.select,
        Some(vec![
            SelectItem::Column { alias: None, column: "id".into() },
            SelectItem::Column { alias: Some("label".into()), column: "title".into() },
            SelectItem::Column { alias: None, column: "a\"b".into() },
            SelectItem::Star,
        ])
    );
    assert_eq!(
        q.order,
        vec![
            OrderTerm { column: "title".into(), desc: true, nulls_first: Some(false) },
            OrderTerm { column: "id".into(), desc: false, nulls_first: None },
        ]
    );
    assert_eq!((q.limit, q.offset), (Some(5), Some(10)));
}

#[test]
fn malformed_queries_are_pgrst100() {
    // Unknown operators, unbalanced groups, bad numbers and overlong input are parse errors.
    for q in [
        "id=foo.1",
        "id=eq",
        "or=(id.eq.1",
        "or=id.eq.1",
        "id=in.(1,2",
        "id=in.(1)x",
        "limit=ten",
        "order=id.up",
        "select=a,,b",
        "id=eq.%zz",
        "id=eq.%ff",
    ] {
        let e = parse_query(q).expect_err(q);
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST100"), "{q}: {e:?}");
    }
    let long = format!("id=eq.{}", "x".repeat(maggate::request::MAX_QUERY_BYTES));
    assert_eq!(parse_query(&long).expect_err("too long").code, "PGRST100");
    let many = vec!["id=eq.1"; maggate::request::MAX_QUERY_PAIRS + 1].join("&");
    assert_eq!(parse_query(&many).expect_err("too many").code, "PGRST100");
    let deep = format!("or=({}id.eq.1{})", "or(".repeat(9), ")".repeat(9));
    assert_eq!(parse_query(&deep).expect_err("too deep").code, "PGRST100");
    let ok = format!("or=({}id.eq.1{})", "or(".repeat(7), ")".repeat(7));
    assert!(parse_query(&ok).is_ok());
}

#[test]
fn headers_parse() {
    // Range, Accept.
    assert_eq!(parse_range("0-9").expect("range"), Some((0, Some(9))));
    assert_eq!(parse_range("items=5-").expect("range"), Some((5, None)));
    assert_eq!(parse_range("bytes").expect("ignored"), None);
    assert_eq!(parse_range("9-0").expect_err("inverted").code, "PGRST103");
    assert_eq!(
        parse_accept("application/vnd.pgrst.object+json").expect("object"),
        maggate::request::Accept::Object
    );
    assert_eq!(parse_accept("text/csv").expect_err("csv").status, 406);
}

#[test]
fn sql_quotes_identifiers_and_binds_values() {
    // The statement quotes every identifier and carries every value as a parameter.
    let t = todos();
    let q = parse_query("title=eq.x'y&or=(id.in.(1,2),done.is.true)&order=id.desc").expect("parses");
    let fields = projection(&t, None).expect("projection");
    let st =
        Builder::new(Dialect::Postgres, &t).select(&fields, &q.filters, &q.order, Some(10), 5).expect("sql");
    assert_eq!(
        st.sql,
        r#"SELECT "id", "title", "done" FROM "todos" WHERE "title" = $1 AND ("id" IN ($2, $3) OR "done" IS TRUE) ORDER BY "id" DESC NULLS FIRST LIMIT 10 OFFSET 5"#
    );
    assert_eq!(
        st.params,
        vec![maggate::Value::Text("x'y".into()), maggate::Value::Int(1), maggate::Value::Int(2)]
    );
    let st = Builder::new(Dialect::Sqlite, &t).select(&fields, &q.filters, &[], None, 5).expect("sql");
    assert!(
        st.sql.ends_with(r#"WHERE "title" = ?1 AND ("id" IN (?2, ?3) OR "done" IS TRUE) LIMIT -1 OFFSET 5"#),
        "{}",
        st.sql
    );
    assert_eq!(quote_ident(r#"weird "name""#), r#""weird ""name""""#);
    let f = vec![Field { key: "x".into(), column: 1 }];
    let st = Builder::new(Dialect::Sqlite, &t).select(&f, &[], &[], Some(1), 0).expect("sql");
    assert_eq!(st.sql, r#"SELECT "title" FROM "todos" LIMIT 1"#);
}

#[test]
fn like_patterns_become_globs_on_sqlite() {
    // %, _ and \ escapes of a LIKE pattern map onto GLOB; GLOB's own metacharacters are bracketed.
    assert_eq!(like_to_glob("%a_b%"), "*a?b*");
    assert_eq!(like_to_glob(r"50\%*?[x]"), "50%[*][?][[]x]");
}

#[test]
fn sqlite_dollar_parameters_are_named_not_positional() {
    // Why MagGate writes ?N for SQLite: `$N` binds by order of first appearance, not by N.
    let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
    let (a, b): (i64, i64) = conn
        .query_row("SELECT $2, $1", rusqlite::params![1, 2], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query");
    assert_eq!((a, b), (1, 2), "$2 took the first value");
    let (a, b): (i64, i64) = conn
        .query_row("SELECT ?2, ?1", rusqlite::params![1, 2], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query");
    assert_eq!((a, b), (2, 1), "?N binds value N");
}
