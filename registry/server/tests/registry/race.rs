//! Two publishes of the same version at once: exactly one wins.

use axum::body::Body;

use crate::prelude::*;

/// Different bytes for the same name and version, published concurrently
/// (repeatedly): exactly one 201 and one 409, one row, one referenced blob
/// and no orphan.
async fn concurrent_publishes_of_one_version(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    for round in 0..5 {
        let version = format!("1.0.{round}");
        let a = signed_with(&manifest("hello", &version, ""), component(b"first"), &key);
        let b = signed_with(&manifest("hello", &version, ""), component(b"second"), &key);
        let call = |bytes: Vec<u8>| {
            let body = Some(Body::from(bytes));
            t.call(Method::POST, "/v1/packages", Some(ADMIN), body, "application/octet-stream")
        };
        let ((sa, _, _), (sb, _, _)) = tokio::join!(call(a), call(b));
        let mut statuses = [sa, sb];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "round {round}");
    }
    assert_eq!(t.count("versions").await, 5);
    let stored = t.blob_digests();
    assert_eq!(stored.len(), 5, "one blob per version, losers cleaned up");
    for digest in stored {
        assert!(
            t.registry.store().sha256_referenced(&digest).await.expect("query"),
            "{digest} is referenced"
        );
    }
}
both_engines!(concurrent_publishes_of_one_version);

/// Two publishes of a brand-new name by two publishers at once: one owns the
/// name, the other is refused, nothing of the loser remains.
async fn concurrent_first_publishes_of_one_name(t: &TestRegistry) {
    let acme = t.publisher("acme", 1).await;
    let evil = t.publisher("evil", 2).await;
    let a = package("hello", "1.0.0", &acme);
    let b = package("hello", "1.0.1", &evil);
    let call = |bytes: Vec<u8>| {
        let body = Some(Body::from(bytes));
        t.call(Method::POST, "/v1/packages", Some(ADMIN), body, "application/octet-stream")
    };
    let ((sa, _, _), (sb, _, _)) = tokio::join!(call(a), call(b));
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::FORBIDDEN]);
    assert_eq!(t.count("versions").await, 1);
    assert_eq!(t.count("extensions").await, 1);
    assert_eq!(t.blob_digests().len(), 1);
}
both_engines!(concurrent_first_publishes_of_one_name);

/// The same bytes published twice at once: one 201, one 200 with the same
/// body, one row, one blob.
async fn concurrent_identical_publishes(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    let bytes = package("hello", "1.0.0", &key);
    let call = |bytes: Vec<u8>| {
        let body = Some(Body::from(bytes));
        t.call(Method::POST, "/v1/packages", Some(ADMIN), body, "application/octet-stream")
    };
    let ((sa, _, a), (sb, _, b)) = tokio::join!(call(bytes.clone()), call(bytes));
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CREATED]);
    assert_eq!(a, b);
    assert_eq!(t.count("versions").await, 1);
    assert_eq!(t.blob_digests().len(), 1);
}
both_engines!(concurrent_identical_publishes);
