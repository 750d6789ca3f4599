//! The phase driver: one transport, one repetition. It sets the server's workload, starts
//! the clients over the ramp-up on worker threads (one single-threaded runtime each, so a
//! worker's clients share its histograms without locks), reads the server's topic heads at
//! both ends of the measured window, and merges what the workers recorded.

use crate::clients::target::TargetClient;
use crate::clients::{Client, ClientPlan, RequestHeads, sleep_until_ns};
use crate::control::Control;
use crate::error::LoadgenError;
use crate::live::{Progress, ProgressSnapshot};
use crate::scenario::{Pattern, Scenario, SweepPoint, TransportPlan};
use crate::shard::WORKLOAD_LEAD;
use crate::stats::{Meter, Window, Worker, WorkerStats, merge_workers};
use crate::ticks::{aligned_start, first_tick_delay};
use pushbench_model::clock::{ClockEstimate, ClockMode};
use pushbench_model::overload::{Evidence, judge};
use pushbench_model::protocol::{FailureCounter, StatsDoc, WorkloadDoc};
use pushbench_model::result::{Counters, KeepingUp, PhaseResult, ProcessUsage};
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
    /// The target the server is, when it is not pushbench's own (`server` is its address).
    pub target: Option<&'a crate::target::TargetRun>,
    /// In a shard run: this shard's phase on the shared plan. `transport` then holds this
    /// shard's share of the clients.
    pub shard: Option<crate::shard::ShardPhase>,
    /// Whether receipts are converted by the clock offset estimated at the phase's start
    /// (it is estimated and recorded either way, against pushbench's own server).
    pub clock: ClockMode,
}

/// Which clients of the phase a load generator runs: numbers `first`, `first + stride`, …,
/// `count` of them, out of the phase's `total` (all of them, unless it is a shard).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Numbering {
    first: u32,
    stride: u32,
    count: u32,
    pub(crate) total: u32,
}

impl Numbering {
    fn of(spec: &PhaseSpec<'_>) -> Numbering {
        let count = spec.transport.clients;
        match &spec.shard {
            Some(s) => Numbering {
                first: s.clock.shard.index - 1,
                stride: s.clock.shard.count,
                count,
                total: s.total_clients,
            },
            None => Numbering {
                first: 0,
                stride: 1,
                count,
                total: count,
            },
        }
    }

