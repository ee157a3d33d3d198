//! The behaviour tests, each run on SQLite and on PostgreSQL (see
//! `tests/sqlite.rs`, `tests/postgres.rs`).

use serde_json::json;

use super::{Fx, assert_error};

const REPR: (&str, &str) = ("Prefer", "return=representation");
const OBJECT: (&str, &str) = ("Accept", "application/vnd.pgrst.object+json");

/// Instantiate every suite test for one database.
#[macro_export]
macro_rules! suite_tests {
    ($make:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let Some(db) = $make else {
                    panic!("MAGFLOCK_TEST_PG_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL");
                };
                common::suite::$name(&common::Fx::new(&db));
            }
        )*
    };
}

#[macro_export]
macro_rules! all_suite_tests {
    ($make:expr) => {
        $crate::suite_tests!($make;
            eq_returns_typed_rows, comparison_operators, like_is_case_sensitive_ilike_is_not, in_lists_with_quotes,
            is_null_true_false, not_negates_any_operator, or_and_nest, select_columns_and_aliases,
            select_embedding_is_refused, order_with_nulls_placement, limit_offset_and_range_header,
            count_exact_sets_content_range_and_206, insert_single_minimal_publishes_event,
            insert_bulk_with_representation, insert_bulk_missing_keys, insert_with_columns_param,
            insert_unknown_column_is_pgrst204, insert_not_null_violation_is_400, patch_with_filter_publishes_old_and_new,
            patch_pairs_old_rows_by_primary_key, delete_with_filter_publishes_old, unfiltered_patch_and_delete_are_refused, object_accept_wants_exactly_one_row,
            unknown_column_operator_table, hostile_filters_stay_values, awkward_identifiers, bytes_and_json_round_trip,
            refused_events_are_reported, openapi_describes_tables, head_has_no_body, unsupported_accept_is_406,
            database_errors_map_to_statuses, postgres_arrays_take_json_arrays, upsert_merges_or_ignores_duplicates);
    };
}

