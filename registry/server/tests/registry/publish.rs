//! Publishing, immutability, download and yank.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::prelude::*;

/// A valid package is 201 with its digests; the blob and the rows exist.
async fn publish_then_get_and_download(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    let m = manifest(
        "hello",
        "1.2.0",
        "keywords = [\"greeting\"]\n\n[capabilities]\nkv = true\nlogging = true\n",
    );
    let bytes = signed_with(&m, component(b"ordinary"), &key);
    let sha = hex::encode(Sha256::digest(&bytes));
    let (s, published) = t.publish(bytes.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{published}");
    assert_eq!(published["name"], "hello");
    assert_eq!(published["version"], "1.2.0");
    assert_eq!(published["sha256"], sha);
    assert_eq!(published["publisher"], "acme");
    assert_eq!(published["key_id"], key.key_id());
    for field in ["package_id", "component_sha256", "manifest_sha256"] {
        assert_eq!(published[field].as_str().map(str::len), Some(64), "{field}");
    }
    assert_eq!(t.blob_digests(), vec![sha.clone()]);

    let (s, v) = t.json(Method::GET, "/v1/extensions/hello/versions/1.2.0", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["host"], ">=0.1, <0.2");
    assert_eq!(v["capabilities"], json!(["logging", "kv"]));
    assert_eq!(v["dependencies"], json!({}));
    assert_eq!(v["yanked"], false);
    assert_eq!(v["size"], bytes.len());
    assert!(v["manifest"].as_str().is_some_and(|m| m.contains("name = \"hello\"")));

    let (s, h, body) =
        t.call(Method::GET, "/v1/extensions/hello/versions/1.2.0/package", None, None, "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body.as_ref(), bytes.as_slice());
    assert_eq!(h["content-type"], "application/vnd.magflock.package");
    assert_eq!(h["x-magflock-sha256"], sha.as_str());
    let b64 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
    assert_eq!(h["content-digest"], format!("sha-256=:{b64}:").as_str());

    // The answers read back into the crate's typed models (what clients use).
    let typed: magflock_registry_server::Published =
        serde_json::from_value(published.clone()).expect("Published");
    assert_eq!(typed.sha256, sha);
    let (_, ext) = t.json(Method::GET, "/v1/extensions/hello", None, None).await;
    let ext: magflock_registry_server::api::browse::ExtensionDetail =
        serde_json::from_value(ext).expect("detail");
    assert_eq!(ext.summary.latest_version.as_deref(), Some("1.2.0"));
    assert_eq!(ext.versions[0].capabilities, ["logging", "kv"]);
    let detail: magflock_registry_server::api::browse::VersionDetail =
        serde_json::from_value(v).expect("version");
    assert!(detail.manifest.contains("kv = true"));

    let (s, body) = t.json(Method::GET, "/v1/extensions/hello/versions/9.9.9", None, None).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("version_not_found")));
    let (s, body) = t.json(Method::GET, "/v1/extensions/nope", None, None).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("extension_not_found")));
}
both_engines!(publish_then_get_and_download);

/// Publishing the same bytes again is 200 with the same body; other bytes
/// for the same version are 409 `version_exists` and store nothing new.
async fn published_versions_are_immutable(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    let first = package("hello", "1.0.0", &key);
    let (s, a) = t.publish(first.clone()).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = t.publish(first).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(a, b);

    let other = signed_with(&manifest("hello", "1.0.0", ""), component(b"other bytes"), &key);
    let (s, body) = t.publish(other).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::CONFLICT, Some("version_exists")));
    assert_eq!(t.count("versions").await, 1);
    assert_eq!(t.blob_digests(), vec![a["sha256"].as_str().expect("sha").to_owned()]);
}
both_engines!(published_versions_are_immutable);

/// The first publish binds a name to its publisher: another publisher's key
/// gets 403 `name_owned_by_other_publisher` and nothing is stored.
async fn names_belong_to_their_first_publisher(t: &TestRegistry) {
    let acme = t.publisher("acme", 1).await;
    let evil = t.publisher("evil", 2).await;
    assert_eq!(t.publish(package("hello", "1.0.0", &acme)).await.0, StatusCode::CREATED);
    let (s, body) = t.publish(package("hello", "1.0.1", &evil)).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("name_owned_by_other_publisher")));
    assert_eq!(t.count("versions").await, 1);
    assert_eq!(t.blob_digests().len(), 1);
    // The rightful publisher's next version is fine.
    assert_eq!(t.publish(package("hello", "1.0.1", &acme)).await.0, StatusCode::CREATED);
}
both_engines!(names_belong_to_their_first_publisher);

/// A yanked version is not the latest, still downloads, and un-yanks.
async fn yank_and_unyank(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    for v in ["1.0.0", "1.1.0"] {
        assert_eq!(t.publish(package("hello", v, &key)).await.0, StatusCode::CREATED);
    }
    let path = "/v1/extensions/hello/versions/1.1.0/yank";
    let (s, _) = t.json(Method::PUT, path, None, Some(json!({"reason": "bug"}))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = t.json(Method::PUT, path, Some(ADMIN), Some(json!({"reason": "crashes on start"}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["yanked"].as_bool(), v["yank_reason"].as_str()), (Some(true), Some("crashes on start")));

    let (_, ext) = t.json(Method::GET, "/v1/extensions/hello", None, None).await;
    assert_eq!(ext["latest_version"], "1.0.0");
    assert_eq!(ext["versions"][0]["version"], "1.1.0");
    assert_eq!(ext["versions"][0]["yanked"], true);
    let (s, _, _) = t.call(Method::GET, "/v1/extensions/hello/versions/1.1.0/package", None, None, "").await;
    assert_eq!(s, StatusCode::OK, "a yanked version still downloads");

    let (s, v) = t.json(Method::DELETE, path, Some(ADMIN), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((v["yanked"].as_bool(), v["yank_reason"].as_str()), (Some(false), None));
    let (_, ext) = t.json(Method::GET, "/v1/extensions/hello", None, None).await;
    assert_eq!(ext["latest_version"], "1.1.0");

    let (s, body) = t.json(Method::PUT, "/v1/extensions/hello/versions/3.0.0/yank", Some(ADMIN), None).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("version_not_found")));
    let actions: Vec<String> =
        t.registry.store().list_audit(None).await.expect("audit").into_iter().map(|a| a.action).collect();
    assert!(actions.contains(&"version.yank".to_owned()) && actions.contains(&"version.unyank".to_owned()));
}
both_engines!(yank_and_unyank);

/// A blob damaged on disk is detected on download, not served.
async fn corrupt_blob_is_not_served(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    let (_, p) = t.publish(package("hello", "1.0.0", &key)).await;
    let sha = p["sha256"].as_str().expect("sha");
    std::fs::write(t.blobs().path_of(sha), b"tampered").expect("write");
    let (s, _, body) =
        t.call(Method::GET, "/v1/extensions/hello/versions/1.0.0/package", None, None, "").await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!String::from_utf8_lossy(&body).contains(t.dir.path().to_string_lossy().as_ref()));
}
both_engines!(corrupt_blob_is_not_served);
