//! `pushbench run`: a scenario, phase by phase, into a run directory. Three steps: prepare
//! (pin the CPUs, read the scenario, start or find the server, make the run directory),
//! run the phases, and finish (stop the server, record how the run ended, render the
//! reports).

use crate::target::TargetServer;
use crate::{CliError, child, host, pin_cpus, progress};
use pushbench_loadgen::control::Control;
use pushbench_loadgen::target::TargetPlan;
use pushbench_loadgen::{PhaseResult, PhaseSpec, Progress, RssBaseline, run_phase};
use pushbench_model::rows::Figures;
use pushbench_model::run::{CpuPinning, HostInfo, RunMeta};
use pushbench_model::{Scenario, TransportPlan};
use pushbench_report::{RunDir, summary_table};
use pushbench_wire::process;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;
use tokio_util::sync::CancellationToken;

/// Options of `pushbench run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The run directory; default `results/<name>-<UTC time>/`.
    pub out: Option<PathBuf>,
    /// A running server to drive instead of starting one, as given (`http://HOST:PORT`).
    pub server: Option<String>,
    /// A target file whose server to drive (wins over the scenario's `[target]`).
    pub target: Option<PathBuf>,
    /// Print nothing but errors.
    pub quiet: bool,
    /// Bearer token for a `--server` whose control endpoints require one.
    pub control_token: Option<String>,
    /// Where `--pin` puts the two processes, when given.
    pub pin: Option<Pin>,
}

/// Where `pushbench run --pin` puts the server and the load generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// `--pin` alone: this process's CPUs split in two halves, the server on the first, the
    /// load generator on the rest.
    Halves,
    /// `--pin SERVER:LOADGEN`: CPU lists; the server's may be left empty with `--server`,
    /// which starts no server.
    Lists {
        /// The server's CPUs; `None` when left empty.
        server: Option<Vec<usize>>,
        /// The load generator's CPUs.
        loadgen: Vec<usize>,
    },
}

impl Pin {
    /// Reads `--pin`'s value: none for [`Pin::Halves`], else `SERVER:LOADGEN` CPU lists
    /// (`0:1`, `0-1:2-3`).
    pub fn parse(given: Option<&str>) -> Result<Pin, CliError> {
        let Some(text) = given else {
            return Ok(Pin::Halves);
        };
        let (a, b) = text.split_once(':').ok_or_else(|| {
            bad_pin(format!(
                "expected SERVER:LOADGEN CPU lists such as 0:1 or 0-1:2-3, found {text:?}"
            ))
        })?;
        let list = |t: &str| process::parse_cpu_list(t).map_err(bad_pin);
        // The server's list is checked first, as the error a user sees first.
        let server = if a.is_empty() { None } else { Some(list(a)?) };
        Ok(Pin::Lists {
            server,
            loadgen: list(b)?,
        })
    }

    /// Which CPUs the server (`None` for a server pushbench does not start) and the load
    /// generator get, checked against the CPUs this process may use.
    fn plan(&self, own_server: bool) -> Result<CpuPinning, CliError> {
        let allowed = process::allowed_cpus();
        let (server, loadgen) = match self {
            Pin::Halves => {
                if allowed.len() < 2 {
                    return Err(bad_pin(format!(
                        "splitting CPUs between server and load generator needs two, this process may use {}",
                        process::format_cpu_list(&allowed)
                    )));
                }
                let (a, b) = allowed.split_at(allowed.len() / 2);
                (a.to_vec(), b.to_vec())
            }
            Pin::Lists { server, loadgen } => {
                let server = match (server, own_server) {
                    (Some(s), _) => s.clone(),
                    (None, false) => Vec::new(),
                    // The server pushbench starts needs CPUs of its own.
                    (None, true) => process::parse_cpu_list("").map_err(bad_pin)?,
                };
                (server, loadgen.clone())
            }
        };
        if let Some(c) = server.iter().chain(&loadgen).find(|c| !allowed.contains(c)) {
            return Err(bad_pin(format!(
                "CPU {c} is not available (this process may use CPUs {})",
                process::format_cpu_list(&allowed)
            )));
        }
        if let Some(c) = server.iter().find(|c| loadgen.contains(c)) {
            return Err(bad_pin(format!(
                "CPU {c} is given to both the server and the load generator"
            )));
        }
        Ok(CpuPinning {
            server: own_server.then(|| process::format_cpu_list(&server)),
            loadgen: process::format_cpu_list(&loadgen),
        })
    }
}

