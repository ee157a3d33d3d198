//! One invocation: a fresh store and instance, fuel, deadline and memory
//! limits set, the guest's handler called, its response collected under a
//! size cap, and exactly one usage record (plus its violations) emitted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt as _;
use http::header::{self, HeaderName};
use http_body_util::{BodyExt, Full, Limited};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::limits::Meter;
use super::outcome::{HostTrap, Outcome, classify};
use super::state::InvocationState;
use super::{Loaded, Runtime, bindings};
use crate::capabilities::events::EventsState;
use crate::engine::EPOCH_TICK;
use crate::usage::{UsageEvent, ViolationEvent};

/// Largest response body a guest may produce, in bytes. Guest-supplied data:
/// past this the response is dropped and the call is a violation.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Extra time the outer timeout grants past the guest's own deadline: the
/// epoch callback should always fire first; the outer timeout catches host
/// calls that block and never return to the guest.
const OUTER_GRACE: Duration = Duration::from_millis(250);

/// Response headers an extension may not set: hop-by-hop fields belong to
/// the connection, and cookies would be scoped to the host, not the extension.
const STRIPPED_RESPONSE_HEADERS: [HeaderName; 12] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::CONTENT_LENGTH,
    header::SET_COOKIE,
    HeaderName::from_static("set-cookie2"),
];

/// What an invocation produced.
pub struct Invocation {
    pub request_id: String,
    pub outcome: Outcome,
    /// The guest's response when `outcome` is `Ok`.
    pub response: Option<http::Response<Bytes>>,
}

fn new_store(
    rt: &Runtime,
    loaded: &Loaded,
    meter: &Arc<Meter>,
    events: EventsState,
) -> wasmtime::Result<Store<InvocationState>> {
    let deadline = Instant::now() + loaded.limits.timeout;
    let ticking = rt.ticker.ticking();
    let mut state = InvocationState::new(
        loaded.grants.clone(),
        loaded.limits.memory_bytes,
        meter.clone(),
        deadline,
        ticking,
    );
    state.events = events;
    let mut store = Store::new(rt.engine(), state);
    store.limiter(|s| &mut s.limiter);
    store.set_fuel(loaded.limits.fuel)?;
    // Every tick the guest yields to the async runtime (so a spinning guest
    // cannot starve others) and is stopped once its deadline has passed.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(HostTrap::Deadline))
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    Ok(store)
}

fn fuel_used(store: &Store<InvocationState>, budget: u64) -> u64 {
    budget.saturating_sub(store.get_fuel().unwrap_or(0))
}

impl Runtime {
    /// Serves one HTTP request with `loaded`. `endpoint` is the manifest's
    /// endpoint pattern the request matched, for the usage record;
    /// `request_id` names the usage record (it must be host-generated: it is
    /// the record's idempotency key).
    pub async fn invoke_http(
        &self,
        loaded: &Arc<Loaded>,
        endpoint: &str,
        request: http::Request<Bytes>,
        request_id: Option<String>,
    ) -> Invocation {
        let started = Instant::now();
        let request_id = request_id.unwrap_or_else(crate::ids::time_ordered_string);
        let method = request.method().to_string();
        let bytes_in = request.body().len() as u64;
        let meter = Arc::new(Meter::default());

        let Ok(permit) = loaded.in_flight.clone().try_acquire_owned() else {
            let outcome = Outcome::ConcurrencyLimit;
            self.finish_call(loaded, &request_id, endpoint, &method, outcome, &meter, started, [bytes_in, 0]);
            return Invocation { request_id, outcome, response: None };
        };

        let (outcome, response) = self.run_handler(loaded, request, &meter, &request_id).await;
        drop(permit);
        let bytes_out = response.as_ref().map_or(0, |r| r.body().len() as u64);
        self.finish_call(
            loaded,
            &request_id,
            endpoint,
            &method,
            outcome,
            &meter,
            started,
            [bytes_in, bytes_out],
        );
        self.observe_probation(loaded, outcome);
        let status = response.as_ref().map_or(outcome.status(), |r| r.status().as_u16());
        loaded.metrics.seconds.record(started.elapsed().as_secs_f64());
        tracing::debug!(request_id, project = %loaded.project, extension = %loaded.name(),
            outcome = %outcome, status, "invocation");
        Invocation { request_id, outcome, response }
    }

