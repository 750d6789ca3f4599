//! The command line: what `pushbench --help` shows, and how each command is run.

use crate::{
    CliError, CompareOptions, Membership, PairedSources, Pin, RunOptions, ServeOptions,
    serve_runtime,
};
use clap::{Parser, Subcommand};
use pushbench_model::ServerRuntimeKind;
use pushbench_model::clock::ClockMode;
use pushbench_model::paired::ServerSource;
use pushbench_model::protocol::DEFAULT_RING_CAPACITY;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Measures what each server-push transport really costs: latency and bytes on the wire of
/// timed polling, long polling, chunked streaming, Server-Sent Events and WebSocket.
#[derive(Parser)]
#[command(name = "pushbench", version, about)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Run a scenario file, one phase per transport, and write a run directory.
    Run {
        /// The scenario (TOML); see docs/scenarios.md.
        scenario: PathBuf,
        /// Write results exactly here (must be empty or absent) instead of results/<name>-<UTC time>/.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Drive a server that is already running (http://127.0.0.1:PORT) instead of starting one.
        #[arg(long, conflicts_with_all = PairedArgs::IDS)]
        server: Option<String>,
        /// Drive the server a target file describes (nginx + nchan: targets/nchan.toml)
        /// instead of pushbench's own; wins over the scenario's [target]. See docs/targets.md.
        #[arg(long, value_name = "FILE")]
        target: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Bearer token for a --server whose control endpoints require one.
        #[arg(long, value_name = "TOKEN")]
        control_token: Option<String>,
        /// Pin the server to some CPUs and the load generator to the others, for repeatable
        /// results: `--pin` alone splits this machine's CPUs in two halves, `--pin 0:1-3`
        /// names them (SERVER:LOADGEN). With --server only the load generator is pinned.
        #[arg(long, value_name = "SERVER:LOADGEN", num_args = 0..=1)]
        pin: Option<Option<String>>,
        /// A paired run's two servers.
        #[command(flatten)]
        paired: PairedArgs,
        /// Run shard I of N (`2/3`): this process runs every Nth client of each phase, on the
        /// phase plan every shard shares, and writes a shard run directory for `pushbench
        /// merge`. With N > 1 it needs --server and --start-at. See docs/sharding.md.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// When the plan's first phase starts: an RFC 3339 UTC time (2026-12-01T21:30:00Z)
        /// or `+SECONDS` from now; give every shard the same time. Only with --shard.
        #[arg(long, value_name = "TIME")]
        start_at: Option<String>,
        /// Convert each message's receipt time to the server's clock by the offset estimated
        /// at every phase's start (`estimate`), or read latency on the clock both share
        /// (`none`). Default: `none` for a server on a loopback address (one host: the clock
        /// is shared, exactly), `estimate` otherwise. The offset is estimated and recorded
        /// either way. See docs/distributed.md.
        #[arg(long, value_name = "MODE", value_parser = clock_mode())]
        clock_offset: Option<ClockMode>,
    },
    /// Merge the shard run directories of one sharded run into one run directory.
    Merge {
        /// Every shard's run directory (`pushbench run --shard I/N --out DIR`), in any order.
        #[arg(required = true)]
        shard_dirs: Vec<PathBuf>,
        /// The merged run directory (must be empty or absent).
        #[arg(long)]
        out: PathBuf,
    },
    /// Regenerate the charts, report.html and report.md of a run directory from its files.
    Report {
        /// A directory written by `pushbench run`.
        run_dir: PathBuf,
    },
    /// Compare two run directories transport by transport, or the candidate of a paired run
    /// with its baseline pair by pair; exit 1 if the candidate regressed.
    Compare {
        /// The baseline run directory, or a paired run (`pushbench run --baseline-… --candidate-…`).
        base: PathBuf,
        /// The candidate run directory; none for a paired run.
        new: Option<PathBuf>,
        /// Allowed change before a metric counts: `10%` for all, or `METRIC=PCT` for one
        /// (`p99=15%`, `bytes_per_message=1%`); repeatable. See docs/compare.md.
        #[arg(long = "threshold", value_name = "[METRIC=]PCT")]
        thresholds: Vec<String>,
        /// Output on stdout.
        #[arg(long, value_enum, default_value = "markdown")]
        format: OutputFormat,
        /// Also write a self-contained HTML page overlaying both runs' latency distributions.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Compare runs of different scenarios or transports (only the transports both have).
        #[arg(long)]
        allow_different: bool,
    },
    /// Serve the six push endpoints (the raw stream and five transports) and the control
    /// endpoints.
    Serve(ServeArgs),
}