fn bad_pin(why: String) -> CliError {
    CliError::BadOption {
        option: "--pin",
        why,
    }
}

/// Runs a scenario and writes its run directory.
pub async fn run(opts: RunOptions) -> Result<(), CliError> {
    let run = Prepared::prepare(&opts).await?;
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
    let out = run.out.clone();
    let body = async {
        let (phases, failure) = run.phases(&cancel).await?;
        interrupt.abort();
        run.finish(phases, failure, cancel.is_cancelled()).await
    };
    tokio::select! {
        result = body => result,
        _ = abort.cancelled() => Err(CliError::Interrupted(out)),
    }
}

/// A run ready to start: its scenario, its server, its run directory.
struct Prepared<'a> {
    opts: &'a RunOptions,
    scenario: Scenario,
    out: PathBuf,
    server: SocketAddr,
    /// The server `run` started, stopped when the phases are over.
    child: Option<child::ServerChild>,
    /// The target whose server the run drives, when it is not pushbench's own.
    target: Option<TargetServer>,
    /// What `meta.json` says the server is: kept from the start, since the target is
    /// stopped before the last `meta.json` is written.
    server_description: String,
    baseline: RssBaseline,
    run_dir: RunDir,
    started: SystemTime,
    host: HostInfo,
    pinning: Option<CpuPinning>,
    probe_control_bytes: u64,
}

