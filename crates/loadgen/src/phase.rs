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
use std::time::{Duration, SystemTime, UNIX_EPOCH};
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
    let w = sc.workload;
    let mut control = Control::with_token(spec.server, spec.control_token);
    let topics = match w.pattern {
        Pattern::Broadcast => w.topics,
        Pattern::Echo => tp.clients,
    };
    let server_rate = match w.pattern {
        Pattern::Broadcast => w.rate,
        Pattern::Echo => 0.0,
    };
    control
        .workload(&WorkloadDoc {
            topics: u64::from(topics),
            rate: server_rate,
            payload_bytes: w.payload_bytes as u64,
            response_headers: sc.http.responses.clone(),
        })
        .await?;
    let server_before = control.stats().await?;
    process::reset_peak_rss();
    let loadgen_idle = process::memory().rss_bytes;
    let cpu_before = process::cpu_seconds();
    // The phase start on both clocks: monotonic for measuring, UNIX time for the logs.
    let (now_unix, now_mono) = (SystemTime::now(), now_ns());
    let phase_start = now_mono + LEAD.as_nanos() as u64;
    let started_unix_s = now_unix
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
        + LEAD.as_secs_f64();
    let window_start = phase_start + (sc.ramp_up + sc.warmup).as_nanos() as u64;
    let window_end = window_start + sc.duration.as_nanos() as u64;
    let window = Window {
        phase_start,
        start: window_start,
        end: window_end,
        close: window_end + drain(sc).as_nanos() as u64,
    };
    let plan = ClientPlanSeed {
        addr: spec.server,
        heads: Arc::new(RequestHeads::new(spec.server, &sc.http)),
        kind: tp.kind,
        interval: tp.interval,
        schedule: tp.schedule,
        longpoll_timeout: tp.timeout,
        pattern: w.pattern,
        rate: w.rate,
        payload_bytes: w.payload_bytes,
        backoff: sc.reconnect_backoff,
        connections: sc.connections(tp),
        network: sc.network,
    };
    let threads = sc.loadgen_threads.min(tp.clients as usize).max(1);
    let ramp_ns = sc.ramp_up.as_nanos() as u64;
    spec.progress.clear();
    let mut handles = Vec::with_capacity(threads);
    for worker in 0..threads {
        let cancel = spec.cancel.clone();
        let progress = spec.progress.clone();
        let clients = tp.clients;
        let plan = plan.clone();
        let handle = std::thread::Builder::new()
            .name(format!("pushbench-worker-{worker}"))
            .spawn(move || {
                run_worker(
                    worker, threads, clients, topics, ramp_ns, window, plan, cancel, progress,
                )
            })
            .map_err(|e| LoadgenError::Worker(format!("cannot start a thread: {e}")))?;
        handles.push(handle);
    }

    // The server's topic heads at the window's edges say how many messages it published
    // inside the window: the deliveries the clients owe. A cancelled phase ends its window
    // early, and the second reading is taken then.
    let cancel = spec.cancel.clone();
    let heads = async {
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
        // Stop publishing as the window closes, so the clients' drain ends with nothing left
        // in flight.
        control.stop().await?;
        Ok::<_, LoadgenError>(Some((first, last)))
    }
    .await;
    let parts = tokio::task::spawn_blocking(move || {
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    })
    .await
    .map_err(|e| LoadgenError::Worker(e.to_string()))?;
    let mut stats = Vec::with_capacity(parts.len());
    for p in parts {
        stats.push(p.map_err(|_| LoadgenError::Worker("a worker thread panicked".into()))??);
    }
    let ended = now_ns().min(window.end);
    let loadgen_cpu = process::cpu_seconds() - cpu_before;
    let loadgen_mem = process::memory();
    let heads = heads?;
    if heads.is_none() {
        control.stop().await?;
    }
    let server_after = control.stats().await?;
    let readings = heads.iter().flat_map(|(first, last)| [first, last]);
    if readings
        .chain([&server_after])
        .any(|s| s.instance != server_before.instance)
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
    let wall_s = (ended.saturating_sub(phase_start)) as f64 / 1e9;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let duration_s = (ended.saturating_sub(window.start)) as f64 / 1e9;
    Ok(PhaseResult {
        label: tp.label.clone(),
        transport: tp.kind,
        repetition: spec.repetition,
        sweep: spec.sweep,
        clients: tp.clients,
        connections: sc.connections(tp),
        message_bytes: w.message_bytes() as u64,
        duration_s,
        window_offset_s: (window.start - phase_start) as f64 / 1e9,
        counters: merged.counters,
        errors: merged.errors,
        latency: merged.latency,
        connect_latency: merged.connect_latency,
        request_latency: merged.request_latency,
        bandwidth: merged.bandwidth,
        seconds: merged.seconds,
        server: ProcessUsage {
            cpu_s: server_after.cpu_seconds - server_before.cpu_seconds,
            peak_rss_bytes: server_after.peak_rss_bytes,
            idle_rss_bytes: nonzero_or(spec.baseline.server_bytes, server_before.rss_bytes),
        },
        loadgen: ProcessUsage {
            cpu_s: loadgen_cpu,
            peak_rss_bytes: loadgen_mem.peak_rss_bytes,
            idle_rss_bytes: nonzero_or(spec.baseline.loadgen_bytes, loadgen_idle),
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

#[allow(clippy::too_many_arguments)]
fn run_worker(
    worker: usize,
    threads: usize,
    clients: u32,
    topics: u32,
    ramp_ns: u64,
    window: Window,
    seed: ClientPlanSeed,
    cancel: CancellationToken,
    progress: Arc<Progress>,
) -> Result<WorkerStats, LoadgenError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadgenError::Worker(format!("cannot build a runtime: {e}")))?;
    let shared = Rc::new(Worker {
        stats: RefCell::new(WorkerStats::new(&window)),
        window,
    });
    let plan = Rc::new(ClientPlan {
        addr: seed.addr,
        heads: seed.heads.clone(),
        kind: seed.kind,
        interval: seed.interval,
        schedule: seed.schedule,
        longpoll_timeout: seed.longpoll_timeout,
        pattern: seed.pattern,
        rate: seed.rate,
        payload: pushbench_wire::filler_payload(seed.payload_bytes),
        backoff: seed.backoff,
        network: seed.network,
    });
    let local = tokio::task::LocalSet::new();
    let step = ramp_ns / u64::from(clients);
    for i in (worker as u32..clients).step_by(threads) {
        let client = Client {
            plan: plan.clone(),
            topic: topic_of(i, topics),
            source: source_of(i, seed.addr, seed.connections),
            meter: Meter::new(shared.clone()),
            start_ns: window.phase_start + u64::from(i) * step,
        };
        let cancel = cancel.clone();
        local.spawn_local(async move {
            tokio::select! {
                _ = async { sleep_until_ns(client.start_ns).await; client.run().await } => {}
                _ = sleep_until_ns(window.close) => {}
                _ = cancel.cancelled() => {}
            }
            client.meter.finish();
        });
    }
    let sampler = shared.clone();
    let cancel_sampler = cancel.clone();
    local.spawn_local(async move {
        // Open connections at the end of each second, for the time series (and the live
        // figures); the last sample is taken a little before the window closes, while the
        // clients are still there.
        let n = window.seconds();
        for k in 0..n {
            let at =
                (window.phase_start + (k as u64 + 1) * 1_000_000_000).min(window.end - 5_000_000);
            tokio::select! {
                _ = sleep_until_ns(at) => {}
                _ = cancel_sampler.cancelled() => return,
            }
            let mut s = sampler.stats.borrow_mut();
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
    });
    rt.block_on(local);
    drop(plan);
    let worker = Rc::try_unwrap(shared)
        .map_err(|_| LoadgenError::Worker("client tasks outlived their worker".into()))?;
    Ok(worker.stats.into_inner())
}
