//! End to end, on both databases: keys → pack → sign → install through the
//! control API → call through the gateway → usage recorded. Plus the
//! refusals of the install path and the gateway's authorization.
#![allow(clippy::unwrap_used)]

use magflock_tests::{Db, TestHost, on_both_databases, unsigned_package};
use serde_json::Value;

async fn problem(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let v: Value = r.json().await.unwrap();
    assert!(ct.starts_with("application/problem+json"), "content-type {ct} for {v}");
    (s, v)
}

on_both_databases!(signed_hello_installs_serves_and_records_usage, |host: TestHost| async move {
    // keygen → pack → sign (the publisher of the host harness) → install via API.
    let key = host.project("demo").await;
    let pkg = host.publisher.guest_package("hello", |m| m);
    let (status, body) = host.install("demo", pkg, "logging").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["installation"]["state"], "active");

    // Call through the gateway.
    let r = host.call("demo", &key, "/hello/").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-request-id").is_some());
    assert_eq!(r.text().await.unwrap(), "hello from MagFlock\n");
    let r = host.call("demo", &key, "/hello/greet?name=Ada").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["greeting"], "hello, Ada");

    // The request id is the host's own (a client cannot choose the usage
    // record's key) and names the usage record.
    let r = host
        .http
        .get(format!("{}/x/demo/hello/", host.url))
        .bearer_auth(&key)
        .header("x-request-id", "client-chosen")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(rid, "client-chosen");

    // One usage row per invocation, with the metering filled in.
    let usage = host.usage("demo", "hello").await;
    let calls: Vec<_> = usage.iter().filter(|u| u["method"] == "GET").collect();
    assert_eq!(calls.len(), 3, "{usage:?}");
    assert_eq!(calls.iter().filter(|u| u["request_id"] == rid.as_str()).count(), 1);
    for u in &calls {
        assert_eq!(u["outcome"], "ok");
        assert_eq!(u["version"], "1.0.0");
        assert_eq!(u["endpoint"], "/*");
        assert!(u["fuel_used"].as_i64().unwrap() > 0);
        // `hello` is linked with 2 MiB of initial memory and the SDK's
        // allocator serves a call from it: no call grows memory, which
        // would add at least a 64 KiB page (decision 017). The rest of the
        // peak is the component's tables.
        let peak = u["peak_memory_bytes"].as_i64().unwrap();
        assert!((2 << 20..(2 << 20) + (64 << 10)).contains(&peak), "{u}");
        assert!(u["wall_time_us"].as_i64().unwrap() > 0);
        assert!(u["bytes_out"].as_i64().unwrap() > 0);
    }
    // Every install step was recorded.
    let v = host.get_json("/v1/projects/demo/extensions/hello/validations").await;
    let steps: Vec<_> =
        v.as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap().to_owned()).collect();
    for step in ["package", "host_api", "signature", "compile", "imports", "link", "on_install"] {
        assert!(steps.iter().any(|s| s == step), "missing step {step} in {steps:?}");
    }
    // Metrics saw it.
    let m = host.http.get(format!("{}/metrics", host.url)).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("magflock_invocations_total"), "{m}");
    host.stop().await;
});

on_both_databases!(plain_wasi_http_component_without_sdk_is_installable, |host: TestHost| async move {
    let key = host.project("p").await;
    host.install_guest("p", "e2e-plain-http").await;
    let r = host.call("p", &key, "/e2e-plain-http/").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "plain");
    host.stop().await;
});

