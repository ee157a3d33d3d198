//! The one wasmtime [`Engine`] of a host, and the epoch ticker that drives
//! invocation deadlines. Every wasmtime setting the host relies on lives here,
//! each with the reason it is set.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. A spinning guest is interrupted at most one
/// tick after its deadline, and yields to other guests once per tick: a short
/// tick keeps a small extension's call from waiting long behind spinning
/// ones. A yield costs a fiber switch (about a microsecond), so 1 ms costs
/// about 0.1% of a spinning guest's time.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Engine-wide limits, from the host configuration.
#[derive(Debug, Clone)]
pub struct EngineLimits {
    /// Instances that may be alive at once across the whole host (pool slots).
    pub pool_instances: u32,
    /// Largest single linear memory any extension may have, in bytes. The
    /// per-extension aggregate limit is enforced by the store's limiter; this
    /// is the pool's slot size.
    pub max_memory_bytes: u64,
    /// Guest stack limit in bytes.
    pub max_wasm_stack: usize,
    /// Worker threads of the guest runtime.
    pub guest_workers: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            pool_instances: 256,
            max_memory_bytes: 1 << 30,
            max_wasm_stack: 512 * 1024,
            guest_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// The async runtime guests run on, apart from the one serving HTTP: a
/// spinning guest then competes with other guests only, never with accepting
/// connections, authenticating or answering. Its injection queue is polled
/// on every scheduling tick so a newly arrived call waits behind at most one
/// epoch slice of each busy worker, not behind a worker's whole local queue.
pub fn build_guest_runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .thread_name("magflock-guest")
        .global_queue_interval(1)
        // Host calls made by guests (the key-value store's database
        // connections, which the pool may open from here) need I/O and time.
        .enable_all()
        .build()
}

/// Settings every engine of the host shares, whatever allocates its instances.
fn base_config(limits: &EngineLimits) -> Config {
    let mut config = Config::new();
    // Fuel gives every invocation a deterministic instruction budget: the same
    // counted loop traps at the same point on every run and every machine.
    config.consume_fuel(true);
    // Epochs give the wall-clock deadline: a ticker thread bumps the epoch and
    // each store's callback decides whether to yield or to stop the guest.
    config.epoch_interruption(true);
    // Unbounded guest recursion must trap cleanly, long before the host's own
    // stack is at risk. Async fibers get a stack this large plus headroom for
    // host calls.
    config.max_wasm_stack(limits.max_wasm_stack);
    config.async_stack_size(limits.max_wasm_stack + 1024 * 1024);
    // No threads or shared memory for guests: the `threads` feature of
    // wasmtime is not compiled in at all.
    config
}

/// Builds the engine that checks untrusted components for the registry
/// (`component_check.rs`): the same settings as the serving engine, so a
/// component accepted there is accepted here, but instances are allocated on
/// demand. The check never instantiates, and a pool's up-front address-space
/// reservation would not fit under the check worker's memory cap.
pub fn build_check_engine(limits: &EngineLimits) -> wasmtime::Result<Engine> {
    let mut config = base_config(limits);
    // The check worker runs under an address-space cap. Parallel compilation
    // would start a thread pool first, and a thread whose stack does not fit
    // under the cap makes the pool panic; compiling on the worker's own
    // thread, running out of memory is an allocation failure the worker
    // reports as one. Its CPU-time cap counts every thread anyway.
    config.parallel_compilation(false);
    Engine::new(&config)
}

