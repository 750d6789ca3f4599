//! State shared by every connection of one server: topics, publisher, counters.

use crate::ServerConfig;
use crate::body::PushProgress;
use crate::failure::Failure;
use crate::hub::{Topic, retained_bytes};
use hdrhistogram::Histogram;
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use pushbench_model::new_histogram;
use pushbench_model::protocol::{
    ConnectionCounts, FailureCounter, FailureCounts, LagHistogram, PublisherDoc, QueuedDoc,
    StatsDoc,
};
use pushbench_model::transport::TransportKind;
use pushbench_wire::HEADER_LEN;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed,
    Ordering::Release,
};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{SetOnce, mpsc};
use tokio_util::sync::CancellationToken;

/// `/stats` counts open connections per transport kind and one more slot for the others
/// (control, publish, unknown paths).
const KINDS: usize = TransportKind::ALL.len() + 1;
/// The slot of connections whose first request was not to a push endpoint.
const OTHER: usize = TransportKind::ALL.len();
const UNCLASSIFIED: u8 = u8::MAX;

/// Counters behind `/stats`. Relaxed atomics: each counter is read on its own, and a
/// snapshot a few increments stale is fine for a statistics endpoint.
#[derive(Default)]
pub(crate) struct Stats {
    connections: [AtomicU64; KINDS],
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) messages_published: AtomicU64,
    /// Workloads accepted since the start.
    pub(crate) workloads: AtomicU64,
    pub(crate) messages_written: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    /// Connections open now, whatever their kind; what `max_connections` limits.
    pub(crate) open: AtomicUsize,
    /// Refused connections still being told why (see `lib.rs`'s `reject`).
    pub(crate) rejecting: AtomicUsize,
    failures: [AtomicU64; FailureCounter::ALL.len()],
}

impl Stats {
    /// Counts `messages` handed to a client in `bytes` of body.
    pub(crate) fn wrote(&self, messages: u64, bytes: u64) {
        self.messages_written.fetch_add(messages, Relaxed);
        self.bytes_written.fetch_add(bytes, Relaxed);
    }

    /// Counts a connection ended or refused for `failure`.
    pub(crate) fn failed(&self, failure: &Failure) {
        self.failures[failure.counter() as usize].fetch_add(1, Relaxed);
    }
}

/// The longest a reading of the topic heads as of an instant waits for the publisher to
/// reach it ([`PublisherStats::reached`]). A publisher further behind than this is
/// overloaded, and the phase says so (`/stats` `publisher.behind_us`); the reading then
/// counts what was published by the time it gave up.
pub(crate) const HEADS_WAIT: Duration = Duration::from_secs(2);

/// How the current workload's publisher keeps to its schedule, and the most that was queued
/// for subscribers: the `publisher` and `queued` objects of `/stats`. Reset by each
/// workload.
pub(crate) struct PublisherStats {
    /// Ticks published.
    ticks: AtomicU64,
    /// When the next tick is due, on the shared clock; 0 while no publisher runs.
    pub(crate) next_due_ns: AtomicU64,
    /// Every tick's lag, µs. Locked once per tick by the publisher and per `/stats` by the
    /// reader: never contended for long.
    lag_us: Mutex<Histogram<u64>>,
    /// The most bytes queued at any tick.
    peak_queued_bytes: AtomicU64,
    /// Bytes of one message's envelope in this workload (34 and the payload).
    message_bytes: AtomicU64,
}

impl Default for PublisherStats {
    fn default() -> Self {
        PublisherStats {
            ticks: AtomicU64::new(0),
            next_due_ns: AtomicU64::new(0),
            lag_us: Mutex::new(new_histogram()),
            peak_queued_bytes: AtomicU64::new(0),
            message_bytes: AtomicU64::new(HEADER_LEN as u64),
        }
    }
}