pub fn eq_returns_typed_rows(fx: &Fx) {
    // id=eq.1 returns that one row with typed values (booleans and JSON on SQLite too).
    let r = fx.get("/todos", "id=eq.1");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Range"), Some("0-0/*"));
    assert_eq!(
        r.json_body(),
        json!([{"id": 1, "title": "buy milk", "done": false, "priority": 1, "score": 1.5, "tags": ["home"], "data": null}])
    );
    assert_eq!(fx.ids("title=eq.Walk dog"), vec![2]);
    assert_eq!(fx.ids("done=eq.true"), vec![2, 4]);
    assert_eq!(fx.ids("score=eq.2.5"), vec![2]);
}

pub fn comparison_operators(fx: &Fx) {
    // neq/gt/gte/lt/lte compare as the column's type and skip NULLs.
    assert_eq!(fx.ids("priority=gt.1"), vec![3, 4]);
    assert_eq!(fx.ids("priority=gte.2"), vec![3, 4]);
    assert_eq!(fx.ids("priority=lt.3"), vec![1, 4]);
    assert_eq!(fx.ids("priority=lte.1"), vec![1]);
    assert_eq!(fx.ids("priority=neq.1"), vec![3, 4]);
    assert_eq!(fx.ids("score=lt.2"), vec![1, 4]);
    assert_eq!(fx.ids("id=gt.2&id=lt.5"), vec![3, 4]);
    // 10 > 9 numerically, not as text.
    assert_eq!(fx.ids("id=lt.10"), vec![1, 2, 3, 4, 5]);
}

pub fn like_is_case_sensitive_ilike_is_not(fx: &Fx) {
    // like matches case-sensitively with * as the wildcard; ilike ignores case.
    assert_eq!(fx.ids("title=like.*dog"), vec![2]);
    assert_eq!(fx.ids("title=like.walk*"), Vec::<i64>::new());
    assert_eq!(fx.ids("title=ilike.walk*"), vec![2]);
    assert_eq!(fx.ids("title=like.*50%25*"), vec![4]);
    assert_eq!(fx.ids("title=like.w_ite*"), vec![3]);
    assert_eq!(fx.ids("title=ilike.*O*"), vec![2, 3, 4, 5]);
}

pub fn in_lists_with_quotes(fx: &Fx) {
    // in.(...) takes plain and double-quoted values; a quoted value keeps its commas.
    assert_eq!(fx.ids("id=in.(1,3)"), vec![1, 3]);
    assert_eq!(fx.ids(r#"title=in.("it's; DROP","buy milk")"#), vec![1, 5]);
    assert_eq!(fx.ids("title=in.(%22a,b%22,Walk%20dog)"), vec![2]);
    assert_eq!(fx.ids("id=in.()"), Vec::<i64>::new());
    assert_eq!(fx.ids("id=not.in.()"), vec![1, 2, 3, 4, 5]);
}

pub fn is_null_true_false(fx: &Fx) {
    // is.null / not_null / true / false / unknown.
    assert_eq!(fx.ids("priority=is.null"), vec![2, 5]);
    assert_eq!(fx.ids("priority=is.not_null"), vec![1, 3, 4]);
    assert_eq!(fx.ids("done=is.true"), vec![2, 4]);
    assert_eq!(fx.ids("done=is.false"), vec![1, 3, 5]);
    assert_eq!(fx.ids("score=is.unknown"), vec![3, 5]);
    assert_error(&fx.get("/todos", "done=is.maybe"), 400, "PGRST100");
}

pub fn not_negates_any_operator(fx: &Fx) {
    // not.op negates the condition.
    assert_eq!(fx.ids("done=not.eq.true"), vec![1, 3, 5]);
    assert_eq!(fx.ids("id=not.in.(1,2)"), vec![3, 4, 5]);
    assert_eq!(fx.ids("priority=not.is.null"), vec![1, 3, 4]);
    assert_eq!(fx.ids("title=not.ilike.*o*"), vec![1]);
}

pub fn or_and_nest(fx: &Fx) {
    // or=(...) and and=(...) nest, with not. on groups and quoted values inside.
    assert_eq!(fx.ids("or=(id.eq.1,and(done.is.true,priority.gt.1))"), vec![1, 4]);
    assert_eq!(fx.ids("not.or=(id.eq.1,id.eq.2)"), vec![3, 4, 5]);
    assert_eq!(fx.ids("and=(done.is.false,or(priority.eq.1,priority.eq.3))"), vec![1, 3]);
    assert_eq!(fx.ids(r#"or=(title.eq."it's; DROP",id.eq.2)"#), vec![2, 5]);
    assert_eq!(fx.ids("or=(id.in.(1,2),priority.not.is.null)&id=lt.4"), vec![1, 2, 3]);
    assert_eq!(fx.ids("or=(id.eq.1,not.and(done.is.false,id.gt.1))"), vec![1, 2, 4]);
    assert_error(&fx.get("/todos", "or=(id.eq.1"), 400, "PGRST100");
    let deep = format!("or=({}id.eq.1{})", "or(".repeat(20), ")".repeat(20));
    assert_error(&fx.get("/todos", &deep), 400, "PGRST100");
}

pub fn select_columns_and_aliases(fx: &Fx) {
    // select= picks and renames columns, in the order asked.
    let r = fx.get("/todos", "select=id,label:title&id=eq.1");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, br#"[{"id":1,"label":"buy milk"}]"#.to_vec());
    let r = fx.get("/todos", "select=title, id&id=eq.2");
    assert_eq!(r.body, br#"[{"title":"Walk dog","id":2}]"#.to_vec());
    let r = fx.get("/todos", "select=*&id=eq.1");
    assert_eq!(r.json_body()[0].as_object().expect("object").len(), 7);
}

pub fn select_embedding_is_refused(fx: &Fx) {
    // Embedded resources are not supported: PGRST127, nothing run.
    assert_error(&fx.get("/todos", "select=id,owner(*)"), 400, "PGRST127");
    assert_error(&fx.get("/todos", "select=id,...owner(name)"), 400, "PGRST127");
    assert_error(&fx.get("/todos", "select=id::text"), 400, "PGRST127");
}

pub fn order_with_nulls_placement(fx: &Fx) {
    // order= sorts with PostgreSQL's null placement on both databases.
    assert_eq!(fx.ids("order=priority.desc.nullslast,id"), vec![3, 4, 1, 2, 5]);
    assert_eq!(fx.ids("order=priority.asc,id"), vec![1, 4, 3, 2, 5]);
    assert_eq!(fx.ids("order=priority,id"), vec![1, 4, 3, 2, 5]);
    assert_eq!(fx.ids("order=priority.asc.nullsfirst,id"), vec![2, 5, 1, 4, 3]);
    assert_eq!(fx.ids("order=priority.desc,id.desc"), vec![5, 2, 3, 4, 1]);
    assert_eq!(fx.ids("order=id.desc"), vec![5, 4, 3, 2, 1]);
    assert_error(&fx.get("/todos", "order=id.sideways"), 400, "PGRST100");
}

pub fn limit_offset_and_range_header(fx: &Fx) {
    // limit/offset and Range: 0-1 pick a window; Content-Range says which.
    let r = fx.get("/todos", "order=id&limit=2&offset=1");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Range"), Some("1-2/*"));
    assert_eq!(fx.ids("limit=2&offset=1"), vec![2, 3]);
    let r = fx.call("GET", "/todos", "order=id", &[("Range-Unit", "items"), ("Range", "0-1")], "");
    assert_eq!(r.header("Content-Range"), Some("0-1/*"));
    assert_eq!(r.json_body().as_array().expect("array").len(), 2);
    let r = fx.call("GET", "/todos", "order=id", &[("Range", "3-")], "");
    assert_eq!(r.header("Content-Range"), Some("3-4/*"));
    assert_eq!(fx.ids("limit=0"), Vec::<i64>::new());
    assert_error(&fx.call("GET", "/todos", "", &[("Range", "5-2")], ""), 416, "PGRST103");
    assert_error(&fx.get("/todos", "limit=-1"), 400, "PGRST100");
    assert_error(&fx.get("/todos", "offset=x"), 400, "PGRST100");
    let capped = maggate::handle_with(
        fx.db,
        &fx.events,
        maggate::HttpRequest {
            method: "GET".into(),
            path: "/todos".into(),
            query: "order=id".into(),
            ..Default::default()
        },
        &maggate::Options { max_rows: Some(2), base_path: None },
    );
    assert_eq!(capped.json_body().as_array().expect("array").len(), 2);
}

pub fn count_exact_sets_content_range_and_206(fx: &Fx) {
    // Prefer: count=exact adds the total; a partial window is 206; past the end is 416.
    let count = ("Prefer", "count=exact");
    let r = fx.call("GET", "/todos", "order=id&limit=2", &[count], "");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("0-1/5"));
    let r = fx.call("GET", "/todos", "order=id", &[count], "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Range"), Some("0-4/5"));
    let r = fx.call("GET", "/todos", "done=is.true", &[count], "");
    assert_eq!(r.header("Content-Range"), Some("0-1/2"));
    let r = fx.call("GET", "/todos", "id=eq.99", &[count], "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Range"), Some("*/0"));
    let r = fx.call("GET", "/todos", "offset=10", &[count], "");
    assert_error(&r, 416, "PGRST103");
    assert_eq!(r.header("Content-Range"), Some("*/5"));
}

