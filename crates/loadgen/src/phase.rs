//! The phase driver: one transport, one repetition. It sets the server's workload, starts
//! the clients over the ramp-up on worker threads (one single-threaded runtime each, so a
//! worker's clients share its histograms without locks), reads the server's topic heads at
//! both ends of the measured window, and merges what the workers recorded.

use crate::clients::{Client, ClientPlan, RequestHeads, sleep_until_ns};
use crate::control::Control;
use crate::error::LoadgenError;
use crate::live::{Progress, ProgressSnapshot};
use crate::scenario::{Pattern, Scenario, SweepPoint, TransportPlan};
use crate::stats::{Meter, Window, Worker, WorkerStats, merge_workers};
use pushbench_model::protocol::{StatsDoc, WorkloadDoc};
use pushbench_model::result::{PhaseResult, ProcessUsage};
use pushbench_wire::{now_ns, process};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::{AbortHandle, LocalSet};
use tokio_util::sync::CancellationToken;

/// What one phase runs.
#[derive(Debug, Clone)]
pub struct PhaseSpec<'a> {
    /// The whole scenario (workload, timings, threads).
    pub scenario: &'a Scenario,
    /// The transport of this phase.
    pub transport: &'a TransportPlan,
    /// Repetition number, from 1.
    pub repetition: u32,
    /// The sweep point `scenario` is the plan of ([`Scenario::points`]), when sweeping.
    pub sweep: Option<SweepPoint>,
    /// The server under test.
    pub server: SocketAddr,
    /// Cancelled to end the phase early.
    pub cancel: CancellationToken,
    /// Where the phase shows its live figures.
    pub progress: Arc<Progress>,
    /// Bearer token for the server's control endpoints, when it requires one.
    pub control_token: Option<&'a str>,
    /// Resident memory of both processes before the run's first phase, the base of the
    /// per-connection memory figures (zero: the phase's own start is used).
    pub baseline: RssBaseline,
}

/// Resident memory of the server and the load generator before any client connected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RssBaseline {
    /// The server's RSS (its `/stats` `rss_bytes`).
    pub server_bytes: u64,
    /// The load generator's RSS.
    pub loadgen_bytes: u64,
}

/// Time between setting the workload and the first client starting, so the first clients
/// do not race the server creating its topics.
const LEAD: Duration = Duration::from_millis(50);

/// Time between the end of the window and the clients closing their connections: enough
/// for messages and answers in flight to arrive, so that every byte sent is counted.
const DRAIN: Duration = Duration::from_millis(300);

/// [`DRAIN`], plus what an emulated link needs for the bytes it still holds to arrive
/// ([`crate::scenario::NetworkPlan::extra_drain`]).
fn drain(sc: &Scenario) -> Duration {
    DRAIN + sc.network.map_or(Duration::ZERO, |n| n.extra_drain())
}

/// Runs one phase and returns what it measured. Cancelling `spec.cancel` ends it early;
/// the result then covers the part of the window that ran.
pub async fn run_phase(spec: PhaseSpec<'_>) -> Result<PhaseResult, LoadgenError> {
    let sc = spec.scenario;
    let tp = spec.transport;
    let mut control = Control::with_token(spec.server, spec.control_token);
    let topics = match sc.workload.pattern {
        Pattern::Broadcast => sc.workload.topics,
        Pattern::Echo => tp.clients,
    };
    control.workload(&workload_doc(sc, topics)).await?;
    let before = Before::read(&mut control).await?;
    let (window, started_unix_s) = plan_window(sc);
    let workers = start_workers(&spec, topics, window)?;
    // The server's topic heads at the window's edges say how many messages it published
    // inside the window: the deliveries the clients owe.
    let heads = read_heads(&mut control, window, &spec.cancel).await;
    let stats = join_workers(workers).await?;
    let ended = now_ns().min(window.end);
    let loadgen_cpu = process::cpu_seconds() - before.cpu_s;
    let loadgen_mem = process::memory();
    let heads = heads?;
    if heads.is_none() {
        control.stop().await?;
    }
    let server_after = control.stats().await?;
    let readings = heads.iter().flat_map(|(first, last)| [first, last]);
    if readings
        .chain([&server_after])
        .any(|s| s.instance != before.server.instance)
    {
        return Err(LoadgenError::ServerRestarted {
            addr: spec.server,
            phase: format!("{} rep {}", tp.label, spec.repetition),
        });
    }
    let mut merged = merge_workers(stats);
    if let Some((first, last)) = &heads {
        merged.counters.messages_published = published_in_window(first, last, tp.clients, topics);
    }
    let wall_s = (ended.saturating_sub(window.phase_start)) as f64 / 1e9;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    Ok(PhaseResult {
        label: tp.label.clone(),
        transport: tp.kind,
        repetition: spec.repetition,
        sweep: spec.sweep,
        clients: tp.clients,
        connections: sc.connections(tp),
        message_bytes: sc.workload.message_bytes() as u64,
        duration_s: (ended.saturating_sub(window.start)) as f64 / 1e9,
        window_offset_s: (window.start - window.phase_start) as f64 / 1e9,
        counters: merged.counters,
        errors: merged.errors,
        latency: merged.latency,
        connect_latency: merged.connect_latency,
        request_latency: merged.request_latency,
        bandwidth: merged.bandwidth,
        seconds: merged.seconds,
        server: ProcessUsage {
            cpu_s: server_after.cpu_seconds - before.server.cpu_seconds,
            peak_rss_bytes: server_after.peak_rss_bytes,
            idle_rss_bytes: nonzero_or(spec.baseline.server_bytes, before.server.rss_bytes),
        },
        loadgen: ProcessUsage {
            cpu_s: loadgen_cpu,
            peak_rss_bytes: loadgen_mem.peak_rss_bytes,
            idle_rss_bytes: nonzero_or(spec.baseline.loadgen_bytes, before.loadgen_rss_bytes),
        },
        loadgen_cpu_share: if wall_s > 0.0 {
            loadgen_cpu / (wall_s * cores)
        } else {
            0.0
        },
        control_bytes: control.bytes,
        started_unix_s,
    })
}