    async fn run_handler(
        &self,
        loaded: &Arc<Loaded>,
        request: http::Request<Bytes>,
        meter: &Arc<Meter>,
        request_id: &str,
    ) -> (Outcome, Option<http::Response<Bytes>>) {
        let refused = |m: &Meter| m.memory_refused_at.load(Ordering::Relaxed) > 0;
        let events = EventsState { request_id: Some(request_id.to_owned()), ..Default::default() };
        let mut store = match new_store(self, loaded, meter, events) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(request_id, project = %loaded.project, extension = loaded.name(), error = %e,
                    "store setup failed");
                return (Outcome::Trap, None);
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let req = request.map(|b| {
            Full::new(b)
                .map_err(|never: std::convert::Infallible| -> wasmtime_wasi_http::Error { match never {} })
        });
        let prepared = (|| -> wasmtime::Result<_> {
            let req = store.data_mut().http().new_incoming_request(Scheme::Http, req)?;
            let out = store.data_mut().http().new_response_outparam(tx)?;
            Ok((req, out))
        })();
        let (req, out) = match prepared {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(request_id, project = %loaded.project, extension = loaded.name(), error = %e,
                    "request could not be handed to the guest");
                return (Outcome::Trap, None);
            }
        };
        let budget = loaded.limits.fuel;
        let pre = loaded.proxy.clone();
        let task_meter = meter.clone();
        // The guest runs in its own task, which also collects the response
        // it streams out: the HTTP side is woken once, when the task ends,
        // not for the response head, each body frame and the end apart.
        // Dropping the task drops the store.
        let task = self.spawn_guest(async move {
            let collect = collect_response(rx);
            tokio::pin!(collect);
            let mut collected = None;
            let result = {
                let call = async {
                    let proxy = pre.instantiate_async(&mut store).await?;
                    proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
                };
                tokio::pin!(call);
                loop {
                    tokio::select! {
                        biased;
                        r = &mut call => break r,
                        c = &mut collect, if collected.is_none() => collected = Some(c),
                    }
                }
            };
            task_meter.fuel_used.store(fuel_used(&store, budget), Ordering::Relaxed);
            let collected = match collected.or_else(|| (&mut collect).now_or_never()) {
                Some(c) => c,
                None => {
                    // A response the guest left unset, or a body it left
                    // unfinished, ends with the store that holds it.
                    drop(store);
                    collect.await
                }
            };
            (result, collected)
        });
        let abort = task.abort_handle();
        let outer = loaded.limits.timeout + EPOCH_TICK * 2 + OUTER_GRACE;
        let (guest, collected) = match tokio::time::timeout(outer, task).await {
            Ok(Ok(r)) => r,
            Ok(Err(join)) => {
                tracing::error!(request_id, project = %loaded.project, extension = loaded.name(), error = %join,
                    "guest task failed");
                return (Outcome::Trap, None);
            }
            Err(_) => {
                abort.abort();
                return (Outcome::DeadlineExceeded, None);
            }
        };
        match (guest, collected) {
            (Err(e), _) => {
                let outcome = classify(&e, refused(meter));
                if outcome == Outcome::Trap {
                    tracing::info!(request_id, project = %loaded.project, extension = loaded.name(),
                        error = %format!("{e:#}"), "guest trapped");
                }
                (outcome, None)
            }
            (Ok(()), Some(Ok(resp))) => (Outcome::Ok, Some(sanitize(resp))),
            (Ok(()), Some(Err(outcome))) => (outcome, None),
            (Ok(()), None) => (Outcome::NoResponse, None),
        }
    }

    /// Creates a fresh store and instance for `loaded`, exactly as every
    /// invocation does before the guest runs, and drops them. This is the
    /// per-call cost the pooling allocator keeps small; the benchmark
    /// harness measures it.
    pub async fn instantiate(&self, loaded: &Arc<Loaded>) -> wasmtime::Result<()> {
        let meter = Arc::new(Meter::default());
        let mut store = new_store(self, loaded, &meter, EventsState::default())?;
        loaded.proxy.instantiate_async(&mut store).await?;
        Ok(())
    }

    /// [`Runtime::instantiate`] split into its three phases, each timed:
    /// store set-up (WASI contexts, fuel, deadline, limiter), instantiation
    /// from the pre-linked `InstancePre`, and teardown (dropping the store,
    /// which returns and resets the pool slot). For the benchmark harness.
    pub async fn instantiate_phases(&self, loaded: &Arc<Loaded>) -> wasmtime::Result<[Duration; 3]> {
        let t0 = Instant::now();
        let meter = Arc::new(Meter::default());
        let mut store = new_store(self, loaded, &meter, EventsState::default())?;
        let t1 = Instant::now();
        loaded.proxy.instantiate_async(&mut store).await?;
        let t2 = Instant::now();
        drop(store);
        let t3 = Instant::now();
        Ok([t1 - t0, t2 - t1, t3 - t2])
    }

    /// Runs one lifecycle hook in a fresh instance under the installation's
    /// limits. `Ok(None)` when the component does not export lifecycle hooks.
    pub async fn run_hook(&self, loaded: &Arc<Loaded>, hook: Hook) -> Result<Option<()>, HookError> {
        self.run_hook_with(loaded, hook, String::new()).await
    }

    /// Runs `on-upgrade(from)` on a new version, like [`Runtime::run_hook`].
    /// `Ok(None)` when the component does not export the `upgrade` interface.
    pub async fn run_upgrade_hook(&self, loaded: &Arc<Loaded>, from: &str) -> Result<Option<()>, HookError> {
        self.run_hook_with(loaded, Hook::OnUpgrade, from.to_owned()).await
    }

    async fn run_hook_with(
        &self,
        loaded: &Arc<Loaded>,
        hook: Hook,
        from: String,
    ) -> Result<Option<()>, HookError> {
        let exported = match hook {
            Hook::OnUpgrade => loaded.upgrade.is_some(),
            _ => loaded.lifecycle.is_some(),
        };
        if !exported {
            return Ok(None);
        }
        let started = Instant::now();
        let request_id = crate::ids::time_ordered_string();
        let meter = Arc::new(Meter::default());
        let events = EventsState { request_id: Some(request_id.clone()), ..Default::default() };
        let store = new_store(self, loaded, &meter, events).map_err(|e| HookError::Setup(e.to_string()))?;
        let task_loaded = loaded.clone();
        let end = self
            .run_export(loaded, &meter, store, move |store| {
                Box::pin(async move {
                    let instance = task_loaded.proxy.instance_pre().instantiate_async(&mut *store).await?;
                    if hook == Hook::OnUpgrade {
                        let Some(indices) = task_loaded.upgrade.as_ref() else { return Ok(Ok(())) };
                        let guest = indices.load(&mut *store, &instance)?;
                        return guest.call_on_upgrade(&mut *store, &from).await;
                    }
                    let Some(indices) = task_loaded.lifecycle.as_ref() else { return Ok(Ok(())) };
                    let guest = indices.load(&mut *store, &instance)?;
                    match hook {
                        Hook::OnInstall => guest.call_on_install(&mut *store).await,
                        Hook::OnUninstall => guest.call_on_uninstall(&mut *store).await,
                        Hook::OnStart => guest.call_on_start(&mut *store).await,
                        Hook::OnStop => guest.call_on_stop(&mut *store).await,
                        // Handled above.
                        Hook::OnUpgrade => Ok(Ok(())),
                    }
                })
            })
            .await;
        let endpoint = format!("lifecycle:{}", hook.as_str());
        self.finish_call(loaded, &request_id, &endpoint, "HOOK", end.outcome(), &meter, started, [0, 0]);
        match end {
            ExportEnd::Done => Ok(Some(())),
            ExportEnd::Refused(msg) => Err(HookError::Refused(msg)),
            ExportEnd::Stopped(o) => Err(HookError::Limit(o)),
            ExportEnd::TaskFailed(e) => Err(HookError::Setup(e)),
        }
    }

    /// Delivers one event to `loaded`'s `on-event` in a fresh instance under
    /// its limits: one usage record (endpoint `event:<topic>`), violations
    /// as for any call. Waits up to `slot_wait` for a concurrency slot
    /// rather than refusing at once: deliveries queue, requests do not.
    pub async fn invoke_event(
        &self,
        loaded: &Arc<Loaded>,
        event: &magflock_store::Event,
        attempt: u32,
        slot_wait: Duration,
    ) -> Result<(), EventFailure> {
        let Some(indices) = loaded.event_handler.clone() else {
            return Err(EventFailure::Failed(format!(
                "{} does not export magflock:ext/event-handler",
                loaded.name()
            )));
        };
        let permit = match tokio::time::timeout(slot_wait, loaded.in_flight.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) | Err(_) => return Err(EventFailure::Busy),
        };
        let started = Instant::now();
        let request_id = crate::ids::time_ordered_string();
        let meter = Arc::new(Meter::default());
        let hop = u32::try_from(event.hop).unwrap_or(u32::MAX);
        let events = EventsState {
            hop: hop.saturating_add(1),
            request_id: Some(request_id.clone()),
            ..Default::default()
        };
        let store = new_store(self, loaded, &meter, events)
            .map_err(|e| EventFailure::Failed(format!("store set-up: {e}")))?;
        let wit_event = bindings::event_handler::Event {
            id: event.id.clone(),
            topic: event.topic.clone(),
            source: event.source.clone(),
            payload: event.payload.clone(),
            published_at: u64::try_from(event.created_at).unwrap_or_default(),
            attempt,
            hop,
        };
        let pre = loaded.proxy.instance_pre().clone();
        let end = self
            .run_export(loaded, &meter, store, move |store| {
                Box::pin(async move {
                    let instance = pre.instantiate_async(&mut *store).await?;
                    let guest = indices.load(&mut *store, &instance)?;
                    guest.call_on_event(&mut *store, &wit_event).await
                })
            })
            .await;
        drop(permit);
        let endpoint = format!("event:{}", event.topic);
        let bytes_in = event.payload.len() as u64;
        self.finish_call(
            loaded,
            &request_id,
            &endpoint,
            "EVENT",
            end.outcome(),
            &meter,
            started,
            [bytes_in, 0],
        );
        self.observe_probation(loaded, end.outcome());
        Err(EventFailure::Failed(match end {
            ExportEnd::Done => return Ok(()),
            ExportEnd::Refused(msg) => format!("the handler refused: {msg}"),
            ExportEnd::Stopped(o) => o.message().to_owned(),
            ExportEnd::TaskFailed(e) => format!("the handler task failed: {e}"),
        }))
    }

    /// Runs `call` (instantiate, then one export returning `result<_,
    /// string>`) on the guest runtime with `store`, under the outer timeout,
    /// and says how it ended.
    async fn run_export<F>(
        &self,
        loaded: &Loaded,
        meter: &Arc<Meter>,
        mut store: Store<InvocationState>,
        call: F,
    ) -> ExportEnd
    where
        F: for<'a> FnOnce(&'a mut Store<InvocationState>) -> ExportFuture<'a> + Send + 'static,
    {
        let budget = loaded.limits.fuel;
        let outer = loaded.limits.timeout + EPOCH_TICK * 2 + OUTER_GRACE;
        let task_meter = meter.clone();
        let task = self.spawn_guest(async move {
            let r = call(&mut store).await;
            task_meter.fuel_used.store(fuel_used(&store, budget), Ordering::Relaxed);
            r
        });
        let abort = task.abort_handle();
        match tokio::time::timeout(outer, task).await {
            Err(_) => {
                abort.abort();
                ExportEnd::Stopped(Outcome::DeadlineExceeded)
            }
            Ok(Err(join)) => ExportEnd::TaskFailed(join.to_string()),
            Ok(Ok(Err(e))) => {
                ExportEnd::Stopped(classify(&e, meter.memory_refused_at.load(Ordering::Relaxed) > 0))
            }
            Ok(Ok(Ok(Err(msg)))) => ExportEnd::Refused(msg),
            Ok(Ok(Ok(Ok(())))) => ExportEnd::Done,
        }
    }

    /// The usage record and the violations of a finished call (a request,
    /// a hook or an event delivery); `bytes` is `[in, out]`.
    #[allow(clippy::too_many_arguments)]
    fn finish_call(
        &self,
        loaded: &Loaded,
        request_id: &str,
        endpoint: &str,
        method: &str,
        outcome: Outcome,
        meter: &Meter,
        started: Instant,
        [bytes_in, bytes_out]: [u64; 2],
    ) {
        if outcome == Outcome::Ok {
            loaded.metrics.ok.increment(1);
        } else {
            metrics::counter!("magflock_invocations_total", "project" => loaded.project.clone(),
                "extension" => loaded.name().to_owned(), "outcome" => outcome.as_str())
            .increment(1);
        }
        loaded.metrics.fuel.increment(Meter::get(&meter.fuel_used));
        self.usage.record(UsageEvent {
            request_id: request_id.to_owned(),
            project: loaded.project.clone(),
            extension: loaded.name().to_owned(),
            version: loaded.version(),
            endpoint: endpoint.to_owned(),
            method: method.to_owned(),
            status: i64::from(outcome.status()),
            outcome: outcome.as_str(),
            fuel_used: Meter::get(&meter.fuel_used),
            wall_time_us: started.elapsed().as_micros() as u64,
            peak_memory_bytes: Meter::get(&meter.peak_memory_bytes),
            host_calls: Meter::get(&meter.host_calls),
            bytes_in,
            bytes_out,
            db_rows: Meter::get(&meter.db_rows),
            db_time_us: Meter::get(&meter.db_time_us),
        });
        self.call_violations(loaded, request_id, meter);
        // A limit outcome is a violation; so is a refused memory growth the
        // guest survived (the call then ended without a limit outcome).
        let limit_hit = if outcome.is_violation() {
            Some(outcome)
        } else if meter.memory_refused_at.load(Ordering::Relaxed) > 0 {
            Some(Outcome::MemoryLimit)
        } else {
            None
        };
        if let Some(hit) = limit_hit {
            let (limit, actual) = limit_and_actual(loaded, hit, meter, started);
            self.violation(loaded, request_id, hit, limit, actual);
        }
    }

    /// Writes the violations capability calls recorded (denials the guest
    /// saw as errors, database limits hit), one record each.
    fn call_violations(&self, loaded: &Loaded, request_id: &str, meter: &Meter) {
        for v in meter.take_call_violations() {
            metrics::counter!("magflock_violations_total", "project" => loaded.project.clone(),
                "extension" => loaded.name().to_owned(), "kind" => v.kind)
            .increment(1);
            self.usage.violation(ViolationEvent {
                request_id: Some(request_id.to_owned()),
                project: loaded.project.clone(),
                extension: loaded.name().to_owned(),
                version: loaded.version(),
                kind: v.kind,
                limit_value: v.limit,
                actual_value: v.actual,
                action: "rejected",
                detail: v.detail,
            });
        }
    }

    fn violation(
        &self,
        loaded: &Loaded,
        request_id: &str,
        outcome: Outcome,
        limit: Option<i64>,
        actual: Option<i64>,
    ) {
        metrics::counter!("magflock_violations_total", "project" => loaded.project.clone(),
            "extension" => loaded.name().to_owned(), "kind" => outcome.as_str())
        .increment(1);
        let action = if outcome == Outcome::ConcurrencyLimit { "throttled" } else { "rejected" };
        self.usage.violation(ViolationEvent {
            request_id: Some(request_id.to_owned()),
            project: loaded.project.clone(),
            extension: loaded.name().to_owned(),
            version: loaded.version(),
            kind: outcome.as_str(),
            limit_value: limit,
            actual_value: actual,
            action,
            detail: outcome.message().to_owned(),
        });
    }
}

