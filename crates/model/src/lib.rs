//! pushbench's vocabulary: everything two of its crates must agree on, defined once.
//!
//! It owns the transport kinds and their descriptors, the checked scenario (and its sweep,
//! network and header plans), the control contract between server and load generator
//! (paths, limits, defaults, the workload and `/stats` documents), what a phase measures,
//! the typed rows of the run directory's files, and the checked plan of a target (a server
//! pushbench did not write). It holds data and the rules that follow
//! from the data alone: it does no I/O, runs nothing and knows no async runtime.
#![warn(missing_docs)]

pub mod client;
pub mod clock;
pub mod overload;
pub mod paired;
pub mod protocol;
pub mod record;
pub mod result;
pub mod rows;
pub mod run;
pub mod scenario;
pub mod shard;
pub mod target;
pub mod transport;

pub use client::ClientKind;
pub use result::{
    Counters, ErrorCounts, ErrorKind, KeepingUp, PERCENTILES, PhaseResult, ProcessUsage,
    SecondStats, new_histogram,
};
pub use scenario::{
    NetworkPlan, Pattern, PointPlan, PollSchedule, Scenario, ServerRuntimeKind, Sweep,
    SweepDimension, SweepPoint, TransportPlan, Workload,
};
pub use transport::{Descriptor, Family, TransportKind, TransportOption};
