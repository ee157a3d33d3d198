//! Runs each registry test once per engine: SQLite in a temporary directory,
//! and PostgreSQL in a fresh database created from `MAGFLOCK_TEST_PG_URL`.
//! Drives the HTTP app in-process with `tower::ServiceExt::oneshot`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use futures::future::BoxFuture;
use magflock_registry::{Package, SigningKeyPair, sign_package};
use magflock_registry_server::{CheckError, ComponentChecker, DiskBlobStore, Registry, RegistryConfig, app};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tower::ServiceExt as _;

pub const PG_URL_VAR: &str = "MAGFLOCK_TEST_PG_URL";
pub const ADMIN: &str = "test-admin-token";
/// The host API version the test registry serves.
pub const HOST_API: &str = "0.1.3";

/// Markers in component bytes that steer [`TestChecker`].
pub const REJECT: &[u8] = b"IMPORTS-UNDECLARED-INTERFACE";
pub const SLOW: &[u8] = b"TAKES-FOREVER-TO-COMPILE";
pub const HUGE: &[u8] = b"NEEDS-TOO-MUCH-MEMORY";
pub const BROKEN: &[u8] = b"CHECKER-CRASHES";

/// How long every test check takes.
const CHECK_TIME: Duration = Duration::from_millis(30);
/// How long the test checker lets a check run.
const CHECK_TIMEOUT: Duration = Duration::from_millis(200);

/// A stand-in for the host's linker check, bounded like the real one: it
/// runs the check in a task under a timeout, so `SLOW` really times out.
pub struct TestChecker;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl ComponentChecker for TestChecker {
    fn check(&self, package: Arc<Package>) -> BoxFuture<'static, Result<(), CheckError>> {
        Box::pin(async move {
            let work = tokio::spawn(async move {
                // Every check takes a moment, like a real compile: concurrent
                // publishes are all past the pre-checks before either inserts.
                tokio::time::sleep(CHECK_TIME).await;
                let c = package.component();
                if contains(c, SLOW) {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                if contains(c, HUGE) {
                    return Err(CheckError::ResourceLimit);
                }
                if contains(c, BROKEN) {
                    return Err(CheckError::Unavailable("worker exited with signal 9".to_owned()));
                }
                if contains(c, REJECT) {
                    return Err(CheckError::Rejected(
                        "component imports `magflock:ext/kv`, which the manifest does not declare".to_owned(),
                    ));
                }
                Ok(())
            });
            let abort = work.abort_handle();
            match tokio::time::timeout(CHECK_TIMEOUT, work).await {
                Ok(Ok(result)) => result,
                Ok(Err(e)) => Err(CheckError::Unavailable(e.to_string())),
                Err(_) => {
                    abort.abort();
                    Err(CheckError::Timeout)
                }
            }
        })
    }
}

/// A registry on a throwaway database and data directory.
pub struct TestRegistry {
    pub registry: Registry,
    pub app: Router,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The default package size limit in tests (small, to test it cheaply).
pub const TEST_MAX_PACKAGE_BYTES: usize = 64 * 1024;

impl TestRegistry {
    async fn open(
        database_url: String,
        dir: tempfile::TempDir,
        pg: Option<(String, String)>,
    ) -> TestRegistry {
        let mut config = RegistryConfig::new(
            dir.path().join("data"),
            database_url,
            ADMIN,
            semver::Version::parse(HOST_API).expect("host API version"),
        );
        config.max_package_bytes = TEST_MAX_PACKAGE_BYTES;
        let registry = Registry::open(config, Arc::new(TestChecker)).await.expect("open the registry");
        let app = app(registry.clone());
        TestRegistry { registry, app, dir, pg }
    }

    pub async fn sqlite() -> TestRegistry {
        let dir = tempfile::tempdir().expect("temporary directory");
        // Empty URL: the default SQLite file under the data directory.
        TestRegistry::open(String::new(), dir, None).await
    }

    pub async fn postgres() -> TestRegistry {
        let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
            panic!("{PG_URL_VAR} is not set: the PostgreSQL half of the registry tests needs a server");
        };
        let database = format!("r_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.expect("connect to PostgreSQL as admin");
        admin.execute(AssertSqlSafe(format!("CREATE DATABASE {database}"))).await.expect("create database");
        admin.close().await.expect("close admin connection");
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = with_database(&admin_url, &database);
        TestRegistry::open(url, dir, Some((admin_url, database))).await
    }