fn limit_and_actual(
    loaded: &Loaded,
    outcome: Outcome,
    meter: &Meter,
    started: Instant,
) -> (Option<i64>, Option<i64>) {
    let l = &loaded.limits;
    match outcome {
        Outcome::FuelExhausted => (Some(l.fuel as i64), Some(Meter::get(&meter.fuel_used) as i64)),
        Outcome::DeadlineExceeded => {
            (Some(l.timeout.as_millis() as i64), Some(started.elapsed().as_millis() as i64))
        }
        Outcome::MemoryLimit => {
            (Some(l.memory_bytes as i64), Some(Meter::get(&meter.memory_refused_at) as i64))
        }
        Outcome::ResponseTooLarge => (Some(MAX_RESPONSE_BYTES as i64), None),
        Outcome::ConcurrencyLimit => (Some(i64::from(l.concurrency)), None),
        _ => (None, None),
    }
}

/// The response a guest hands to `response-outparam.set`, its body read
/// whole under [`MAX_RESPONSE_BYTES`]; `None` when the guest never set one.
async fn collect_response(
    rx: tokio::sync::oneshot::Receiver<Result<http::Response<HyperOutgoingBody>, ErrorCode>>,
) -> Option<Result<http::Response<Bytes>, Outcome>> {
    let resp = rx.await.ok()?;
    Some(match resp {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            match Limited::new(body, MAX_RESPONSE_BYTES).collect().await {
                Ok(b) => Ok(http::Response::from_parts(parts, b.to_bytes())),
                Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                    Err(Outcome::ResponseTooLarge)
                }
                Err(_) => Err(Outcome::Trap),
            }
        }
        Err(_code) => Err(Outcome::Trap),
    })
}

