//! The `magflock` binary as an author uses it: `keys generate` → `pack` →
//! `sign` → `verify`, then the package installs through the control API and
//! serves through the gateway, on both databases.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use magflock_tests::{TestHost, magflock_bin, on_both_databases, wasm_dir};

fn run(args: &[&str], cwd: &Path) -> (bool, String, String) {
    let out = Command::new(magflock_bin()).args(args).current_dir(cwd).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

on_both_databases!(keys_pack_sign_verify_with_the_cli_then_install_and_call, |host: TestHost| async move {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hello = wasm_dir().join("hello");
    let manifest = hello.join("extension.toml");
    let component = hello.join("component.wasm");

    let (ok, out, err) = run(&["keys", "generate", "--out", "me"], d);
    assert!(ok, "{err}");
    assert!(out.contains("key id"), "{out}");
    // A second generate does not overwrite the key.
    let (ok, _, err) = run(&["keys", "generate", "--out", "me"], d);
    assert!(!ok && err.contains("already exists"), "{err}");

    let (ok, out, err) = run(
        &[
            "pack",
            "--manifest",
            manifest.to_str().unwrap(),
            "--component",
            component.to_str().unwrap(),
            "--out",
            "hello.mfpkg",
        ],
        d,
    );
    assert!(ok, "{err}");
    assert!(out.contains("hello@1.0.0"), "{out}");
    // Unsigned: verify refuses with the code.
    let (ok, _, err) = run(&["verify", "hello.mfpkg", "--trusted", "me.pub"], d);
    assert!(!ok && err.contains("unsigned"), "{err}");

    let (ok, _, err) = run(&["sign", "hello.mfpkg", "--key", "me.key"], d);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&["verify", "hello.mfpkg", "--trusted", "me.pub"], d);
    assert!(ok, "{err}");
    assert!(out.starts_with("ok:"), "{out}");
    // Another key does not verify it.
    run(&["keys", "generate", "--out", "other"], d);
    let (ok, _, err) = run(&["verify", "hello.mfpkg", "--trusted", "other.pub"], d);
    assert!(!ok && err.contains("untrusted_key"), "{err}");

    // The host trusts the author's key; the package installs and serves.
    let public = std::fs::read_to_string(d.join("me.pub")).unwrap();
    host.trust(public.trim()).await;
    let key = host.project("demo").await;
    let (status, body) = host.install("demo", std::fs::read(d.join("hello.mfpkg")).unwrap(), "").await;
    assert_eq!(status, 201, "{body}");
    let r = host.call("demo", &key, "/hello/").await;
    assert_eq!(r.status(), 200);
    let usage = host.usage("demo", "hello").await;
    assert_eq!(usage.iter().filter(|u| u["method"] == "GET").count(), 1);
    host.stop().await;
});

#[test]
fn cli_errors_name_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(&["pack", "--manifest", "missing.toml", "--component", "x.wasm"], dir.path());
    assert!(!ok);
    assert!(err.contains("missing.toml"), "{err}");
    std::fs::write(dir.path().join("bad.toml"), "name = \"Hello\"\n").unwrap();
    std::fs::write(dir.path().join("x.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let (ok, _, err) = run(&["pack", "--manifest", "bad.toml", "--component", "x.wasm"], dir.path());
    assert!(!ok);
    assert!(err.contains("bad.toml"), "{err}");
}

/// `magflock up` as a person runs it: it prints the URLs and key, writes
/// `up.json`, and the demo project's `hello` answers with that key. A second
/// `up` on the same data directory reuses the key and the installation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_hello_in_the_demo_project_and_writes_up_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let free_port = || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (port, registry_port) = (free_port(), free_port());
    let wasm = wasm_dir();
    let start = || {
        Command::new(magflock_bin())
            .args([
                "up",
                "--data-dir",
                data.to_str().unwrap(),
                "--port",
                &port.to_string(),
                "--registry-port",
                &registry_port.to_string(),
                "--wasm-dir",
                wasm.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let client = reqwest::Client::new();
    let mut keys = Vec::new();
    for _ in 0..2 {
        let _ = std::fs::remove_file(data.join("up.json"));
        let mut child = start();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let up = loop {
            if let Ok(text) = std::fs::read_to_string(data.join("up.json")) {
                break serde_json::from_str::<serde_json::Value>(&text).unwrap();
            }
            assert!(std::time::Instant::now() < deadline, "up.json not written");
            assert!(child.try_wait().unwrap().is_none(), "magflock up exited early");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        for field in ["gateway_url", "control_url", "project", "api_key", "admin_token", "registry_url"] {
            assert!(up[field].is_string(), "{field} missing in {up}");
        }
        // The registry lists the first-party extensions it installed from.
        let search = format!("{}/v1/extensions?q=hello", up["registry_url"].as_str().unwrap());
        let found: serde_json::Value = client.get(&search).send().await.unwrap().json().await.unwrap();
        assert!(found["items"].as_array().unwrap().iter().any(|e| e["name"] == "hello"), "{found}");
        let url = format!("{}/x/demo/hello/", up["gateway_url"].as_str().unwrap());
        let r = client.get(&url).bearer_auth(up["api_key"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "hello from MagFlock\n");
        // MagGate serves the demo project's sample table at once.
        let url =
            format!("{}/x/demo/maggate/todos?done=eq.false&order=id", up["gateway_url"].as_str().unwrap());
        let r = client.get(&url).bearer_auth(up["api_key"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let todos: serde_json::Value = r.json().await.unwrap();
        let titles: Vec<&str> =
            todos.as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Read the docs", "Call MagGate"]);
        keys.push(up["api_key"].as_str().unwrap().to_owned());
        // SIGTERM: a graceful stop.
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "magflock up did not stop cleanly: {status}");
        let mut out = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
        assert!(out.contains("MagFlock is up.") && out.contains(&keys[keys.len() - 1]), "{out}");
    }
    assert_eq!(keys[0], keys[1], "the demo key is kept across runs");
}