impl<'a> Prepared<'a> {
    async fn prepare(opts: &'a RunOptions) -> Result<Prepared<'a>, CliError> {
        // Before anything else, so that the default worker count follows the pinned CPUs.
        let pinning = match &opts.pin {
            Some(pin) => {
                let p = pin.plan(opts.server.is_none())?;
                pin_cpus(Some(&p.loadgen)).map_err(|e| match e {
                    CliError::BadOption { why, .. } => bad_pin(why),
                    other => other,
                })?;
                Some(p)
            }
            None => None,
        };
        let scenario =
            pushbench_loadgen::scenario::load(&opts.scenario).map_err(CliError::Input)?;
        let open_files = process::raise_open_files_limit();
        pushbench_loadgen::scenario::check_descriptors(&scenario, &opts.scenario, open_files)
            .map_err(CliError::Input)?;
        let out = opts
            .out
            .clone()
            .unwrap_or_else(|| default_out_dir(&scenario.name));
        let target = read_target(opts, &scenario)?;
        let scenario = match &target {
            Some(plan) => fit_target(opts, scenario, plan)?,
            None => scenario,
        };
        let up = ServerUp::start(opts, &scenario, target, pinning.as_ref()).await?;
        let run_dir = RunDir::create(&out).map_err(CliError::OutDir)?;
        let prepared = Prepared {
            opts,
            scenario,
            out,
            server: up.addr,
            child: up.child,
            target: up.target,
            server_description: up.description,
            baseline: up.baseline,
            run_dir,
            started: SystemTime::now(),
            host: host::detect(),
            pinning,
            probe_control_bytes: up.probe_bytes,
        };
        let still_going = "the run is still going (or was killed)".to_string();
        prepared
            .run_dir
            .write_meta(&prepared.meta(false, Some(still_going)))?;
        Ok(prepared)
    }

    /// `meta.json` as it stands: completed or not, and why not.
    fn meta(&self, completed: bool, incomplete_reason: Option<String>) -> RunMeta {
        RunMeta {
            scenario: self.scenario.clone(),
            scenario_path: self.opts.scenario.display().to_string(),
            pushbench_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: Some(env!("PUSHBENCH_GIT_COMMIT").to_string()).filter(|c| !c.is_empty()),
            host: self.host.clone(),
            server: self.server_description.clone(),
            started: humantime::format_rfc3339_seconds(self.started).to_string(),
            ended: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            completed,
            incomplete_reason,
            probe_control_bytes: self.probe_control_bytes,
            cpu_pinning: self.pinning.clone(),
        }
    }

    /// Runs every phase: repetitions outermost (so drift in machine speed spreads over
    /// every phase), sweep points ascending within each, the transports within each point.
    /// Stops at the first failure, or when `cancel` is; the results so far are written after
    /// every phase.
    async fn phases(
        &self,
        cancel: &CancellationToken,
    ) -> Result<(Vec<PhaseResult>, Option<pushbench_loadgen::LoadgenError>), CliError> {
        let sc = &self.scenario;
        let plans = sc.points();
        let total = sc.repeat as usize * plans.len() * sc.transports.len();
        let live = Arc::new(Progress::new(sc.loadgen_threads));
        let mut phases: Vec<PhaseResult> = Vec::new();
        let order = (1..=sc.repeat).flat_map(|r| plans.iter().map(move |p| (r, p)));
        for (repetition, plan) in order {
            for transport in &plan.scenario.transports {
                let at = plan.point.map(|p| format!(" {p}")).unwrap_or_default();
                let title = format!(
                    "[{}/{total}] {}{at} rep {repetition}",
                    phases.len() + 1,
                    transport.label
                );
                let spec = PhaseSpec {
                    scenario: &plan.scenario,
                    transport,
                    repetition,
                    sweep: plan.point,
                    server: self.server,
                    cancel: cancel.clone(),
                    progress: live.clone(),
                    control_token: self.opts.control_token.as_deref(),
                    baseline: self.baseline,
                    target: self.target.as_ref().map(|t| &t.run),
                };
                match self.phase(spec, &title, transport).await {
                    Ok(result) => {
                        phases.push(result);
                        self.run_dir.write_results(&phases)?;
                    }
                    Err(e) => return Ok((phases, Some(e))),
                }
                if cancel.is_cancelled() {
                    return Ok((phases, None));
                }
            }
        }
        Ok((phases, None))
    }

    /// One phase, its progress shown while it runs and its outcome in one line after.
    async fn phase(
        &self,
        spec: PhaseSpec<'_>,
        title: &str,
        transport: &TransportPlan,
    ) -> Result<PhaseResult, pushbench_loadgen::LoadgenError> {
        let done = CancellationToken::new();
        let display = (!self.opts.quiet).then(|| {
            let info = progress::PhaseInfo {
                title: title.to_string(),
                clients: transport.clients,
                total: self.scenario.ramp_up + self.scenario.warmup + self.scenario.duration,
            };
            tokio::spawn(progress::show(spec.progress.clone(), info, done.clone()))
        });
        let outcome = run_phase(spec).await;
        done.cancel();
        if let Some(d) = display {
            let _ = d.await;
        }
        if let (Ok(result), false) = (&outcome, self.opts.quiet) {
            println!("{title}: {}", phase_line(result));
        }
        outcome
    }

    /// Stops the server, records how the run ended, renders the reports and prints the
    /// summary.
    async fn finish(
        mut self,
        phases: Vec<PhaseResult>,
        failure: Option<pushbench_loadgen::LoadgenError>,
        interrupted: bool,
    ) -> Result<(), CliError> {
        if let Some(c) = self.child.take() {
            c.stop().await;
        }
        if let Some(t) = self.target.take() {
            t.stop().await;
        }
        let (completed, reason) = match (&failure, interrupted) {
            (Some(e), _) => (false, Some(e.to_string())),
            (None, true) => (false, Some("interrupted by Ctrl-C".to_string())),
            (None, false) => (true, None),
        };
        self.run_dir.write_meta(&self.meta(completed, reason))?;
        let quiet = self.opts.quiet;
        if !phases.is_empty() {
            let rendered = pushbench_report::render(self.run_dir.path())?;
            if !quiet {
                println!("{}", summary_table(&phases));
                println!("results: {}", self.run_dir.path().display());
                println!("report: {}", rendered.html.display());
            }
        }
        match failure {
            Some(e) => Err(CliError::Run(e)),
            None if interrupted => Err(CliError::Interrupted(self.out)),
            None => Ok(()),
        }
    }
}

/// The server a run drives, up and answering: pushbench's own (started as a child or given
/// with `--server`) or a target's.
struct ServerUp {
    addr: SocketAddr,
    child: Option<child::ServerChild>,
    target: Option<TargetServer>,
    /// What `meta.json` says it is.
    description: String,
    /// Both processes' memory before any client connected.
    baseline: RssBaseline,
    /// Bytes of the requests that found it ready.
    probe_bytes: u64,
}

impl ServerUp {
    async fn start(
        opts: &RunOptions,
        scenario: &Scenario,
        target: Option<TargetPlan>,
        pinning: Option<&CpuPinning>,
    ) -> Result<ServerUp, CliError> {
        let target = match target {
            Some(plan) => Some(start_target(plan, pinning).await?),
            None => None,
        };
        let (addr, child) = match (&opts.server, &target) {
            (_, Some(t)) => (t.run.addr, None),
            (Some(url), None) => (parse_server(url)?, None),
            (None, None) => {
                let cpus = pinning.and_then(|p| p.server.as_deref());
                let c = child::ServerChild::start(scenario, cpus).await?;
                (c.addr, Some(c))
            }
        };
        // A server that does not answer is found before a run directory is made for it.
        // Its memory now, before any client connected, is also the base of the
        // per-connection memory figures.
        let mut probe = Control::with_token(addr, opts.control_token.as_deref());
        let server_bytes = match &target {
            Some(t) => process::tree_usage(t.run.pid).map_or(0, |u| u.rss_bytes),
            None => match probe.stats().await {
                Ok(stats) => stats.rss_bytes,
                Err(e) if opts.server.is_some() => return Err(CliError::Input(e)),
                Err(e) => return Err(CliError::Child(e.to_string())),
            },
        };
        let description = match (&target, &opts.server) {
            (Some(t), _) => t.describe(),
            (None, Some(url)) => url.clone(),
            (None, None) => format!("started by pushbench on {addr}"),
        };
        Ok(ServerUp {
            addr,
            child,
            probe_bytes: probe.bytes + target.as_ref().map_or(0, |t| t.probe_bytes),
            target,
            description,
            baseline: RssBaseline {
                server_bytes,
                loadgen_bytes: process::memory().rss_bytes,
            },
        })
    }
}

/// The target the run drives: `--target`'s, else the scenario's `[target]`, else none.
fn read_target(opts: &RunOptions, scenario: &Scenario) -> Result<Option<TargetPlan>, CliError> {
    let Some(file) = opts.target.clone().or_else(|| scenario.target.clone()) else {
        return Ok(None);
    };
    if opts.server.is_some() {
        return Err(CliError::BadOption {
            option: "--server",
            why: "a target file says where its server is; give --server or a target, not both"
                .into(),
        });
    }
    let plan = pushbench_loadgen::target::load(&file).map_err(CliError::Input)?;
    Ok(Some(plan))
}

/// The scenario as it runs against `target`, checked to fit it; a transport no target can
/// offer (the raw stream) is left out, and said so on stderr.
fn fit_target(
    opts: &RunOptions,
    scenario: Scenario,
    target: &TargetPlan,
) -> Result<Scenario, CliError> {
    use pushbench_loadgen::target::{check_fit, offered_only};
    let (fitted, left_out) = offered_only(&scenario, target).map_err(CliError::Input)?;
    check_fit(&fitted, target).map_err(CliError::Input)?;
    for label in left_out {
        eprintln!(
            "pushbench: {}: {label} left out: no target offers pushbench's own raw stream",
            opts.scenario.display()
        );
    }
    Ok(fitted)
}

/// Starts (or finds) a target's server, pinned to the server's CPUs of `--pin` when
/// pushbench starts it.
async fn start_target(
    plan: TargetPlan,
    pinning: Option<&CpuPinning>,
) -> Result<TargetServer, CliError> {
    let cpus = match pinning.and_then(|p| p.server.as_deref()) {
        Some(list) => Some(process::parse_cpu_list(list).map_err(bad_pin)?),
        None => None,
    };
    TargetServer::start(plan, cpus.as_deref()).await
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
fn parse_server(url: &str) -> Result<SocketAddr, CliError> {
    let bad = |why: &str| CliError::ServerAddress {
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

    #[test]
    fn pin_values_read_as_halves_or_lists() {
        assert_eq!(Pin::parse(None).unwrap(), Pin::Halves);
        assert_eq!(
            Pin::parse(Some("0-1:2")).unwrap(),
            Pin::Lists {
                server: Some(vec![0, 1]),
                loadgen: vec![2]
            }
        );
        assert_eq!(
            Pin::parse(Some(":1")).unwrap(),
            Pin::Lists {
                server: None,
                loadgen: vec![1]
            }
        );
        for bad in ["0", "0:", "x:1", "0:1-"] {
            assert!(Pin::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
