//! The command line: what `pushbench --help` shows, and how each command is run.

use crate::{CliError, CompareOptions, Pin, RunOptions, ServeOptions, serve_runtime};
use clap::{Parser, Subcommand};
use pushbench_model::ServerRuntimeKind;
use pushbench_model::protocol::DEFAULT_RING_CAPACITY;
use std::net::SocketAddr;
use std::path::PathBuf;

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
        #[arg(long)]
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
    },
    /// Regenerate the charts, report.html and report.md of a run directory from its files.
    Report {
        /// A directory written by `pushbench run`.
        run_dir: PathBuf,
    },
    /// Compare two run directories transport by transport; exit 1 if the candidate regressed.
    Compare {
        /// The baseline run directory.
        base: PathBuf,
        /// The candidate run directory.
        new: PathBuf,
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
    Serve {
        /// Address to listen on; port 0 picks a free port (printed on start).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Threads serving connections (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// `shared`: one multi-thread runtime; `per-core`: one single-threaded runtime per
        /// thread, connections dealt round robin (see docs/benchmarks.md).
        #[arg(long, default_value = "shared", value_parser = runtime_kind())]
        runtime: ServerRuntimeKind,
        /// Messages retained per topic.
        #[arg(long, default_value_t = DEFAULT_RING_CAPACITY)]
        ring_capacity: usize,
        /// Require `Authorization: Bearer TOKEN` on /control/*; mandatory when --addr is not
        /// a loopback address.
        #[arg(long, value_name = "TOKEN")]
        control_token: Option<String>,
        /// Run only on these CPUs (`0`, `0-1`, `0,2`); the default thread count follows.
        #[arg(long, value_name = "LIST")]
        cpus: Option<String>,
        /// Publish at most this many ticks per second whatever the workload asks: a server
        /// that cannot keep up on purpose, to see how overload is reported (default: none).
        #[arg(long, value_name = "PER_SECOND")]
        publisher_max_rate: Option<f64>,
    },
}

/// `--runtime`'s values: the names of [`ServerRuntimeKind`].
fn runtime_kind() -> impl clap::builder::TypedValueParser<Value = ServerRuntimeKind> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(ServerRuntimeKind::ALL.map(|k| k.name()))
        .map(|name| ServerRuntimeKind::from_name(&name).expect("one of the possible values"))
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
            } => {
                let opts = RunOptions {
                    scenario,
                    out,
                    server,
                    target,
                    quiet,
                    control_token,
                    pin: pin.map(|given| Pin::parse(given.as_deref())).transpose()?,
                };
                runtime(Some(1))?.block_on(crate::run(opts))
            }
            Command::Report { run_dir } => crate::report(&run_dir),
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
            Command::Serve {
                addr,
                threads,
                runtime: mode,
                ring_capacity,
                control_token,
                cpus,
                publisher_max_rate,
            } => {
                crate::pin_cpus(cpus.as_deref())?;
                // After pinning, so that "one per core" counts the CPUs left.
                let (own_threads, server_runtime) = serve_runtime(mode, threads);
                runtime(own_threads)?.block_on(crate::serve(ServeOptions {
                    addr,
                    ring_capacity,
                    control_token,
                    runtime: server_runtime,
                    publisher_max_rate,
                }))
            }
        }
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
