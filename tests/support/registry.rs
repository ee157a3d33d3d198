//! A registry service for end-to-end tests: the real service, in process,
//! on a loopback port, checking components with the real worker (the
//! `magflock` binary built next to the tests).

use std::sync::Arc;

use magflock_host::component_check::WorkerChecker;
use magflock_registry_server::{Registry, RegistryConfig};
use serde_json::Value;

use crate::{Db, TestHost, fresh_pg_database, magflock_bin};

/// A running registry.
pub struct TestRegistry {
    pub url: String,
    pub admin_token: String,
    pub registry: Registry,
    /// The token a host uses to report installations and ratings.
    pub host_token: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

impl TestRegistry {
    pub async fn start(db: Db) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = match db {
            Db::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("registry.db").display()),
            Db::Postgres => fresh_pg_database().await,
        };
        let admin_token = format!("reg-admin-{}", uuid::Uuid::new_v4().simple());
        let config = RegistryConfig::new(
            dir.path().to_path_buf(),
            url,
            admin_token.clone(),
            magflock_host::config::HOST_API_VERSION,
        );
        let checker = Arc::new(WorkerChecker::new(magflock_bin()));
        let registry = Registry::open(config, checker).await.unwrap();
        let host_token = registry.create_host_token("test-host").await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = magflock_registry_server::app(registry.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url: format!("http://{addr}"),
            admin_token,
            registry,
            host_token,
            http: reqwest::Client::new(),
            _dir: dir,
            _server: server,
        }
    }

    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url)).bearer_auth(&self.admin_token)
    }

    /// GET a public route as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Registers `publisher` with `public_key` (text form).
    pub async fn register_publisher(&self, publisher: &str, public_key: &str) {
        let r = self
            .admin(reqwest::Method::POST, "/v1/publishers")
            .json(&serde_json::json!({ "name": publisher }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        let r = self
            .admin(reqwest::Method::POST, &format!("/v1/publishers/{publisher}/keys"))
            .json(&serde_json::json!({ "public_key": public_key }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }

    /// Publishes a package: (status, body).
    pub async fn publish(&self, package: Vec<u8>) -> (u16, Value) {
        let r = self
            .admin(reqwest::Method::POST, "/v1/packages")
            .header("content-type", "application/octet-stream")
            .body(package)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

/// A registry and a host that installs from it, on the same engine.
pub async fn host_with_registry(db: Db) -> (TestHost, TestRegistry) {
    let registry = TestRegistry::start(db).await;
    let link = magflock_host::config::RegistryLink {
        url: registry.url.clone(),
        host_token: Some(registry.host_token.clone()),
    };
    let host = TestHost::start_with(db, move |c| c.registry = Some(link)).await;
    (host, registry)
}

/// Runs `body` against a registry and a host, on each database.
#[macro_export]
macro_rules! with_registry_on_both_databases {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (host, registry) = $crate::registry::host_with_registry($crate::Db::Sqlite).await;
                ($body)(host, registry).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let (host, registry) = $crate::registry::host_with_registry($crate::Db::Postgres).await;
                ($body)(host, registry).await;
            }
        }
    };
}
