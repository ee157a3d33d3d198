//! Test support: a real host on a loopback port over SQLite or a fresh
//! PostgreSQL database, real signed packages of the test guests, and an HTTP
//! client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod registry;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use magflock_host::config::HostConfig;
use magflock_host::state::AppState;
use serde_json::Value;

/// The `magflock` binary built next to the test executables (`cargo build
/// --bins`, which scripts/test.sh runs).
pub fn magflock_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join("magflock");
    assert!(bin.exists(), "{} not built: run `cargo build --bins` (scripts/test.sh does)", bin.display());
    bin
}

/// Where `scripts/build-wasm.sh` puts the built components.
pub fn wasm_dir() -> PathBuf {
    match std::env::var_os("MAGFLOCK_WASM_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../build/wasm"),
    }
}

/// The component and manifest of a built guest (`e2e-canary`, `hello`, ...).
pub fn guest(name: &str) -> (String, Vec<u8>) {
    let dir = wasm_dir().join(name);
    let manifest = std::fs::read_to_string(dir.join("extension.toml")).unwrap_or_else(|e| {
        panic!("{}: {e}; build the test components first (scripts/build-wasm.sh)", dir.display())
    });
    let component = std::fs::read(dir.join("component.wasm")).unwrap();
    (manifest, component)
}