fn sanitize(mut resp: http::Response<Bytes>) -> http::Response<Bytes> {
    let headers = resp.headers_mut();
    for name in &STRIPPED_RESPONSE_HEADERS {
        headers.remove(name);
    }
    resp
}

/// What an export call returns, borrowed from its store.
type ExportFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = wasmtime::Result<Result<(), String>>> + Send + 'a>>;

/// Why an event was not delivered.
#[derive(Debug)]
pub enum EventFailure {
    /// No concurrency slot came free in time; the handler did not run, so
    /// the attempt does not count.
    Busy,
    /// The handler ran and failed (its own error, a trap or a limit).
    Failed(String),
}

/// How a hook or event call ended.
enum ExportEnd {
    Done,
    /// The export returned an error of its own.
    Refused(String),
    /// A limit or a trap stopped it.
    Stopped(Outcome),
    /// The guest task itself failed (a host bug, or the runtime shutting down).
    TaskFailed(String),
}

impl ExportEnd {
    fn outcome(&self) -> Outcome {
        match self {
            ExportEnd::Done => Outcome::Ok,
            ExportEnd::Refused(_) => Outcome::Refused,
            ExportEnd::Stopped(o) => *o,
            ExportEnd::TaskFailed(_) => Outcome::Trap,
        }
    }
}

/// A lifecycle hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    OnInstall,
    OnUninstall,
    OnStart,
    OnStop,
    /// `upgrade.on-upgrade`, run through [`Runtime::run_upgrade_hook`].
    OnUpgrade,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::OnInstall => "on-install",
            Hook::OnUninstall => "on-uninstall",
            Hook::OnStart => "on-start",
            Hook::OnStop => "on-stop",
            Hook::OnUpgrade => "on-upgrade",
        }
    }
}

/// Why a lifecycle hook failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("the extension refused: {0}")]
    Refused(String),
    #[error("the hook was stopped: {}", .0.message())]
    Limit(Outcome),
    #[error("the hook could not be started: {0}")]
    Setup(String),
}