    pub fn blobs(&self) -> DiskBlobStore {
        DiskBlobStore::open(&self.dir.path().join("data").join("blobs")).expect("blob dir")
    }

    /// Every stored blob digest.
    pub fn blob_digests(&self) -> Vec<String> {
        self.blobs().list().expect("list blobs")
    }

    /// Rows in a table.
    pub async fn count(&self, table: &str) -> i64 {
        let row: (i64,) = sqlx::query_as(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(self.registry.store().pool())
            .await
            .expect("count rows");
        row.0
    }

    /// Asserts that nothing of a publish was stored: no version, no
    /// extension, no blob.
    pub async fn assert_nothing_stored(&self) {
        assert_eq!(self.count("versions").await, 0, "no version row");
        assert_eq!(self.count("extensions").await, 0, "no extension row");
        assert!(self.blob_digests().is_empty(), "no blob");
    }

    /// One HTTP call; returns status, headers and body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Body>,
        content_type: &str,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = match body {
            Some(body) => req.header("content-type", content_type).body(body),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
        (status, headers, bytes)
    }

    /// A JSON call; returns status and the JSON body (`Null` when empty).
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let body = body.map(|v| Body::from(v.to_string()));
        let (status, _, bytes) = self.call(method, path, token, body, "application/json").await;
        let value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") };
        (status, value)
    }

    /// Publishes package bytes with the admin token.
    pub async fn publish(&self, bytes: Vec<u8>) -> (StatusCode, Value) {
        let (status, _, body) = self
            .call(
                Method::POST,
                "/v1/packages",
                Some(ADMIN),
                Some(Body::from(bytes)),
                "application/octet-stream",
            )
            .await;
        (status, serde_json::from_slice(&body).expect("JSON body"))
    }

    /// Registers a publisher with one key and returns the key.
    pub async fn publisher(&self, name: &str, seed: u8) -> SigningKeyPair {
        let key = SigningKeyPair::from_seed(&[seed; 32]).expect("key");
        let (s, _) = self
            .json(Method::POST, "/v1/publishers", Some(ADMIN), Some(serde_json::json!({"name": name})))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, body) = self
            .json(
                Method::POST,
                &format!("/v1/publishers/{name}/keys"),
                Some(ADMIN),
                Some(serde_json::json!({"public_key": key.public_key().to_string()})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        key
    }

    /// Registers a host and returns its token.
    pub async fn host(&self, name: &str) -> String {
        let (s, body) =
            self.json(Method::POST, "/v1/hosts", Some(ADMIN), Some(serde_json::json!({"name": name}))).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let Some((admin_url, database)) = self.pg.take() else { return };
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
                    let _ = admin.execute(AssertSqlSafe(sql)).await;
                    let _ = admin.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A manifest for `name@version`, with extra TOML appended.
pub fn manifest(name: &str, version: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nversion = \"{version}\"\ndescription = \"The {name} extension\"\nhost = \">=0.1, <0.2\"\n{extra}\n[[endpoints]]\npath = \"/\"\n"
    )
}

/// Component bytes: the component preamble and `body`.
pub fn component(body: &[u8]) -> Vec<u8> {
    let mut c = b"\0asm\x0d\x00\x01\x00".to_vec();
    c.extend_from_slice(body);
    c
}

/// An unsigned package.
pub fn unsigned(manifest: &str, component: Vec<u8>) -> Package {
    Package::new(manifest.as_bytes().to_vec(), component).expect("valid package")
}

/// A signed package's bytes.
pub fn signed_with(manifest: &str, component: Vec<u8>, key: &SigningKeyPair) -> Vec<u8> {
    let mut p = unsigned(manifest, component);
    sign_package(&mut p, key);
    p.to_bytes()
}

/// A signed `name@version` package with an ordinary component.
pub fn package(name: &str, version: &str, key: &SigningKeyPair) -> Vec<u8> {
    signed_with(&manifest(name, version, ""), component(b"ordinary"), key)
}

/// Runs a test body on both engines. Given `async fn name(t: &TestRegistry)`
/// in scope, `both_engines!(name)` generates `name::sqlite` and `name::postgres`.
macro_rules! both_engines {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = $crate::harness::TestRegistry::sqlite().await;
                super::$name(&t).await;
                t.registry.store().close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let t = $crate::harness::TestRegistry::postgres().await;
                super::$name(&t).await;
                t.registry.store().close().await;
            }
        }
    };
}
pub(crate) use both_engines;
