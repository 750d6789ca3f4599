//! `meta.json`: what a run records about itself besides its results. `pushbench run` writes
//! it and every reader of a run directory reads it back as this type.

use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};

/// What `meta.json` records about a run besides its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// The scenario as parsed, defaults filled in.
    pub scenario: Scenario,
    /// The scenario file it came from.
    pub scenario_path: String,
    /// pushbench's version.
    pub pushbench_version: String,
    /// The git commit pushbench was built from, when known.
    pub git_commit: Option<String>,
    /// The machine.
    pub host: HostInfo,
    /// The server: `started by pushbench on ADDR` or the URL given.
    pub server: String,
    /// Start of the run, RFC 3339 UTC.
    pub started: String,
    /// End of the run, RFC 3339 UTC.
    pub ended: String,
    /// Whether every phase ran to its end.
    pub completed: bool,
    /// Why not, when it did not.
    pub incomplete_reason: Option<String>,
    /// Bytes of the control request made before the first phase (checking the server
    /// answers); each phase's own control traffic is in `summary.csv`'s `control_bytes`.
    pub probe_control_bytes: u64,
    /// The CPUs server and load generator were pinned to (`pushbench run --pin`); absent in
    /// runs made before pinning existed, which were not pinned.
    #[serde(default)]
    pub cpu_pinning: Option<CpuPinning>,
    /// In a shard run (`pushbench run --shard I/N`): which shard, the start time and the
    /// phase plan; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::ShardMeta>,
    /// In a merged run (`pushbench merge`): the shards it was made of; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<crate::shard::MergedMeta>,
    /// Every phase's clock offset to the server, per load generator (every shard's in a
    /// merged run): what was estimated, its error bound and whether latencies were
    /// converted by it ([`crate::clock`]); absent in runs made before it was estimated, and
    /// against a target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clock: Vec<crate::clock::PhaseClock>,
}

/// The machine a run was made on, as the kernel describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// CPU model name from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Logical CPUs this process may use.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// Total memory in bytes.
    pub memory_bytes: u64,
}

/// Where `--pin` put the two processes, as CPU lists (`0-1,3`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuPinning {
    /// The server's CPUs; `None` for a server pushbench did not start (`--server`).
    pub server: Option<String>,
    /// The load generator's CPUs.
    pub loadgen: String,
}
