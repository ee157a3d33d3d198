//! The `events` capability end to end, on both databases: publishing to
//! declared topics, delivery to the subscribers of the same project only,
//! retries and dead deliveries, redelivery, the hop limit that ends loops,
//! payload and count caps, durability across a restart, and the install
//! check for a subscriber without an `on-event` export.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use magflock_tests::*;
use serde_json::Value;

/// The `e2e-events` guest as extension `name`, with this events table and
/// `on-event` mode.
fn manifest(
    name: &str,
    publish: &[&str],
    subscribe: &[&str],
    mode: &str,
    echo_to: Option<&str>,
) -> impl FnOnce(String) -> String {
    let list = |l: &[&str]| l.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
    let events =
        format!("[capabilities.events]\npublish = [{}]\nsubscribe = [{}]\n", list(publish), list(subscribe));
    let mut config = format!("[config]\nmode = \"{mode}\"\n");
    if let Some(to) = echo_to {
        config.push_str(&format!("echo_to = \"{to}\"\n"));
    }
    let name = name.to_owned();
    move |m: String| {
        let m = m
            .replace("name = \"e2e-events\"", &format!("name = \"{name}\""))
            .replace("[capabilities.events]\npublish = [\"t.one\"]\nsubscribe = [\"t.one\"]\n", &events)
            .replace("[config]\nmode = \"record\"\n", &config);
        assert!(
            m.contains(&format!("name = \"{name}\"")) && m.contains(&config),
            "manifest edit failed:\n{m}"
        );
        m
    }
}

async fn install(host: &TestHost, project: &str, edit: impl FnOnce(String) -> String) {
    let pkg = host.publisher.guest_package("e2e-events", edit);
    let (status, body) = host.install(project, pkg, "config,kv,events").await;
    assert_eq!(status, 201, "install: {body}");
}

async fn publish(
    host: &TestHost,
    project: &str,
    key: &str,
    ext: &str,
    topic: &str,
    body: &[u8],
) -> (u16, String) {
    let r = host
        .http
        .post(format!("{}/x/{project}/{ext}/publish/{topic}", host.url))
        .bearer_auth(key)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The events `ext` has recorded: (id, topic, source, hop, attempt, payload).
async fn seen(host: &TestHost, project: &str, key: &str, ext: &str) -> Vec<[String; 6]> {
    let r = host.call(project, key, &format!("/{ext}/seen")).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    text.lines()
        .map(|l| {
            let mut parts = l.splitn(6, ' ').map(str::to_owned);
            std::array::from_fn(|_| parts.next().unwrap_or_default())
        })
        .collect()
}

/// Polls `check` until it returns `Some`, for at most `secs`.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn event(host: &TestHost, project: &str, id: &str) -> Value {
    host.get_json(&format!("/v1/projects/{project}/events/{id}")).await
}

fn delivery_states(ev: &Value) -> Vec<(String, String, i64)> {
    ev["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["extension"].as_str().unwrap().to_owned(),
                d["state"].as_str().unwrap().to_owned(),
                d["attempts"].as_i64().unwrap(),
            )
        })
        .collect()
}

