//! Who may call what: admin routes refuse no token, a wrong token and a host
//! token; host routes refuse no token and the admin token; public routes
//! need nothing.

use crate::prelude::*;

/// Every admin and host route refuses the wrong credentials with 401
/// `unauthorized`, before looking at the request any further.
async fn routes_refuse_the_wrong_credentials(t: &TestRegistry) {
    let key = t.publisher("acme", 1).await;
    t.publish(package("hello", "1.0.0", &key)).await;
    let host = t.host("host-a").await;
    let admin_routes = [
        (Method::POST, "/v1/publishers".to_owned(), json!({"name": "x"})),
        (Method::GET, "/v1/publishers".to_owned(), Value::Null),
        (Method::GET, "/v1/publishers/acme".to_owned(), Value::Null),
        (Method::POST, "/v1/publishers/acme/keys".to_owned(), json!({"public_key": "x"})),
        (
            Method::POST,
            format!("/v1/publishers/acme/keys/{}/revoke", key.key_id()),
            json!({"reason": "compromised"}),
        ),
        (
            Method::POST,
            "/v1/publishers/acme/keys:rotate".to_owned(),
            json!({"public_key": "x", "revoke": "y"}),
        ),
        (Method::POST, "/v1/hosts".to_owned(), json!({"name": "evil"})),
        (Method::PUT, "/v1/extensions/hello/versions/1.0.0/yank".to_owned(), json!({})),
        (Method::DELETE, "/v1/extensions/hello/versions/1.0.0/yank".to_owned(), Value::Null),
        (Method::GET, "/v1/audit".to_owned(), Value::Null),
    ];
    for (method, path, body) in &admin_routes {
        for token in [None, Some("wrong-token"), Some(host.as_str())] {
            let body = (!body.is_null()).then(|| body.clone());
            let (s, e) = t.json(method.clone(), path, token, body).await;
            assert_eq!(
                (s, e["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("unauthorized")),
                "{method} {path}"
            );
        }
    }
    let host_routes = [
        (Method::PUT, "/v1/installations/demo/hello", json!({"version": "1.0.0", "active": true})),
        (Method::PUT, "/v1/extensions/hello/ratings/demo", json!({"stars": 5})),
        (Method::DELETE, "/v1/extensions/hello/ratings/demo", Value::Null),
    ];
    for (method, path, body) in &host_routes {
        for token in [None, Some(ADMIN), Some("mfh_not-a-real-token")] {
            let body = (!body.is_null()).then(|| body.clone());
            let (s, _) = t.json(method.clone(), path, token, body).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path} with {token:?}");
        }
    }
    // Nothing changed.
    let (_, acme) = t.json(Method::GET, "/v1/publishers/acme", Some(ADMIN), None).await;
    assert_eq!(acme["keys"][0]["revoked_at"], Value::Null);
    assert_eq!(t.count("hosts").await, 1);
    assert_eq!(t.count("installations").await, 0);
    // Public reads need no token.
    for path in ["/v1/extensions", "/v1/extensions/hello", "/v1/marketplace", "/v1/extensions/hello/ratings"]
    {
        assert_eq!(t.json(Method::GET, path, None, None).await.0, StatusCode::OK, "{path}");
    }
}
both_engines!(routes_refuse_the_wrong_credentials);

/// Both migration folders describe the same schema: they differ only in the
/// flavour comment and the identity column syntax.
#[test]
fn migrations_match_between_engines() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let read = |engine: &str| {
        std::fs::read_to_string(dir.join(engine).join("0001_registry.sql")).expect("migration")
    };
    let (sqlite, postgres) = (read("sqlite"), read("postgres"));
    let differing: Vec<(&str, &str)> = sqlite.lines().zip(postgres.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(sqlite.lines().count(), postgres.lines().count());
    assert_eq!(differing.len(), 2, "{differing:#?}");
    assert!(differing[1].0.contains("INTEGER PRIMARY KEY AUTOINCREMENT"));
    assert!(differing[1].1.contains("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"));
}

/// Opening the registry again on the same database and data directory keeps
/// everything (migrations apply once).
#[tokio::test]
async fn reopening_keeps_the_data() {
    let t = TestRegistry::sqlite().await;
    let key = t.publisher("acme", 1).await;
    t.publish(package("hello", "1.0.0", &key)).await;
    let config = t.registry.config().clone();
    let again = magflock_registry_server::Registry::open(config, std::sync::Arc::new(TestChecker))
        .await
        .expect("reopen");
    let (record, bytes) = again.download("hello", "1.0.0").await.expect("download").expect("exists");
    assert_eq!(record.sha256, magflock_registry_server::blobs::sha256_hex(&bytes));
    let mut empty = t.registry.config().clone();
    empty.admin_token = " ".to_owned();
    assert!(magflock_registry_server::Registry::open(empty, std::sync::Arc::new(TestChecker)).await.is_err());
}
