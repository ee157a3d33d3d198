//! The three servers under load, each run in its own child process
//! (`gateway serve <kind>`), and the in-process host the instantiation
//! benchmark uses.
//!
//! A child prints `url <url>`, for the gateway also `key <api key>`, then
//! `ready` on stdout, serves until its stdin is closed, and exits.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use magflock_host::config::HostConfig;
use magflock_host::state::AppState;
use tokio::net::TcpListener;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// What every server answers (`hello`'s response body).
pub const BODY: &[u8] = b"hello from MagFlock\n";
/// The project the gateway serves `hello` in.
pub const PROJECT: &str = "bench";
/// The extension under test.
pub const EXTENSION: &str = "hello";

/// The built `hello` component.
pub fn hello_component() -> PathBuf {
    magflock_tests::wasm_dir().join(EXTENSION).join("component.wasm")
}

/// Runs the child side: `serve gateway|raw|native`.
pub fn serve(kind: &str) -> anyhow::Result<()> {
    crate::load::exit_when_stdin_closes();
    // The same runtime `magflock serve` runs on (`#[tokio::main]`: one
    // worker per core).
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        match kind {
            "gateway" => serve_gateway().await,
            "raw" => serve_raw().await,
            "native" => serve_native().await,
            other => anyhow::bail!("unknown server `{other}`: gateway, raw or native"),
        }
    })
}

fn announce(url: &str, key: Option<&str>) {
    println!("url {url}");
    if let Some(k) = key {
        println!("key {k}");
    }
    println!("ready");
}

/// A host with `hello` installed in project [`PROJECT`]: default
/// configuration, SQLite in a temporary data directory, a fresh publisher key
/// trusted, an API key created. Returns the state, the API key secret and
/// the directory (which must outlive the host).
pub async fn start_host() -> anyhow::Result<(Arc<AppState>, String, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let url = magflock_host::cli::sqlite_url(dir.path());
    let token = format!("admin-{}", uuid::Uuid::new_v4().simple());
    let mut config = HostConfig::new(dir.path().to_path_buf(), url, token);
    crate::load::engine_settings(&mut config);
    let state = AppState::start(config).await?;

    let publisher = magflock_tests::Publisher::generate();
    let public = publisher.public.clone();
    state.store.add_trusted_key(&public.key_id(), &public.to_string(), Some("bench")).await?;
    state.store.create_project(PROJECT).await?;
    let (_key, secret) = state.store.create_api_key(PROJECT, Some("bench")).await?;
    let package = publisher.guest_package(EXTENSION, |m| m);
    let report = magflock_host::install::install_package(
        &state,
        PROJECT,
        &package,
        magflock_host::install::InstallOptions::new(&[], "bench"),
    )
    .await
    .map_err(|e| anyhow::anyhow!("installing {EXTENSION}: {e}"))?;
    anyhow::ensure!(
        report.capabilities_to_approve.is_empty() && state.runtime.get(PROJECT, EXTENSION).is_some(),
        "{EXTENSION} was installed but is not active"
    );
    Ok((state, secret, dir))
}

/// The full host, logging as `magflock serve` does (an `info` filter on
/// stderr, `RUST_LOG` overrides) unless `MAGFLOCK_BENCH_LOGGING=0`.
async fn serve_gateway() -> anyhow::Result<()> {
    if std::env::var("MAGFLOCK_BENCH_LOGGING").as_deref() != Ok("0") {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let (state, secret, _dir) = start_host().await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    announce(&format!("http://{addr}"), Some(&secret));
    magflock_host::server::serve(state, listener, std::future::pending()).await?;
    Ok(())
}

/// Plain axum: the native reference.
async fn serve_native() -> anyhow::Result<()> {
    let app = axum::Router::new().fallback(|| async { BODY });
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    announce(&format!("http://{}", listener.local_addr()?), None);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The engine alone, as in the `wasmtime-wasi-http` crate's own `serve`
/// example: default engine configuration (no fuel, no epochs, on-demand
/// allocation), hyper HTTP/1.1 with keep-alive, a new store and instance
/// per request.
async fn serve_raw() -> anyhow::Result<()> {
    let pre = Arc::new(raw_pre()?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    announce(&format!("http://{}", listener.local_addr()?), None);
    loop {
        let (client, _) = listener.accept().await?;
        let _ = client.set_nodelay(true);
        let pre = pre.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let pre = pre.clone();
                async move { Ok::<_, Infallible>(raw_handle(&pre, req).await) }
            });
            let _ =
                http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(client), service).await;
        });
    }
}

/// Engine, component, linker and `ProxyPre` of the raw server.
pub fn raw_pre() -> anyhow::Result<ProxyPre<RawState>> {
    let engine = Engine::default();
    let component = Component::from_file(&engine, hello_component())?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    Ok(ProxyPre::new(linker.instantiate_pre(&component)?)?)
}

async fn raw_handle(
    pre: &ProxyPre<RawState>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<HyperOutgoingBody> {
    match raw_call(pre, req).await {
        Ok(resp) => resp,
        Err(e) => {
            use http_body_util::BodyExt as _;
            let body = http_body_util::Full::new(bytes::Bytes::from(format!("{e:#}\n")))
                .map_err(|never| match never {})
                .boxed_unsync();
            let mut resp = hyper::Response::new(body);
            *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            resp
        }
    }
}

async fn raw_call(
    pre: &ProxyPre<RawState>,
    req: hyper::Request<hyper::body::Incoming>,
) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
    let mut store = Store::new(pre.engine(), RawState::new());
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let req = store.data_mut().http().new_incoming_request(Scheme::Http, req)?;
    let out = store.data_mut().http().new_response_outparam(sender)?;
    let pre = pre.clone();
    // The guest runs in its own task so it may keep streaming the body
    // after the response head is sent.
    let task = tokio::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy.wasi_http_incoming_handler().call_handle(store, req, out).await
    });
    match receiver.await {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(code)) => anyhow::bail!("guest error: {code:?}"),
        Err(_) => match task.await {
            Ok(Ok(())) => anyhow::bail!("guest never set a response"),
            Ok(Err(e)) => Err(anyhow::anyhow!("guest failed: {e:#}")),
            Err(e) => Err(e.into()),
        },
    }
}

/// Store data of the raw server: WASI and WASI HTTP contexts, nothing else.
pub struct RawState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: NoOutbound,
}

impl RawState {
    pub fn new() -> Self {
        Self {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: NoOutbound,
        }
    }
}

impl WasiView for RawState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RawState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// The workspace builds `wasmtime-wasi-http` without its default outbound
/// client; `hello` never sends a request, so this only has to exist.
struct NoOutbound;

type OutgoingResult = Result<
    (
        http::Response<wasmtime_wasi_http::WasiBody>,
        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ),
    wasmtime_wasi_http::Error,
>;

impl WasiHttpHooks for NoOutbound {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn Future<Output = OutgoingResult> + Send> {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}