/// The workload the server is set to: `topics` topics, published by the server itself in
/// broadcast, by the clients in echo.
fn workload_doc(sc: &Scenario, topics: u32) -> WorkloadDoc {
    let w = sc.workload;
    WorkloadDoc {
        topics: u64::from(topics),
        rate: match w.pattern {
            Pattern::Broadcast => w.rate,
            Pattern::Echo => 0.0,
        },
        payload_bytes: w.payload_bytes as u64,
        response_headers: sc.http.responses.clone(),
    }
}

/// Both processes before the clients start.
struct Before {
    /// The server's counters.
    server: StatsDoc,
    /// The load generator's RSS, its peak mark reset.
    loadgen_rss_bytes: u64,
    /// The load generator's CPU seconds so far.
    cpu_s: f64,
}

impl Before {
    async fn read(control: &mut Control) -> Result<Before, LoadgenError> {
        let server = control.stats().await?;
        process::reset_peak_rss();
        Ok(Before {
            server,
            loadgen_rss_bytes: process::memory().rss_bytes,
            cpu_s: process::cpu_seconds(),
        })
    }
}

/// When the phase's clients start, its window opens and closes, and the clients close, on
/// the shared clock; and the phase start in UNIX seconds, for the histogram logs.
fn plan_window(sc: &Scenario) -> (Window, f64) {
    // The phase start on both clocks: monotonic for measuring, UNIX time for the logs.
    let (now_unix, now_mono) = (SystemTime::now(), now_ns());
    let phase_start = now_mono + LEAD.as_nanos() as u64;
    let started_unix_s = now_unix
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
        + LEAD.as_secs_f64();
    let start = phase_start + (sc.ramp_up + sc.warmup).as_nanos() as u64;
    let end = start + sc.duration.as_nanos() as u64;
    let window = Window {
        phase_start,
        start,
        end,
        close: end + drain(sc).as_nanos() as u64,
    };
    (window, started_unix_s)
}

/// Starts one worker thread per `loadgen.threads` (at most one per client), each with its
/// share of the clients.
fn start_workers(
    spec: &PhaseSpec<'_>,
    topics: u32,
    window: Window,
) -> Result<Vec<JoinHandle<Result<WorkerStats, LoadgenError>>>, LoadgenError> {
    let (sc, tp) = (spec.scenario, spec.transport);
    let threads = sc.loadgen_threads.min(tp.clients as usize).max(1);
    let seed = ClientPlanSeed {
        addr: spec.server,
        heads: Arc::new(RequestHeads::new(spec.server, &sc.http)),
        kind: tp.kind,
        interval: tp.interval,
        schedule: tp.schedule,
        longpoll_timeout: tp.timeout,
        pattern: sc.workload.pattern,
        rate: sc.workload.rate,
        payload_bytes: sc.workload.payload_bytes,
        backoff: sc.reconnect_backoff,
        connections: sc.connections(tp),
        network: sc.network,
    };
    spec.progress.clear();
    let mut handles = Vec::with_capacity(threads);
    for worker in 0..threads {
        let w = WorkerSpec {
            worker,
            threads,
            clients: tp.clients,
            topics,
            ramp_ns: sc.ramp_up.as_nanos() as u64,
            window,
            seed: seed.clone(),
            cancel: spec.cancel.clone(),
            progress: spec.progress.clone(),
        };
        let handle = std::thread::Builder::new()
            .name(format!("pushbench-worker-{worker}"))
            .spawn(move || run_worker(w))
            .map_err(|e| LoadgenError::Worker(format!("cannot start a thread: {e}")))?;
        handles.push(handle);
    }
    Ok(handles)
}

