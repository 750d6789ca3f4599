//! The commands behind the `pushbench` binary: `run` (a scenario, phase by phase, into a run
//! directory), `report`, `compare` and `serve` (the server on a listening socket).
//!
//! This crate owns orchestration only: the command line ([`args`]), starting a server child
//! process, ordering phases, handling Ctrl-C, and choosing exit codes. Measuring is the load
//! generator's job, writing files the report crate's; `main.rs` only hands the parsed
//! command line to [`args::Command::execute`].
#![warn(missing_docs)]

pub mod args;
mod child;
mod group;
mod host;
mod progress;
mod run;
mod shard;
mod side;
mod target;

pub use group::parse_peers;
pub use run::{Pin, RunOptions, run};
pub use shard::{ShardOptions, merge};
pub use side::PairedSources;

use pushbench_loadgen::LoadgenError;
use pushbench_model::ServerRuntimeKind;
use pushbench_model::paired::Side;
use pushbench_report::ReportError;
use pushbench_server::ServerRuntime;
use pushbench_wire::process;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

/// Why a command failed; [`CliError::exit_code`] maps each to the process's exit status.
#[derive(Debug, Error)]
pub enum CliError {
    /// A scenario, or another input the load generator reads, is invalid.
    #[error("{0}")]
    Input(LoadgenError),
    /// The `--server` value is not a usable address.
    #[error("server address {given:?}: {why}")]
    ServerAddress {
        /// What was given.
        given: String,
        /// Why it cannot be used.
        why: String,
    },
    /// The load generator failed during a run.
    #[error("{0}")]
    Run(LoadgenError),
    /// The run directory could not be written.
    #[error("{0}")]
    Report(#[from] ReportError),
    /// The output directory is not usable.
    #[error("{0}")]
    OutDir(ReportError),
    /// The directory given to `report` is not a readable run directory.
    #[error("{0}")]
    BadRun(ReportError),
    /// The server child process could not be started or did not come up.
    #[error("server process: {0}")]
    Child(String),
    /// A target's server could not be started, did not become ready, or is not running.
    #[error("target {name}: {why}")]
    Target {
        /// The target's name.
        name: String,
        /// What went wrong.
        why: String,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("server: {0}")]
    Serve(#[from] pushbench_server::ServerError),
    /// The async runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The runs cannot be compared, or a threshold is malformed.
    #[error("{0}")]
    Compare(pushbench_report::compare::CompareError),
    /// The command line asks for something that cannot be done, said in one line.
    #[error("{0}")]
    Usage(String),
    /// The candidate regressed; the comparison printed names each regression.
    #[error("{0} regression(s) found")]
    Regressions(usize),
    /// A command-line option's value cannot be used.
    #[error("{option}: {why}")]
    BadOption {
        /// The option, e.g. `--pin`.
        option: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The user pressed Ctrl-C; what was measured so far is written.
    #[error("interrupted; partial results are in {0} (meta.json says completed: false)")]
    Interrupted(PathBuf),
}

impl CliError {
    /// 2 for bad input, 130 for an interrupt, 1 for any other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Input(_)
            | CliError::ServerAddress { .. }
            | CliError::OutDir(_)
            | CliError::BadRun(_)
            | CliError::Bind { .. }
            | CliError::BadOption { .. }
            | CliError::Usage(_)
            | CliError::Report(ReportError::Shards { .. }) => 2,
            CliError::Compare(_) => 2,
            CliError::Serve(pushbench_server::ServerError::UnprotectedControl(_)) => 2,
            CliError::Interrupted(_) => 130,
            _ => 1,
        }
    }
}

/// Regenerates the charts and reports of a run directory from its files; of both sides'
/// run directories for a paired run.
pub fn report(dir: &std::path::Path) -> Result<(), CliError> {
    let dirs = if pushbench_report::PairedRun::is_paired(dir) {
        Side::BOTH.iter().map(|s| dir.join(s.name())).collect()
    } else {
        vec![dir.to_owned()]
    };
    for dir in dirs {
        let rendered = pushbench_report::render(&dir).map_err(bad_run)?;
        println!("report: {}", rendered.html.display());
        println!("markdown: {}", rendered.markdown.display());
    }
    Ok(())
}

/// A run directory that does not read is bad input; anything else failed on the way.
fn bad_run(e: ReportError) -> CliError {
    match e {
        ReportError::NotARun(_) | ReportError::Parse { .. } | ReportError::Mismatch { .. } => {
            CliError::BadRun(e)
        }
        other => CliError::Report(other),
    }
}

/// Options of `pushbench compare`.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The baseline run directory, or a paired run.
    pub base: PathBuf,
    /// The candidate run directory; `None` for a paired run.
    pub new: Option<PathBuf>,
    /// Thresholds as written (`10%`, `p99=15%`).
    pub thresholds: Vec<String>,
    /// JSON instead of Markdown.
    pub json: bool,
    /// Where to write the HTML comparison page.
    pub html: Option<PathBuf>,
    /// Compare runs of different scenarios or transports.
    pub allow_different: bool,
}

