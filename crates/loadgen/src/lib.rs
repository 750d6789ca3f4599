//! The pushbench load generator: reads scenarios, drives the six client kinds (the raw
//! stream and the five transports) against a server through its control endpoints (or, for
//! a target, publishes itself and subscribes as the target file says), and returns what
//! each phase measured.
//!
//! It owns the scenario and target file formats, the clients (hand-written HTTP/1.1 and
//! WebSocket over byte-counting sockets), and the phase driver with its per-worker
//! HdrHistograms. It writes
//! no files and starts no server: the report crate writes results, the binary starts servers.
#![warn(missing_docs)]

pub mod browser;
mod clients;
pub mod clock;
mod conn;
pub mod control;
mod error;
mod http;
mod link;
mod live;
pub mod phase;
pub mod scenario;
pub mod shard;
mod stats;
pub mod target;
mod ticks;

pub use error::{ClientError, LoadgenError};

/// The parsers the load generator runs on server output, public so that property tests and
/// the fuzz targets in `fuzz/` reach them; see `docs/testing.md`. Not a stable API.
pub mod parsers {
    pub use crate::http::{Chunked, Head, parse_head};
    pub use pushbench_wire::raw::Lines;
    pub use pushbench_wire::sse::next_event;
    pub use pushbench_wire::ws::{Frame, encode_client_frame, next_frame};
    pub use pushbench_wire::{parse_batch, parse_header};
}
pub use live::{Progress, ProgressSnapshot};
pub use phase::{PhaseSpec, RssBaseline, run_phase};
pub use pushbench_model::result::{
    Counters, ErrorCounts, ErrorKind, PhaseResult, ProcessUsage, SecondStats,
};
pub use pushbench_model::scenario::{
    NetworkPlan, Pattern, PointPlan, Scenario, ServerRuntimeKind, SweepDimension, SweepPoint,
    TransportPlan, Workload,
};
pub use pushbench_model::transport::TransportKind;