impl PublisherStats {
    /// Ticks published since the workload was set.
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks.load(Relaxed)
    }

    /// Waits until the publisher has published every tick due at or before `at` (ns on the
    /// shared clock), or runs no more, for at most [`HEADS_WAIT`]. A reading of the topic
    /// heads as of `at` ([`AppState::stats_doc_at`]) must count a tick due by then that a
    /// busy publisher thread has not yet put out: the load generator reads the heads at a
    /// window's edge the moment it passes, and would otherwise count one tick too few.
    pub(crate) async fn reached(&self, at: u64) {
        let deadline = tokio::time::Instant::now() + HEADS_WAIT;
        loop {
            // Stored by the publisher after the tick before it is in every topic (Release).
            let due = self.next_due_ns.load(Acquire);
            if due == 0 || due > at || tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Starts over for a workload of messages with `payload_bytes` payloads whose first
    /// tick is due at `first_due_ns` (`None`: nothing scheduled). Set here, before the
    /// publisher's thread starts, so that a reading as of an instant made meanwhile waits
    /// for that thread ([`PublisherStats::reached`]) instead of taking 0 for no publisher.
    pub(crate) fn reset(&self, payload_bytes: u64, first_due_ns: Option<u64>) {
        self.ticks.store(0, Relaxed);
        self.next_due_ns.store(first_due_ns.unwrap_or(0), Release);
        self.lag_us
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reset();
        self.peak_queued_bytes.store(0, Relaxed);
        self.message_bytes
            .store(HEADER_LEN as u64 + payload_bytes, Relaxed);
    }

    /// Records a tick published `lag_us` late into `topics`, and what is queued right after
    /// it, when the queue is at its largest.
    pub(crate) fn published(&self, lag_us: u64, topics: &[Arc<Topic>]) {
        self.ticks.fetch_add(1, Relaxed);
        let mut h = self.lag_us.lock().unwrap_or_else(|e| e.into_inner());
        // Auto-resizing: a lag beyond the histogram's range widens it instead of failing.
        let _ = h.record(lag_us.max(1));
        drop(h);
        self.peak_queued_bytes
            .fetch_max(self.queued_bytes(topics), Relaxed);
    }

    /// Bytes queued for the push subscribers of `topics` now.
    fn queued_bytes(&self, topics: &[Arc<Topic>]) -> u64 {
        let messages: u64 = topics.iter().map(|t| t.queued_messages()).sum();
        messages.saturating_mul(self.message_bytes.load(Relaxed))
    }

    fn docs(&self, topics: &[Arc<Topic>]) -> (PublisherDoc, QueuedDoc) {
        let due = self.next_due_ns.load(Relaxed);
        let behind_ns = if due == 0 {
            0
        } else {
            pushbench_wire::now_ns().saturating_sub(due)
        };
        let lag = self
            .lag_us
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let bytes = self.queued_bytes(topics);
        let queued = QueuedDoc {
            bytes,
            peak_bytes: self.peak_queued_bytes.load(Relaxed).max(bytes),
        };
        let publisher = PublisherDoc {
            ticks: self.ticks.load(Relaxed),
            behind_us: behind_ns / 1_000,
            lag_us: LagHistogram(lag),
        };
        (publisher, queued)
    }
}

/// The publisher of the current workload, if one runs.
pub(crate) struct Publisher {
    pub(crate) stop: CancellationToken,
    /// The publisher's [`crate::publisher::Schedule::stop_at_ns`].
    pub(crate) stop_at_ns: Arc<std::sync::atomic::AtomicU64>,
    /// Its schedule's start and rate: when its last tick was due.
    pub(crate) start_ns: u64,
    pub(crate) rate: f64,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

/// Everything the handlers share; one per `serve_with` call, so two servers in one process
/// (as in tests) never see each other.
pub(crate) struct AppState {
    pub(crate) config: ServerConfig,
    /// Different for every server started: a load generator that sees it change in `/stats`
    /// knows the server restarted, and that its sequence numbers started over.
    instance: u64,
    /// `config.max_lag`, clamped below the ring capacity: a connection further behind than
    /// the ring holds would already have lost messages without being told.
    pub(crate) max_lag: u64,
    /// The HTTP/1 settings every connection is served with.
    pub(crate) http: http1::Builder,
    /// Swapped wholesale by `/control/workload`; subscribers keep their own `Arc<Topic>`,
    /// so connections of an earlier workload keep working on the old topics.
    topics: RwLock<Arc<[Arc<Topic>]>>,
    /// Serialises workload changes, and is held across awaiting the old publisher's end.
    pub(crate) publisher: tokio::sync::Mutex<Option<Publisher>>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) stats: Stats,
    pub(crate) publisher_stats: PublisherStats,
    /// The workload's extra answer fields, built once when the workload is set; answers
    /// take a reference-counted clone of each name and value.
    response_headers: RwLock<Option<Arc<HeaderMap>>>,
    /// Whether `response_headers` holds any, so that answers of a workload without them do
    /// not even take the lock.
    has_response_headers: AtomicBool,
}

impl AppState {
    pub(crate) fn new(config: ServerConfig, shutdown: CancellationToken) -> Self {
        let topics = fresh_topics(1, &config);
        let max_lag = config
            .max_lag
            .min(config.ring_capacity.saturating_sub(1).max(1) as u64);
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .max_header_size(config.max_header_bytes)
            // Also caps what hyper queues for a client that does not read, so a stalled
            // stream holds little before the body stops being polled. 8 KiB is hyper's floor.
            .max_buf_size(config.max_header_bytes.max(8192));
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        AppState {
            instance: (since_epoch.as_nanos() as u64) ^ (u64::from(std::process::id()) << 40),
            max_lag,
            http,
            config,
            topics: RwLock::new(topics),
            publisher: tokio::sync::Mutex::new(None),
            shutdown,
            stats: Stats::default(),
            publisher_stats: PublisherStats::default(),
            response_headers: RwLock::new(None),
            has_response_headers: AtomicBool::new(false),
        }
    }

    /// Sets the fields every answer of a push endpoint gets from now on (none: `None` or
    /// an empty map).
    pub(crate) fn set_response_headers(&self, headers: Option<HeaderMap>) {
        let headers = headers.filter(|h| !h.is_empty()).map(Arc::new);
        let some = headers.is_some();
        *self
            .response_headers
            .write()
            .unwrap_or_else(|e| e.into_inner()) = headers;
        self.has_response_headers.store(some, Relaxed);
    }

    /// Adds the workload's extra fields to an answer's head. A configured field replaces
    /// the endpoint's own field of that name (SSE's Cache-Control is the only one that can
    /// meet one: Content-Type and the handshake's fields are refused by `check_fields`).
    pub(crate) fn add_response_headers(&self, headers: &mut HeaderMap) {
        if !self.has_response_headers.load(Relaxed) {
            return;
        }
        let extra = self
            .response_headers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(extra) = extra else { return };
        headers.reserve(extra.len());
        for name in extra.keys() {
            headers.remove(name);
        }
        for (name, value) in extra.iter() {
            headers.append(name.clone(), value.clone());
        }
    }

    /// The current workload's topics.
    pub(crate) fn topics(&self) -> Arc<[Arc<Topic>]> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces every topic with `n` fresh, empty ones and returns them.
    pub(crate) fn replace_topics(&self, n: usize) -> Arc<[Arc<Topic>]> {
        let fresh = fresh_topics(n, &self.config);
        *self.topics.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        fresh
    }

    /// `/stats`, with the topic heads as they were at `heads_at` (ns on the shared clock)
    /// when given ([`crate::hub::Topic::head_at`]), as they are now otherwise.
    pub(crate) fn stats_doc_at(&self, heads_at: Option<u64>) -> StatsDoc {
        let s = &self.stats;
        let c = |i: usize| s.connections[i].load(Relaxed);
        let pushbench_wire::process::MemoryUsage {
            rss_bytes,
            peak_rss_bytes,
        } = pushbench_wire::process::memory();
        let topics = self.topics();
        let (publisher, queued) = self.publisher_stats.docs(&topics);
        StatsDoc {
            instance: self.instance,
            workloads: s.workloads.load(Relaxed),
            connections: ConnectionCounts {
                by_kind: std::array::from_fn(c),
                other: c(OTHER),
            },
            connections_accepted: s.connections_accepted.load(Relaxed),
            messages_published: s.messages_published.load(Relaxed),
            messages_written: s.messages_written.load(Relaxed),
            bytes_written: s.bytes_written.load(Relaxed),
            topic_heads: topics
                .iter()
                .map(|t| heads_at.map_or_else(|| t.head(), |at| t.head_at(at)))
                .collect(),
            heads_at_ns: heads_at,
            cpu_seconds: pushbench_wire::process::cpu_seconds(),
            rss_bytes,
            peak_rss_bytes,
            accept_errors: s.accept_errors.load(Relaxed),
            connections_open: s.open.load(Relaxed),
            failures: FailureCounts(std::array::from_fn(|i| s.failures[i].load(Relaxed))),
            publisher: Some(publisher),
            queued: Some(queued),
        }
    }
}

/// Hands the heap memory that nothing uses any more back to the kernel. A new workload
/// starts a benchmark phase, whose peak RSS is compared with the server's idle RSS; glibc's
/// malloc keeps what the previous phase's connections freed, spread over its per-thread
/// arenas, and reuses only part of it, so each phase would be charged for the leftovers of
/// the ones before it (measured: up to 11 KB per connection in the fifth phase of
/// scenarios/scale-10k.toml). Does nothing where the C library is not glibc.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only gives free heap pages back to the kernel; memory in use is
    // not touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The largest payload each of `topics` topics may retain messages of, so that every ring
/// full of such messages stays within `max_retained_bytes`; None when not even empty
/// payloads fit.
pub(crate) fn payload_budget(config: &ServerConfig, topics: u64) -> Option<u64> {
    let per_message = config
        .max_retained_bytes
        .checked_div(topics.checked_mul(config.ring_capacity as u64)?)?;
    let fixed = retained_bytes(0);
    // retained_bytes grows by two bytes per payload byte: one in each encoding.
    per_message.checked_sub(fixed).map(|spare| spare / 2)
}

fn fresh_topics(n: usize, config: &ServerConfig) -> Arc<[Arc<Topic>]> {
    // serve_with and /control/workload only let through topic counts that fit.
    let budget = payload_budget(config, n as u64).unwrap_or(0);
    let max_payload = usize::try_from(budget).unwrap_or(usize::MAX);
    (0..n)
        .map(|_| Arc::new(Topic::new(config.ring_capacity, max_payload)))
        .collect()
}

/// One open client connection. Shared (in an `Arc`) by the connection task, its request
/// handlers and, after an upgrade, the WebSocket task; the last one to let go closes the
/// books on the connection.
pub(crate) struct ConnSlot {
    state: Arc<AppState>,
    kind: AtomicU8,
    /// Set when the connection starts a `/stream` or `/sse` body; the connection task
    /// watches it for stalls (hyper stops polling a body whose client does not read, so the
    /// body itself cannot notice).
    push: SetOnce<Arc<PushProgress>>,
    /// Never sent on: `serve_with` waits for every clone to be dropped to know that all
    /// connections have ended.
    _alive: mpsc::Sender<()>,
}

impl ConnSlot {
    /// Counts the connection as open until the slot is dropped.
    pub(crate) fn new(state: Arc<AppState>, alive: mpsc::Sender<()>) -> Self {
        state.stats.open.fetch_add(1, Relaxed);
        ConnSlot {
            state,
            kind: AtomicU8::new(UNCLASSIFIED),
            push: SetOnce::new(),
            _alive: alive,
        }
    }

    /// Registers the connection's push body for the stall watchdog.
    pub(crate) fn pushing(&self, progress: Arc<PushProgress>) {
        // One push body per connection: it only ends with the connection.
        let _ = self.push.set(progress);
    }

    /// Completes when the connection's push body has had messages waiting and sent none of
    /// them for `limit`; pending forever on connections that never push.
    pub(crate) async fn stalled(&self, limit: Duration) -> Failure {
        let progress = self.push.wait().await;
        // Checked twice per `limit`: a stall is seen between `limit` and 1.5 × `limit`
        // after it began, for one cheap timer wake-up per connection every `limit / 2`.
        let mut tick = tokio::time::interval((limit / 2).max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The delivered cursor and when it was first seen with messages waiting behind it.
        let mut stuck: Option<(u64, tokio::time::Instant)> = None;
        loop {
            // The scheduled tick time, not the wake-up time, so that two ticks `limit` apart
            // measure exactly `limit` however late the task runs.
            let now = tick.tick().await;
            match progress.waiting() {
                Some(delivered) => match stuck {
                    Some((at, since)) if at == delivered => {
                        if now - since >= limit {
                            return Failure::SlowConsumerStall(limit);
                        }
                    }
                    _ => stuck = Some((delivered, now)),
                },
                None => stuck = None,
            }
        }
    }

    /// Counts the connection under `kind` (`None`: other) if this is its first request.
    pub(crate) fn classify(&self, kind: Option<TransportKind>) {
        let slot = kind.map_or(OTHER, |k| k as usize);
        if self
            .kind
            .compare_exchange(UNCLASSIFIED, slot as u8, Relaxed, Relaxed)
            .is_ok()
        {
            self.state.stats.connections[slot].fetch_add(1, Relaxed);
        }
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.state.stats.open.fetch_sub(1, Relaxed);
        let kind = *self.kind.get_mut();
        if kind != UNCLASSIFIED {
            self.state.stats.connections[usize::from(kind)].fetch_sub(1, Relaxed);
        }
    }
}