/// Compares two runs, or a paired run's candidate with its baseline, prints the verdict,
/// and fails with [`CliError::Regressions`] when the candidate regressed.
pub fn compare(opts: CompareOptions) -> Result<(), CliError> {
    use pushbench_report::{PairedRun, RunData, compare};
    let thresholds = opts
        .thresholds
        .iter()
        .map(|t| compare::parse_threshold(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(CliError::Compare)?;
    let options = compare::CompareOptions {
        thresholds,
        allow_different: opts.allow_different,
    };
    let paired = |dir: &std::path::Path| PairedRun::is_paired(dir);
    let (result, base, new) = match &opts.new {
        Some(new) => {
            if let Some(dir) = [&opts.base, new].into_iter().find(|d| paired(d)) {
                return Err(CliError::Usage(format!(
                    "{0} is a paired run: judge it alone (pushbench compare {0}), or compare its sides as two runs ({0}/baseline {0}/candidate)",
                    dir.display()
                )));
            }
            let base = RunData::load(&opts.base).map_err(bad_run)?;
            let new = RunData::load(new).map_err(bad_run)?;
            let c = compare::compare(&base, &new, &options).map_err(CliError::Compare)?;
            (c, base, new)
        }
        None if paired(&opts.base) => {
            let run = PairedRun::load(&opts.base).map_err(bad_run)?;
            let c = compare::compare_paired(&run, &options).map_err(CliError::Compare)?;
            (c, run.baseline, run.candidate)
        }
        None => {
            return Err(CliError::Usage(format!(
                "{}: one directory given, but it is not a paired run (no paired.json); compare two runs with pushbench compare BASE NEW",
                opts.base.display()
            )));
        }
    };
    print!(
        "{}",
        if opts.json {
            result.json()
        } else {
            result.markdown()
        }
    );
    if let Some(path) = &opts.html {
        let page = result
            .html(&base, &new)
            .map_err(|e| CliError::Report(e.into()))?;
        pushbench_report::write_atomic(path, page.as_bytes())?;
    }
    match result.regressions().len() {
        0 => Ok(()),
        n => Err(CliError::Regressions(n)),
    }
}

/// Options of `pushbench serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Messages retained per topic.
    pub ring_capacity: usize,
    /// Bearer token `/control/*` requires; mandatory on a non-loopback address.
    pub control_token: Option<String>,
    /// Which threads serve connections.
    pub runtime: ServerRuntime,
    /// The server's `publisher_max_rate` (none: as the schedule asks).
    pub publisher_max_rate: Option<f64>,
    /// The server's `shutdown_timeout`: how long a signal waits for connections to finish.
    pub shutdown_timeout: Duration,
    /// Bind `addr` with SO_REUSEPORT, so that other processes may listen on it too.
    pub reuse_port: bool,
    /// Whether this process is one of several that serve as one server.
    pub membership: Membership,
    /// As given on the command line, for the members a `--processes` supervisor starts:
    /// `--runtime`, `--threads`, `--cpus`.
    pub runtime_kind: ServerRuntimeKind,
    /// `--threads` as given.
    pub threads: Option<usize>,
    /// `--cpus` as given.
    pub cpus: Option<String>,
}

/// Whether `pushbench serve` runs alone or as a member of a server of several processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// A server of one process.
    Alone,
    /// A member with its own control address and its peers' (`--control-addr`, `--peers`).
    Given {
        /// This member's own control address.
        control: SocketAddr,
        /// The other members' control addresses.
        peers: Vec<SocketAddr>,
    },
    /// A member started by `serve --processes`: it binds a control address, prints it, and
    /// reads its peers' from stdin.
    Started,
}