/// The server's stats at both edges of the window (`None`: cancelled before it opened),
/// then its publisher stopped as the window closes, so the clients' drain ends with nothing
/// left in flight. A cancelled phase ends its window early, and the second reading is taken
/// then.
async fn read_heads(
    control: &mut Control,
    window: Window,
    cancel: &CancellationToken,
) -> Result<Option<(StatsDoc, StatsDoc)>, LoadgenError> {
    tokio::select! {
        _ = sleep_until_ns(window.start) => {}
        _ = cancel.cancelled() => return Ok(None),
    }
    let first = control.stats().await?;
    tokio::select! {
        _ = sleep_until_ns(window.end) => {}
        _ = cancel.cancelled() => {}
    }
    let last = control.stats().await?;
    control.stop().await?;
    Ok(Some((first, last)))
}

/// Waits for the workers, off the async thread.
async fn join_workers(
    handles: Vec<JoinHandle<Result<WorkerStats, LoadgenError>>>,
) -> Result<Vec<WorkerStats>, LoadgenError> {
    let parts = tokio::task::spawn_blocking(move || {
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    })
    .await
    .map_err(|e| LoadgenError::Worker(e.to_string()))?;
    let mut stats = Vec::with_capacity(parts.len());
    for p in parts {
        stats.push(p.map_err(|_| LoadgenError::Worker("a worker thread panicked".into()))??);
    }
    Ok(stats)
}

fn nonzero_or(v: u64, fallback: u64) -> u64 {
    if v == 0 { fallback } else { v }
}

/// Client `i` subscribes to topic `i mod topics` (broadcast) or to topic `i` (echo).
fn topic_of(i: u32, topics: u32) -> u32 {
    i % topics
}

fn published_in_window(first: &StatsDoc, last: &StatsDoc, clients: u32, topics: u32) -> u64 {
    let per_topic = |t: usize| {
        let a = first.topic_heads.get(t).copied().unwrap_or(0);
        let b = last.topic_heads.get(t).copied().unwrap_or(0);
        b.saturating_sub(a)
    };
    (0..clients)
        .map(|i| per_topic(topic_of(i, topics) as usize))
        .sum()
}

/// Connections per loopback source address. A (source, destination) address pair has
/// about 28,000 ephemeral ports (Linux's default range), and connections a phase closed
/// linger in TIME_WAIT, so large phases spread over several source addresses of 127.0.0.0/8.
const CONNECTIONS_PER_SOURCE: u64 = 5_000;

/// Client `i`'s source address: for an IPv4 loopback server and a phase too large for one
/// source address, one of 127.0.0.1, 127.0.0.2, … in turn; otherwise the kernel's choice.
fn source_of(i: u32, server: SocketAddr, connections: u64) -> Option<std::net::IpAddr> {
    let sources = connections.div_ceil(CONNECTIONS_PER_SOURCE).min(250) as u32;
    match server.ip() {
        std::net::IpAddr::V4(ip) if ip.is_loopback() && sources > 1 => {
            Some(std::net::Ipv4Addr::new(127, 0, 0, 1 + (i % sources) as u8).into())
        }
        _ => None,
    }
}

impl ClientPlanSeed {
    /// The plan every client of a worker shares.
    fn plan(&self) -> ClientPlan {
        ClientPlan {
            addr: self.addr,
            heads: self.heads.clone(),
            kind: self.kind,
            interval: self.interval,
            schedule: self.schedule,
            longpoll_timeout: self.longpoll_timeout,
            pattern: self.pattern,
            rate: self.rate,
            payload: pushbench_wire::filler_payload(self.payload_bytes),
            backoff: self.backoff,
            network: self.network,
        }
    }
}

