//! The checked plan of a run: what the load generator's scenario loader makes of a scenario
//! file, what `meta.json` records (and the report reads back), and what every phase runs.
//! Reading TOML and its errors are the load generator's; these are plain values.

mod http;
mod network;
mod sweep;

pub use http::{
    Field, HeaderProfile, HttpPlan, RequestFields, RequestKind, request_profile,
    response_profile_fields,
};
pub use network::{DEFAULT_QUEUE_BYTES, NetworkPlan};
pub use sweep::{PointPlan, Sweep, SweepDimension, SweepPoint};

use crate::transport::TransportKind;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Who publishes: the server to every subscriber, or each client to itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// The server publishes `rate` messages per second per topic; every client of a topic
    /// receives every message.
    #[default]
    Broadcast,
    /// Each client publishes `rate` messages per second into a topic of its own and measures
    /// how long each takes to come back.
    Echo,
}

impl Pattern {
    /// The name in scenario files and `meta.json`.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Broadcast => "broadcast",
            Pattern::Echo => "echo",
        }
    }
}

/// How a timed-polling client spaces its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PollSchedule {
    /// Request `k` goes out at `start + k * interval`, whatever the answers took.
    #[default]
    FixedRate,
    /// Each request goes out `interval` after the previous answer arrived.
    FixedDelay,
}

impl PollSchedule {
    /// The name in scenario files and `meta.json`.
    pub fn name(self) -> &'static str {
        match self {
            PollSchedule::FixedRate => "fixed-rate",
            PollSchedule::FixedDelay => "fixed-delay",
        }
    }
}

/// How a server `pushbench run` starts spreads its connections over threads
/// (`pushbench serve --runtime`; docs/benchmarks.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerRuntimeKind {
    /// One multi-thread runtime; idle threads steal work.
    Shared,
    /// One single-threaded runtime per thread, connections dealt round robin.
    PerCore,
}

impl ServerRuntimeKind {
    /// Both layouts.
    pub const ALL: [ServerRuntimeKind; 2] = [ServerRuntimeKind::Shared, ServerRuntimeKind::PerCore];

    /// The layout named `name` ([`ServerRuntimeKind::name`]).
    pub fn from_name(name: &str) -> Option<ServerRuntimeKind> {
        ServerRuntimeKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
    }

    /// The name in scenario files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ServerRuntimeKind::Shared => "shared",
            ServerRuntimeKind::PerCore => "per-core",
        }
    }
}

/// The checked plan of a whole run.
///
/// With a sweep, the swept setting (`workload.rate`, `workload.payload_bytes`, every
/// transport's `clients`, or the link's) holds the sweep's largest value, and
/// [`Scenario::points`] gives the plan of each point.
///
/// It is written to `meta.json` as it is, and read back from there: a key added since a
/// run was made reads as its default, which is what such a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Name used for the run directory.
    pub name: String,
    /// Measured window per phase.
    #[serde(with = "duration_str")]
    pub duration: Duration,
    /// Unmeasured time after the ramp-up.
    #[serde(with = "duration_str")]
    pub warmup: Duration,
    /// Time over which clients start.
    #[serde(with = "duration_str")]
    pub ramp_up: Duration,
    /// Repetitions of each phase.
    pub repeat: u32,
    /// What is published.
    pub workload: Workload,
    /// Load-generator worker threads.
    pub loadgen_threads: usize,
    /// Pause before a reconnect.
    #[serde(with = "duration_str")]
    pub reconnect_backoff: Duration,
    /// Runtime threads of a server started by `pushbench run` (`None`: one per core).
    pub server_threads: Option<usize>,
    /// Runtime layout of a server started by `pushbench run` (`None`: the server's default).
    /// Left out of `meta.json` when unset, as in runs made before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_runtime: Option<ServerRuntimeKind>,
    /// Messages retained per topic by a server started by `pushbench run`.
    pub ring_capacity: usize,
    /// One phase per `[[transports]]` entry, in this order: the baseline kind's first (so
    /// every result file, table and chart lists it first), the others as written.
    pub transports: Vec<TransportPlan>,
    /// The swept dimension and its values, when the scenario sweeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<Sweep>,
    /// The header fields of every request and of every answer of a push endpoint. Left out
    /// of `meta.json` without `[http]`, as in runs made before it existed.
    #[serde(default, skip_serializing_if = "HttpPlan::is_default")]
    pub http: HttpPlan,
    /// The link emulated between every client connection and the server (`None`: none,
    /// the clients' bytes go straight to their sockets). Left out of `meta.json` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkPlan>,
    /// The target file `[target]` names (resolved against the scenario's directory), whose
    /// server the run drives instead of pushbench's own unless `--target` names another.
    /// Left out of `meta.json` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<std::path::PathBuf>,
}

