//! The commands behind the `pushbench` binary: `run` (a scenario, phase by phase, into a run
//! directory) and `serve` (the server on a listening socket).
//!
//! This crate owns orchestration only: starting a server child process, ordering phases,
//! handling Ctrl-C, and choosing exit codes. Measuring is the load generator's job, writing
//! files the report crate's; `main.rs` only parses the command line.
#![warn(missing_docs)]

mod child;
mod host;
mod progress;

use pushbench_loadgen::{LoadgenError, PhaseResult, PhaseSpec, Progress, run_phase};
use pushbench_model::rows::Figures;
use pushbench_model::run::{CpuPinning, RunMeta};
use pushbench_report::{ReportError, RunDir, summary_table};
use pushbench_server::ServerRuntime;
use pushbench_wire::process;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// Why a command failed; [`CliError::exit_code`] maps each to the process's exit status.
#[derive(Debug, Error)]
pub enum CliError {
    /// A scenario, an address or another input is invalid.
    #[error("{0}")]
    Input(LoadgenError),
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
            | CliError::OutDir(_)
            | CliError::BadRun(_)
            | CliError::Bind { .. }
            | CliError::BadOption { .. } => 2,
            CliError::Compare(_) => 2,
            CliError::Serve(pushbench_server::ServerError::UnprotectedControl(_)) => 2,
            CliError::Interrupted(_) => 130,
            _ => 1,
        }
    }
}

/// Options of `pushbench run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The run directory; default `results/<name>-<UTC time>/`.
    pub out: Option<PathBuf>,
    /// A running server to drive instead of starting one.
    pub server: Option<String>,
    /// Print nothing but errors.
    pub quiet: bool,
    /// Bearer token for a `--server` whose control endpoints require one.
    pub control_token: Option<String>,
    /// `--pin` as given: `halves`, or `SERVER:LOADGEN` CPU lists.
    pub pin: Option<String>,
}

/// Regenerates the charts and reports of a run directory from its files.
pub fn report(dir: &std::path::Path) -> Result<(), CliError> {
    let rendered = pushbench_report::render(dir).map_err(|e| match e {
        ReportError::NotARun(_) | ReportError::Parse { .. } => CliError::BadRun(e),
        other => CliError::Report(other),
    })?;
    println!("report: {}", rendered.html.display());
    println!("markdown: {}", rendered.markdown.display());
    Ok(())
}

/// Options of `pushbench compare`.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The baseline run directory.
    pub base: PathBuf,
    /// The candidate run directory.
    pub new: PathBuf,
    /// Thresholds as written (`10%`, `p99=15%`).
    pub thresholds: Vec<String>,
    /// JSON instead of Markdown.
    pub json: bool,
    /// Where to write the HTML comparison page.
    pub html: Option<PathBuf>,
    /// Compare runs of different scenarios or transports.
    pub allow_different: bool,
}

/// Compares two runs, prints the verdict, and fails with [`CliError::Regressions`] when the
/// candidate regressed.
pub fn compare(opts: CompareOptions) -> Result<(), CliError> {
    use pushbench_report::compare;
    let load = |dir: &std::path::Path| {
        pushbench_report::RunData::load(dir).map_err(|e| match e {
            ReportError::NotARun(_) | ReportError::Parse { .. } => CliError::BadRun(e),
            other => CliError::Report(other),
        })
    };
    let (base, new) = (load(&opts.base)?, load(&opts.new)?);
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
    let result = compare::compare(&base, &new, &options).map_err(CliError::Compare)?;
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
}

/// `pushbench serve --runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeMode {
    /// One multi-thread runtime serves every connection.
    Shared,
    /// One single-threaded runtime per thread; connections dealt round robin.
    PerCore,
}