on_both_databases!(events_reach_the_subscribers_of_the_same_project_only, |host: TestHost| async move {
    let demo = host.project("demo").await;
    let other = host.project("other").await;
    install(&host, "demo", manifest("pub", &["t.one"], &[], "record", None)).await;
    install(&host, "demo", manifest("sub-a", &[], &["t.one"], "record", None)).await;
    install(&host, "demo", manifest("sub-b", &[], &["t.one", "t.two"], "record", None)).await;
    install(&host, "other", manifest("sub-a", &[], &["t.one"], "record", None)).await;
    install(&host, "other", manifest("pub", &["t.one"], &[], "record", None)).await;

    let (status, id) = publish(&host, "demo", &demo, "pub", "t.one", b"{\"hello\":1}").await;
    assert_eq!(status, 201, "{id}");
    for sub in ["sub-a", "sub-b"] {
        let got = eventually(20, "delivery", || async {
            let s = seen(&host, "demo", &demo, sub).await;
            (!s.is_empty()).then_some(s)
        })
        .await;
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0],
            [id.clone(), "t.one".into(), "pub".into(), "0".into(), "1".into(), "{\"hello\":1}".into()]
        );
    }
    let ev = eventually(10, "both delivered", || async {
        let ev = event(&host, "demo", &id).await;
        delivery_states(&ev).iter().all(|d| d.1 == "delivered").then_some(ev)
    })
    .await;
    assert_eq!(
        delivery_states(&ev),
        [("sub-a".into(), "delivered".into(), 1), ("sub-b".into(), "delivered".into(), 1)]
    );
    assert_eq!((ev["source"].as_str(), ev["hop"].as_i64()), (Some("pub"), Some(0)));
    assert_eq!(ev["payload_text"], "{\"hello\":1}");

    // The delivery was a metered invocation of its own.
    let usage = host.usage("demo", "sub-a").await;
    let delivery = usage.iter().find(|u| u["method"] == "EVENT").expect("usage record for the delivery");
    assert_eq!(
        (delivery["endpoint"].as_str(), delivery["outcome"].as_str()),
        (Some("event:t.one"), Some("ok"))
    );
    assert_eq!(delivery["bytes_in"], 11);
    assert!(delivery["fuel_used"].as_u64().unwrap() > 0);

    // The other project's subscriber of the same topic saw nothing, and
    // cannot read the event; its own event reaches only its own subscriber.
    assert!(seen(&host, "other", &other, "sub-a").await.is_empty());
    let r =
        host.admin(reqwest::Method::GET, &format!("/v1/projects/other/events/{id}")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let (status, other_id) = publish(&host, "other", &other, "pub", "t.one", b"theirs").await;
    assert_eq!(status, 201);
    eventually(20, "other project's delivery", || async {
        (seen(&host, "other", &other, "sub-a").await.len() == 1).then_some(())
    })
    .await;
    assert!(seen(&host, "demo", &demo, "sub-a").await.iter().all(|e| e[0] != other_id));

    // Listing filters by topic.
    let list = host.get_json("/v1/projects/demo/events?topic=t.one").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let none = host.get_json("/v1/projects/demo/events?topic=t.two").await;
    assert!(none.as_array().unwrap().is_empty());
});

on_both_databases!(
    undeclared_topics_and_oversized_events_are_refused_and_recorded,
    |host: TestHost| async move {
        let demo = host.project("demo").await;
        install(&host, "demo", manifest("pub", &["t.one"], &[], "record", None)).await;

        let (status, body) = publish(&host, "demo", &demo, "pub", "t.secret", b"x").await;
        assert_eq!(status, 409);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "denied");
        assert!(v["message"].as_str().unwrap().contains("t.secret"), "{body}");

        let big = vec![b'a'; 64 * 1024 + 1];
        let (status, body) = publish(&host, "demo", &demo, "pub", "t.one", &big).await;
        assert_eq!(
            (status, serde_json::from_str::<Value>(&body).unwrap()["error"].as_str()),
            (409, Some("too_large"))
        );

        // 1000 events per invocation: a batch over that is refused whole;
        // of three batches of 600, the first goes out, and the two refused
        // after it are one violation of that invocation.
        let many = |path: &str| {
            host.http
                .post(format!("{}/x/demo/pub/publish-many/t.one/{path}", host.url))
                .bearer_auth(&demo)
                .send()
        };
        let v: Value = many("1001/1").await.unwrap().json().await.unwrap();
        assert_eq!((v["sent"].as_i64(), v["error"].as_str()), (Some(0), Some("too_large")));
        let v: Value = many("600/3/keep-going").await.unwrap().json().await.unwrap();
        assert_eq!((v["sent"].as_i64(), v["error"].as_str()), (Some(600), Some("too_large")));

        let violations = host.violations("demo", "pub").await;
        let kinds: Vec<&str> = violations.iter().map(|v| v["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "capability_denied").count(), 1, "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == "event_too_large").count(), 1, "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| **k == "event_quota").count(), 2, "{kinds:?}");
        let denied = violations.iter().find(|v| v["kind"] == "capability_denied").unwrap();
        assert!(denied["detail"].as_str().unwrap().contains("t.secret"));
        let too_large = violations.iter().find(|v| v["kind"] == "event_too_large").unwrap();
        assert_eq!(
            (too_large["limit_value"].as_i64(), too_large["actual_value"].as_i64()),
            (Some(65536), Some(65537))
        );

        // Nothing refused was stored: only the 600 that went out.
        let list = host.get_json("/v1/projects/demo/events?limit=1000").await;
        assert_eq!(list.as_array().unwrap().len(), 600);
    }
);

