//! Property tests: hostile query strings never panic the parser, and never
//! make a read do anything but answer (the table is intact afterwards).

mod common;

use proptest::prelude::*;

/// Characters that matter to the grammar, plus a few that matter to SQL.
fn grammar_soup() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[a-z=&.,()"\\*:!%'; \-+0-9]{0,200}"#).expect("regex")
}

/// Well-formed filters on real columns with hostile values, and soup.
fn hostile_queries() -> impl Strategy<Value = String> {
    let col = prop_oneof![
        Just("id"),
        Just("title"),
        Just("done"),
        Just("priority"),
        Just("score"),
        Just("tags"),
        Just("data")
    ];
    let op = prop_oneof![
        Just("eq"),
        Just("neq"),
        Just("gt"),
        Just("lte"),
        Just("like"),
        Just("ilike"),
        Just("is"),
        Just("in"),
        Just("isdistinct"),
        Just("not.eq"),
        Just("not.like")
    ];
    let value = || proptest::string::string_regex(r#"[a-z0-9'";*%_ ()=,.\\-]{0,30}"#).expect("regex");
    let filter = (col.clone(), op.clone(), value()).prop_map(|(c, o, v)| format!("{c}={o}.{v}"));
    let logic = (col.clone(), op, value(), col)
        .prop_map(|(c, o, v, c2)| format!("or=({c}.{o}.\"{v}\",{c2}.is.null)&order={c2}.desc"));
    prop_oneof![grammar_soup(), filter, logic]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_any_string(s in any::<String>()) {
        let _ = maggate::request::parse_query(&s);
        let _ = maggate::request::parse_range(&s);
        let _ = maggate::request::parse_accept(&s);
        let _ = maggate::request::parse_path(&s);
    }

    #[test]
    fn parser_never_panics_on_grammar_soup(s in grammar_soup()) {
        let _ = maggate::request::parse_query(&s);
    }

    #[test]
    fn parser_never_panics_on_filter_shapes(
        col in "[a-z\"]{1,6}",
        not in proptest::bool::ANY,
        op in "(eq|neq|in|is|like|or|and|x)",
        rest in r#"[(),."a-z0-9\\]{0,40}"#,
    ) {
        let q = format!("{col}={}{op}.{rest}&or=({col}.{op}.{rest})", if not { "not." } else { "" });
        let _ = maggate::request::parse_query(&q);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn hostile_reads_on_sqlite_answer_and_leave_the_table(s in hostile_queries()) {
        let db = common::SqliteDb::seeded();
        let fx = common::Fx::new(&db);
        let r = fx.get("/todos", &s);
        prop_assert!(matches!(r.status, 200 | 206 | 400 | 404 | 406 | 416), "status {} for {s:?}: {}", r.status, String::from_utf8_lossy(&r.body));
        prop_assert_eq!(fx.count_todos(), 5);
    }
}

#[test]
fn hostile_reads_on_postgres_answer_and_leave_the_table() {
    // The same soup against PostgreSQL: an answer every time, never a 5xx, the table intact.
    let Some(db) = common::PgDb::seeded() else {
        panic!(
            "MAGFLOCK_TEST_PG_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL"
        );
    };
    let fx = common::Fx::new(&db);
    let mut runner =
        proptest::test_runner::TestRunner::new(ProptestConfig { cases: 256, ..ProptestConfig::default() });
    runner
        .run(&hostile_queries(), |s| {
            let r = fx.get("/todos", &s);
            prop_assert!(
                matches!(r.status, 200 | 206 | 400 | 404 | 406 | 416),
                "status {} for {s:?}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
            Ok(())
        })
        .expect("every hostile read is answered");
    assert_eq!(fx.count_todos(), 5);
}
