//! The marketplace end to end: an author's key is registered, packages are
//! published with the CLI, found by search, installed by name and range
//! (the host checking the signature itself), called, rated; plus what the
//! registry's bounded component check refuses.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use magflock_host::component_check::{CheckFailure, WorkerChecker};
use magflock_tests::magflock_bin;
use magflock_tests::registry::TestRegistry;
use magflock_tests::{Publisher, TestHost, guest, wasm_dir, with_registry_on_both_databases};
use serde_json::{Value, json};

fn run(args: &[&str], cwd: &Path) -> (bool, String, String) {
    let out = Command::new(magflock_bin()).args(args).current_dir(cwd).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Packs and signs hello at `version` with the CLI; returns the file name.
fn pack_hello(d: &Path, version: &str) -> String {
    let hello = wasm_dir().join("hello");
    let manifest = std::fs::read_to_string(hello.join("extension.toml")).unwrap();
    let manifest = manifest.replace("version = \"1.0.0\"", &format!("version = \"{version}\""));
    let manifest_path = d.join(format!("hello-{version}.toml"));
    std::fs::write(&manifest_path, manifest).unwrap();
    let out = format!("hello-{version}.mfpkg");
    let component = hello.join("component.wasm");
    let (ok, _, err) = run(
        &[
            "pack",
            "--manifest",
            manifest_path.to_str().unwrap(),
            "--component",
            component.to_str().unwrap(),
            "--out",
            &out,
        ],
        d,
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["sign", &out, "--key", "author.key"], d);
    assert!(ok, "{err}");
    out
}

async fn install_json(host: &TestHost, body: Value) -> (u16, Value) {
    let r =
        host.admin(reqwest::Method::POST, "/v1/projects/demo/extensions").json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

with_registry_on_both_databases!(
    publish_search_install_by_range_call_and_rate,
    |host: TestHost, registry: TestRegistry| async move {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (ok, _, err) = run(&["keys", "generate", "--out", "author"], d);
        assert!(ok, "{err}");
        let public = std::fs::read_to_string(d.join("author.pub")).unwrap();
        registry.register_publisher("acme", public.trim()).await;
        host.trust(public.trim()).await;
        let key = host.project("demo").await;

        for version in ["1.0.0", "1.1.0", "2.0.0"] {
            let file = pack_hello(d, version);
            let (ok, out, err) =
                run(&["publish", &file, "--registry", &registry.url, "--token", &registry.admin_token], d);
            assert!(ok, "{err}");
            assert!(out.contains(&format!("published hello@{version}")), "{out}");
        }
        // Publishing the same bytes again is harmless; other bytes are refused.
        let (ok, out, err) = run(
            &["publish", "hello-1.0.0.mfpkg", "--registry", &registry.url, "--token", &registry.admin_token],
            d,
        );
        assert!(ok && out.contains("already published"), "{out}{err}");

        let found = registry.get_json("/v1/extensions?q=hello").await;
        assert!(found["items"].as_array().unwrap().iter().any(|e| e["name"] == "hello"), "{found}");

        // 1.1.0 is yanked: ^1 installs 1.0.0.
        let r = registry
            .admin(reqwest::Method::PUT, "/v1/extensions/hello/versions/1.1.0/yank")
            .json(&json!({"reason": "broken"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let install = [
            "install",
            "hello",
            "--version",
            "^1",
            "--project",
            "demo",
            "--host",
            &host.url,
            "--token",
            &host.admin_token,
        ];
        let (ok, out, err) = run(&[&install[..], &["--dry-run"]].concat(), d);
        assert!(ok, "{err}");
        assert!(out.contains("1. install hello 1.0.0"), "{out}");
        assert!(host.get_json("/v1/projects/demo/extensions").await.as_array().unwrap().is_empty());
        let (ok, out, err) = run(
            &[
                "install",
                "hello",
                "--version",
                "^1",
                "--project",
                "demo",
                "--host",
                &host.url,
                "--token",
                &host.admin_token,
            ],
            d,
        );
        assert!(ok, "{err}");
        assert!(out.contains("installed hello@1.0.0"), "{out}");
        assert_eq!(host.call("demo", &key, "/hello/").await.status(), 200);
        let steps = host.get_json("/v1/projects/demo/extensions/hello/validations").await;
        let steps: Vec<&str> =
            steps.as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
        for step in ["registry_resolve", "registry_download", "signature", "link"] {
            assert!(steps.contains(&step), "{step} missing from {steps:?}");
        }

        // Rated by the project that runs it; the marketplace shows it.
        let r = host
            .admin(reqwest::Method::PUT, "/v1/projects/demo/extensions/hello/rating")
            .json(&json!({"stars": 4, "review": "small and useful"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let info = registry.get_json("/v1/extensions/hello").await;
        assert_eq!(info["stats"]["average_rating"], 4.0, "{info}");
        assert_eq!(info["stats"]["active_installations"], 1, "{info}");
        let market = registry.get_json("/v1/marketplace").await;
        assert_eq!(market["items"][0]["name"], "hello", "{market}");

        // A project without it cannot rate.
        host.project("other").await;
        let r = host
            .admin(reqwest::Method::PUT, "/v1/projects/other/extensions/hello/rating")
            .json(&json!({"stars": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);

        // Upgrade by range, then a downgrade by range is refused.
        let (status, body) = install_json(&host, json!({"name": "hello", "version": "^2"})).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["installation"]["version"], "2.0.0");
        let (status, body) = install_json(&host, json!({"name": "hello", "version": "=1.0.0"})).await;
        assert_eq!((status, body["code"].as_str()), (409, Some("downgrade_refused")), "{body}");
        // Nothing matches: the answer lists what there is.
        let (status, body) = install_json(&host, json!({"name": "hello", "version": "^3"})).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("no_matching_version")), "{body}");
        assert!(body["detail"].as_str().unwrap().contains("2.0.0"), "{body}");
        let (status, body) = install_json(&host, json!({"name": "nope", "version": "^1"})).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("extension_not_found")), "{body}");
    }
);

with_registry_on_both_databases!(
    the_host_verifies_registry_packages_against_its_own_trust,
    |host: TestHost, registry: TestRegistry| async move {
        // The registry knows this publisher; the host does not trust its key.
        let publisher = Publisher::generate();
        registry.register_publisher("stranger", &publisher.public.to_string()).await;
        let (status, body) = registry.publish(publisher.guest_package("e2e-canary", |m| m)).await;
        assert_eq!(status, 201, "{body}");
        host.project("demo").await;
        let (status, body) = install_json(&host, json!({"name": "e2e-canary"})).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("untrusted_key")), "{body}");
        let all = host.get_json("/v1/projects/demo/extensions").await;
        assert_eq!(all.as_array().unwrap().len(), 0, "{all}");
        let steps = host.get_json("/v1/projects/demo/extensions/e2e-canary/validations").await;
        assert!(
            steps.as_array().unwrap().iter().any(|s| s["step"] == "signature" && s["ok"] == false),
            "{steps}"
        );
    }
);

with_registry_on_both_databases!(
    publish_refuses_a_component_that_fails_the_linker_check,
    |_host: TestHost, registry: TestRegistry| async move {
        let publisher = Publisher::generate();
        registry.register_publisher("acme", &publisher.public.to_string()).await;
        let (status, body) = registry.publish(publisher.guest_package("hostile-undeclared", |m| m)).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("component_rejected")), "{body}");
        assert!(body["detail"].as_str().unwrap().contains("kv"), "{body}");
        let r = registry
            .http
            .get(format!("{}/v1/extensions/hostile-undeclared", registry.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
);

fn package(name: &str) -> magflock_registry::Package {
    let (manifest, component) = guest(name);
    magflock_registry::Package::new(manifest.into_bytes(), component).unwrap()
}

#[tokio::test]
async fn the_check_worker_accepts_a_good_component_and_names_an_undeclared_import() {
    let checker = WorkerChecker::new(magflock_bin());
    checker.check(&package("e2e-kv")).await.unwrap();
    match checker.check(&package("hostile-undeclared")).await {
        Err(CheckFailure::Rejected { code, message }) => {
            assert_eq!(code, "undeclared_import");
            assert!(message.contains("magflock:ext/kv"), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn the_check_worker_refuses_a_subscriber_without_an_event_handler() {
    // What a host refuses at install, the registry refuses at publish.
    let (manifest, component) = guest("e2e-plain-http");
    let manifest = format!("{manifest}\n[capabilities.events]\nsubscribe = [\"t.one\"]\n");
    let pkg = magflock_registry::Package::new(manifest.into_bytes(), component).unwrap();
    match WorkerChecker::new(magflock_bin()).check(&pkg).await {
        Err(CheckFailure::Rejected { code, message }) => {
            assert_eq!(code, "no_event_handler");
            assert!(message.contains("t.one"), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn the_check_worker_is_stopped_at_its_deadline() {
    let checker = WorkerChecker { timeout: Duration::from_millis(1), ..WorkerChecker::new(magflock_bin()) };
    let started = std::time::Instant::now();
    let r = checker.check(&package("hello")).await;
    assert!(matches!(r, Err(CheckFailure::Timeout(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn the_check_worker_is_stopped_at_its_memory_cap() {
    // 32 MiB of address space cannot hold a compiler: the worker fails for
    // want of memory and the check says so, not that the component is bad.
    let checker = WorkerChecker { memory_bytes: 32 << 20, ..WorkerChecker::new(magflock_bin()) };
    let r = checker.check(&package("hello")).await;
    assert!(matches!(r, Err(CheckFailure::ResourceLimit(_))), "{r:?}");
}