on_both_databases!(a_loop_between_extensions_stops_at_the_hop_limit, |host: TestHost| async move {
    let demo = host.project("demo").await;
    install(&host, "demo", manifest("kick", &["t.a"], &[], "record", None)).await;
    install(&host, "demo", manifest("ping", &["t.b"], &["t.a"], "echo", Some("t.b"))).await;
    install(&host, "demo", manifest("pong", &["t.a"], &["t.b"], "echo", Some("t.a"))).await;

    let (status, _) = publish(&host, "demo", &demo, "kick", "t.a", b"ball").await;
    assert_eq!(status, 201);
    // Hops 0..=8 are delivered (ping gets the even ones), then the ninth
    // republish is refused and recorded.
    let violation = eventually(30, "the hop-limit violation", || async {
        let mut all = host.violations("demo", "ping").await;
        all.extend(host.violations("demo", "pong").await);
        all.into_iter().find(|v| v["kind"] == "event_hop_limit")
    })
    .await;
    assert_eq!((violation["extension"].as_str(), violation["limit_value"].as_i64()), (Some("ping"), Some(8)));
    assert_eq!(violation["actual_value"].as_i64(), Some(9));
    // Give a runaway loop time to show itself: nothing more is delivered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ping = seen(&host, "demo", &demo, "ping").await;
    let pong = seen(&host, "demo", &demo, "pong").await;
    let mut hops: Vec<u32> = ping.iter().chain(&pong).map(|e| e[3].parse().unwrap()).collect();
    hops.sort();
    assert_eq!(hops, (0..=8).collect::<Vec<_>>());
    assert!(ping.iter().all(|e| e[3].parse::<u32>().unwrap() % 2 == 0 && e[5] == "ball"));
});

/// Fast retries for the tests that wait on them.
fn quick_retries(c: &mut magflock_host::config::HostConfig) {
    c.event_retry =
        magflock_host::events::RetryPolicy { max_attempts: 3, first_backoff: Duration::from_millis(100) };
}

macro_rules! on_both_databases_with_quick_retries {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(TestHost::start_with(Db::Sqlite, quick_retries).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)(TestHost::start_with(Db::Postgres, quick_retries).await).await;
            }
        }
    };
}

