//! Publishers, keys, rotation and the revocation policy
//! (docs/decisions/008-publisher-key-revocation.md).

use magflock_registry::SigningKeyPair;

use crate::prelude::*;

/// Publishers are created once and listed with their keys; a key id is
/// registered to one publisher only; bad input has its code.
async fn publishers_and_keys(t: &TestRegistry) {
    let (s, p) = t
        .json(
            Method::POST,
            "/v1/publishers",
            Some(ADMIN),
            Some(json!({"name": "acme", "display_name": "Acme Inc."})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!((p["name"].as_str(), p["display_name"].as_str()), (Some("acme"), Some("Acme Inc.")));
    assert_eq!(p["keys"], json!([]));
    let (s, body) = t.json(Method::POST, "/v1/publishers", Some(ADMIN), Some(json!({"name": "acme"}))).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::CONFLICT, Some("publisher_exists")));
    let (s, body) =
        t.json(Method::POST, "/v1/publishers", Some(ADMIN), Some(json!({"name": "Bad Name"}))).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_publisher_name")));
    let (s, _) = t.json(Method::POST, "/v1/publishers", None, Some(json!({"name": "other"}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let key = SigningKeyPair::from_seed(&[1; 32]).expect("key");
    let text = key.public_key().clone().with_label("release 2026").expect("label").to_string();
    let (s, k) = t
        .json(Method::POST, "/v1/publishers/acme/keys", Some(ADMIN), Some(json!({"public_key": text})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    assert_eq!(k["key_id"], key.key_id());
    assert_eq!(k["revoked_at"], Value::Null);

    t.json(Method::POST, "/v1/publishers", Some(ADMIN), Some(json!({"name": "other"}))).await;
    let plain = key.public_key().to_string();
    let (s, body) = t
        .json(Method::POST, "/v1/publishers/other/keys", Some(ADMIN), Some(json!({"public_key": plain})))
        .await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::CONFLICT, Some("key_exists")));
    let (s, body) = t
        .json(
            Method::POST,
            "/v1/publishers/other/keys",
            Some(ADMIN),
            Some(json!({"public_key": "ssh-ed25519 AAAA"})),
        )
        .await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_public_key")));
    let (s, body) = t
        .json(Method::POST, "/v1/publishers/ghost/keys", Some(ADMIN), Some(json!({"public_key": plain})))
        .await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("publisher_not_found")));

    let (s, list) = t.json(Method::GET, "/v1/publishers", Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    let (_, acme) = t.json(Method::GET, "/v1/publishers/acme", Some(ADMIN), None).await;
    assert_eq!(acme["keys"][0]["key_id"], key.key_id());
    assert_eq!(acme["keys"][0]["public_key"], text);
    let (s, body) = t.json(Method::GET, "/v1/publishers/ghost", Some(ADMIN), None).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("publisher_not_found")));
}
both_engines!(publishers_and_keys);

/// Rotation adds the new key and revokes the old one as `rotated` in one
/// step: the old key can no longer publish, versions it signed stay
/// available, the new key publishes.
async fn rotation_keeps_earlier_versions(t: &TestRegistry) {
    let old = t.publisher("acme", 1).await;
    assert_eq!(t.publish(package("hello", "1.0.0", &old)).await.0, StatusCode::CREATED);
    let new = SigningKeyPair::from_seed(&[2; 32]).expect("key");
    let body = json!({"public_key": new.public_key().to_string(), "revoke": old.key_id()});
    let (s, r) =
        t.json(Method::POST, "/v1/publishers/acme/keys:rotate", Some(ADMIN), Some(body.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["key_id"], new.key_id());
    assert_eq!(r["revoked"]["key_id"], old.key_id());
    assert_eq!(r["revoked"]["revocation_reason"], "rotated");

    // Rotating again from the revoked key is refused, and nothing is added.
    let again = SigningKeyPair::from_seed(&[3; 32]).expect("key");
    let body = json!({"public_key": again.public_key().to_string(), "revoke": old.key_id()});
    let (s, e) = t.json(Method::POST, "/v1/publishers/acme/keys:rotate", Some(ADMIN), Some(body)).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("key_already_revoked")));
    assert_eq!(t.count("publisher_keys").await, 2);

    let (s, e) = t.publish(package("hello", "1.1.0", &old)).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("key_revoked")));
    assert_eq!(t.publish(package("hello", "1.1.0", &new)).await.0, StatusCode::CREATED);

    let (_, v) = t.json(Method::GET, "/v1/extensions/hello/versions/1.0.0", None, None).await;
    assert_eq!((v["yanked"].as_bool(), v["revoked"].as_bool()), (Some(false), Some(false)));
    let (s, _, _) = t.call(Method::GET, "/v1/extensions/hello/versions/1.0.0/package", None, None, "").await;
    assert_eq!(s, StatusCode::OK);
    let (_, ext) = t.json(Method::GET, "/v1/extensions/hello", None, None).await;
    assert_eq!(ext["latest_version"], "1.1.0");
}
both_engines!(rotation_keeps_earlier_versions);