    /// The phase-wide number of this load generator's `j`-th client.
    fn number(&self, j: u32) -> u32 {
        self.first + j * self.stride
    }
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
pub const LEAD: Duration = Duration::from_millis(50);

/// Time between the end of the window and the clients closing their connections: enough
/// for messages and answers in flight to arrive, so that every byte sent is counted.
const DRAIN: Duration = Duration::from_millis(300);

/// [`DRAIN`], plus what an emulated link needs for the bytes it still holds to arrive
/// ([`crate::scenario::NetworkPlan::extra_drain`]).
pub(crate) fn drain(sc: &Scenario) -> Duration {
    DRAIN + sc.network.map_or(Duration::ZERO, |n| n.extra_drain())
}

/// Runs one phase and returns what it measured. Cancelling `spec.cancel` ends it early;
/// the result then covers the part of the window that ran.
pub async fn run_phase(spec: PhaseSpec<'_>) -> Result<PhaseResult, LoadgenError> {
    if let Some(target) = spec.target {
        return crate::target::phase::run(spec, target).await;
    }
    let sc = spec.scenario;
    let tp = spec.transport;
    let mut control = Control::with_token(spec.server, spec.control_token);
    let numbering = Numbering::of(&spec);
    let topics = topics_of(sc, numbering.total);
    // Chromium takes a second or more to start: before the window is planned.
    let browser = crate::browser::phase::prepare(&spec, topics).await?;
    // One process estimates the offset first, so the workload can name its tick 0 (below).
    let early = match spec.shard {
        None => Some(estimate_clock(&spec, &mut control).await?),
        Some(_) => None,
    };
    let estimate = early.as_ref().and_then(|(e, _)| e.as_ref());
    let anchor = set_workload(&spec, &mut control, topics, estimate).await?;
    let (clock, offset_ns) = match early {
        Some(found) => found,
        None => estimate_clock(&spec, &mut control).await?,
    };
    let server_before = control.stats().await?;
    let loadgen_before = LoadgenBefore::read();
    let (window, started_unix_s) = match &spec.shard {
        Some(s) => s.window(sc),
        None => plan_window(sc, anchor),
    };
    let workers = match browser {
        Some(b) => b.start(window, offset_ns),
        None => start_workers(&spec, topics, window, None, offset_ns)?,
    };
    // The server's topic heads at the window's edges say how many messages it published
    // inside the window: the deliveries the clients owe.
    let drives = spec.shard.as_ref().is_none_or(|s| s.clock.shard.drives());
    let heads = read_heads(&mut control, window, offset_ns, &spec.cancel, drives).await;
    let stats = join_workers(workers).await?;
    let loadgen = loadgen_before.usage(&spec, window);
    let heads = heads?;
    if heads.is_none() && drives {
        control.stop().await?;
    }
    let server_after = control.stats().await?;
    let readings = heads.iter().flat_map(|(first, last, _)| [first, last]);
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
    if let Some((first, last, _)) = &heads {
        merged.counters.messages_published = published_in_window(first, last, numbering, topics);
    }
    let server = ProcessUsage {
        cpu_s: server_after.cpu_seconds - server_before.cpu_seconds,
        peak_rss_bytes: server_after.peak_rss_bytes,
        idle_rss_bytes: nonzero_or(spec.baseline.server_bytes, server_before.rss_bytes),
    };
    let (keeping_up, evidence) = keeping_up(
        (sc, tp),
        (&server_before, heads.as_ref(), &server_after),
        &merged.counters,
    );
    let measured = Measured {
        window,
        started_unix_s,
        clock: clock.into_iter().collect(),
        merged,
        server,
        loadgen,
        control_bytes: control.bytes,
        keeping_up,
        evidence,
    };
    Ok(measured.result(&spec))
}

/// Topics of a phase of `clients` clients: the scenario's in broadcast, one per client in
/// echo.
pub(crate) fn topics_of(sc: &Scenario, clients: u32) -> u32 {
    match sc.workload.pattern {
        Pattern::Broadcast => sc.workload.topics,
        Pattern::Echo => clients,
    }
}

/// Sets the phase's workload (in a sharded run shard 1 does, at the planned moment, and
/// the others wait for it), naming where its publisher's tick 0 falls when the load
/// generator can say so on the server's clock ([`server_instant`]): then every tick's place
/// against the window is known, clear of its edges ([`first_tick_delay`]), and the window is
/// planned from the workload's moment ([`plan_window`]) instead of from whenever the set-up
/// ended. Returns that moment on the load generator's clock (in a single process; a shard's
/// window follows from its plan, counted from the planned moment).
async fn set_workload(
    spec: &PhaseSpec<'_>,
    control: &mut Control,
    topics: u32,
    estimate: Option<&ClockEstimate>,
) -> Result<Option<u64>, LoadgenError> {
    let doc = workload_doc(spec.scenario, topics);
    let Some(shard) = &spec.shard else {
        let now = now_ns();
        let tick0 = server_instant(spec, now + tick0_delay(spec.scenario, LEAD), estimate);
        control.workload_from(&doc, tick0).await?;
        return Ok(tick0.map(|_| now));
    };
    shard.until_workload(&spec.cancel).await?;
    if shard.clock.shard.drives() {
        let at = shard.workload_at() + tick0_delay(spec.scenario, WORKLOAD_LEAD);
        let tick0 = server_instant(spec, at, estimate);
        control.workload_from(&doc, tick0).await?;
    } else {
        shard.await_workload(control, &spec.cancel).await?;
    }
    Ok(None)
}

/// Instant `t` of the load generator's clock on the server's, when known: through the
/// offset when one is applied, as is on one host (a loopback server reads the same
/// `CLOCK_MONOTONIC`); otherwise `None`.
fn server_instant(spec: &PhaseSpec<'_>, t: u64, estimate: Option<&ClockEstimate>) -> Option<u64> {
    match estimate.filter(|e| e.applied) {
        Some(e) => Some(t.saturating_add_signed(e.offset_ns)),
        None => spec.server.ip().is_loopback().then_some(t),
    }
}

/// [`first_tick_delay`] for `sc`, whose first client starts `lead` after the workload is set.
fn tick0_delay(sc: &Scenario, lead: Duration) -> u64 {
    let to_window = lead + sc.ramp_up + sc.warmup;
    first_tick_delay(sc.workload.server_rate(), to_window, sc.duration)
}

/// The phase's clock offset to the server, estimated once its workload is in place and
/// before its first client connects (its bytes go to the control traffic), and what the
/// clients add to their receipt times: the offset when `spec.clock` asks for it and the
/// server stamps the messages (broadcast), else 0 (in echo each client stamps its own
/// messages, on its own clock). A shard stops exchanging at its phase's planned start. A
/// server without `/clock` (older than it) can only be measured on a clock it shares: no
/// estimate then, and an error if one was asked for.
async fn estimate_clock(
    spec: &PhaseSpec<'_>,
    control: &mut Control,
) -> Result<(Option<ClockEstimate>, i64), LoadgenError> {
    let deadline = spec.shard.as_ref().map(|s| s.clock_deadline());
    let found = crate::clock::estimate(spec.server, crate::clock::EXCHANGES, deadline).await?;
    let Some(found) = found else {
        if spec.clock == ClockMode::Estimate {
            return Err(LoadgenError::Control {
                addr: spec.server,
                request: "GET /clock",
                source: crate::ClientError::Protocol(
                    "404: the server has no /clock (a build older than it), so its clock offset cannot be estimated; on this machine run with --clock-offset none".into(),
                ),
            });
        }
        return Ok((None, 0));
    };
    control.bytes += found.bytes;
    let e = found.estimate;
    let applied =
        spec.clock == ClockMode::Estimate && spec.scenario.workload.pattern == Pattern::Broadcast;
    let estimate = ClockEstimate {
        shard: spec.shard.as_ref().map(|s| s.clock.shard.index),
        offset_ns: e.offset_ns,
        error_ns: e.error_ns,
        exchanges: e.exchanges,
        applied,
    };
    Ok((Some(estimate), if applied { e.offset_ns } else { 0 }))
}

/// What a phase measured, before it becomes a [`PhaseResult`].
pub(crate) struct Measured {
    pub(crate) window: Window,
    pub(crate) started_unix_s: f64,
    /// The clock offset estimated at the phase's start; none against a target.
    pub(crate) clock: Vec<ClockEstimate>,
    pub(crate) merged: WorkerStats,
    pub(crate) server: ProcessUsage,
    pub(crate) loadgen: LoadgenUsage,
    pub(crate) control_bytes: u64,
    /// The server's figures on keeping up, judged in [`Measured::result`] once the load
    /// generator's CPU share is known.
    pub(crate) keeping_up: KeepingUp,
    /// What the judgement looks at, but the load generator's CPU share.
    pub(crate) evidence: Evidence,
}

impl Measured {
    pub(crate) fn result(self, spec: &PhaseSpec<'_>) -> PhaseResult {
        let (sc, tp) = (spec.scenario, spec.transport);
        let (window, merged, loadgen) = (self.window, self.merged, self.loadgen);
        let loadgen_cpu_share = cpu_share(
            loadgen.usage.cpu_s,
            loadgen.ended.saturating_sub(window.phase_start),
        );
        let mut keeping_up = self.keeping_up;
        let evidence = Evidence {
            loadgen_cpu_share,
            ..self.evidence
        };
        keeping_up.judgement = judge(&evidence);
        PhaseResult {
            label: tp.label.clone(),
            transport: tp.kind,
            client: tp.client,
            clock_error_us: merged.clock_error_ns.map(|ns| ns.div_ceil(1000)),
            repetition: spec.repetition,
            sweep: spec.sweep,
            clients: tp.clients,
            connections: sc.connections(tp),
            message_bytes: sc.workload.message_bytes() as u64,
            duration_s: (loadgen.ended.saturating_sub(window.start)) as f64 / 1e9,
            window_offset_s: (window.start - window.phase_start) as f64 / 1e9,
            counters: merged.counters,
            errors: merged.errors,
            latency: merged.latency,
            connect_latency: merged.connect_latency,
            request_latency: merged.request_latency,
            bandwidth: merged.bandwidth,
            seconds: merged.seconds,
            server: self.server,
            loadgen: loadgen.usage,
            loadgen_cpu_share,
            control_bytes: self.control_bytes,
            started_unix_s: self.started_unix_s,
            clock: self.clock,
            keeping_up,
            evidence,
        }
    }
}

/// The load generator's CPU and memory before its clients start.
pub(crate) struct LoadgenBefore {
    /// Its RSS, its peak mark reset.
    rss_bytes: u64,
    /// Its CPU seconds so far.
    cpu_s: f64,
}

/// The load generator's cost over a phase, and when the phase ended.
pub(crate) struct LoadgenUsage {
    usage: ProcessUsage,
    /// The end of the window, or the moment the phase was cut short.
    ended: u64,
}

impl LoadgenBefore {
    pub(crate) fn read() -> LoadgenBefore {
        process::reset_peak_rss();
        LoadgenBefore {
            rss_bytes: process::memory().rss_bytes,
            cpu_s: process::cpu_seconds(),
        }
    }

