//! Running the HTTP server with graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::state::AppState;

/// Serves `state` on `listener` until `shutdown` completes, then lets
/// in-flight requests and event deliveries finish and flushes usage records.
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = crate::api::app(state.clone());
    let r = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    state.stop_dispatcher().await;
    // Best effort: each extension's `on-stop` runs under its own limits.
    for loaded in state.runtime.all_active() {
        if let Err(e) = state.runtime.run_hook(&loaded, crate::runtime::invoke::Hook::OnStop).await {
            tracing::warn!(extension = loaded.name(), error = %e, "on-stop failed");
        }
    }
    state.runtime.usage.flush().await;
    r
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
