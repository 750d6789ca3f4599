//! The servers a run measures: one for a plain run; a baseline and a candidate for a paired
//! run (`--baseline-bin`/`--baseline-server`, `--candidate-bin`/`--candidate-server`). Each
//! is a `pushbench serve` the run starts (from this executable or another one) or a server
//! that is already running, probed before any run directory is made for it.

use crate::target::TargetServer;
use crate::{CliError, child};
use pushbench_loadgen::control::Control;
use pushbench_loadgen::target::TargetPlan;
use pushbench_loadgen::{RssBaseline, Scenario};
use pushbench_model::paired::{ServerSource, Side};
use pushbench_wire::process;
use std::net::SocketAddr;
use std::path::Path;

/// The two servers of a paired run, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedSources {
    /// The baseline's server.
    pub baseline: ServerSource,
    /// The candidate's server.
    pub candidate: ServerSource,
}

impl PairedSources {
    /// The server of one side.
    pub fn of(&self, side: Side) -> &ServerSource {
        match side {
            Side::Baseline => &self.baseline,
            Side::Candidate => &self.candidate,
        }
    }
}

/// A server a run drives, found or started, and probed.
pub(crate) struct Server {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// The child process when the run started it; stopped when the phases are over.
    child: Option<child::ServerChild>,
    /// The target whose server this is, when it is not pushbench's own.
    pub(crate) target: Option<TargetServer>,
    /// Both processes' memory before any client connected: the base of the per-connection
    /// memory figures.
    pub(crate) rss: RssBaseline,
    /// Bytes of the probe's control request.
    pub(crate) probe_control_bytes: u64,
    /// Workloads the server had accepted when probed (`/stats` `workloads`; 0 for a
    /// target): a shard counts its phases' workloads from there.
    pub(crate) workloads: u64,
    /// What `meta.json` says of it.
    pub(crate) description: String,
}

impl Server {
    /// Starts or finds the server of `side` (`None` for a plain run) from `source` (`None`:
    /// `pushbench serve` from this executable), on `cpus` when it is started, and asks it
    /// for its `/stats`.
    pub(crate) async fn start(
        side: Option<Side>,
        source: Option<&ServerSource>,
        scenario: &Scenario,
        cpus: Option<&str>,
        token: Option<&str>,
    ) -> Result<Server, CliError> {
        let (addr, child, description) = match source {
            Some(ServerSource::Url { url }) => (crate::run::parse_server(url)?, None, url.clone()),
            Some(ServerSource::Bin { path }) => {
                let path = Path::new(path);
                if !path.is_file() {
                    return Err(CliError::BadOption {
                        option: bin_option(side),
                        why: format!("{}: no such file", path.display()),
                    });
                }
                let c = child::ServerChild::start(scenario, cpus, Some(path)).await?;
                let d = format!("started by pushbench from {} on {}", path.display(), c.addr);
                (c.addr, Some(c), d)
            }
            None => {
                let c = child::ServerChild::start(scenario, cpus, None).await?;
                let d = format!("started by pushbench on {}", c.addr);
                (c.addr, Some(c), d)
            }
        };
        // A server that does not answer is found before a run directory is made for it.
        let mut probe = Control::with_token(addr, token);
        let (rss, workloads) = match probe.stats().await {
            Ok(stats) => (
                RssBaseline {
                    server_bytes: stats.rss_bytes,
                    loadgen_bytes: process::memory().rss_bytes,
                },
                stats.workloads,
            ),
            Err(e) if child.is_none() => return Err(CliError::Input(e)),
            Err(e) => return Err(CliError::Child(e.to_string())),
        };
        Ok(Server {
            addr,
            child,
            target: None,
            rss,
            probe_control_bytes: probe.bytes,
            workloads,
            description,
        })
    }

    /// Starts (or finds) the server a target file describes, pinned to `cpus` when
    /// pushbench starts it; its memory now is read from its process tree, since a target
    /// has no `/stats`.
    pub(crate) async fn of_target(
        plan: TargetPlan,
        cpus: Option<&[usize]>,
    ) -> Result<Server, CliError> {
        let target = TargetServer::start(plan, cpus).await?;
        Ok(Server {
            addr: target.run.addr,
            child: None,
            rss: RssBaseline {
                server_bytes: process::tree_usage(target.run.pid).map_or(0, |u| u.rss_bytes),
                loadgen_bytes: process::memory().rss_bytes,
            },
            probe_control_bytes: target.probe_bytes,
            workloads: 0,
            description: target.describe(),
            target: Some(target),
        })
    }

    /// Stops the server if the run started it.
    pub(crate) async fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            c.stop().await;
        }
        if let Some(t) = self.target.take() {
            t.stop().await;
        }
    }
}

/// The option that names a side's executable.
fn bin_option(side: Option<Side>) -> &'static str {
    match side {
        Some(Side::Baseline) => "--baseline-bin",
        Some(Side::Candidate) => "--candidate-bin",
        None => "--server",
    }
}