/// `pushbench serve`'s options.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Threads serving connections (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// `shared`: one multi-thread runtime; `per-core`: one single-threaded runtime per
    /// thread, connections dealt round robin (see docs/benchmarks.md).
    #[arg(long, default_value = "shared", value_parser = runtime_kind())]
    pub runtime: ServerRuntimeKind,
    /// Messages retained per topic.
    #[arg(long, default_value_t = DEFAULT_RING_CAPACITY)]
    pub ring_capacity: usize,
    /// Require `Authorization: Bearer TOKEN` on /control/*; mandatory when --addr is not
    /// a loopback address.
    #[arg(long, value_name = "TOKEN")]
    pub control_token: Option<String>,
    /// Run only on these CPUs (`0`, `0-1`, `0,2`); the default thread count follows.
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,
    /// Publish at most this many ticks per second whatever the workload asks: a server
    /// that cannot keep up on purpose, to see how overload is reported (default: none).
    #[arg(long, value_name = "PER_SECOND")]
    pub publisher_max_rate: Option<f64>,
    /// On SIGTERM or Ctrl-C, wait at most this long for open connections to finish
    /// (held long polls are answered, streams ended and WebSockets closed first) before
    /// exiting anyway.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub shutdown_timeout: u64,
    /// Start N processes that share --addr (SO_REUSEPORT) and serve as one server: N
    /// times the connections one process has descriptors for. See docs/sharding.md.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..),
          conflicts_with_all = ["member", "control_addr"])]
    pub processes: Option<u16>,
    /// Bind --addr with SO_REUSEPORT, so that other processes may listen on it too.
    #[arg(long)]
    pub reuse_port: bool,
    /// This process's own loopback address in a server of several processes, where its
    /// peers reach its control endpoints (with --peers; --processes sets both up itself).
    #[arg(long, value_name = "ADDR", requires = "peers")]
    pub control_addr: Option<SocketAddr>,
    /// The other processes' control addresses (ADDR,ADDR,...): control requests are
    /// forwarded to them and /stats covers them.
    #[arg(long, value_name = "ADDR,...", requires = "control_addr")]
    pub peers: Option<String>,
    /// Started by --processes: binds a control address, prints it, reads the peers'
    /// from stdin.
    #[arg(long, hide = true, conflicts_with = "control_addr")]
    pub member: bool,
}

/// The servers of a paired run: the scenario runs against both, interleaved, and `pushbench
/// compare RUN` judges the candidate against the baseline pair by pair. Each side is a
/// pushbench executable the run starts (`BIN serve`, e.g. the builds of two commits) or a
/// server already running.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Paired run: one scenario against two servers, interleaved")]
pub struct PairedArgs {
    /// The baseline's server: `BIN serve`, started by the run (e.g. the build of the base commit).
    #[arg(long, value_name = "BIN", conflicts_with = "baseline_server")]
    pub baseline_bin: Option<PathBuf>,
    /// The baseline's server, already running (http://127.0.0.1:PORT).
    #[arg(long, value_name = "URL")]
    pub baseline_server: Option<String>,
    /// The candidate's server: `BIN serve`, started by the run (e.g. the build of the change).
    #[arg(long, value_name = "BIN", conflicts_with = "candidate_server")]
    pub candidate_bin: Option<PathBuf>,
    /// The candidate's server, already running (http://127.0.0.1:PORT).
    #[arg(long, value_name = "URL")]
    pub candidate_server: Option<String>,
}

impl PairedArgs {
    /// The ids of these options, which a plain run's `--server` conflicts with.
    const IDS: [&'static str; 4] = [
        "baseline_bin",
        "baseline_server",
        "candidate_bin",
        "candidate_server",
    ];