/// The `Send` part of a client plan, turned into an `Rc<ClientPlan>` on each worker.
#[derive(Debug, Clone)]
struct ClientPlanSeed {
    addr: SocketAddr,
    heads: Arc<RequestHeads>,
    kind: crate::scenario::TransportKind,
    interval: Duration,
    schedule: crate::scenario::PollSchedule,
    longpoll_timeout: Duration,
    pattern: Pattern,
    rate: f64,
    payload_bytes: usize,
    backoff: Duration,
    /// Connections the whole phase opens at once.
    connections: u64,
    network: Option<crate::scenario::NetworkPlan>,
}

/// What one worker thread runs: its share of the phase's clients.
struct WorkerSpec {
    /// This worker's number, from 0.
    worker: usize,
    /// Workers of the phase: this one runs clients `worker`, `worker + threads`, …
    threads: usize,
    clients: u32,
    topics: u32,
    /// The ramp-up the clients' starts are spread over, ns.
    ramp_ns: u64,
    window: Window,
    seed: ClientPlanSeed,
    cancel: CancellationToken,
    progress: Arc<Progress>,
}

/// Runs a worker's clients on a single-threaded runtime of its own, so they share its
/// histograms without locks, and returns what they recorded.
fn run_worker(w: WorkerSpec) -> Result<WorkerStats, LoadgenError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadgenError::Worker(format!("cannot build a runtime: {e}")))?;
    let shared = Rc::new(Worker {
        stats: RefCell::new(WorkerStats::new(&w.window)),
        window: w.window,
    });
    let plan = Rc::new(w.seed.plan());
    let local = tokio::task::LocalSet::new();
    spawn_clients(&local, &w, &plan, &shared);
    local.spawn_local(sample(
        shared.clone(),
        w.worker,
        w.window,
        w.cancel,
        w.progress,
    ));
    rt.block_on(local);
    drop(plan);
    let worker = Rc::try_unwrap(shared)
        .map_err(|_| LoadgenError::Worker("client tasks outlived their worker".into()))?;
    Ok(worker.stats.into_inner())
}

/// Starts this worker's clients, spread over the ramp-up, and one task that ends them all
/// at the phase's close or when it is cancelled. One task watches the close for all of
/// them, rather than each client racing its own timer and cancellation future: those would
/// be polled again on every wake-up of every client, for every message received.
fn spawn_clients(local: &LocalSet, w: &WorkerSpec, plan: &Rc<ClientPlan>, shared: &Rc<Worker>) {
    let step = w.ramp_ns / u64::from(w.clients);
    let window = w.window;
    let mut running = Vec::with_capacity((w.clients as usize).div_ceil(w.threads));
    for i in (w.worker as u32..w.clients).step_by(w.threads) {
        let client = Finishing(Client {
            plan: plan.clone(),
            topic: topic_of(i, w.topics),
            source: source_of(i, w.seed.addr, w.seed.connections),
            meter: Meter::new(shared.clone()),
            start_ns: window.phase_start + u64::from(i) * step,
        });
        let task = local.spawn_local(async move {
            sleep_until_ns(client.0.start_ns).await;
            client.0.run().await;
        });
        running.push(task.abort_handle());
    }
    let cancel = w.cancel.clone();
    local.spawn_local(async move {
        tokio::select! {
            _ = sleep_until_ns(window.close) => {}
            _ = cancel.cancelled() => {}
        }
        running.iter().for_each(AbortHandle::abort);
    });
}

/// A client that records its finish when its task ends, run to completion or aborted at
/// the phase's close: dropped after its connection, which the aborted future drops first.
struct Finishing(Client);

impl Drop for Finishing {
    fn drop(&mut self) {
        self.0.meter.finish();
    }
}

/// Samples the open connections at the end of each second, for the time series and the
/// live figures; the last sample is taken a little before the window closes, while the
/// clients are still there.
async fn sample(
    shared: Rc<Worker>,
    worker: usize,
    window: Window,
    cancel: CancellationToken,
    progress: Arc<Progress>,
) {
    for k in 0..window.seconds() {
        let at = (window.phase_start + (k as u64 + 1) * 1_000_000_000).min(window.end - 5_000_000);
        tokio::select! {
            _ = sleep_until_ns(at) => {}
            _ = cancel.cancelled() => return,
        }
        let mut s = shared.stats.borrow_mut();
        let open = s.open_connections;
        s.seconds[k].connections = open;
        let last = &s.seconds[k].latency;
        progress.store(
            worker,
            ProgressSnapshot {
                connected: open,
                received: s.received,
                errors: s.errors.total(),
                p99_us: if last.is_empty() {
                    0
                } else {
                    last.value_at_quantile(0.99)
                },
            },
        );
    }
}
