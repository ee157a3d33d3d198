//! Whole-graph installs from the registry: plans in dependency order, refusals
//! that explain themselves (conflict, cycle, dependents), atomic application,
//! and an upgrade under load with no failed request.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use magflock_tests::registry::TestRegistry;
use magflock_tests::{Publisher, TestHost, with_registry_on_both_databases};
use serde_json::{Value, json};

/// Publishes the canary component as `name@version`, its manifest extended by `extra`.
async fn publish(registry: &TestRegistry, publisher: &Publisher, name: &str, version: &str, extra: &str) {
    let pkg = publisher.guest_package("e2e-canary", |m| {
        let m = m
            .replace("name = \"e2e-canary\"", &format!("name = \"{name}\""))
            .replace("version = \"1.0.0\"", &format!("version = \"{version}\""));
        format!("{m}\n{extra}")
    });
    let (status, body) = registry.publish(pkg).await;
    assert!(status == 201 || status == 200, "publishing {name}@{version}: {body}");
}

async fn post(host: &TestHost, action: &str, body: Value) -> (u16, Value) {
    let r = host
        .admin(reqwest::Method::POST, &format!("/v1/projects/demo/extensions:{action}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn live(host: &TestHost) -> Vec<(String, String)> {
    let all = host.get_json("/v1/projects/demo/extensions").await;
    let mut v: Vec<(String, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["state"] == "active")
        .map(|i| (i["extension"].as_str().unwrap().to_owned(), i["version"].as_str().unwrap().to_owned()))
        .collect();
    v.sort();
    v
}

async fn trusted_publisher(host: &TestHost, registry: &TestRegistry) -> Publisher {
    let publisher = Publisher::generate();
    registry.register_publisher("acme", &publisher.public.to_string()).await;
    host.trust(&publisher.public.to_string()).await;
    publisher
}

with_registry_on_both_databases!(
    a_diamond_installs_in_dependency_order_and_uninstall_names_dependents,
    |host: TestHost, registry: TestRegistry| async move {
        let p = trusted_publisher(&host, &registry).await;
        publish(&registry, &p, "base", "1.0.0", "").await;
        publish(&registry, &p, "base", "2.0.0", "").await;
        publish(&registry, &p, "left", "1.0.0", "[dependencies]\nbase = \"^1\"\n").await;
        publish(&registry, &p, "right", "1.0.0", "[dependencies]\nbase = { version = \">=1, <3\" }\n").await;
        publish(&registry, &p, "top", "1.0.0", "[dependencies]\nleft = \"^1\"\nright = \"^1\"\n").await;
        let key = host.project("demo").await;

        let (status, plan) = post(&host, "plan", json!({"install": [{"name": "top"}]})).await;
        assert_eq!(status, 200, "{plan}");
        let order: Vec<&str> =
            plan["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(order.len(), 4, "{plan}");
        assert_eq!(order[0], "base");
        assert_eq!(order[3], "top");
        // left needs ^1: base 1.0.0, not the highest.
        assert_eq!(plan["final"]["base"], "1.0.0", "{plan}");
        assert!(live(&host).await.is_empty(), "a plan changes nothing");

        let (status, body) = post(&host, "apply", json!({"install": [{"name": "top"}]})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(live(&host).await.len(), 4);
        for ext in ["base", "left", "right", "top"] {
            assert_eq!(host.call("demo", &key, &format!("/{ext}/")).await.status(), 200, "{ext}");
        }
        let deps = host.state.store.installation_dependencies(
            body["installations"].as_array().unwrap().iter().find(|i| i["extension"] == "top").unwrap()["id"]
                .as_str()
                .unwrap(),
        );
        let deps: Vec<String> = deps.await.unwrap().into_iter().map(|d| d.depends_on).collect();
        assert_eq!(deps, ["left", "right"]);

        // Uninstalling base is refused, naming what needs it.
        let r =
            host.admin(reqwest::Method::DELETE, "/v1/projects/demo/extensions/base").send().await.unwrap();
        assert_eq!(r.status(), 409);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "dependents_exist", "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("left") && detail.contains("right"), "{detail}");
        // Asked to cascade, it goes with everything that needs it.
        let r = host
            .admin(reqwest::Method::DELETE, "/v1/projects/demo/extensions/base?cascade=true")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert!(live(&host).await.is_empty());
        assert_eq!(host.call("demo", &key, "/top/").await.status(), 404);
    }
);

with_registry_on_both_databases!(
    conflicts_and_cycles_are_refused_with_an_explanation,
    |host: TestHost, registry: TestRegistry| async move {
        let p = trusted_publisher(&host, &registry).await;
        publish(&registry, &p, "base", "1.0.0", "").await;
        publish(&registry, &p, "rival", "1.0.0", "[conflicts]\nbase = { reason = \"both serve /rest\" }\n")
            .await;
        publish(&registry, &p, "cyc-a", "1.0.0", "[dependencies]\ncyc-b = \"^1\"\n").await;
        publish(&registry, &p, "cyc-b", "1.0.0", "[dependencies]\ncyc-a = \"^1\"\n").await;
        host.project("demo").await;
        let (status, _) = post(&host, "apply", json!({"install": [{"name": "base"}]})).await;
        assert_eq!(status, 200);

        let (status, body) = post(&host, "plan", json!({"install": [{"name": "rival"}]})).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("conflict")), "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("base") && detail.contains("both serve /rest") && detail.contains("to fix"),
            "{detail}"
        );

        let steps = host.get_json("/v1/projects/demo/extensions/rival/validations").await;
        assert!(
            steps.as_array().unwrap().iter().any(|s| s["step"] == "resolve"
                && s["ok"] == false
                && s["detail"].as_str().unwrap().contains("both serve /rest")),
            "{steps}"
        );
        // The CLI prints the same explanation, with the code.
        let out = std::process::Command::new(magflock_tests::magflock_bin())
            .args([
                "install",
                "rival",
                "--project",
                "demo",
                "--host",
                &host.url,
                "--token",
                &host.admin_token,
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("both serve /rest") && err.contains("[conflict]"),
            "{err}"
        );

        let (status, body) = post(&host, "plan", json!({"install": [{"name": "cyc-a"}]})).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("dependency_cycle")), "{body}");
        assert!(body["detail"].as_str().unwrap().contains("cyc-b"), "{body}");

        let (status, body) = post(&host, "plan", json!({"install": [{"name": "missing-ext"}]})).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(live(&host).await, [("base".to_owned(), "1.0.0".to_owned())]);
    }
);

with_registry_on_both_databases!(
    a_plan_that_fails_halfway_changes_nothing,
    |host: TestHost, registry: TestRegistry| async move {
        let p = trusted_publisher(&host, &registry).await;
        // `leaf` is signed by a key the registry knows and the host does not trust.
        let stranger = Publisher::generate();
        registry.register_publisher("stranger", &stranger.public.to_string()).await;
        publish(&registry, &p, "base", "1.0.0", "").await;
        publish(&registry, &stranger, "leaf", "1.0.0", "[dependencies]\nbase = \"^1\"\n").await;
        host.project("demo").await;
        let (status, body) = post(&host, "apply", json!({"install": [{"name": "leaf"}]})).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("untrusted_key")), "{body}");
        assert!(live(&host).await.is_empty(), "base must not stay installed alone");

        // Capabilities must be approved for the whole plan to apply.
        publish(&registry, &p, "chatty", "1.0.0", "[capabilities]\nlogging = true\n").await;
        let (status, body) = post(&host, "apply", json!({"install": [{"name": "chatty"}]})).await;
        assert_eq!((status, body["code"].as_str()), (409, Some("approval_required")), "{body}");
        let (status, body) = post(
            &host,
            "apply",
            json!({"install": [{"name": "chatty"}], "approve": {"chatty": ["logging"]}}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(live(&host).await, [("chatty".to_owned(), "1.0.0".to_owned())]);
    }
);

with_registry_on_both_databases!(
    an_upgrade_under_load_fails_no_request,
    |host: TestHost, registry: TestRegistry| async move {
        let p = trusted_publisher(&host, &registry).await;
        publish(&registry, &p, "base", "1.0.0", "").await;
        publish(&registry, &p, "base", "1.1.0", "").await;
        let key = host.project("demo").await;
        let (status, _) =
            post(&host, "apply", json!({"install": [{"name": "base", "version": "=1.0.0"}]})).await;
        assert_eq!(status, 200);

        let stop = Arc::new(AtomicBool::new(false));
        let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut load = Vec::new();
        for _ in 0..4 {
            let (http, url, key) = (host.http.clone(), format!("{}/x/demo/base/", host.url), key.clone());
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            load.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match http.get(&url).bearer_auth(&key).send().await {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let (status, body) = post(&host, "apply", json!({"upgrade": [{"name": "base"}]})).await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        stop.store(true, Ordering::Relaxed);
        for l in load {
            l.await.unwrap();
        }
        assert_eq!(failed.load(Ordering::Relaxed), 0, "requests failed during the upgrade");
        assert!(ok.load(Ordering::Relaxed) > 20);
        assert_eq!(live(&host).await, [("base".to_owned(), "1.1.0".to_owned())]);
    }
);

with_registry_on_both_databases!(
    two_concurrent_installs_of_one_extension_leave_exactly_one,
    |host: TestHost, registry: TestRegistry| async move {
        let p = trusted_publisher(&host, &registry).await;
        publish(&registry, &p, "base", "1.0.0", "").await;
        publish(&registry, &p, "left", "1.0.0", "[dependencies]\nbase = \"^1\"\n").await;
        let key = host.project("demo").await;
        let body = json!({"install": [{"name": "left"}]});
        let (a, b) = tokio::join!(post(&host, "apply", body.clone()), post(&host, "apply", body));
        let mut statuses = [a.0, b.0];
        statuses.sort();
        // One applies; the other finds the slot taken (or, if it planned after
        // the first committed, has nothing left to do).
        assert_eq!(statuses[0], 200, "{a:?} {b:?}");
        assert!(statuses[1] == 200 || statuses[1] == 409, "{a:?} {b:?}");
        let all = host.get_json("/v1/projects/demo/extensions").await;
        let live: Vec<&Value> = all.as_array().unwrap().iter().filter(|i| i["state"] != "removed").collect();
        assert_eq!(live.len(), 2, "exactly one base and one left: {all}");
        assert_eq!(host.call("demo", &key, "/left/").await.status(), 200);
    }
);