    /// Both sides' servers; `None` when no option of a paired run was given. One side
    /// without the other is refused.
    pub fn sources(self) -> Result<Option<PairedSources>, CliError> {
        let source = |bin: Option<PathBuf>, url: Option<String>| match (bin, url) {
            (Some(path), _) => Some(ServerSource::Bin {
                path: path.display().to_string(),
            }),
            (None, Some(url)) => Some(ServerSource::Url { url }),
            (None, None) => None,
        };
        let baseline = source(self.baseline_bin, self.baseline_server);
        let candidate = source(self.candidate_bin, self.candidate_server);
        match (baseline, candidate) {
            (Some(baseline), Some(candidate)) => Ok(Some(PairedSources {
                baseline,
                candidate,
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(CliError::BadOption {
                option: "--candidate-bin",
                why: "a paired run needs both sides: give the candidate's server with --candidate-bin BIN or --candidate-server URL".into(),
            }),
            (None, Some(_)) => Err(CliError::BadOption {
                option: "--baseline-bin",
                why: "a paired run needs both sides: give the baseline's server with --baseline-bin BIN or --baseline-server URL".into(),
            }),
        }
    }
}

/// `--runtime`'s values: the names of [`ServerRuntimeKind`].
fn runtime_kind() -> impl clap::builder::TypedValueParser<Value = ServerRuntimeKind> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(ServerRuntimeKind::ALL.map(|k| k.name()))
        .map(|name| ServerRuntimeKind::from_name(&name).expect("one of the possible values"))
}

/// `--clock-offset`'s values: the names of [`ClockMode`].
fn clock_mode() -> impl clap::builder::TypedValueParser<Value = ClockMode> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(ClockMode::ALL.map(|m| m.name()))
        .map(|name| ClockMode::from_name(&name).expect("one of the possible values"))
}

/// What `compare` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum OutputFormat {
    /// GitHub-flavoured Markdown.
    Markdown,
    /// JSON.
    Json,
}

impl Command {
    /// Runs the command.
    pub fn execute(self) -> Result<(), CliError> {
        match self {
            Command::Run {
                scenario,
                out,
                server,
                target,
                quiet,
                control_token,
                pin,
                shard,
                start_at,
                clock_offset,
                paired,
            } => {
                let opts = RunOptions {
                    scenario,
                    out,
                    server,
                    target,
                    quiet,
                    control_token,
                    pin: pin.map(|given| Pin::parse(given.as_deref())).transpose()?,
                    shard: crate::ShardOptions::parse(shard.as_deref(), start_at.as_deref())?,
                    paired: paired.sources()?,
                    clock_offset,
                };
                runtime(Some(1))?.block_on(crate::run(opts))
            }
            Command::Report { run_dir } => crate::report(&run_dir),
            Command::Merge { shard_dirs, out } => crate::merge(&shard_dirs, &out),
            Command::Compare {
                base,
                new,
                thresholds,
                format,
                html,
                allow_different,
            } => crate::compare(CompareOptions {
                base,
                new,
                thresholds,
                json: matches!(format, OutputFormat::Json),
                html,
                allow_different,
            }),
            Command::Serve(args) => args.execute(),
        }
    }
}

impl ServeArgs {
    /// Serves, alone or as a group of processes, until SIGINT or SIGTERM.
    fn execute(self) -> Result<(), CliError> {
        let membership = match (self.member, self.control_addr, self.peers) {
            (true, _, _) => Membership::Started,
            (false, Some(control), Some(list)) => Membership::Given {
                control,
                peers: crate::parse_peers(&list).map_err(|why| CliError::BadOption {
                    option: "--peers",
                    why,
                })?,
            },
            _ => Membership::Alone,
        };
        crate::pin_cpus(self.cpus.as_deref())?;
        // After pinning, so that "one per core" counts the CPUs left.
        let (own_threads, server_runtime) = serve_runtime(self.runtime, self.threads);
        let opts = ServeOptions {
            addr: self.addr,
            ring_capacity: self.ring_capacity,
            control_token: self.control_token,
            runtime: server_runtime,
            publisher_max_rate: self.publisher_max_rate,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
            reuse_port: self.reuse_port,
            membership,
            runtime_kind: self.runtime,
            threads: self.threads,
            cpus: self.cpus,
        };
        // The supervisor of --processes only starts and waits for its members.
        let processes = self.processes.map(usize::from);
        let own_threads = if processes.is_some() {
            Some(1)
        } else {
            own_threads
        };
        runtime(own_threads)?.block_on(crate::serve(opts, processes))
    }
}

/// The run command's own work is control requests and file writing: one thread suffices,
/// and leaves the cores to the load generator's workers and the server.
fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime, CliError> {
    let mut b = match threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    b.enable_all().build().map_err(CliError::Runtime)
}