/// Which control-plane database a test host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL database for one test, from `MAGFLOCK_TEST_PG_URL`
/// (set by the test script). Fails, never skips, when it is not set.
pub async fn fresh_pg_database() -> String {
    let admin = std::env::var("MAGFLOCK_TEST_PG_URL").expect(
        "MAGFLOCK_TEST_PG_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
    );
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to test PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// A publisher key pair for tests.
pub struct Publisher {
    pub secret: magflock_registry::SecretKey,
    pub public: magflock_registry::PublicKey,
}

impl Publisher {
    pub fn generate() -> Self {
        let secret = magflock_registry::SecretKey::generate().unwrap();
        let public = secret.public_key().clone();
        Self { secret, public }
    }

    /// Packs and signs `manifest` + `component`.
    pub fn package(&self, manifest: &str, component: &[u8]) -> Vec<u8> {
        let mut pkg =
            magflock_registry::Package::new(manifest.as_bytes().to_vec(), component.to_vec()).unwrap();
        magflock_registry::sign_package(&mut pkg, &self.secret);
        pkg.to_bytes()
    }

    /// Packs and signs a built guest, its manifest edited by `edit`.
    pub fn guest_package(&self, name: &str, edit: impl FnOnce(String) -> String) -> Vec<u8> {
        let (manifest, component) = guest(name);
        self.package(&edit(manifest), &component)
    }
}

/// Packs a guest without signing it.
pub fn unsigned_package(name: &str) -> Vec<u8> {
    let (manifest, component) = guest(name);
    magflock_registry::Package::new(manifest.into_bytes(), component).unwrap().to_bytes()
}

/// A running host.
pub struct TestHost {
    pub url: String,
    pub admin_token: String,
    pub state: Arc<AppState>,
    pub http: reqwest::Client,
    pub publisher: Publisher,
    pub db: Db,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestHost {
    pub async fn start(db: Db) -> Self {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: Db, tweak: impl FnOnce(&mut HostConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = match db {
            Db::Sqlite => magflock_host::cli::sqlite_url(dir.path()),
            Db::Postgres => fresh_pg_database().await,
        };
        let token = format!("admin-{}", uuid::Uuid::new_v4().simple());
        let mut config = HostConfig::new(dir.path().to_path_buf(), url, token.clone());
        config.usage_flush = Duration::from_millis(20);
        config.engine.pool_instances = 64;
        tweak(&mut config);
        let state = AppState::start(config).await.unwrap();
        let (url, tx, server) = spawn_server(state.clone()).await;
        let host = Self {
            url,
            admin_token: token,
            state,
            http: reqwest::Client::builder().pool_max_idle_per_host(32).build().unwrap(),
            publisher: Publisher::generate(),
            db,
            _dir: dir,
            shutdown: Some(tx),
            server: Some(server),
        };
        host.trust(&host.publisher.public.to_string()).await;
        host
    }

    /// Stops the server, waiting for in-flight requests and the usage flush.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            s.await.expect("the server task failed");
        }
    }

    /// Stops this host and starts a new one on the same data directory and
    /// database, as a process restart would.
    pub async fn restart(self) -> Self {
        self.restart_with(|_| {}).await
    }

    /// [`TestHost::restart`] with a changed configuration.
    pub async fn restart_with(mut self, tweak: impl FnOnce(&mut HostConfig)) -> Self {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            s.await.expect("the server task failed");
        }
        let mut config = self.state.config.clone();
        tweak(&mut config);
        let db = self.db;
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        let publisher = std::mem::replace(&mut self.publisher, Publisher::generate());
        drop(self);
        let state = AppState::start(config).await.unwrap();
        let (url, shutdown, server) = spawn_server(state.clone()).await;
        Self {
            url,
            admin_token: state.config.admin_token.clone(),
            state,
            http: reqwest::Client::new(),
            publisher,
            db,
            _dir: dir,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self._dir.path()
    }

    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url)).bearer_auth(&self.admin_token)
    }

    pub async fn trust(&self, public_key: &str) {
        let r = self
            .admin(reqwest::Method::POST, "/v1/trusted-keys")
            .json(&serde_json::json!({"public_key": public_key}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "trusting key: {}", r.text().await.unwrap());
    }

    /// Creates a project and returns an API key secret for it.
    pub async fn project(&self, id: &str) -> String {
        let r = self
            .admin(reqwest::Method::POST, "/v1/projects")
            .json(&serde_json::json!({"id": id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "creating project: {}", r.text().await.unwrap());
        self.api_key(id).await.1
    }

    /// Creates an API key: (key id, secret).
    pub async fn api_key(&self, project: &str) -> (String, String) {
        let r = self
            .admin(reqwest::Method::POST, &format!("/v1/projects/{project}/api-keys"))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        (v["key"]["id"].as_str().unwrap().to_owned(), v["secret"].as_str().unwrap().to_owned())
    }

    /// Uploads a package: (status, body).
    pub async fn install(&self, project: &str, package: Vec<u8>, approve: &str) -> (u16, Value) {
        let r = self
            .admin(reqwest::Method::POST, &format!("/v1/projects/{project}/extensions?approve={approve}"))
            .header("content-type", "application/octet-stream")
            .body(package)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Installs a guest with all its capabilities approved; panics unless active.
    pub async fn install_guest(&self, project: &str, name: &str) {
        let pkg = self.publisher.guest_package(name, |m| m);
        let (status, body) = self.install(project, pkg, "logging,config,kv").await;
        assert_eq!(status, 201, "installing {name}: {body}");
    }

    /// Calls the gateway.
    pub async fn call(&self, project: &str, key: &str, path: &str) -> reqwest::Response {
        self.http.get(format!("{}/x/{project}{path}", self.url)).bearer_auth(key).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.admin(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// Usage records of a project/extension, after flushing pending ones.
    pub async fn usage(&self, project: &str, extension: &str) -> Vec<Value> {
        self.state.runtime.usage.flush().await;
        let v =
            self.get_json(&format!("/v1/projects/{project}/usage?extension={extension}&limit=1000")).await;
        v.as_array().cloned().unwrap_or_else(|| panic!("usage is not a list: {v}"))
    }

    /// Violations of a project/extension, after flushing pending ones.
    pub async fn violations(&self, project: &str, extension: &str) -> Vec<Value> {
        self.state.runtime.usage.flush().await;
        let v = self
            .get_json(&format!("/v1/projects/{project}/violations?extension={extension}&limit=1000"))
            .await;
        v.as_array().cloned().unwrap_or_else(|| panic!("violations are not a list: {v}"))
    }
}

async fn spawn_server(
    state: Arc<AppState>,
) -> (String, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        magflock_host::server::serve(state, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (format!("http://{addr}"), tx, server)
}

/// Runs `body` against a host on each database.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let host = $crate::TestHost::start($crate::Db::Sqlite).await;
                ($body)(host).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let host = $crate::TestHost::start($crate::Db::Postgres).await;
                ($body)(host).await;
            }
        }
    };
}