/// Revoking a key as `compromised` revokes every version it signed: they are
/// yanked with a reason, never chosen, refuse to un-yank and no longer
/// download; versions signed by the publisher's other keys are untouched.
async fn compromise_revokes_every_version_the_key_signed(t: &TestRegistry) {
    let bad = t.publisher("acme", 1).await;
    let good = SigningKeyPair::from_seed(&[2; 32]).expect("key");
    let body = json!({"public_key": good.public_key().to_string()});
    assert_eq!(
        t.json(Method::POST, "/v1/publishers/acme/keys", Some(ADMIN), Some(body)).await.0,
        StatusCode::CREATED
    );
    for v in ["1.0.0", "1.1.0"] {
        assert_eq!(t.publish(package("hello", v, &bad)).await.0, StatusCode::CREATED);
    }
    assert_eq!(t.publish(package("hello", "0.9.0", &good)).await.0, StatusCode::CREATED);

    let path = format!("/v1/publishers/acme/keys/{}/revoke", bad.key_id());
    let (s, r) = t
        .json(Method::POST, &path, Some(ADMIN), Some(json!({"reason": "compromised", "note": "leaked"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["versions_revoked"], 2);
    assert_eq!(r["revocation_reason"], "compromised");
    assert_eq!(r["revocation_note"], "leaked");

    let (_, ext) = t.json(Method::GET, "/v1/extensions/hello", None, None).await;
    assert_eq!(ext["latest_version"], "0.9.0");
    for v in &ext["versions"].as_array().expect("versions")[..2] {
        assert_eq!((v["yanked"].as_bool(), v["revoked"].as_bool()), (Some(true), Some(true)), "{v}");
        assert!(v["yank_reason"].as_str().is_some_and(|r| r.contains("compromised")));
    }
    let (s, e) = t.json(Method::DELETE, "/v1/extensions/hello/versions/1.1.0/yank", Some(ADMIN), None).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("version_revoked")));
    let (s, _, _) = t.call(Method::GET, "/v1/extensions/hello/versions/1.1.0/package", None, None, "").await;
    assert_eq!(s, StatusCode::GONE);
    let (s, _, _) = t.call(Method::GET, "/v1/extensions/hello/versions/0.9.0/package", None, None, "").await;
    assert_eq!(s, StatusCode::OK);

    let (s, e) = t.publish(package("hello", "2.0.0", &bad)).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("key_revoked")));
    // Revoking twice is a conflict.
    let (s, e) = t.json(Method::POST, &path, Some(ADMIN), Some(json!({"reason": "compromised"}))).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("key_already_revoked")));
}
both_engines!(compromise_revokes_every_version_the_key_signed);

/// A key first revoked as `rotated` and later found `compromised` revokes
/// its versions then; it keeps its first revocation time.
async fn rotated_key_later_found_compromised(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    assert_eq!(t.publish(package("hello", "1.0.0", &key)).await.0, StatusCode::CREATED);
    let path = format!("/v1/publishers/acme/keys/{}/revoke", key.key_id());
    let (_, first) = t.json(Method::POST, &path, Some(ADMIN), Some(json!({"reason": "rotated"}))).await;
    assert_eq!(first["versions_revoked"], 0);
    let (_, v) = t.json(Method::GET, "/v1/extensions/hello/versions/1.0.0", None, None).await;
    assert_eq!(v["revoked"], false);
    let (s, again) = t.json(Method::POST, &path, Some(ADMIN), Some(json!({"reason": "rotated"}))).await;
    assert_eq!((s, again["code"].as_str()), (StatusCode::CONFLICT, Some("key_already_revoked")));

    let (s, second) = t.json(Method::POST, &path, Some(ADMIN), Some(json!({"reason": "compromised"}))).await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_eq!(second["versions_revoked"], 1);
    assert_eq!(second["revoked_at"], first["revoked_at"]);
    let (_, v) = t.json(Method::GET, "/v1/extensions/hello/versions/1.0.0", None, None).await;
    assert_eq!(v["revoked"], true);

    let (s, e) = t
        .json(
            Method::POST,
            "/v1/publishers/acme/keys/00000000000000000000000000000000/revoke",
            Some(ADMIN),
            Some(json!({"reason": "rotated"})),
        )
        .await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::NOT_FOUND, Some("key_not_found")));
    let actions: Vec<String> =
        t.registry.store().list_audit(None).await.expect("audit").into_iter().map(|a| a.action).collect();
    assert_eq!(actions.iter().filter(|a| *a == "publisher.key_revoke").count(), 2);
}
both_engines!(rotated_key_later_found_compromised);

/// The helpers `magflock up` uses: register a key (creating the publisher),
/// idempotently; create a host token.
async fn library_helpers(t: &TestRegistry) {
    let key = SigningKeyPair::from_seed(&[5; 32]).expect("key");
    let a = t.registry.register_publisher_key("dev", key.public_key()).await.expect("register");
    let b = t.registry.register_publisher_key("dev", key.public_key()).await.expect("again");
    assert_eq!(a, b);
    assert!(t.registry.register_publisher_key("other", key.public_key()).await.is_err());
    let published = t.registry.publish(&package("hello", "1.0.0", &key)).await.expect("publish");
    assert!(published.created);
    assert_eq!(published.publisher, "dev");
    let token = t.registry.create_host_token("local").await.expect("token");
    assert!(token.starts_with("mfh_"));
    assert!(t.registry.create_host_token("local").await.is_err());

    // A reset token replaces the old one at once.
    let reset = t.registry.reset_host_token("local").await.expect("reset");
    let report = json!({"version": "1.0.0", "active": true});
    let (s, _) =
        t.json(Method::PUT, "/v1/installations/demo/hello", Some(&token), Some(report.clone())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) =
        t.json(Method::PUT, "/v1/installations/demo/hello", Some(&reset), Some(report.clone())).await;
    assert_eq!(s, StatusCode::OK);
    let fresh = t.registry.reset_host_token("fresh-host").await.expect("new host");
    let (s, _) = t.json(Method::PUT, "/v1/installations/demo/hello", Some(&fresh), Some(report)).await;
    assert_eq!(s, StatusCode::OK);
}
both_engines!(library_helpers);