    /// The cost since [`LoadgenBefore::read`], read once the workers have ended.
    pub(crate) fn usage(&self, spec: &PhaseSpec<'_>, window: Window) -> LoadgenUsage {
        let ended = now_ns().min(window.end);
        let mem = process::memory();
        LoadgenUsage {
            usage: ProcessUsage {
                cpu_s: process::cpu_seconds() - self.cpu_s,
                peak_rss_bytes: mem.peak_rss_bytes,
                idle_rss_bytes: nonzero_or(spec.baseline.loadgen_bytes, self.rss_bytes),
            },
            ended,
        }
    }
}

/// `cpu_s` as a share of all this process's cores over `wall_ns`.
fn cpu_share(cpu_s: f64, wall_ns: u64) -> f64 {
    let wall_s = wall_ns as f64 / 1e9;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if wall_s > 0.0 {
        cpu_s / (wall_s * cores)
    } else {
        0.0
    }
}

/// The server's readings at the window's edges, and how long after the window's end the
/// last one was answered, ns.
type Heads = (StatsDoc, StatsDoc, u64);

/// What the phase learnt about the server keeping up, and what the judgement
/// ([`pushbench_model::overload`]) will look at. A figure the server did not report stays
/// `None`.
fn keeping_up(
    (sc, tp): (&Scenario, &TransportPlan),
    (before, heads, after): (&StatsDoc, Option<&Heads>, &StatsDoc),
    counters: &Counters,
) -> (KeepingUp, Evidence) {
    let rate = sc.workload.rate;
    let server_publishes = sc.workload.pattern == Pattern::Broadcast && rate > 0.0;
    let edges = heads.and_then(|(first, last, late)| {
        Some((first.publisher.as_ref()?, last.publisher.as_ref()?, *late))
    });
    let publisher_lag = edges.map(|(a, b, _)| {
        let mut h = b.lag_us.0.clone();
        // The later reading holds every tick the earlier one does (one workload): what
        // remains is the window's ticks.
        let _ = h.subtract(&a.lag_us.0);
        h
    });
    let fell = edges.map(|(a, b, _)| b.behind_us.saturating_sub(a.behind_us));
    // Ticks the last reading of the heads may count past the window's end.
    let late_ticks = heads.map_or(0, |(_, _, late)| (*late as f64 / 1e9 * rate).ceil() as u64);
    let per_poll = match tp.kind {
        crate::scenario::TransportKind::Poll => (rate * tp.interval.as_secs_f64()).ceil() as u64,
        _ => 1,
    };
    let evidence = Evidence {
        period_us: server_publishes.then(|| 1e6 / rate),
        publisher_fell_behind_us: fell,
        // Counted from the heads at the window's edges: unknown without them.
        published: heads.map(|_| counters.messages_published),
        delivered: counters.messages_delivered,
        burst: u64::from(tp.clients).saturating_mul(per_poll.max(1)),
        late_ticks,
        slow_consumer_disconnects: Some(
            after
                .failures
                .get(FailureCounter::SlowConsumerDisconnects)
                .saturating_sub(before.failures.get(FailureCounter::SlowConsumerDisconnects)),
        ),
        loadgen_cpu_share: 0.0,
    };
    let keeping_up = KeepingUp {
        publisher_lag: publisher_lag.filter(|_| server_publishes),
        publisher_fell_behind_us: fell.filter(|_| server_publishes),
        peak_queued_bytes: heads.and_then(|(_, last, _)| last.queued.map(|q| q.peak_bytes)),
        judgement: Default::default(),
    };
    (keeping_up, evidence)
}

/// The workload the server is set to: `topics` topics, published by the server itself in
/// broadcast, by the clients in echo.
fn workload_doc(sc: &Scenario, topics: u32) -> WorkloadDoc {
    let w = sc.workload;
    WorkloadDoc {
        topics: u64::from(topics),
        rate: w.server_rate().unwrap_or(0.0),
        payload_bytes: w.payload_bytes as u64,
        response_headers: sc.http.responses.clone(),
    }
}

/// When the phase's clients start, its window opens and closes, and the clients close, on
/// the shared clock; and the phase start in UNIX seconds, for the histogram logs. `anchor`:
/// the moment the workload was set, when its tick 0 was named from it ([`set_workload`]);
/// the phase then keeps its place among the ticks ([`aligned_start`]).
pub(crate) fn plan_window(sc: &Scenario, anchor: Option<u64>) -> (Window, f64) {
    // The phase start on both clocks: monotonic for measuring, UNIX time for the logs.
    let (now_unix, now_mono) = (SystemTime::now(), now_ns());
    let phase_start = match anchor {
        Some(set_at) => aligned_start(sc.workload.server_rate(), set_at, LEAD, now_mono),
        None => now_mono + LEAD.as_nanos() as u64,
    };
    let started_unix_s = now_unix
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
        + (phase_start - now_mono) as f64 / 1e9;
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
pub(crate) fn start_workers(
    spec: &PhaseSpec<'_>,
    topics: u32,
    window: Window,
    target: Option<Arc<TargetClient>>,
    offset_ns: i64,
) -> Result<Vec<JoinHandle<Result<WorkerStats, LoadgenError>>>, LoadgenError> {
    let (sc, tp) = (spec.scenario, spec.transport);
    let threads = sc.loadgen_threads.min(tp.clients as usize).max(1);
    let numbering = Numbering::of(spec);
    let seed = ClientPlanSeed {
        addr: spec.server,
        heads: Arc::new(RequestHeads::new(spec.server, &sc.http)),
        kind: tp.kind,
        interval: tp.interval,
        schedule: tp.schedule,
        longpoll_timeout: tp.timeout,
        pattern: sc.workload.pattern,
        rate: sc.workload.rate,
        closed_loop: sc.workload.closed_loop,
        payload_bytes: sc.workload.payload_bytes,
        backoff: sc.reconnect_backoff,
        // Phase-wide, so that every client gets the source address it has in a single process.
        connections: u64::from(numbering.total)
            * tp.kind.connections_per_client(sc.workload.pattern),
        network: sc.network,
        target,
    };
    spec.progress.clear();
    let mut handles = Vec::with_capacity(threads);
    for worker in 0..threads {
        let w = WorkerSpec {
            worker,
            threads,
            clients: numbering,
            topics,
            ramp_ns: sc.ramp_up.as_nanos() as u64,
            window,
            offset_ns,
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
/// then. The heads are asked for as of each edge (on the server's clock: `offset_ns`
/// added), so a reading answered late counts no tick past its edge; from a server that
/// predates that, the third part is how late the last reading was, in which ticks may
/// have been counted past the window's end.
async fn read_heads(
    control: &mut Control,
    window: Window,
    offset_ns: i64,
    cancel: &CancellationToken,
    stop: bool,
) -> Result<Option<Heads>, LoadgenError> {
    let on_server = |t: u64| t.saturating_add_signed(offset_ns);
    tokio::select! {
        _ = sleep_until_ns(window.start) => {}
        _ = cancel.cancelled() => return Ok(None),
    }
    let first = control.stats_at(on_server(window.start)).await?;
    tokio::select! {
        _ = sleep_until_ns(window.end) => {}
        _ = cancel.cancelled() => {}
    }
    let asked = now_ns();
    let end = asked.min(window.end);
    let last = control.stats_at(on_server(end)).await?;
    let late = match last.heads_at_ns {
        Some(_) => 0,
        None => now_ns().saturating_sub(end),
    };
    if stop {
        control.stop().await?;
    }
    Ok(Some((first, last, late)))
}

/// Waits for the workers, off the async thread.
pub(crate) async fn join_workers(
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

pub(crate) fn nonzero_or(v: u64, fallback: u64) -> u64 {
    if v == 0 { fallback } else { v }
}

/// Client `i` subscribes to topic `i mod topics` (broadcast) or to topic `i` (echo).
pub(crate) fn topic_of(i: u32, topics: u32) -> u32 {
    i % topics
}

fn published_in_window(first: &StatsDoc, last: &StatsDoc, clients: Numbering, topics: u32) -> u64 {
    let per_topic = |t: usize| {
        let a = first.topic_heads.get(t).copied().unwrap_or(0);
        let b = last.topic_heads.get(t).copied().unwrap_or(0);
        b.saturating_sub(a)
    };
    (0..clients.count)
        .map(|j| per_topic(topic_of(clients.number(j), topics) as usize))
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
            closed_loop: self.closed_loop,
            payload: pushbench_wire::filler_payload(self.payload_bytes),
            backoff: self.backoff,
            network: self.network,
            target: self.target.clone(),
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
    closed_loop: bool,
    payload_bytes: usize,
    backoff: Duration,
    /// Connections the whole phase opens at once.
    connections: u64,
    network: Option<crate::scenario::NetworkPlan>,
    /// How the clients subscribe to a target, when the server is one.
    target: Option<Arc<TargetClient>>,
}

/// What one worker thread runs: its share of the phase's clients.
struct WorkerSpec {
    /// This worker's number, from 0.
    worker: usize,
    /// Workers of the phase: this one runs the load generator's clients `worker`,
    /// `worker + threads`, …
    threads: usize,
    clients: Numbering,
    topics: u32,
    /// The ramp-up the clients' starts are spread over, ns.
    ramp_ns: u64,
    window: Window,
    /// What the clients add to their receipt times ([`Worker::offset_ns`]).
    offset_ns: i64,
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
        offset_ns: w.offset_ns,
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
    // Spread over the whole phase's clients, so that a shard's clients start when they
    // would in a single process.
    let step = w.ramp_ns / u64::from(w.clients.total);
    let window = w.window;
    let mut running = Vec::with_capacity((w.clients.count as usize).div_ceil(w.threads));
    for j in (w.worker as u32..w.clients.count).step_by(w.threads) {
        let i = w.clients.number(j);
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
