//! Every publish refusal answers its code and stores nothing.

use axum::body::Body;
use magflock_registry::{Envelope, EnvelopeSignature, SigningKeyPair};

use crate::prelude::*;

async fn assert_refused(t: &TestRegistry, bytes: Vec<u8>, status: StatusCode, code: &str) {
    let (s, body) = t.publish(bytes).await;
    assert_eq!(s, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    t.assert_nothing_stored().await;
}

/// A body above the limit is 413 `package_too_large`, refused from its
/// Content-Length before being read, and also when streamed without one.
async fn too_large(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    let big = signed_with(&manifest("big", "1.0.0", ""), component(&vec![7u8; TEST_MAX_PACKAGE_BYTES]), &key);
    assert_refused(t, big.clone(), StatusCode::PAYLOAD_TOO_LARGE, "package_too_large").await;

    // Streamed in chunks without a Content-Length: cut off while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big.chunks(4096).map(|c| Ok(c.to_vec())).collect();
    let body = Body::from_stream(futures::stream::iter(chunks));
    let (s, _, bytes) =
        t.call(Method::POST, "/v1/packages", Some(ADMIN), Some(body), "application/octet-stream").await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = serde_json::from_slice(&bytes).expect("problem");
    assert_eq!(body["code"], "package_too_large");
    t.assert_nothing_stored().await;

    // A declared length above the limit is refused before the body is read.
    let req = axum::http::Request::post("/v1/packages")
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-length", (TEST_MAX_PACKAGE_BYTES + 1).to_string())
        .body(Body::from_stream(futures::stream::pending::<Result<Vec<u8>, std::io::Error>>()))
        .expect("request");
    let resp = tower::ServiceExt::oneshot(t.app.clone(), req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    t.assert_nothing_stored().await;
}
both_engines!(too_large);

/// Bytes that are not a valid package are 400 with the package format code.
async fn not_a_package(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    assert_refused(t, b"hello, not a tar".to_vec(), StatusCode::BAD_REQUEST, "malformed_archive").await;
    let mut trailing = package("hello", "1.0.0", &key);
    trailing.extend_from_slice(&[0u8; 512]);
    assert_refused(t, trailing, StatusCode::BAD_REQUEST, "non_canonical").await;
    // A core module in place of a component: built by hand, Package::new refuses it.
    let mut core = package("hello", "1.0.0", &key);
    let at = core.windows(8).position(|w| w == b"\0asm\x0d\x00\x01\x00").expect("preamble");
    core[at + 4..at + 8].copy_from_slice(b"\x01\x00\x00\x00");
    assert_refused(t, core, StatusCode::BAD_REQUEST, "core_module").await;
}
both_engines!(not_a_package);

/// An invalid manifest is 400 with the manifest's code.
async fn invalid_manifest(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    // Same length as a valid version, so the tar framing stays valid.
    let mut bytes = package("hello", "1.0.0", &key);
    let at = bytes.windows(7).position(|w| w == b"\"1.0.0\"").expect("version");
    bytes[at..at + 7].copy_from_slice(b"\"1.0.x\"");
    // The tar header checksum does not cover the data, so this parses as a
    // package whose manifest is invalid.
    assert_refused(t, bytes, StatusCode::BAD_REQUEST, "manifest_invalid").await;
    let bad_field = signed_with(&manifest("hello", "1.0.0", ""), component(b"x"), &key);
    let bad_field = String::from_utf8_lossy(&bad_field).replace("description", "descriptio_");
    assert_refused(t, bad_field.into_bytes(), StatusCode::BAD_REQUEST, "manifest_syntax").await;
}
both_engines!(invalid_manifest);

/// An unsigned package is 422 `unsigned`.
async fn unsigned_package(t: &TestRegistry) {
    t.publisher("acme", 1).await;
    let bytes = unsigned(&manifest("hello", "1.0.0", ""), component(b"x")).to_bytes();
    assert_refused(t, bytes, StatusCode::UNPROCESSABLE_ENTITY, "unsigned").await;
}
both_engines!(unsigned_package);

/// A key registered nowhere is 422 `unknown_key`.
async fn unknown_key(t: &TestRegistry) {
    t.publisher("acme", 1).await;
    let stranger = SigningKeyPair::from_seed(&[99; 32]).expect("key");
    assert_refused(t, package("hello", "1.0.0", &stranger), StatusCode::UNPROCESSABLE_ENTITY, "unknown_key")
        .await;
}
both_engines!(unknown_key);

/// Bad signatures answer the signature code: a signature by another key
/// under the registered key's id, two signatures, a tampered component.
async fn bad_signatures(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    let other = SigningKeyPair::from_seed(&[2; 32]).expect("key");
    let m = manifest("hello", "1.0.0", "");

    let mut forged = unsigned(&m, component(b"x"));
    magflock_registry::sign_package(&mut forged, &other);
    let mut env = forged.signature().expect("signed").clone();
    env.signatures[0].keyid = key.key_id();
    forged.set_signature(Some(env.clone()));
    assert_refused(t, forged.to_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "bad_signature").await;

    let mut twice = unsigned(&m, component(b"x"));
    let sig = EnvelopeSignature { keyid: key.key_id(), sig: env.signatures[0].sig.clone() };
    twice.set_signature(Some(Envelope { signatures: vec![sig.clone(), sig], ..env }));
    assert_refused(t, twice.to_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "signature_count").await;

    // Signed for one component, shipped with another.
    let mut swapped = unsigned(&m, component(b"x"));
    magflock_registry::sign_package(&mut swapped, &key);
    let signature = swapped.signature().cloned();
    let mut other_component = unsigned(&m, component(b"y"));
    other_component.set_signature(signature);
    assert_refused(t, other_component.to_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "digest_mismatch").await;
}
both_engines!(bad_signatures);

/// A revoked key is 422 `key_revoked`, whatever the reason.
async fn revoked_key(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    let path = format!("/v1/publishers/acme/keys/{}/revoke", key.key_id());
    let (s, _) = t.json(Method::POST, &path, Some(ADMIN), Some(json!({"reason": "rotated"}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_refused(t, package("hello", "1.0.0", &key), StatusCode::UNPROCESSABLE_ENTITY, "key_revoked").await;
}
both_engines!(revoked_key);

/// A manifest whose host range excludes the served host API is 422.
async fn host_api_unsupported(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    let m = manifest("hello", "1.0.0", "").replace(">=0.1, <0.2", ">=0.2, <0.3");
    assert_refused(
        t,
        signed_with(&m, component(b"x"), &key),
        StatusCode::UNPROCESSABLE_ENTITY,
        "host_api_unsupported",
    )
    .await;
}
both_engines!(host_api_unsupported);

/// The component check's refusal, timeout, resource limit and failure each
/// have their code; the timeout really waits for the bounded check.
async fn component_check_refusals(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    let m = manifest("hello", "1.0.0", "");
    let cases = [
        (REJECT, StatusCode::UNPROCESSABLE_ENTITY, "component_rejected"),
        (SLOW, StatusCode::UNPROCESSABLE_ENTITY, "check_timeout"),
        (HUGE, StatusCode::UNPROCESSABLE_ENTITY, "check_resource_limit"),
        (BROKEN, StatusCode::SERVICE_UNAVAILABLE, "checker_unavailable"),
    ];
    for (marker, status, code) in cases {
        let started = std::time::Instant::now();
        assert_refused(t, signed_with(&m, component(marker), &key), status, code).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{code} is bounded");
    }
}
both_engines!(component_check_refusals);

/// Without the admin token, publishing is 401 and stores nothing.
async fn publish_needs_admin(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    let host = t.host("host-a").await;
    for token in [None, Some("wrong"), Some(host.as_str())] {
        let body = Some(Body::from(package("hello", "1.0.0", &key)));
        let (s, _, _) = t.call(Method::POST, "/v1/packages", token, body, "application/octet-stream").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    t.assert_nothing_stored().await;
}
both_engines!(publish_needs_admin);

/// A checker that never answers is cut off by the registry's own bound:
/// 422 `check_timeout`, nothing stored.
async fn checker_that_hangs_is_cut_off(t: &TestRegistry) {
    struct Hangs;
    impl magflock_registry_server::ComponentChecker for Hangs {
        fn check(
            &self,
            _: std::sync::Arc<magflock_registry::Package>,
        ) -> futures::future::BoxFuture<'static, Result<(), magflock_registry_server::CheckError>> {
            Box::pin(futures::future::pending())
        }
    }
    let key = t.publisher("acme", 1).await;
    let config = t.registry.config().clone();
    let registry = magflock_registry_server::Registry::open(config, std::sync::Arc::new(Hangs))
        .await
        .expect("open")
        .with_check_timeout(std::time::Duration::from_millis(100));
    let started = std::time::Instant::now();
    let err = registry.publish(&package("hello", "1.0.0", &key)).await.expect_err("refused");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!((err.code(), err.status()), ("check_timeout", 422));
    t.assert_nothing_stored().await;
}
both_engines!(checker_that_hangs_is_cut_off);
