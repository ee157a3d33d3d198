//! The compiled-artifact cache end to end: a restart loads an installed
//! extension's compiled form instead of compiling it again, and an entry
//! changed on disk is refused before it is loaded, compiled again from the
//! verified package and rewritten, while the extension keeps answering.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;

use magflock_tests::{Db, TestHost};

/// The compiled-artifact entries of a host.
fn entries(host: &TestHost) -> Vec<PathBuf> {
    let dir = host.data_dir().join("compiled");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    v.sort();
    v
}

/// `magflock_artifact_cache_total{result=...}` from `/metrics`. The metrics
/// recorder is process-wide, so tests compare before and after.
async fn cache_total(host: &TestHost, result: &str) -> u64 {
    let text = host.http.get(format!("{}/metrics", host.url)).send().await.unwrap().text().await.unwrap();
    let prefix = format!("magflock_artifact_cache_total{{result=\"{result}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |n| n.trim().parse().unwrap())
}

async fn canary_answers(host: &TestHost, key: &str) {
    let r = host.call("p", key, "/e2e-canary/").await;
    assert_eq!(r.status(), 200, "canary: {}", r.text().await.unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loads_the_cached_artifact_and_a_tampered_one_is_recompiled() {
    // Install: the canary is compiled once and its entry stored.
    let host = TestHost::start(Db::Sqlite).await;
    let key = host.project("p").await;
    host.install_guest("p", "e2e-canary").await;
    canary_answers(&host, &key).await;
    let [entry] = entries(&host).try_into().unwrap();
    let stored = std::fs::read(&entry).unwrap();
    assert_eq!(&stored[..8], b"MFCWASM\0");
    let inode = std::fs::metadata(&entry).unwrap().ino();

    // Restart: the entry is a hit, neither rewritten nor replaced.
    let hits = cache_total(&host, "hit").await;
    let host = host.restart().await;
    canary_answers(&host, &key).await;
    assert!(cache_total(&host, "hit").await > hits, "the restart did not load the cached artifact");
    assert_eq!(entries(&host), std::slice::from_ref(&entry));
    assert_eq!(std::fs::metadata(&entry).unwrap().ino(), inode, "a hit replaced the entry");
    assert_eq!(std::fs::read(&entry).unwrap(), stored);

    // One byte flipped in the artifact, in place: refused before loading,
    // compiled again from the verified package, written anew.
    let mut tampered = stored.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    std::fs::write(&entry, &tampered).unwrap();
    let rejected = cache_total(&host, "rejected").await;
    let host = host.restart().await;
    canary_answers(&host, &key).await;
    assert!(cache_total(&host, "rejected").await > rejected, "the tampered entry was not refused");
    let rewritten = std::fs::read(&entry).unwrap();
    assert_ne!(rewritten, tampered, "the tampered entry is still on disk");
    let inode = std::fs::metadata(&entry).unwrap().ino();

    // The rewritten entry is valid: the next start loads it as it is.
    let hits = cache_total(&host, "hit").await;
    let host = host.restart().await;
    canary_answers(&host, &key).await;
    assert!(cache_total(&host, "hit").await > hits, "the rewritten entry was not loaded");
    assert_eq!(std::fs::metadata(&entry).unwrap().ino(), inode, "the rewritten entry was refused");
    assert_eq!(std::fs::read(&entry).unwrap(), rewritten);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_a_pending_extension_loads_the_artifact_compiled_at_install() {
    // The package is compiled (and its entry stored) when it is uploaded;
    // the approval verifies the package again, then finds the entry.
    let host = TestHost::start(Db::Sqlite).await;
    let key = host.project("p").await;
    let pkg = host.publisher.guest_package("e2e-kv", |m| m);
    let (status, body) = host.install("p", pkg, "").await;
    assert_eq!(status, 202, "{body}");
    let [entry] = entries(&host).try_into().unwrap();
    let inode = std::fs::metadata(&entry).unwrap().ino();
    let hits = cache_total(&host, "hit").await;
    let r = host
        .admin(reqwest::Method::POST, "/v1/projects/p/extensions/e2e-kv/approve")
        .json(&serde_json::json!({"capabilities": ["kv", "config", "logging"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert!(cache_total(&host, "hit").await > hits, "the approval compiled the component again");
    assert_eq!(std::fs::metadata(&entry).unwrap().ino(), inode);
    assert_eq!(host.call("p", &key, "/e2e-kv/count").await.status(), 200);
    host.stop().await;
}