pub fn insert_single_minimal_publishes_event(fx: &Fx) {
    // POST one object: 201, no body by default, defaults applied, one INSERT event.
    let r = fx.call("POST", "/todos", "", &[("Content-Type", "application/json")], r#"{"title":"new"}"#);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body.is_empty());
    let rows = fx.get("/todos", "title=eq.new").json_body();
    assert_eq!(rows[0]["done"], false);
    assert_eq!(rows[0]["id"], 6);
    let events = fx.published();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["table"], "todos");
    assert_eq!(events[0]["op"], "INSERT");
    assert_eq!(events[0]["new"]["title"], "new");
    assert_eq!(events[0]["new"]["done"], false);
    assert_eq!(events[0]["old"], serde_json::Value::Null);
}

pub fn insert_bulk_with_representation(fx: &Fx) {
    // POST an array with return=representation: 201 and the rows, projected by select=.
    let r = fx.call(
        "POST",
        "/todos",
        "select=id,title,priority,done",
        &[REPR],
        r#"[{"title":"a","priority":5},{"title":"b"}]"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json_body(),
        json!([{"id": 6, "title": "a", "priority": 5, "done": false}, {"id": 7, "title": "b", "priority": null, "done": false}])
    );
    assert_eq!(r.header("Preference-Applied"), Some("return=representation"));
    assert_eq!(fx.published().len(), 2);
    let r = fx.call("POST", "/todos", "", &[REPR, OBJECT], r#"{"title":"one"}"#);
    assert_eq!(r.status, 201);
    assert_eq!(r.json_body()["title"], "one");
    assert_eq!(fx.call("POST", "/todos", "", &[REPR], "[]").json_body(), json!([]));
}

pub fn insert_bulk_missing_keys(fx: &Fx) {
    // Differing keys: a missing key takes the column default (PostgreSQL);
    // SQLite cannot say DEFAULT per row and refuses with PGRST102 when the
    // missing column has a default.
    let body = r#"[{"title":"a","done":true},{"title":"b"}]"#;
    let r = fx.call("POST", "/todos", "select=title,done", &[REPR], body);
    if fx.pg() {
        assert_eq!(r.status, 201);
        assert_eq!(r.json_body(), json!([{"title": "a", "done": true}, {"title": "b", "done": false}]));
    } else {
        assert_error(&r, 400, "PGRST102");
        assert_eq!(fx.count_todos(), 5);
    }
    // Missing keys without a default are NULL on both.
    let r = fx.call(
        "POST",
        "/todos",
        "select=title,priority",
        &[REPR],
        r#"[{"title":"c","priority":1},{"title":"d"}]"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json_body(), json!([{"title": "c", "priority": 1}, {"title": "d", "priority": null}]));
}

pub fn insert_with_columns_param(fx: &Fx) {
    // columns= names the columns; other keys are ignored, missing ones are NULL.
    let r = fx.call(
        "POST",
        "/todos",
        "columns=title,priority&select=title,priority,score",
        &[REPR],
        r#"[{"title":"a","score":9.5},{"title":"b","priority":2}]"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json_body(),
        json!([{"title": "a", "priority": null, "score": null}, {"title": "b", "priority": 2, "score": null}])
    );
    assert_error(&fx.call("POST", "/todos", "columns=title,nope", &[], r#"{"title":"a"}"#), 400, "PGRST204");
}

pub fn insert_unknown_column_is_pgrst204(fx: &Fx) {
    // A body key that is no column: 400 PGRST204, nothing inserted.
    assert_error(&fx.call("POST", "/todos", "", &[], r#"{"title":"a","nope":1}"#), 400, "PGRST204");
    assert_error(&fx.call("POST", "/todos", "", &[], "not json"), 400, "PGRST102");
    assert_error(&fx.call("POST", "/todos", "", &[], "[1,2]"), 400, "PGRST102");
    assert_eq!(fx.count_todos(), 5);
    assert!(fx.published().is_empty());
}

pub fn insert_not_null_violation_is_400(fx: &Fx) {
    // A NOT NULL violation comes back as 23502 with status 400.
    assert_error(&fx.call("POST", "/todos", "", &[], r#"{"title":null}"#), 400, "23502");
    assert_error(&fx.call("POST", "/todos", "", &[], r#"{"id":1,"title":"dup"}"#), 409, "23505");
}

pub fn patch_with_filter_publishes_old_and_new(fx: &Fx) {
    // PATCH with a filter updates those rows and publishes old and new.
    let r = fx.call("PATCH", "/todos", "id=eq.1", &[REPR], r#"{"done":true,"priority":"7"}"#);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json_body()[0]["done"], true);
    assert_eq!(r.json_body()[0]["priority"], 7);
    let events = fx.published();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["op"], "UPDATE");
    assert_eq!(events[0]["old"]["done"], false);
    assert_eq!(events[0]["new"]["done"], true);
    let r = fx.call("PATCH", "/todos", "done=is.false", &[], r#"{"score":0}"#);
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(fx.published().len(), 3);
    assert_eq!(fx.ids("score=eq.0"), vec![3, 5]);
    assert_error(&fx.call("PATCH", "/todos", "id=eq.1", &[], r#"{"nope":1}"#), 400, "PGRST204");
    assert_error(&fx.call("PATCH", "/todos", "id=eq.1", &[], r#"[{"done":true}]"#), 400, "PGRST102");
}

pub fn patch_pairs_old_rows_by_primary_key(fx: &Fx) {
    // Events pair old and new rows, even when the update changes the key;
    // a table without a primary key publishes old: null.
    let r = fx.call("PATCH", "/todos", "priority=not.is.null", &[REPR], r#"{"score":9}"#);
    assert_eq!(r.json_body().as_array().expect("rows").len(), 3);
    let events = fx.published();
    assert_eq!(events.len(), 3);
    for e in &events {
        assert_eq!(e["old"]["id"], e["new"]["id"]);
        assert_eq!(e["new"]["score"], 9.0);
        assert_ne!(e["old"]["score"], 9.0);
    }
    let r = fx.call("PATCH", "/todos", "id=eq.1", &[], r#"{"id":100}"#);
    assert_eq!(r.status, 204);
    let e = fx.published().pop().expect("event");
    assert_eq!((e["old"]["id"].clone(), e["new"]["id"].clone()), (json!(1), json!(100)));
    let r = fx.call("PATCH", "/notes", "body=eq.first", &[], r#"{"body":"second"}"#);
    assert_eq!(r.status, 204);
    let e = fx.published().pop().expect("event");
    assert_eq!(e["new"]["body"], "second");
    assert!(e["old"].is_null());
}

pub fn delete_with_filter_publishes_old(fx: &Fx) {
    // DELETE with a filter removes those rows, one DELETE event each with the old row.
    let r = fx.call("DELETE", "/todos", "done=is.true", &[], "");
    assert_eq!(r.status, 204);
    assert_eq!(fx.count_todos(), 3);
    let events = fx.published();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["op"] == "DELETE" && e["new"].is_null()));
    assert_eq!(events[0]["old"]["title"], "Walk dog");
    let r = fx.call("DELETE", "/todos", "id=eq.1", &[REPR], "");
    assert_eq!(r.status, 200);
    assert_eq!(r.json_body()[0]["title"], "buy milk");
}

pub fn unfiltered_patch_and_delete_are_refused(fx: &Fx) {
    // PATCH/DELETE without a filter: 400 21000, nothing changed, no event.
    assert_error(&fx.call("PATCH", "/todos", "", &[], r#"{"done":true}"#), 400, "21000");
    assert_error(&fx.call("DELETE", "/todos", "", &[], ""), 400, "21000");
    assert_error(&fx.call("DELETE", "/todos", "select=id&order=id", &[], ""), 400, "21000");
    assert_eq!(fx.count_todos(), 5);
    assert_eq!(fx.ids("done=is.true"), vec![2, 4]);
    assert!(fx.published().is_empty());
}

pub fn object_accept_wants_exactly_one_row(fx: &Fx) {
    // vnd.pgrst.object+json: one row is an object; none or several are 406 PGRST116.
    let r = fx.call("GET", "/todos", "id=eq.1", &[OBJECT], "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/vnd.pgrst.object+json; charset=utf-8"));
    assert_eq!(r.json_body()["title"], "buy milk");
    assert_error(&fx.call("GET", "/todos", "id=eq.99", &[OBJECT], ""), 406, "PGRST116");
    assert_error(&fx.call("GET", "/todos", "", &[OBJECT], ""), 406, "PGRST116");
    // A write that would touch several rows is refused before it runs.
    assert_error(
        &fx.call("PATCH", "/todos", "done=is.true", &[OBJECT, REPR], r#"{"title":"x"}"#),
        406,
        "PGRST116",
    );
    assert_error(&fx.call("DELETE", "/todos", "done=is.true", &[OBJECT], ""), 406, "PGRST116");
    assert_error(
        &fx.call("POST", "/todos", "", &[OBJECT], r#"[{"title":"a"},{"title":"b"}]"#),
        406,
        "PGRST116",
    );
    assert_eq!(fx.count_todos(), 5);
    assert_eq!(fx.ids("title=eq.x"), Vec::<i64>::new());
    let r = fx.call("PATCH", "/todos", "id=eq.2", &[OBJECT, REPR], r#"{"title":"x"}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.json_body()["id"], 2);
}

pub fn unknown_column_operator_table(fx: &Fx) {
    // Unknown column → 400 42703; unknown operator → 400 PGRST100; unknown table → 404 PGRST205.
    assert_error(&fx.get("/todos", "nope=eq.1"), 400, "42703");
    assert_error(&fx.get("/todos", "select=id,nope"), 400, "42703");
    assert_error(&fx.get("/todos", "order=nope"), 400, "42703");
    assert_error(&fx.get("/todos", "or=(nope.eq.1)"), 400, "42703");
    assert_error(&fx.get("/todos", "id=foo.1"), 400, "PGRST100");
    assert_error(&fx.get("/todos", "id=1"), 400, "PGRST100");
    assert_error(&fx.get("/todos", "id=fts.x"), 400, "PGRST127");
    assert_error(&fx.get("/nope", ""), 404, "PGRST205");
    assert_error(&fx.call("DELETE", "/nope", "id=eq.1", &[], ""), 404, "PGRST205");
    assert_error(&fx.call("PUT", "/todos", "", &[], ""), 405, "PGRST117");
    let msg = fx.get("/todos", "nope=eq.1").json_body()["message"].clone();
    assert_eq!(msg, "column todos.nope does not exist");
}

pub fn hostile_filters_stay_values(fx: &Fx) {
    // Quotes, semicolons, comments and DROP TABLE in values are bound values;
    // in identifiers they are unknown columns. The table survives.
    for q in [
        "title=eq.'; DROP TABLE todos; --",
        "title=eq.%27%3B%20DROP%20TABLE%20todos%3B%20--",
        "title=in.(\"a'); DROP TABLE todos; --\")",
        "title=like.*'; DELETE FROM todos; --*",
        "or=(title.eq.\"x');DROP TABLE todos;--\",id.eq.0)",
        "title=eq.\"; DROP TABLE todos; --",
        "title=eq.1 OR 1=1",
    ] {
        let r = fx.get("/todos", q);
        assert_eq!(r.status, 200, "{q}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json_body(), json!([]), "{q}");
    }
    assert_eq!(fx.ids("title=eq.it's; DROP"), vec![5]);
    // Not a number: PostgreSQL refuses to read it as a bigint; SQLite compares it as text.
    let r = fx.get("/todos", "id=eq.1 OR 1=1");
    if fx.pg() {
        assert_error(&r, 400, "22P02");
    } else {
        assert_eq!(r.json_body(), json!([]));
    }
    for q in [
        "id;DROP TABLE todos=eq.1",
        "select=id\"; DROP TABLE todos; --",
        "order=id;DROP TABLE todos",
        // The value ends at `)`, as in PostgREST: the rest does not parse.
        "or=(title.eq.x');DROP TABLE todos;--,id.eq.0)",
        "\"id\"\" FROM todos; DROP TABLE todos; --\"=eq.1",
    ] {
        let r = fx.get("/todos", q);
        assert_eq!(r.status, 400, "{q}: {}", String::from_utf8_lossy(&r.body));
    }
    assert_error(&fx.get("/todos;DROP TABLE todos", ""), 404, "PGRST205");
    let r = fx.call("PATCH", "/todos", "id=eq.1", &[], r#"{"title":"'); DROP TABLE todos; --"}"#);
    assert_eq!(r.status, 204);
    assert_eq!(fx.ids("title=eq.'); DROP TABLE todos; --"), vec![1]);
    assert_eq!(fx.count_todos(), 5);
}

pub fn awkward_identifiers(fx: &Fx) {
    // A table named `weird "name"` with columns `due date`, `a"b`, `x,y`: found, quoted, usable.
    let path = "/weird%20%22name%22";
    let r = fx.get(path, r#"select=id,"due date",ab:"a\"b","x,y"&order=id"#);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json_body(),
        json!([{"id": 1, "due date": "2024-01-01", "ab": 7, "x,y": "p"}, {"id": 2, "due date": null, "ab": 8, "x,y": "q"}])
    );
    let r = fx.get(path, "due%20date=is.null&select=id");
    assert_eq!(r.json_body(), json!([{"id": 2}]));
    let r = fx.get(path, r#""a\"b"=gt.7&select=id"#);
    assert_eq!(r.json_body(), json!([{"id": 2}]));
    let r = fx.get(path, r#"or=("a\"b".eq.7,"x,y".eq.q)&select=id&order="a\"b".desc"#);
    assert_eq!(r.json_body(), json!([{"id": 2}, {"id": 1}]));
    let r = fx.call(
        "POST",
        path,
        r#"select=id,"a\"b""#,
        &[REPR],
        r#"{"due date":"2025-05-05","a\"b":9,"x,y":"r"}"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json_body(), json!([{"id": 3, "a\"b": 9}]));
    assert_eq!(fx.call("PATCH", path, "x,y=eq.r", &[], r#"{"due date":null}"#).status, 204);
    assert_eq!(fx.call("DELETE", path, "due date=is.null", &[], "").status, 204);
    assert_eq!(fx.get(path, "select=id").json_body(), json!([{"id": 1}]));
    let events = fx.published();
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["table"], "weird \"name\"");
}

pub fn bytes_and_json_round_trip(fx: &Fx) {
    // Bytes come back as "\x.." hex; JSON columns as JSON; floats as numbers.
    let r = fx.call(
        "POST",
        "/todos",
        "select=data,tags,score",
        &[REPR],
        r#"{"title":"bin","data":"\\x0102ff","tags":{"k":[1,2]},"score":-0.25}"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json_body(), json!([{"data": "\\x0102ff", "tags": {"k": [1, 2]}, "score": -0.25}]));
    let r = fx.get("/todos", "title=eq.bin&select=data");
    assert_eq!(r.json_body(), json!([{"data": "\\x0102ff"}]));
}

pub fn refused_events_are_reported(fx: &Fx) {
    // When the bus refuses events the write stands and the response counts them.
    let failing = super::Recorder { fail: true, ..Default::default() };
    let req = maggate::HttpRequest {
        method: "DELETE".into(),
        path: "/todos".into(),
        query: "done=is.true".into(),
        ..Default::default()
    };
    let r = maggate::handle(fx.db, &failing, req);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("MagGate-Events-Failed"), Some("2"));
    assert_eq!(fx.count_todos(), 3);
}

pub fn openapi_describes_tables(fx: &Fx) {
    // GET / is a Swagger 2.0 document with every table and column.
    let r = fx.get("/", "");
    assert_eq!(r.status, 200);
    assert!(r.header("Content-Type").expect("content type").starts_with("application/openapi+json"));
    let doc = r.json_body();
    assert_eq!(doc["swagger"], "2.0");
    assert_eq!(doc["definitions"]["todos"]["properties"]["id"]["type"], "integer");
    assert_eq!(doc["definitions"]["todos"]["properties"]["done"]["type"], "boolean");
    assert_eq!(doc["definitions"]["todos"]["required"], json!(["title"]));
    assert!(doc["paths"]["/todos"]["get"].is_object());
    assert!(doc["paths"]["/weird \"name\""]["post"].is_object());
    assert!(doc["definitions"]["weird \"name\""]["properties"]["a\"b"].is_object());
    assert_eq!(fx.call("POST", "/", "", &[], "{}").status, 405);
}

pub fn head_has_no_body(fx: &Fx) {
    // HEAD answers like GET without the body.
    let r = fx.call("HEAD", "/todos", "", &[("Prefer", "count=exact")], "");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("Content-Range"), Some("0-4/5"));
}

pub fn unsupported_accept_is_406(fx: &Fx) {
    // Accept: text/csv is 406 PGRST107; browser-style lists still get JSON.
    assert_error(&fx.call("GET", "/todos", "", &[("Accept", "text/csv")], ""), 406, "PGRST107");
    let r = fx.call("GET", "/todos", "id=eq.1", &[("Accept", "text/html, application/json;q=0.9, */*")], "");
    assert_eq!(r.status, 200);
    assert_error(
        &fx.call("POST", "/todos", "", &[("Content-Type", "text/csv")], "title\nx"),
        415,
        "PGRST107",
    );
}

pub fn database_errors_map_to_statuses(fx: &Fx) {
    // A value the database cannot read for the column's type is a 400 on PostgreSQL;
    // SQLite compares it as text and finds nothing.
    let r = fx.get("/todos", "id=eq.abc");
    if fx.pg() {
        assert_error(&r, 400, "22P02");
    } else {
        assert_eq!(r.json_body(), json!([]));
    }
}

pub fn postgres_arrays_take_json_arrays(fx: &Fx) {
    // PostgreSQL array columns take JSON arrays, quotes, commas and NULLs included (SQLite has no arrays).
    if !fx.pg() {
        return;
    }
    let r = fx.call(
        "POST",
        "/labels",
        "select=names,nums",
        &[REPR],
        r#"{"names":["a","b,c","say \"hi\"","back\\slash",null,"{}"],"nums":[1,null,3]}"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json_body(),
        json!([{"names": ["a", "b,c", "say \"hi\"", "back\\slash", null, "{}"], "nums": [1, null, 3]}])
    );
    let doc = fx.get("/", "").json_body();
    assert_eq!(doc["definitions"]["labels"]["properties"]["names"]["type"], "array");
}

pub fn upsert_merges_or_ignores_duplicates(fx: &Fx) {
    // resolution=merge-duplicates updates rows whose key exists and inserts the rest,
    // with UPDATE and INSERT events; ignore-duplicates leaves existing rows alone.
    let merge = ("Prefer", "return=representation,resolution=merge-duplicates");
    let r = fx.call(
        "POST",
        "/todos",
        "select=id,title,done",
        &[merge],
        r#"[{"id":1,"title":"merged","done":true},{"id":10,"title":"fresh","done":false}]"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json_body(),
        json!([{"id": 1, "title": "merged", "done": true}, {"id": 10, "title": "fresh", "done": false}])
    );
    let events = fx.published();
    assert_eq!(events.len(), 2);
    assert_eq!(fx.events.batches.get(), 1, "one batch per write");
    assert_eq!(
        (events[0]["op"].clone(), events[0]["old"]["title"].clone()),
        (json!("UPDATE"), json!("buy milk"))
    );
    assert_eq!(events[0]["new"]["priority"], 1, "columns not sent keep their values");
    assert_eq!((events[1]["op"].clone(), events[1]["old"].clone()), (json!("INSERT"), json!(null)));
    let ignore = ("Prefer", "return=representation, resolution=ignore-duplicates");
    let r = fx.call(
        "POST",
        "/todos",
        "select=id,title",
        &[ignore],
        r#"[{"id":2,"title":"ignored"},{"id":11,"title":"new"}]"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json_body(), json!([{"id": 11, "title": "new"}]));
    assert_eq!(fx.ids("title=eq.Walk dog"), vec![2]);
    assert_eq!(fx.published().len(), 3);
    // on_conflict names the key; an unknown column is 42703; no key at all is refused.
    let r = fx.call(
        "POST",
        "/weird%20%22name%22",
        "on_conflict=id&select=id,%22x,y%22",
        &[merge],
        r#"{"id":2,"x,y":"z"}"#,
    );
    assert_eq!(r.json_body(), json!([{"id": 2, "x,y": "z"}]));
    assert_error(
        &fx.call("POST", "/todos", "on_conflict=nope", &[merge], r#"{"id":1,"title":"x"}"#),
        400,
        "42703",
    );
    assert_error(&fx.call("POST", "/notes", "", &[merge], r#"{"body":"x"}"#), 400, "PGRST100");
}