/// Builds the host's engine.
pub fn build_engine(limits: &EngineLimits) -> wasmtime::Result<Engine> {
    let mut config = base_config(limits);
    // Fresh instance per invocation makes instantiation the hot path; the
    // pooling allocator keeps it to microseconds by reusing pre-reserved
    // slots (and copy-on-write memory images) instead of mmap per call.
    let mut pool = PoolingAllocationConfig::new();
    let slots = limits.pool_instances.max(1);
    pool.total_component_instances(slots);
    // A component compiled from Rust has a handful of core instances (the
    // program, shims, fixups); leave room for larger toolchains' output.
    pool.total_core_instances(slots.saturating_mul(8));
    pool.max_core_instances_per_component(32);
    pool.total_memories(slots.saturating_mul(2));
    pool.max_memories_per_component(4);
    pool.total_tables(slots.saturating_mul(8));
    pool.max_tables_per_component(16);
    pool.total_stacks(slots);
    pool.max_memory_size(usize::try_from(limits.max_memory_bytes).unwrap_or(usize::MAX));
    // Resetting a slot's memory for its next instance is a large part of
    // every call (docs/BENCHMARKS.md). With PAGEMAP_SCAN (Linux 6.7+; `Auto`
    // turns it off elsewhere) only the pages a call dirtied are reset, so
    // keeping up to 1 MiB resident per slot is cheap and avoids both the
    // `madvise` decommit (with its TLB shootdowns) and the page faults of
    // the next call.
    pool.pagemap_scan(wasmtime::Enabled::Auto);
    pool.linear_memory_keep_resident(1024 * 1024);
    pool.table_keep_resident(64 * 1024);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on its own OS thread, so
/// that deadlines fire even when every async worker is busy running guests.
/// It ticks while a store is alive ([`EpochTicker::ticking`]) and parks once
/// none has been for [`IDLE_TICKS_BEFORE_PARKING`] ticks: an idle host does
/// not wake a thousand times a second.
pub struct EpochTicker {
    active: Arc<Active>,
    /// Unparked by the first store after an idle spell, and at shutdown.
    thread: Option<JoinHandle<()>>,
}

/// What the ticker thread and the stores share.
#[derive(Default)]
struct Active {
    stores: AtomicUsize,
    /// The ticker is parked, or about to park.
    parked: AtomicBool,
    stop: AtomicBool,
    /// Epochs advanced so far.
    ticks: AtomicU64,
}

/// How long an idle ticker sleeps before it looks again without being
/// woken: a bound on a missed wake-up, never the normal path.
const IDLE_RECHECK: Duration = Duration::from_millis(100);

/// Ticks with no store alive before the ticker parks: under load stores
/// come and go between ticks, and parking then would cost a wake-up per
/// request; after 100 ms without any, the host is idle.
const IDLE_TICKS_BEFORE_PARKING: u32 = 100;

/// Held by a store for as long as it lives: while any is held, the epoch
/// advances. Every guest runs in a store, so every guest is under its
/// deadline.
pub struct Ticking(Arc<Active>);

impl Drop for Ticking {
    fn drop(&mut self) {
        self.0.stores.fetch_sub(1, Ordering::AcqRel);
    }
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let active = Arc::new(Active::default());
        let weak = engine.weak();
        let seen = active.clone();
        let thread = std::thread::Builder::new().name("magflock-epoch".into()).spawn(move || {
            // Idle from the start: parked until the first store.
            let mut idle = IDLE_TICKS_BEFORE_PARKING;
            while !seen.stop.load(Ordering::Relaxed) {
                if seen.stores.load(Ordering::SeqCst) == 0 {
                    idle = idle.saturating_add(1);
                } else {
                    idle = 0;
                }
                if idle >= IDLE_TICKS_BEFORE_PARKING {
                    // Announce the park, then look again: a store created
                    // after that look sees `parked` and unparks the thread
                    // (an unpark before the park makes it return at once).
                    seen.parked.store(true, Ordering::SeqCst);
                    if seen.stores.load(Ordering::SeqCst) == 0 {
                        std::thread::park_timeout(IDLE_RECHECK);
                    }
                    seen.parked.store(false, Ordering::SeqCst);
                    // Still idle unless a store came: then the next look
                    // resets the count and ticking resumes.
                    continue;
                }
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
                seen.ticks.fetch_add(1, Ordering::Relaxed);
            }
        })?;
        Ok(Self { active, thread: Some(thread) })
    }

    /// Keeps the epoch advancing until the returned value is dropped; each
    /// store holds one.
    pub fn ticking(&self) -> Ticking {
        self.active.stores.fetch_add(1, Ordering::SeqCst);
        if self.active.parked.load(Ordering::SeqCst)
            && let Some(t) = &self.thread
        {
            t.thread().unpark();
        }
        Ticking(self.active.clone())
    }

    /// Epochs advanced since the ticker started.
    pub fn ticks(&self) -> u64 {
        self.active.ticks.load(Ordering::Relaxed)
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.active.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits until `f` holds, up to 10 s.
    fn eventually(f: impl Fn() -> bool) -> bool {
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < until {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn the_epoch_advances_while_a_store_is_alive_and_stops_when_idle() {
        let engine = build_check_engine(&EngineLimits::default()).unwrap();
        let ticker = EpochTicker::start(&engine).unwrap();
        std::thread::sleep(EPOCH_TICK * 20);
        assert_eq!(ticker.ticks(), 0, "an idle host ticked");

        let one = ticker.ticking();
        let two = ticker.ticking();
        assert!(eventually(|| ticker.ticks() >= 3), "no ticks while stores were alive");
        drop(one);
        let before = ticker.ticks();
        assert!(eventually(|| ticker.ticks() >= before + 3), "one store left alive stopped the ticks");

        drop(two);
        // With no store alive it ticks on for a while, then parks.
        let stopped = || {
            let a = ticker.ticks();
            std::thread::sleep(EPOCH_TICK * 20);
            ticker.ticks() <= a + 1
        };
        assert!(eventually(stopped), "the ticker kept ticking with no store alive");
        let after = ticker.ticks();

        // And it wakes again for the next store.
        let _again = ticker.ticking();
        assert!(eventually(|| ticker.ticks() > after + 1), "the ticker did not wake for a new store");
    }
}
