//! State shared by every connection of one server: topics, publisher, counters.

use crate::ServerConfig;
use crate::hub::Topic;
use serde::Serialize;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The endpoint a connection's first request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnKind {
    Poll = 0,
    LongPoll = 1,
    Stream = 2,
    Sse = 3,
    WebSocket = 4,
    Other = 5,
}

const KINDS: usize = 6;
const UNCLASSIFIED: u8 = u8::MAX;

/// Counters behind `/stats`. Relaxed atomics: each counter is read on its own, and a
/// snapshot a few increments stale is fine for a statistics endpoint.
#[derive(Default)]
pub(crate) struct Stats {
    connections: [AtomicU64; KINDS],
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) messages_published: AtomicU64,
    pub(crate) messages_written: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
}

impl Stats {
    /// Counts `messages` handed to a client in `bytes` of body.
    pub(crate) fn wrote(&self, messages: u64, bytes: u64) {
        self.messages_written.fetch_add(messages, Relaxed);
        self.bytes_written.fetch_add(bytes, Relaxed);
    }
}

/// The `connections` object of `/stats`.
#[derive(Serialize)]
pub(crate) struct ConnectionCounts {
    poll: u64,
    #[serde(rename = "long-poll")]
    long_poll: u64,
    stream: u64,
    sse: u64,
    websocket: u64,
    other: u64,
}

/// The `/stats` document; field names are the contract in docs/protocol.md.
#[derive(Serialize)]
pub(crate) struct StatsDoc {
    connections: ConnectionCounts,
    connections_accepted: u64,
    messages_published: u64,
    messages_written: u64,
    bytes_written: u64,
    topic_heads: Vec<u64>,
    cpu_seconds: f64,
    rss_bytes: u64,
    peak_rss_bytes: u64,
    /// Not in the contract: accept() failures (e.g. EMFILE) the server survived.
    accept_errors: u64,
}

/// The publisher of the current workload, if one runs.
pub(crate) struct Publisher {
    pub(crate) stop: CancellationToken,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

/// Everything the handlers share; one per `serve_with` call, so two servers in one process
/// (as in tests) never see each other.
pub(crate) struct AppState {
    pub(crate) config: ServerConfig,
    /// Swapped wholesale by `/control/workload`; subscribers keep their own `Arc<Topic>`,
    /// so connections of an earlier workload keep working on the old topics.
    topics: RwLock<Arc<[Arc<Topic>]>>,
    /// Serialises workload changes, and is held across awaiting the old publisher's end.
    pub(crate) publisher: tokio::sync::Mutex<Option<Publisher>>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) stats: Stats,
}

impl AppState {
    pub(crate) fn new(config: ServerConfig, shutdown: CancellationToken) -> Self {
        let topics = fresh_topics(1, config.ring_capacity);
        AppState {
            config,
            topics: RwLock::new(topics),
            publisher: tokio::sync::Mutex::new(None),
            shutdown,
            stats: Stats::default(),
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
        let fresh = fresh_topics(n, self.config.ring_capacity);
        *self.topics.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        fresh
    }

    pub(crate) fn stats_doc(&self) -> StatsDoc {
        let s = &self.stats;
        let c = |k: ConnKind| s.connections[k as usize].load(Relaxed);
        let pushbench_wire::process::MemoryUsage {
            rss_bytes,
            peak_rss_bytes,
        } = pushbench_wire::process::memory();
        StatsDoc {
            connections: ConnectionCounts {
                poll: c(ConnKind::Poll),
                long_poll: c(ConnKind::LongPoll),
                stream: c(ConnKind::Stream),
                sse: c(ConnKind::Sse),
                websocket: c(ConnKind::WebSocket),
                other: c(ConnKind::Other),
            },
            connections_accepted: s.connections_accepted.load(Relaxed),
            messages_published: s.messages_published.load(Relaxed),
            messages_written: s.messages_written.load(Relaxed),
            bytes_written: s.bytes_written.load(Relaxed),
            topic_heads: self.topics().iter().map(|t| t.head()).collect(),
            cpu_seconds: pushbench_wire::process::cpu_seconds(),
            rss_bytes,
            peak_rss_bytes,
            accept_errors: s.accept_errors.load(Relaxed),
        }
    }
}

fn fresh_topics(n: usize, capacity: usize) -> Arc<[Arc<Topic>]> {
    (0..n).map(|_| Arc::new(Topic::new(capacity))).collect()
}

/// One open client connection. Shared (in an `Arc`) by the connection task, its request
/// handlers and, after an upgrade, the WebSocket task; the last one to let go closes the
/// books on the connection.
pub(crate) struct ConnSlot {
    state: Arc<AppState>,
    kind: AtomicU8,
    /// Never sent on: `serve_with` waits for every clone to be dropped to know that all
    /// connections have ended.
    _alive: mpsc::Sender<()>,
}

impl ConnSlot {
    pub(crate) fn new(state: Arc<AppState>, alive: mpsc::Sender<()>) -> Self {
        ConnSlot {
            state,
            kind: AtomicU8::new(UNCLASSIFIED),
            _alive: alive,
        }
    }

    /// Counts the connection under `kind` if this is its first request.
    pub(crate) fn classify(&self, kind: ConnKind) {
        if self
            .kind
            .compare_exchange(UNCLASSIFIED, kind as u8, Relaxed, Relaxed)
            .is_ok()
        {
            self.state.stats.connections[kind as usize].fetch_add(1, Relaxed);
        }
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let kind = *self.kind.get_mut();
        if kind != UNCLASSIFIED {
            self.state.stats.connections[usize::from(kind)].fetch_sub(1, Relaxed);
        }
    }
}
