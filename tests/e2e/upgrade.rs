//! Replacing an installed version: upgrades switch atomically, a lower
//! version is refused (also after a restart) unless asked for, and an
//! upgrade that needs new capabilities waits while the old version serves.
#![allow(clippy::unwrap_used)]

use magflock_tests::{TestHost, on_both_databases};
use serde_json::Value;

const CANARY: &str = "e2e-canary";

fn canary(host: &TestHost, version: &str, extra: &str) -> Vec<u8> {
    host.publisher.guest_package(CANARY, |m| {
        let m = m.replace("version = \"1.0.0\"", &format!("version = \"{version}\""));
        format!("{m}\n{extra}")
    })
}

/// The version that served the project's last call, from its usage record.
async fn last_served_version(host: &TestHost, key: &str) -> String {
    let r = host.call("demo", key, "/e2e-canary/").await;
    assert_eq!(r.status(), 200);
    host.state.runtime.usage.flush().await;
    let usage = host.usage("demo", "e2e-canary").await;
    usage.first().unwrap()["version"].as_str().unwrap().to_owned()
}

async fn installed_version(host: &TestHost) -> Value {
    host.get_json("/v1/projects/demo/extensions/e2e-canary").await["version"].clone()
}

async fn install_with(host: &TestHost, pkg: Vec<u8>, query: &str) -> (u16, Value) {
    let r = host
        .admin(reqwest::Method::POST, &format!("/v1/projects/demo/extensions?{query}"))
        .header("content-type", "application/octet-stream")
        .body(pkg)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

on_both_databases!(
    upgrade_switches_versions_and_a_downgrade_is_refused_across_a_restart,
    |host: TestHost| async move {
        let key = host.project("demo").await;
        let (status, body) = host.install("demo", canary(&host, "1.0.0", ""), "").await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(last_served_version(&host, &key).await, "1.0.0");

        let (status, body) = host.install("demo", canary(&host, "1.1.0", ""), "").await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(installed_version(&host).await, "1.1.0");
        assert_eq!(last_served_version(&host, &key).await, "1.1.0");

        // The same version again is not an upgrade.
        let (status, body) = host.install("demo", canary(&host, "1.1.0", ""), "").await;
        assert_eq!((status, body["code"].as_str()), (409, Some("already_installed")), "{body}");

        // A lower version is refused, and stays refused after a restart.
        let (status, body) = host.install("demo", canary(&host, "1.0.0", ""), "").await;
        assert_eq!((status, body["code"].as_str()), (409, Some("downgrade_refused")), "{body}");
        let host = host.restart().await;
        let (status, body) = host.install("demo", canary(&host, "1.0.0", ""), "").await;
        assert_eq!((status, body["code"].as_str()), (409, Some("downgrade_refused")), "{body}");
        assert_eq!(installed_version(&host).await, "1.1.0");
        let steps = host.get_json("/v1/projects/demo/extensions/e2e-canary/validations").await;
        assert!(
            steps.as_array().unwrap().iter().any(|s| s["step"] == "version_order" && s["ok"] == false),
            "{steps}"
        );
        // The upgrade to 1.1.0 was instantiated and its upgrade hook run before the switch.
        for step in ["instantiate", "on_upgrade"] {
            assert!(
                steps.as_array().unwrap().iter().any(|s| s["step"] == step && s["ok"] == true),
                "{step}: {steps}"
            );
        }

        // Asked for explicitly, the downgrade happens and is audited.
        let (status, body) = install_with(&host, canary(&host, "1.0.0", ""), "allow_downgrade=true").await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(installed_version(&host).await, "1.0.0");
        let audit = host.get_json("/v1/audit?project=demo").await;
        assert!(audit.to_string().contains("extension.downgrade"), "{audit}");
        // One serving row; the replaced versions are kept as removed.
        let all = host.get_json("/v1/projects/demo/extensions").await;
        let live: Vec<_> = all.as_array().unwrap().iter().filter(|i| i["state"] != "removed").collect();
        assert_eq!(live.len(), 1, "{all}");
    }
);

on_both_databases!(
    an_upgrade_asking_for_more_capabilities_waits_while_the_old_version_serves,
    |host: TestHost| async move {
        let key = host.project("demo").await;
        let (status, body) = host.install("demo", canary(&host, "1.0.0", ""), "").await;
        assert_eq!(status, 201, "{body}");

        let more = canary(&host, "2.0.0", "[capabilities]\nlogging = true\n");
        let (status, body) = host.install("demo", more, "").await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["capabilities_to_approve"], serde_json::json!(["logging"]));
        // The installed version keeps serving, and is what the project shows.
        assert_eq!(last_served_version(&host, &key).await, "1.0.0");
        assert_eq!(installed_version(&host).await, "1.0.0");
        // Another version cannot be started while one waits.
        let (status, body) = host.install("demo", canary(&host, "2.1.0", ""), "").await;
        assert_eq!((status, body["code"].as_str()), (409, Some("install_pending")), "{body}");

        let r = host
            .admin(reqwest::Method::POST, "/v1/projects/demo/extensions/e2e-canary/approve")
            .json(&serde_json::json!({"capabilities": ["logging"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(installed_version(&host).await, "2.0.0");
        assert_eq!(last_served_version(&host, &key).await, "2.0.0");

        // Uninstall removes it; nothing of it serves or stays live.
        let r = host
            .admin(reqwest::Method::DELETE, "/v1/projects/demo/extensions/e2e-canary")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(host.call("demo", &key, "/e2e-canary/").await.status(), 404);
    }
);

on_both_databases!(
    uninstalling_during_a_pending_upgrade_removes_both_versions,
    |host: TestHost| async move {
        let key = host.project("demo").await;
        let (status, _) = host.install("demo", canary(&host, "1.0.0", ""), "").await;
        assert_eq!(status, 201);
        let (status, _) =
            host.install("demo", canary(&host, "2.0.0", "[capabilities]\nlogging = true\n"), "").await;
        assert_eq!(status, 202);
        let r = host
            .admin(reqwest::Method::DELETE, "/v1/projects/demo/extensions/e2e-canary")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let all = host.get_json("/v1/projects/demo/extensions").await;
        assert!(all.as_array().unwrap().iter().all(|i| i["state"] == "removed"), "{all}");
        assert_eq!(host.call("demo", &key, "/e2e-canary/").await.status(), 404);
    }
);

on_both_databases!(
    a_new_version_that_keeps_failing_is_rolled_back_by_the_host,
    |host: TestHost| async move {
        let key = host.project("demo").await;
        let (status, body) = host.install("demo", canary(&host, "1.0.0", ""), "").await;
        assert_eq!(status, 201, "{body}");
        // 1.1.0 is a build that burns all its fuel on every call.
        let broken = host.publisher.guest_package("hostile-fuel", |m| {
            m.replace("name = \"hostile-fuel\"", "name = \"e2e-canary\"")
                .replace("version = \"1.0.0\"", "version = \"1.1.0\"")
        });
        let (status, body) = host.install("demo", broken, "").await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(installed_version(&host).await, "1.1.0");

        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(host.call("demo", &key, "/e2e-canary/").await.status().as_u16());
        }
        assert!(statuses.iter().all(|s| *s != 200), "{statuses:?}");
        // The third failure switched back: 1.0.0 serves again, at once.
        let r = host.call("demo", &key, "/e2e-canary/").await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "ok");
        // The store follows (written in the background: the installation, then
        // the validation, then the audit entry) and says why.
        let mut audit = Value::Null;
        for _ in 0..100 {
            audit = host.get_json("/v1/audit?project=demo").await;
            if audit.to_string().contains("extension.rollback") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(audit.to_string().contains("extension.rollback"), "{audit}");
        assert_eq!(installed_version(&host).await, "1.0.0");
        let steps = host.get_json("/v1/projects/demo/extensions/e2e-canary/validations").await;
        let rollback = steps.as_array().unwrap().iter().find(|s| s["step"] == "rollback").cloned().unwrap();
        assert!(rollback["detail"].as_str().unwrap().contains("rolled back to 1.0.0"), "{rollback}");
        // The violations that caused it are recorded against 1.1.0.
        let violations = host.violations("demo", "e2e-canary").await;
        assert_eq!(violations.iter().filter(|v| v["version"] == "1.1.0").count(), 3, "{violations:?}");
        // After a restart the restored version still serves.
        let host = host.restart().await;
        assert_eq!(host.call("demo", &key, "/e2e-canary/").await.status(), 200);
    }
);

on_both_databases!(an_on_upgrade_refusal_keeps_the_installed_version_serving, |host: TestHost| async move {
    let key = host.project("demo").await;
    let v1 = host.publisher.guest_package("e2e-canary", |m| {
        m.replace("name = \"e2e-canary\"", "name = \"e2e-upgrade\"")
            .replace("version = \"1.0.0\"", "version = \"1.5.0\"")
    });
    let (status, body) = host.install("demo", v1, "").await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = host.install("demo", host.publisher.guest_package("e2e-upgrade", |m| m), "").await;
    assert_eq!((status, body["code"].as_str()), (422, Some("upgrade_hook_failed")), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("cannot migrate data written by 1.5.0"), "{body}");
    let r = host.call("demo", &key, "/e2e-upgrade/").await;
    assert_eq!(r.text().await.unwrap(), "ok");
    let inst = host.get_json("/v1/projects/demo/extensions/e2e-upgrade").await;
    assert_eq!(inst["version"], "1.5.0");
});

on_both_databases!(
    a_manifest_asking_for_more_memory_than_the_host_allows_is_refused,
    |host: TestHost| async move {
        host.project("demo").await;
        let pkg =
            host.publisher.guest_package(CANARY, |m| m.replace("memory = \"8MiB\"", "memory = \"2GiB\""));
        let (status, body) = host.install("demo", pkg, "").await;
        assert_eq!((status, body["code"].as_str()), (422, Some("host_limit_exceeded")), "{body}");
        assert!(body["detail"].as_str().unwrap().contains("resources.memory"), "{body}");
        assert!(host.get_json("/v1/projects/demo/extensions").await.as_array().unwrap().is_empty());
    }
);
