//! The OpenAPI document and the shape of problem bodies, snapshotted.

use crate::prelude::*;

/// Snapshots live in `registry/server/tests/snapshots/`, named without the module path.
fn snapshot(assert: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(assert);
}

#[test]
fn openapi_document_snapshot() {
    let doc = serde_json::to_value(magflock_registry_server::openapi()).expect("serialize");
    snapshot(|| insta::assert_json_snapshot!("registry_openapi", doc));
}

/// `/openapi.json` serves the same document; health answers; unknown routes
/// are problem+json.
async fn served_document_and_problems(t: &TestRegistry) {
    let (s, doc) = t.json(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc, serde_json::to_value(magflock_registry_server::openapi()).expect("serialize"));
    let (s, _, body) = t.call(Method::GET, "/healthz", None, None, "").await;
    assert_eq!((s, body.as_ref()), (StatusCode::OK, b"ok".as_ref()));
    let (s, h, body) = t.call(Method::GET, "/v1/nothing-here", None, None, "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(h["content-type"], "application/problem+json");
    let problem: Value = serde_json::from_slice(&body).expect("json");
    snapshot(|| insta::assert_json_snapshot!("problem_not_found", problem));
}
both_engines!(served_document_and_problems);

/// A publish refusal's problem body, as clients see it.
async fn refusal_problem_body(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    t.publish(package("hello", "1.0.0", &key)).await;
    let other = signed_with(&manifest("hello", "1.0.0", ""), component(b"other"), &key);
    let (_, problem) = t.publish(other).await;
    snapshot(|| insta::assert_json_snapshot!("problem_version_exists", problem));
}
both_engines!(refusal_problem_body);