/// For `pushbench serve --runtime kind` with `threads` serving threads (`None`: one per
/// core): the threads of the runtime `serve` must be called on (`None`: one per core) and
/// the server's own runtime setting.
pub fn serve_runtime(
    kind: ServerRuntimeKind,
    threads: Option<usize>,
) -> (Option<usize>, ServerRuntime) {
    match kind {
        ServerRuntimeKind::Shared => (threads, ServerRuntime::Shared),
        // The caller's runtime only accepts connections and waits for signals.
        ServerRuntimeKind::PerCore => (
            Some(1),
            ServerRuntime::PerCore {
                threads: threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            },
        ),
    }
}

/// Pending connections the kernel queues before `accept`: a ramp-up of thousands of clients
/// a second must not overflow it (the kernel caps it at `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 8192;

fn listen(addr: SocketAddr, reuse_port: bool) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves until SIGINT or SIGTERM; with `processes`, as a supervisor of that many members
/// (`group.rs`).
pub async fn serve(opts: ServeOptions, processes: Option<usize>) -> Result<(), CliError> {
    if let Some(n) = processes {
        return group::supervise(opts, n).await;
    }
    pushbench_wire::process::raise_open_files_limit();
    let bind = |source| CliError::Bind {
        addr: opts.addr,
        source,
    };
    let listener = listen(opts.addr, opts.reuse_port).map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;
    pushbench_server::check_exposure(local, opts.control_token.as_deref())?;
    let member = match opts.membership {
        Membership::Alone => None,
        Membership::Given { control, peers } => {
            let listener = tokio::net::TcpListener::bind(control)
                .await
                .map_err(|source| CliError::Bind {
                    addr: control,
                    source,
                })?;
            Some((listener, peers))
        }
        Membership::Started => Some(group::join().await?),
    };
    // `pushbench run` reads this line to learn the port of a child it started on port 0.
    println!("{}{local}", child::READY_PREFIX);
    let mut config = pushbench_server::ServerConfig {
        ring_capacity: opts.ring_capacity,
        control_token: opts.control_token,
        runtime: opts.runtime,
        publisher_max_rate: opts.publisher_max_rate,
        shutdown_timeout: opts.shutdown_timeout,
        ..Default::default()
    };
    match member {
        Some((control, peers)) => {
            config.peers = peers;
            pushbench_server::serve_member(listener, control, config, shutdown_signal()).await?
        }
        None => pushbench_server::serve_with(listener, config, shutdown_signal()).await?,
    }
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Pins this process to a CPU list (`pushbench serve --cpus`); `None` leaves it alone.
pub fn pin_cpus(list: Option<&str>) -> Result<(), CliError> {
    let Some(list) = list else { return Ok(()) };
    let bad = |why| CliError::BadOption {
        option: "--cpus",
        why,
    };
    let cpus = process::parse_cpu_list(list).map_err(bad)?;
    process::pin_to(&cpus).map_err(bad)
}