on_both_databases!(
    capabilities_wait_for_approval_then_kv_config_and_hooks_work,
    |host: TestHost| async move {
        let key = host.project("p").await;
        let pkg = host.publisher.guest_package("e2e-kv", |m| m);
        let (status, body) = host.install("p", pkg, "").await;
        assert_eq!(status, 202, "{body}");
        let mut pending: Vec<_> = body["capabilities_to_approve"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        pending.sort();
        assert_eq!(pending, ["config", "kv", "logging"]);
        // Not serving until approved.
        assert_eq!(host.call("p", &key, "/e2e-kv/count").await.status(), 404);
        // Approving something not requested is refused.
        let r = host
            .admin(reqwest::Method::POST, "/v1/projects/p/extensions/e2e-kv/approve")
            .json(&serde_json::json!({"capabilities": ["kv", "network"]}))
            .send()
            .await
            .unwrap();
        let (s, v) = problem(r).await;
        assert_eq!((s, v["code"].as_str().unwrap()), (422, "unknown_capability"), "{v}");
        // Approvals accumulate: still pending after one...
        let r = host
            .admin(reqwest::Method::POST, "/v1/projects/p/extensions/e2e-kv/approve")
            .json(&serde_json::json!({"capabilities": ["kv"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["capabilities_to_approve"], serde_json::json!(["logging", "config"]));
        assert_eq!(host.call("p", &key, "/e2e-kv/count").await.status(), 404);
        // ...active once all are approved.
        let r = host
            .admin(reqwest::Method::POST, "/v1/projects/p/extensions/e2e-kv/approve")
            .json(&serde_json::json!({"capabilities": ["config", "logging"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

        // on-install ran (it wrote a key), kv persists across fresh instances.
        assert_eq!(host.call("p", &key, "/e2e-kv/installed").await.text().await.unwrap(), "yes");
        assert_eq!(host.call("p", &key, "/e2e-kv/count").await.text().await.unwrap(), "1");
        assert_eq!(host.call("p", &key, "/e2e-kv/count").await.text().await.unwrap(), "2");
        assert_eq!(host.call("p", &key, "/e2e-kv/config/greeting").await.text().await.unwrap(), "hi");
        assert_eq!(host.call("p", &key, "/e2e-kv/config/missing").await.status(), 404);
        // Host calls are metered.
        let usage = host.usage("p", "e2e-kv").await;
        assert!(usage.iter().any(|u| u["host_calls"].as_i64().unwrap() >= 2), "{usage:?}");

        // Uninstall stops serving and deletes the data.
        let r = host.admin(reqwest::Method::DELETE, "/v1/projects/p/extensions/e2e-kv").send().await.unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(host.call("p", &key, "/e2e-kv/count").await.status(), 404);
        let pkg = host.publisher.guest_package("e2e-kv", |m| m);
        let (status, _) = host.install("p", pkg, "kv,config,logging").await;
        assert_eq!(status, 201);
        assert_eq!(host.call("p", &key, "/e2e-kv/count").await.text().await.unwrap(), "1");
        host.stop().await;
    }
);

/// The install refusals: each answers problem+json with its code, and stores
/// no installation and no package.
async fn assert_refused(
    host: &TestHost,
    canary_key: &str,
    package: Vec<u8>,
    code: &str,
    detail_has: &str,
    failed_step: Option<(&str, &str)>,
) {
    let pkgs = host.data_dir().join("packages");
    let stored = || std::fs::read_dir(&pkgs).map(|d| d.count()).unwrap_or(0);
    let before = stored();
    let (status, body) = host.install("p", package, "logging,config,kv").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["detail"].as_str().unwrap().contains(detail_has), "{body}");
    // The refusal is recorded as a failed validation step...
    if let Some((ext, step)) = failed_step {
        let steps = host.get_json(&format!("/v1/projects/p/extensions/{ext}/validations")).await;
        assert!(steps.as_array().unwrap().iter().any(|s| s["step"] == step && s["ok"] == false), "{steps}");
    }
    // ...and another project's extension keeps answering.
    assert_eq!(host.call("canary", canary_key, "/e2e-canary/").await.status(), 200);
    let list = host.get_json("/v1/projects/p/extensions").await;
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing installed: {list}");
    assert_eq!(stored(), before, "no package stored");
}

on_both_databases!(
    tampered_unsigned_untrusted_and_undeclared_packages_are_refused,
    |host: TestHost| async move {
        host.project("p").await;
        let canary = host.project("canary").await;
        host.install_guest("canary", "e2e-canary").await;
        // Unsigned.
        assert_refused(
            &host,
            &canary,
            unsigned_package("e2e-canary"),
            "unsigned",
            "not signed",
            Some(("e2e-canary", "signature")),
        )
        .await;
        // Signed by a key the host does not trust.
        let stranger = magflock_tests::Publisher::generate();
        assert_refused(
            &host,
            &canary,
            stranger.guest_package("e2e-canary", |m| m),
            "untrusted_key",
            "e2e-canary",
            Some(("e2e-canary", "signature")),
        )
        .await;
        // A byte of the component changed after signing.
        let good = host.publisher.guest_package("e2e-canary", |m| m);
        let signed = magflock_registry::Package::from_bytes(&good).unwrap();
        let mut component = signed.component().to_vec();
        let n = component.len();
        component[n / 2] ^= 0x01;
        let mut pkg = magflock_registry::Package::new(signed.manifest_bytes().to_vec(), component).unwrap();
        pkg.set_signature(signed.signature().cloned());
        assert_refused(
            &host,
            &canary,
            pkg.to_bytes(),
            "digest_mismatch",
            "component",
            Some(("e2e-canary", "signature")),
        )
        .await;
        // A byte of the manifest changed after signing.
        let text = String::from_utf8(signed.manifest_bytes().to_vec()).unwrap().replace("2000", "3000");
        let mut pkg =
            magflock_registry::Package::new(text.into_bytes(), signed.component().to_vec()).unwrap();
        pkg.set_signature(signed.signature().cloned());
        assert_refused(
            &host,
            &canary,
            pkg.to_bytes(),
            "digest_mismatch",
            "manifest",
            Some(("e2e-canary", "signature")),
        )
        .await;
        // Imports kv without declaring it.
        let pkg = host.publisher.guest_package("hostile-undeclared", |m| m);
        assert_refused(
            &host,
            &canary,
            pkg,
            "undeclared_import",
            "magflock:ext/kv",
            Some(("hostile-undeclared", "imports")),
        )
        .await;
        // Garbage.
        assert_refused(&host, &canary, b"not a package".to_vec(), "malformed_archive", "", None).await;
        host.stop().await;
    }
);

on_both_databases!(gateway_hides_other_projects_and_refuses_bad_keys, |host: TestHost| async move {
    let key_a = host.project("alpha").await;
    let key_b = host.project("beta").await;
    host.install_guest("alpha", "e2e-canary").await;
    assert_eq!(host.call("alpha", &key_a, "/e2e-canary/").await.status(), 200);
    // Another project's key looks exactly like a missing extension.
    let (s1, other) = problem(host.call("alpha", &key_b, "/e2e-canary/").await).await;
    let (s2, missing) = problem(host.call("alpha", &key_a, "/no-such-ext/").await).await;
    let (s3, no_project) = problem(host.call("gamma", &key_a, "/e2e-canary/").await).await;
    assert_eq!((s1, s2, s3), (404, 404, 404));
    assert_eq!(other, missing);
    assert_eq!(other, no_project);
    // No key, a wrong key: 401.
    let r = host.http.get(format!("{}/x/alpha/e2e-canary/", host.url)).send().await.unwrap();
    assert_eq!(problem(r).await.0, 401);
    assert_eq!(problem(host.call("alpha", "mf_000000000000_nope", "/e2e-canary/").await).await.0, 401);
    // The PostgREST-style `apikey` header works too.
    let r = host
        .http
        .get(format!("{}/x/alpha/e2e-canary/", host.url))
        .header("apikey", &key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A revoked key stops working at once.
    let (id, secret) = host.api_key("alpha").await;
    assert_eq!(host.call("alpha", &secret, "/e2e-canary/").await.status(), 200);
    let r = host
        .admin(reqwest::Method::DELETE, &format!("/v1/projects/alpha/api-keys/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(problem(host.call("alpha", &secret, "/e2e-canary/").await).await.0, 401);
    // Control API without the admin token.
    let r = host.http.get(format!("{}/v1/projects", host.url)).bearer_auth(&key_a).send().await.unwrap();
    assert_eq!(problem(r).await.0, 401);
    host.stop().await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_over_the_limit_get_413_and_store_nothing() {
    let host = TestHost::start_with(Db::Sqlite, |c| c.max_upload_bytes = 16 * 1024).await;
    host.project("p").await;
    let pkg = host.publisher.guest_package("e2e-canary", |m| m);
    assert!(pkg.len() > 16 * 1024);
    // The host answers 413 while the client is still sending and then closes
    // the connection; the rest of the body in flight can make the client
    // lose that answer (a connection reset). Try again until it reads one.
    let mut answer = None;
    for _ in 0..10 {
        let sent = host
            .admin(reqwest::Method::POST, "/v1/projects/p/extensions")
            .header("content-type", "application/octet-stream")
            .body(pkg.clone())
            .send()
            .await;
        if let Ok(r) = sent {
            let status = r.status().as_u16();
            answer = Some((status, r.json::<serde_json::Value>().await.unwrap_or_default()));
            break;
        }
    }
    let (status, body) = answer.expect("no answer to the oversized upload in 10 tries");
    assert_eq!((status, body["code"].as_str()), (413, Some("upload_too_large")), "{body}");
    assert_eq!(host.get_json("/v1/projects/p/extensions").await.as_array().unwrap().len(), 0);
    assert!(!host.data_dir().join("packages").exists());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installations_survive_a_restart_and_are_verified_again() {
    let host = TestHost::start(Db::Sqlite).await;
    let key = host.project("p").await;
    host.install_guest("p", "e2e-canary").await;
    host.install_guest("p", "e2e-kv").await;
    assert_eq!(host.call("p", &key, "/e2e-kv/count").await.text().await.unwrap(), "1");
    // Tamper with one stored package on disk while the host is down.
    let host = host.restart().await;
    assert_eq!(host.call("p", &key, "/e2e-canary/").await.status(), 200);
    assert_eq!(host.call("p", &key, "/e2e-kv/count").await.text().await.unwrap(), "2");
    let installs = host.get_json("/v1/projects/p/extensions").await;
    let kv_pkg =
        installs.as_array().unwrap().iter().find(|i| i["extension"] == "e2e-kv").unwrap()["package_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let path = host.data_dir().join("packages").join(format!("{kv_pkg}.mfpkg"));
    let signed = magflock_registry::Package::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    let mut component = signed.component().to_vec();
    let n = component.len();
    component[n - 100] ^= 0x40;
    let mut pkg = magflock_registry::Package::new(signed.manifest_bytes().to_vec(), component).unwrap();
    pkg.set_signature(signed.signature().cloned());
    std::fs::write(&path, pkg.to_bytes()).unwrap();
    let host = host.restart().await;
    // The tampered one is not loaded; the other still serves.
    assert_eq!(host.call("p", &key, "/e2e-canary/").await.status(), 200);
    assert_eq!(host.call("p", &key, "/e2e-kv/count").await.status(), 404);
    host.stop().await;
}

#[tokio::test]
async fn openapi_document_lists_the_control_api() {
    let doc = magflock_host::api::openapi();
    let v = serde_json::to_value(&doc).unwrap();
    let paths = v["paths"].as_object().unwrap();
    for p in [
        "/v1/projects",
        "/v1/projects/{project}/extensions",
        "/v1/projects/{project}/usage",
        "/v1/projects/{project}/violations",
        "/v1/trusted-keys",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    // The whole document is a reviewed snapshot: an API change shows up in
    // review as a change to this file.
    insta::assert_json_snapshot!("openapi", v);
}

on_both_databases!(problem_bodies_have_a_stable_shape, |host: TestHost| async move {
    let key = host.project("p").await;
    let r = host.call("p", &key, "/nothing-here/").await;
    let (_, v) = problem(r).await;
    insta::assert_json_snapshot!("problem_not_found", v);
    let (_, v) = host.install("p", unsigned_package("e2e-canary"), "").await;
    insta::assert_json_snapshot!("problem_unsigned", v);
    host.stop().await;
});