on_both_databases_with_quick_retries!(
    failed_deliveries_are_retried_then_dead_and_can_be_sent_again,
    |host: TestHost| async move {
        let demo = host.project("demo").await;
        install(&host, "demo", manifest("pub", &["t.one"], &[], "record", None)).await;
        install(&host, "demo", manifest("flaky", &[], &["t.one"], "fail-first", None)).await;
        install(&host, "demo", manifest("broken", &[], &["t.one"], "fail-always", None)).await;
        install(&host, "demo", manifest("crashy", &[], &["t.one"], "trap", None)).await;

        let (_, id) = publish(&host, "demo", &demo, "pub", "t.one", b"p").await;
        let ev = eventually(30, "every delivery finished", || async {
            let ev = event(&host, "demo", &id).await;
            delivery_states(&ev).iter().all(|d| d.1 != "pending").then_some(ev)
        })
        .await;
        assert_eq!(
            delivery_states(&ev),
            [
                ("broken".into(), "dead".into(), 3),
                ("crashy".into(), "dead".into(), 3),
                ("flaky".into(), "delivered".into(), 2),
            ]
        );
        let broken = &ev["deliveries"][0];
        assert!(broken["last_error"].as_str().unwrap().contains("refusing attempt 3"), "{broken}");
        assert!(ev["deliveries"][1]["last_error"].as_str().unwrap().contains("trapped"), "{ev}");

        // The flaky subscriber saw it on its second attempt, once.
        let got = seen(&host, "demo", &demo, "flaky").await;
        assert_eq!((got.len(), got[0][4].as_str()), (1, "2"));
        // Every attempt was metered: one refused, then one ok; the traps are violations.
        let flaky: Vec<String> = host
            .usage("demo", "flaky")
            .await
            .iter()
            .filter(|u| u["method"] == "EVENT")
            .map(|u| u["outcome"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(flaky, ["ok", "refused"], "newest first");
        let traps = host.violations("demo", "crashy").await;
        assert_eq!(traps.iter().filter(|v| v["kind"] == "trap").count(), 3);

        // Dead deliveries are listed, and one can be sent again.
        let dead = host.get_json("/v1/projects/demo/events?state=dead").await;
        assert_eq!(dead.as_array().unwrap().len(), 1);
        let again = |ext: &str| {
            host.admin(reqwest::Method::POST, &format!("/v1/projects/demo/events/{id}/redeliver"))
                .json(&serde_json::json!({ "extension": ext }))
                .send()
        };
        assert_eq!(again("flaky").await.unwrap().status(), 409);
        assert_eq!(again("nobody").await.unwrap().status(), 404);
        assert_eq!(again("broken").await.unwrap().status(), 202);
        eventually(30, "the redelivery to run out", || async {
            let ev = event(&host, "demo", &id).await;
            let d = delivery_states(&ev);
            (d[0].1 == "dead" && d[0].2 == 3).then_some(())
        })
        .await;
        let usage = host.usage("demo", "broken").await;
        assert_eq!(usage.iter().filter(|u| u["method"] == "EVENT").count(), 6);
    }
);

on_both_databases!(stored_events_are_delivered_after_a_restart, |host: TestHost| async move {
    // A host that does not deliver: events wait in the store.
    let host = host.restart_with(|c| c.deliver_events = false).await;
    let demo = host.project("demo").await;
    install(&host, "demo", manifest("pub", &["t.one"], &[], "record", None)).await;
    install(&host, "demo", manifest("sub", &[], &["t.one"], "record", None)).await;
    install(&host, "demo", manifest("gone", &[], &["t.one"], "record", None)).await;
    let (status, id) = publish(&host, "demo", &demo, "pub", "t.one", b"kept").await;
    assert_eq!(status, 201);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ev = event(&host, "demo", &id).await;
    assert_eq!(
        delivery_states(&ev),
        [("gone".into(), "pending".into(), 0), ("sub".into(), "pending".into(), 0)]
    );
    let r = host.admin(reqwest::Method::DELETE, "/v1/projects/demo/extensions/gone").send().await.unwrap();
    assert!(r.status().is_success(), "uninstall: {}", r.status());

    let host = host.restart_with(|c| c.deliver_events = true).await;
    let ev = eventually(20, "delivery after the restart", || async {
        let ev = event(&host, "demo", &id).await;
        delivery_states(&ev).iter().all(|d| d.1 != "pending").then_some(ev)
    })
    .await;
    assert_eq!(
        delivery_states(&ev),
        [("gone".into(), "dropped".into(), 1), ("sub".into(), "delivered".into(), 1)]
    );
    let got = seen(&host, "demo", &demo, "sub").await;
    assert_eq!((got.len(), got[0][0].as_str(), got[0][5].as_str()), (1, id.as_str(), "kept"));
});

on_both_databases!(a_subscriber_must_export_the_event_handler, |host: TestHost| async move {
    host.project("demo").await;
    // A plain wasi:http component (no SDK) has no `on-event`.
    let pkg = host.publisher.guest_package("e2e-plain-http", |m| {
        format!("{m}\n[capabilities.events]\nsubscribe = [\"t.one\"]\n")
    });
    let (status, body) = host.install("demo", pkg, "events").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "no_event_handler", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("t.one"), "{body}");
});

/// Two hosts on one control plane: host B has none of the project's
/// packages, so it cannot run the subscriber. A delivery B claims must go
/// back for a host that serves the subscriber, not be dropped as if the
/// subscriber were uninstalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_the_subscriber_hands_its_deliveries_back() {
    let a = TestHost::start_with(Db::Postgres, |c| c.deliver_events = false).await;
    let demo = a.project("demo").await;
    install(&a, "demo", manifest("pub", &["t.one"], &[], "record", None)).await;
    install(&a, "demo", manifest("sub", &[], &["t.one"], "record", None)).await;
    let shared = a.state.config.database_url.clone();
    let b = TestHost::start_with(Db::Postgres, move |c| c.database_url = shared).await;
    assert!(b.state.runtime.get("demo", "sub").is_none(), "host B must not serve the subscriber");

    let (status, id) = publish(&a, "demo", &demo, "pub", "t.one", b"{}").await;
    assert_eq!(status, 201, "{id}");
    // Host B polls every 500 ms; a dropped delivery would show within a second.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(delivery_states(&event(&a, "demo", &id).await), [("sub".into(), "pending".into(), 0)]);
    b.stop().await;

    let a = a.restart_with(|c| c.deliver_events = true).await;
    let got = eventually(20, "delivery by host A", || async {
        let s = seen(&a, "demo", &demo, "sub").await;
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(got[0][0], id);
}