impl RuntimeMode {
    /// The threads of the runtime `serve` must be called on (`None`: one per core) and the
    /// server's own runtime setting, for `threads` serving threads (`None`: one per core).
    pub fn threads(self, threads: Option<usize>) -> (Option<usize>, ServerRuntime) {
        match self {
            RuntimeMode::Shared => (threads, ServerRuntime::Shared),
            // The caller's runtime only accepts connections and waits for signals.
            RuntimeMode::PerCore => (
                Some(1),
                ServerRuntime::PerCore {
                    threads: threads.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, |n| n.get())
                    }),
                },
            ),
        }
    }
}

/// Pending connections the kernel queues before `accept`: a ramp-up of thousands of clients
/// a second must not overflow it (the kernel caps it at `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 8192;

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves until SIGINT or SIGTERM.
pub async fn serve(opts: ServeOptions) -> Result<(), CliError> {
    pushbench_wire::process::raise_open_files_limit();
    let listener = listen(opts.addr).map_err(|source| CliError::Bind {
        addr: opts.addr,
        source,
    })?;
    let local = listener.local_addr().map_err(|source| CliError::Bind {
        addr: opts.addr,
        source,
    })?;
    // `pushbench run` reads this line to learn the port of a child it started on port 0.
    pushbench_server::check_exposure(local, opts.control_token.as_deref())?;
    println!("{}{local}", child::READY_PREFIX);
    let config = pushbench_server::ServerConfig {
        ring_capacity: opts.ring_capacity,
        control_token: opts.control_token,
        runtime: opts.runtime,
        ..Default::default()
    };
    pushbench_server::serve_with(listener, config, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
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

/// Which CPUs `--pin` gives the server (`None` for a server pushbench did not start) and
/// the load generator.
fn plan_pinning(pin: &str, own_server: bool) -> Result<CpuPinning, CliError> {
    let bad = |why: String| CliError::BadOption {
        option: "--pin",
        why,
    };
    let (server, loadgen) = if pin == "halves" {
        let all = process::allowed_cpus();
        if all.len() < 2 {
            return Err(bad(format!(
                "splitting CPUs between server and load generator needs two, this process may use {}",
                process::format_cpu_list(&all)
            )));
        }
        let (a, b) = all.split_at(all.len() / 2);
        (a.to_vec(), b.to_vec())
    } else {
        let (a, b) = pin.split_once(':').ok_or_else(|| {
            bad(format!(
                "expected SERVER:LOADGEN CPU lists such as 0:1 or 0-1:2-3, found {pin:?}"
            ))
        })?;
        let server = match (a.is_empty(), own_server) {
            (true, false) => Vec::new(),
            _ => process::parse_cpu_list(a).map_err(&bad)?,
        };
        (server, process::parse_cpu_list(b).map_err(&bad)?)
    };
    let allowed = process::allowed_cpus();
    if let Some(c) = server.iter().chain(&loadgen).find(|c| !allowed.contains(c)) {
        return Err(bad(format!(
            "CPU {c} is not available (this process may use CPUs {})",
            process::format_cpu_list(&allowed)
        )));
    }
    if let Some(c) = server.iter().find(|c| loadgen.contains(c)) {
        return Err(bad(format!(
            "CPU {c} is given to both the server and the load generator"
        )));
    }
    Ok(CpuPinning {
        server: own_server.then(|| process::format_cpu_list(&server)),
        loadgen: process::format_cpu_list(&loadgen),
    })
}

/// Runs a scenario and writes its run directory.
pub async fn run(opts: RunOptions) -> Result<(), CliError> {
    // Before anything else, so that the default worker count follows the pinned CPUs.
    let pinning = match &opts.pin {
        Some(pin) => {
            let p = plan_pinning(pin, opts.server.is_none())?;
            pin_cpus(Some(&p.loadgen)).map_err(|e| match e {
                CliError::BadOption { why, .. } => CliError::BadOption {
                    option: "--pin",
                    why,
                },
                other => other,
            })?;
            Some(p)
        }
        None => None,
    };
    let scenario = pushbench_loadgen::scenario::load(&opts.scenario).map_err(CliError::Input)?;
    let open_files = pushbench_wire::process::raise_open_files_limit();
    pushbench_loadgen::scenario::check_descriptors(&scenario, &opts.scenario, open_files)
        .map_err(CliError::Input)?;
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&scenario.name));
    let mut server_child = None;
    let server = match &opts.server {
        Some(url) => parse_server(url).map_err(CliError::Input)?,
        None => {
            let cpus = pinning.as_ref().and_then(|p| p.server.as_deref());
            let c = child::ServerChild::start(&scenario, cpus).await?;
            let addr = c.addr;
            server_child = Some(c);
            addr
        }
    };
    // A server that does not answer is found before a run directory is made for it.
    // Its memory now, before any client connected, is also the base of the per-connection
    // memory figures.
    let mut probe =
        pushbench_loadgen::control::Control::with_token(server, opts.control_token.as_deref());
    let baseline = match probe.stats().await {
        Ok(stats) => pushbench_loadgen::RssBaseline {
            server_bytes: stats.rss_bytes,
            loadgen_bytes: pushbench_wire::process::memory().rss_bytes,
        },
        Err(e) => {
            return Err(match opts.server {
                Some(_) => CliError::Input(e),
                None => CliError::Child(e.to_string()),
            });
        }
    };
    let run_dir = RunDir::create(&out).map_err(CliError::OutDir)?;
    let started = SystemTime::now();
    let host = host::detect();
    let meta = |completed: bool, reason: Option<String>| RunMeta {
        scenario: scenario.clone(),
        scenario_path: opts.scenario.display().to_string(),
        pushbench_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: Some(env!("PUSHBENCH_GIT_COMMIT").to_string()).filter(|c| !c.is_empty()),
        host: host.clone(),
        server: match &opts.server {
            Some(url) => url.clone(),
            None => format!("started by pushbench on {server}"),
        },
        started: humantime::format_rfc3339_seconds(started).to_string(),
        ended: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        completed,
        incomplete_reason: reason,
        probe_control_bytes: probe.bytes,
        cpu_pinning: pinning.clone(),
    };
    run_dir.write_meta(&meta(
        false,
        Some("the run is still going (or was killed)".into()),
    ))?;

    // The first Ctrl-C ends the current phase early and keeps what was measured; a second
    // one gives up at once (the files written so far are complete, meta.json says the run
    // did not complete).
    let (cancel, abort) = (CancellationToken::new(), CancellationToken::new());
    let (on_interrupt, on_second) = (cancel.clone(), abort.clone());
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                on_second.cancel();
            }
        }
    });
    let body = async {
        let mut phases: Vec<PhaseResult> = Vec::new();
        let mut failure = None;
        // Repetitions outermost (so drift in machine speed spreads over every phase), sweep
        // points ascending within each, the transports within each point.
        let plans = scenario.points();
        let total = scenario.repeat as usize * plans.len() * scenario.transports.len();
        let live = Arc::new(Progress::new(scenario.loadgen_threads));
        'phases: for (repetition, plan) in
            (1..=scenario.repeat).flat_map(|r| plans.iter().map(move |p| (r, p)))
        {
            for transport in &plan.scenario.transports {
                let at = plan.point.map(|p| format!(" {p}")).unwrap_or_default();
                let title = format!(
                    "[{}/{total}] {}{at} rep {repetition}",
                    phases.len() + 1,
                    transport.label
                );
                let done = CancellationToken::new();
                let display = (!opts.quiet).then(|| {
                    tokio::spawn(progress::show(
                        live.clone(),
                        progress::PhaseInfo {
                            title: title.clone(),
                            clients: transport.clients,
                            total: scenario.ramp_up + scenario.warmup + scenario.duration,
                        },
                        done.clone(),
                    ))
                });
                let spec = PhaseSpec {
                    scenario: &plan.scenario,
                    transport,
                    repetition,
                    sweep: plan.point,
                    server,
                    cancel: cancel.clone(),
                    progress: live.clone(),
                    control_token: opts.control_token.as_deref(),
                    baseline,
                };
                let outcome = run_phase(spec).await;
                done.cancel();
                if let Some(d) = display {
                    let _ = d.await;
                }
                match outcome {
                    Ok(result) => {
                        if !opts.quiet {
                            println!("{title}: {}", phase_line(&result));
                        }
                        phases.push(result);
                        run_dir.write_results(&phases)?;
                    }
                    Err(e) => {
                        failure = Some(e);
                        break 'phases;
                    }
                }
                if cancel.is_cancelled() {
                    break 'phases;
                }
            }
        }
        interrupt.abort();
        if let Some(c) = server_child.take() {
            c.stop().await;
        }

        let (completed, reason) = match (&failure, cancel.is_cancelled()) {
            (Some(e), _) => (false, Some(e.to_string())),
            (None, true) => (false, Some("interrupted by Ctrl-C".to_string())),
            (None, false) => (true, None),
        };
        run_dir.write_meta(&meta(completed, reason))?;
        let rendered = if phases.is_empty() {
            None
        } else {
            Some(pushbench_report::render(run_dir.path())?)
        };
        if !opts.quiet && !phases.is_empty() {
            println!("{}", summary_table(&phases));
            println!("results: {}", run_dir.path().display());
        }
        if let (false, Some(r)) = (opts.quiet, &rendered) {
            println!("report: {}", r.html.display());
        }
        match failure {
            Some(e) => Err(CliError::Run(e)),
            None if cancel.is_cancelled() => Err(CliError::Interrupted(out.clone())),
            None => Ok(()),
        }
    };
    tokio::select! {
        result = body => result,
        _ = abort.cancelled() => Err(CliError::Interrupted(out.clone())),
    }
}

