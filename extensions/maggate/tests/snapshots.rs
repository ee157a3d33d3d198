//! Snapshots of the documents clients read: the OpenAPI description and
//! PostgREST-shaped error bodies.

mod common;

fn body(r: &maggate::HttpResponse) -> serde_json::Value {
    r.json_body()
}

#[test]
fn openapi_document_snapshot() {
    // The Swagger 2.0 document for the test schema, mounted under a base path.
    let db = common::SqliteDb::seeded();
    let events = common::Recorder::default();
    let req = maggate::HttpRequest { method: "GET".into(), path: "/".into(), ..Default::default() };
    let opts = maggate::Options { base_path: Some("/x/demo/maggate".into()), ..Default::default() };
    let r = maggate::handle_with(&db, &events, req, &opts);
    assert_eq!(r.status, 200);
    insta::assert_json_snapshot!(body(&r));
}

#[test]
fn error_body_snapshots() {
    // The error bodies for the common client mistakes.
    let db = common::SqliteDb::seeded();
    let fx = common::Fx::new(&db);
    insta::assert_json_snapshot!("unknown_operator", body(&fx.get("/todos", "id=foo.1")));
    insta::assert_json_snapshot!("unknown_column", body(&fx.get("/todos", "nope=eq.1")));
    insta::assert_json_snapshot!("unknown_table", body(&fx.get("/nope", "")));
    insta::assert_json_snapshot!("embedding", body(&fx.get("/todos", "select=id,owner(*)")));
    insta::assert_json_snapshot!(
        "not_one_row",
        body(&fx.call("GET", "/todos", "", &[("Accept", "application/vnd.pgrst.object+json")], ""))
    );
    insta::assert_json_snapshot!("unfiltered_delete", body(&fx.call("DELETE", "/todos", "", &[], "")));
    insta::assert_json_snapshot!(
        "range_past_end",
        body(&fx.call("GET", "/todos", "offset=9", &[("Prefer", "count=exact")], ""))
    );
}