/// The checked workload.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Who publishes.
    pub pattern: Pattern,
    /// Messages per second per topic (broadcast) or per client (echo).
    pub rate: f64,
    /// Payload bytes per message.
    pub payload_bytes: usize,
    /// Topics (broadcast); in echo every client has a topic of its own.
    pub topics: u32,
    /// Echo only: each client sends its next message when the last one's echo is back (one
    /// in flight per connection), instead of `rate` messages per second. Left out of
    /// `meta.json` when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed_loop: bool,
}

impl Workload {
    /// Bytes of one message: envelope header plus payload.
    pub fn message_bytes(&self) -> usize {
        pushbench_wire::HEADER_LEN + self.payload_bytes
    }

    /// The server publisher's ticks per second: `rate` in broadcast; `None` in echo, where
    /// the clients publish and the server keeps no schedule.
    pub fn server_rate(&self) -> Option<f64> {
        match self.pattern {
            Pattern::Broadcast => Some(self.rate),
            Pattern::Echo => None,
        }
    }
}

/// One checked transport phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransportPlan {
    /// Client kind.
    pub kind: TransportKind,
    /// Label in results.
    pub label: String,
    /// Concurrent clients.
    pub clients: u32,
    /// `poll`: time between requests (zero: back to back).
    #[serde(with = "duration_str")]
    pub interval: Duration,
    /// `poll`: how requests are spaced.
    pub schedule: PollSchedule,
    /// `long-poll`: how long the server may hold a request.
    #[serde(with = "duration_str")]
    pub timeout: Duration,
    /// Which client runs it; `meta.json` leaves out the default (`rust`), as runs made
    /// before browser clients existed.
    #[serde(default, skip_serializing_if = "crate::client::ClientKind::is_rust")]
    pub client: crate::client::ClientKind,
    /// Where `client` is written in the scenario file, for later errors about it (a missing
    /// Chromium); 0 when not written or read back from `meta.json`.
    #[serde(skip)]
    pub client_line: usize,
    /// Where `clients` is written in the scenario file (or `[sweep] clients`), for later
    /// errors about it; 0 when read back from `meta.json`.
    #[serde(skip)]
    pub clients_line: usize,
    /// Its index among the file's `[[transports]]` entries, which [`Scenario::transports`]
    /// may list in another order, for later errors about it; 0 when read back from
    /// `meta.json`.
    #[serde(skip)]
    pub entry: usize,
}

impl Scenario {
    /// Connections one phase of `t` holds at once: one per client, two for echo over a
    /// transport that publishes on a second connection.
    pub fn connections(&self, t: &TransportPlan) -> u64 {
        u64::from(t.clients) * t.kind.connections_per_client(self.workload.pattern)
    }
}

/// A duration as scenario files, `meta.json` and reports write it: `"1m 30s"`, `"500ms"`.
pub fn duration_text(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Durations as `meta.json` writes them ([`duration_text`]).
pub(crate) mod duration_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::duration_text(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "expected a duration such as \"500ms\", found {text:?} ({e})"
            ))
        })
    }
}