/// One line saying how a phase went, printed as it ends.
fn phase_line(r: &PhaseResult) -> String {
    let c = &r.counters;
    let p99 = if r.latency.is_empty() {
        0
    } else {
        r.latency.value_at_quantile(0.99)
    };
    format!(
        "delivered {} of {}, lost {}, p99 {:.2} ms, {:.1} bytes/message, errors {}",
        c.messages_delivered,
        c.messages_published,
        c.messages_lost,
        p99 as f64 / 1000.0,
        r.wire_bytes_per_message().unwrap_or(0.0),
        r.errors.total()
    )
}

fn default_out_dir(name: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace([':', '-'], "");
    PathBuf::from("results").join(format!("{name}-{stamp}"))
}

/// Accepts `http://HOST:PORT[/]` or `HOST:PORT` on this machine: latency is measured on the
/// monotonic clock both processes share, which only exists when they share a host.
fn parse_server(url: &str) -> Result<SocketAddr, LoadgenError> {
    let bad = |why: &str| LoadgenError::ServerAddress {
        given: url.to_string(),
        why: why.to_string(),
    };
    let rest = url
        .strip_prefix("http://")
        .unwrap_or(url)
        .trim_end_matches('/');
    if rest.contains("://") || rest.contains('/') {
        return Err(bad("expected http://HOST:PORT"));
    }
    let rest = rest.replacen("localhost:", "127.0.0.1:", 1);
    let addr: SocketAddr = rest.parse().map_err(|_| {
        bad("expected http://HOST:PORT with a numeric address, e.g. http://127.0.0.1:8080")
    })?;
    if !addr.ip().is_loopback() {
        return Err(bad(
            "the server must run on this machine (a loopback address): latency is measured on the clock both processes share",
        ));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        assert_eq!(
            parse_server("http://127.0.0.1:8080/").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            parse_server("localhost:9").unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert_eq!(
            parse_server("[::1]:80").unwrap(),
            "[::1]:80".parse().unwrap()
        );
        assert!(parse_server("http://10.0.0.1:80").is_err());
        assert!(parse_server("https://127.0.0.1:80").is_err());
        assert!(parse_server("127.0.0.1").is_err());
    }
}
