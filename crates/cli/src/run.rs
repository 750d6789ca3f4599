//! `pushbench run`: a scenario, phase by phase, into a run directory. Three steps: prepare
//! (pin the CPUs, read the scenario, start or find the server, or a paired run's two, make
//! the run directory), run the phases, and finish (stop the servers, record how the run
//! ended, render the reports).

use crate::side::{PairedSources, Server};
use crate::{CliError, host, pin_cpus, progress};
use pushbench_loadgen::shard::{ShardClock, ShardPhase};
use pushbench_loadgen::target::TargetPlan;
use pushbench_loadgen::{PhaseResult, PhaseSpec, Progress, run_phase};
use pushbench_model::clock::{ClockMode, PhaseClock};
use pushbench_model::paired::{PairedMeta, PairedPhase, ServerSource, Side};
use pushbench_model::rows::Figures;
use pushbench_model::run::{CpuPinning, HostInfo, RunMeta};
use pushbench_model::shard::{PlannedPhase, ShardMeta};
use pushbench_model::{Scenario, SweepPoint, TransportPlan};
use pushbench_report::{PairedDir, RunDir, summary_table};
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
    /// A paired run's two servers: the scenario runs against both, interleaved, into one
    /// paired run directory (`docs/compare.md`).
    pub paired: Option<PairedSources>,
    /// `--shard I/N --start-at TIME`: this run is one shard of a sharded run.
    pub shard: Option<crate::ShardOptions>,
    /// `--clock-offset`: whether latencies are converted by the estimated clock offset;
    /// `None` chooses by the server's address ([`RunOptions::clock_mode`]).
    pub clock_offset: Option<ClockMode>,
}

impl RunOptions {
    /// How the phases against the server at `addr` read latency: as `--clock-offset` says,
    /// else on the shared clock for a loopback address (one host: exact, where an estimate
    /// would only add its error) and converted by the estimate otherwise.
    pub fn clock_mode(&self, addr: SocketAddr) -> ClockMode {
        self.clock_offset.unwrap_or(if addr.ip().is_loopback() {
            ClockMode::None
        } else {
            ClockMode::Estimate
        })
    }

    /// Whether the run starts a server process of its own (which `--pin` then places).
    fn starts_a_server(&self) -> bool {
        match &self.paired {
            Some(p) => Side::BOTH
                .iter()
                .any(|s| matches!(p.of(*s), ServerSource::Bin { .. })),
            None => self.server.is_none(),
        }
    }
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

/// `meta.json`'s `incomplete_reason` while the run goes on: what a killed run leaves.
const STILL_GOING: &str = "the run is still going (or was killed)";

/// Runs a scenario and writes its run directory.
pub async fn run(opts: RunOptions) -> Result<(), CliError> {
    let mut run = Prepared::prepare(&opts).await?;
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

/// A run ready to start: its scenario, its servers (one, or a paired run's two), their run
/// directories.
struct Prepared<'a> {
    opts: &'a RunOptions,
    scenario: Scenario,
    out: PathBuf,
    /// One for a plain run; baseline and candidate, in that order, for a paired run.
    sides: Vec<RunSide>,
    /// A paired run's directory and `paired.json` as it stands.
    paired: Option<PairedState>,
    started: SystemTime,
    host: HostInfo,
    pinning: Option<CpuPinning>,
    /// A shard run's clock and plan.
    shard: Option<(ShardClock, Vec<PlannedPhase>)>,
}

/// A paired run's directory and its `paired.json` as it stands.
struct PairedState {
    dir: PairedDir,
    meta: PairedMeta,
}

impl PairedState {
    /// Adds a phase just measured to the order and rewrites `paired.json`, after the side's
    /// own files: `paired.json` never lists a phase its side does not hold.
    fn record(
        &mut self,
        side: Side,
        transport: &TransportPlan,
        repetition: u32,
        sweep: Option<SweepPoint>,
    ) -> Result<(), CliError> {
        self.meta.order.push(PairedPhase {
            slot: self.meta.order.len() as u32 + 1,
            side,
            transport: transport.label.clone(),
            repetition,
            sweep,
        });
        Ok(self.dir.write_meta(&self.meta)?)
    }
}

/// Starts or finds the servers a run drives, each probed: the one of a plain run (a
/// target's, when the run has one), or the baseline's and then the candidate's of a paired
/// run.
async fn start_servers(
    opts: &RunOptions,
    scenario: &Scenario,
    target: Option<TargetPlan>,
    cpus: Option<&str>,
) -> Result<Vec<(Option<Side>, Server)>, CliError> {
    let token = opts.control_token.as_deref();
    let Some(p) = &opts.paired else {
        if let Some(plan) = target {
            let cpus = match cpus {
                Some(list) => Some(process::parse_cpu_list(list).map_err(bad_pin)?),
                None => None,
            };
            return Ok(vec![(
                None,
                Server::of_target(plan, cpus.as_deref()).await?,
            )]);
        }
        let plain = opts.server.clone().map(|url| ServerSource::Url { url });
        let server = Server::start(None, plain.as_ref(), scenario, cpus, token).await?;
        return Ok(vec![(None, server)]);
    };
    let mut servers = Vec::new();
    for side in Side::BOTH {
        let server = Server::start(Some(side), Some(p.of(side)), scenario, cpus, token).await?;
        servers.push((Some(side), server));
    }
    Ok(servers)
}

/// The target the run drives: `--target`'s, else the scenario's `[target]`, else none;
/// refused beside `--server` and in a paired run.
fn read_target(opts: &RunOptions, scenario: &Scenario) -> Result<Option<TargetPlan>, CliError> {
    let Some(file) = opts.target.clone().or_else(|| scenario.target.clone()) else {
        return Ok(None);
    };
    if opts.paired.is_some() {
        return Err(CliError::BadOption {
            option: "--target",
            why: "a paired run measures two pushbench servers (--baseline-bin/--baseline-server, --candidate-bin/--candidate-server); a target cannot be one of its sides yet".into(),
        });
    }
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

/// What a shard needs besides `--shard` and `--start-at`: a server every shard reaches
/// (`--server`, unless it is the only shard), and pushbench's own (a target's publishing is
/// the load generator's, which shards would each do); and a plain run, not a paired one.
fn check_shard_options(opts: &RunOptions, scenario: &Scenario) -> Result<(), CliError> {
    let Some(s) = opts.shard else {
        return Ok(());
    };
    let bad = |why: &str| CliError::BadOption {
        option: "--shard",
        why: why.into(),
    };
    if opts.paired.is_some() {
        return Err(bad("a paired run cannot be sharded"));
    }
    if opts.target.is_some() || scenario.target.is_some() {
        return Err(bad(
            "a target (--target or [target]) cannot be sharded: shard a run of pushbench's own server",
        ));
    }
    if s.shard.count > 1 && opts.server.is_none() {
        return Err(bad(
            "with more than one shard, give every shard the same --server (scripts/shards.sh starts one)",
        ));
    }
    Ok(())
}

/// Refuses a paired run of one repetition (a single pair has no interval) and warns, on
/// stderr, of fewer pairs than a 95% interval needs: with `n` pairs the widest signed-rank
/// interval has `1 − 2/2^n` confidence, 93.75% at 5 pairs, 96.9% at 6 (`docs/compare.md`).
fn check_pairs(scenario: &Scenario, path: &std::path::Path) -> Result<(), CliError> {
    use pushbench_report::compare::{min_pairs, paired_confidence};
    let (n, enough) = (scenario.repeat as usize, min_pairs());
    if n < 2 {
        return Err(CliError::Usage(format!(
            "{}: repeat: a paired run needs 2 repetitions or more ({enough} or more for a 95% interval), the scenario has {n}",
            path.display()
        )));
    }
    if n < enough {
        eprintln!(
            "warning: {}: repeat = {n} gives {n} pairs, whose widest interval has only {:.2}% confidence \
             (95% needs {enough} pairs): noise passes for a change more often; use repeat = {enough} or more",
            path.display(),
            paired_confidence(n) * 100.0
        );
    }
    Ok(())
}

/// A server and the run directory its phases go to.
struct RunSide {
    /// The side of a paired run; `None` in a plain run.
    side: Option<Side>,
    server: Server,
    run_dir: RunDir,
}

impl<'a> Prepared<'a> {
    async fn prepare(opts: &'a RunOptions) -> Result<Prepared<'a>, CliError> {
        // Before anything else, so that the default worker count follows the pinned CPUs.
        let pinning = match &opts.pin {
            Some(pin) => {
                let p = pin.plan(opts.starts_a_server())?;
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
        let shard = opts.shard.map(|s| s.shard);
        pushbench_loadgen::scenario::check_shard_descriptors(
            &scenario,
            &opts.scenario,
            open_files,
            shard,
        )
        .map_err(CliError::Input)?;
        pushbench_loadgen::scenario::check_browser(&scenario, &opts.scenario)
            .map_err(CliError::Input)?;
        check_shard_options(opts, &scenario)?;
        if opts.paired.is_some() {
            check_pairs(&scenario, &opts.scenario)?;
        }
        let out = opts
            .out
            .clone()
            .unwrap_or_else(|| default_out_dir(&scenario.name));
        let target = read_target(opts, &scenario)?;
        let scenario = match &target {
            Some(plan) => fit_target(opts, scenario, plan)?,
            None => scenario,
        };
        let cpus = pinning.as_ref().and_then(|p| p.server.as_deref());
        let servers = start_servers(opts, &scenario, target, cpus).await?;
        note_clocks(opts, &servers);
        let shard = match opts.shard {
            Some(s) => {
                s.check_not_past()?;
                // A sharded run has one server (paired runs are refused above).
                let workloads = servers[0].1.workloads;
                let clock = ShardClock::new(s.shard, s.start_unix_ns, workloads);
                Some((clock, pushbench_loadgen::shard::plan(&scenario)))
            }
            None => None,
        };
        let (sides, paired) = Self::directories(opts, &out, servers)?;
        let prepared = Prepared {
            opts,
            scenario,
            out,
            sides,
            paired,
            started: SystemTime::now(),
            host: host::detect(),
            pinning,
            shard,
        };
        for s in &prepared.sides {
            s.run_dir
                .write_meta(&prepared.meta(s, &[], false, Some(STILL_GOING.into())))?;
        }
        if let Some(p) = &prepared.paired {
            p.dir.write_meta(&p.meta)?;
        }
        Ok(prepared)
    }

    /// The run directory of each server: `out` itself for a plain run; for a paired run
    /// `out/baseline` and `out/candidate`, and `out/paired.json`.
    fn directories(
        opts: &RunOptions,
        out: &std::path::Path,
        servers: Vec<(Option<Side>, Server)>,
    ) -> Result<(Vec<RunSide>, Option<PairedState>), CliError> {
        let Some(sources) = &opts.paired else {
            let run_dir = RunDir::create(out).map_err(CliError::OutDir)?;
            let sides = servers
                .into_iter()
                .map(|(side, server)| RunSide {
                    side,
                    server,
                    run_dir: run_dir.clone(),
                })
                .collect();
            return Ok((sides, None));
        };
        let dir = PairedDir::create(out).map_err(CliError::OutDir)?;
        let sides = servers
            .into_iter()
            .map(|(side, server)| RunSide {
                side,
                run_dir: dir
                    .side(side.expect("a paired run's servers have sides"))
                    .clone(),
                server,
            })
            .collect();
        let meta = PairedMeta {
            baseline: sources.baseline.clone(),
            candidate: sources.candidate.clone(),
            order: Vec::new(),
        };
        Ok((sides, Some(PairedState { dir, meta })))
    }

    /// A side's `meta.json` as it stands, with its `phases` so far: completed or not, and
    /// why not.
    fn meta(
        &self,
        s: &RunSide,
        phases: &[PhaseResult],
        completed: bool,
        incomplete_reason: Option<String>,
    ) -> RunMeta {
        RunMeta {
            scenario: self.scenario.clone(),
            scenario_path: self.opts.scenario.display().to_string(),
            pushbench_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: Some(env!("PUSHBENCH_GIT_COMMIT").to_string()).filter(|c| !c.is_empty()),
            host: self.host.clone(),
            server: s.server.description.clone(),
            started: humantime::format_rfc3339_seconds(self.started).to_string(),
            ended: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            completed,
            incomplete_reason,
            probe_control_bytes: s.server.probe_control_bytes,
            cpu_pinning: self.pinning.clone(),
            shard: self.shard_meta(),
            merged: None,
            clock: PhaseClock::of(phases),
        }
    }

    /// `meta.json`'s `shard`: which shard, the start time and the plan.
    fn shard_meta(&self) -> Option<ShardMeta> {
        let (clock, plan) = self.shard.as_ref()?;
        let opts = self.opts.shard?;
        Some(ShardMeta {
            shard: clock.shard,
            start_at: opts.start_text(),
            start_at_unix_ns: clock.start_unix_ns,
            plan: plan.clone(),
        })
    }

    /// This shard's part of phase `number` (from 1) of the plan: its share of the clients,
    /// and the phase's planned times.
    fn shard_part(
        &self,
        number: usize,
        transport: &TransportPlan,
    ) -> Option<(TransportPlan, ShardPhase)> {
        let (clock, plan) = self.shard.as_ref()?;
        let planned = plan[number - 1].clone();
        // Both walk the scenario's phases in the same order.
        debug_assert_eq!(planned.transport, transport.label);
        let mut share = transport.clone();
        share.clients = clock.shard.clients(transport.clients);
        let phase = ShardPhase {
            clock: *clock,
            number,
            planned,
            total_clients: transport.clients,
        };
        Some((share, phase))
    }

    /// Runs every phase: repetitions outermost (so drift in machine speed spreads over
    /// every phase), sweep points ascending within each, the transports within each point,
    /// and in a paired run both sides of each transport, one right after the other, the
    /// baseline first in odd repetitions and the candidate first in even ones (A B B A).
    /// Stops at the first failure, or when `cancel` is; the results so far are written after
    /// every phase. Returns the phases of each side.
    async fn phases(
        &mut self,
        cancel: &CancellationToken,
    ) -> Result<
        (
            Vec<Vec<PhaseResult>>,
            Option<pushbench_loadgen::LoadgenError>,
        ),
        CliError,
    > {
        let sc = &self.scenario;
        let plans = sc.points();
        let total = sc.repeat as usize * plans.len() * sc.transports.len() * self.sides.len();
        let live = Arc::new(Progress::new(sc.loadgen_threads));
        let mut phases: Vec<Vec<PhaseResult>> = vec![Vec::new(); self.sides.len()];
        let order = (1..=sc.repeat).flat_map(|r| plans.iter().map(move |p| (r, p)));
        let mut done = 0;
        for (repetition, plan) in order {
            for transport in &plan.scenario.transports {
                for i in self.side_order(repetition) {
                    done += 1;
                    let side = &self.sides[i];
                    let at = plan.point.map(|p| format!(" {p}")).unwrap_or_default();
                    let of = side
                        .side
                        .map(|s| format!(" ({})", s.name()))
                        .unwrap_or_default();
                    let title = format!(
                        "[{done}/{total}] {}{at} rep {repetition}{of}",
                        transport.label
                    );
                    let part = self.shard_part(done, transport);
                    let transport = part.as_ref().map_or(transport, |(share, _)| share);
                    let spec = PhaseSpec {
                        scenario: &plan.scenario,
                        transport,
                        repetition,
                        sweep: plan.point,
                        server: side.server.addr,
                        cancel: cancel.clone(),
                        progress: live.clone(),
                        control_token: self.opts.control_token.as_deref(),
                        baseline: side.server.rss,
                        target: side.server.target.as_ref().map(|t| &t.run),
                        shard: part.as_ref().map(|(_, phase)| phase.clone()),
                        clock: self.opts.clock_mode(side.server.addr),
                    };
                    match self.phase(spec, &title, transport).await {
                        Ok(result) => {
                            phases[i].push(result);
                            side.run_dir.write_results(&phases[i])?;
                            // With the phase's clock offset, which only meta.json lists.
                            side.run_dir.write_meta(&self.meta(
                                side,
                                &phases[i],
                                false,
                                Some(STILL_GOING.into()),
                            ))?;
                            if self.shard.is_some() {
                                side.run_dir.write_phase_records(&phases[i])?;
                            }
                            if let (Some(p), Some(s)) = (&mut self.paired, side.side) {
                                p.record(s, transport, repetition, plan.point)?;
                            }
                        }
                        Err(e) => return Ok((phases, Some(e))),
                    }
                    if cancel.is_cancelled() {
                        return Ok((phases, None));
                    }
                }
            }
        }
        Ok((phases, None))
    }

    /// The sides in the order they run a transport in `repetition` (indices into `sides`).
    fn side_order(&self, repetition: u32) -> Vec<usize> {
        match self.paired {
            None => vec![0],
            Some(_) => Side::order(repetition)
                .iter()
                .map(|s| {
                    self.sides
                        .iter()
                        .position(|r| r.side == Some(*s))
                        .expect("both sides")
                })
                .collect(),
        }
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

    /// Stops the servers, records how the run ended, renders the reports and prints the
    /// summaries.
    async fn finish(
        mut self,
        phases: Vec<Vec<PhaseResult>>,
        failure: Option<pushbench_loadgen::LoadgenError>,
        interrupted: bool,
    ) -> Result<(), CliError> {
        for s in &mut self.sides {
            s.server.stop().await;
        }
        let (completed, reason) = match (&failure, interrupted) {
            (Some(e), _) => (false, Some(e.to_string())),
            (None, true) => (false, Some("interrupted by Ctrl-C".to_string())),
            (None, false) => (true, None),
        };
        let quiet = self.opts.quiet;
        for (s, phases) in self.sides.iter().zip(&phases) {
            s.run_dir
                .write_meta(&self.meta(s, phases, completed, reason.clone()))?;
            if phases.is_empty() {
                continue;
            }
            let rendered = pushbench_report::render(s.run_dir.path())?;
            if !quiet {
                if let Some(side) = s.side {
                    println!("{} ({}):", side.name(), s.server.description);
                }
                println!("{}", summary_table(phases));
                println!("results: {}", s.run_dir.path().display());
                println!("report: {}", rendered.html.display());
            }
        }
        if self.paired.is_some() && !quiet {
            println!(
                "paired run: {}; judge the candidate with `pushbench compare {}`",
                self.out.display(),
                self.out.display()
            );
        }
        match failure {
            Some(e) => Err(CliError::Run(e)),
            None if interrupted => Err(CliError::Interrupted(self.out)),
            None => Ok(()),
        }
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
    // Shown only when there are any: on one host there never are.
    let negative = match c.negative_latencies {
        0 => String::new(),
        n => format!(", negative latencies {n} (counted as 0)"),
    };
    format!(
        "delivered {} of {}, lost {}, p99 {:.2} ms, {:.1} bytes/message, errors {}{negative}",
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

/// Accepts `http://HOST:PORT[/]` or `HOST:PORT`, HOST an address or a name, resolved here
/// once (its first address; `localhost` is 127.0.0.1). A server on another machine is
/// measured through the clock offset estimated at every phase's start
/// ([`RunOptions::clock_mode`], [`clock_note`]).
pub(crate) fn parse_server(url: &str) -> Result<SocketAddr, CliError> {
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
    if let Ok(addr) = rest.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let port_given = rest
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !port_given {
        return Err(bad(
            "expected http://HOST:PORT, e.g. http://127.0.0.1:8080 or http://bench-server:8080",
        ));
    }
    use std::net::ToSocketAddrs;
    let mut found = rest
        .to_socket_addrs()
        .map_err(|e| bad(&format!("cannot resolve the host name: {e}")))?;
    found
        .next()
        .ok_or_else(|| bad("the host name resolves to no address"))
}

/// Prints [`clock_note`] for every server of pushbench's own (a target has no `/clock`: its
/// latencies are stamped and read on this machine).
fn note_clocks(opts: &RunOptions, servers: &[(Option<Side>, Server)]) {
    for (_, s) in servers.iter().filter(|(_, s)| s.target.is_none()) {
        if let Some(note) = clock_note(s.addr, opts.clock_mode(s.addr)) {
            eprintln!("{note}");
        }
    }
}

/// The line `pushbench run` prints on stderr about the clock latency is read on, for a
/// server that is not on a loopback address (none otherwise): whether latency is converted
/// by the estimated offset, and so carries its error bound, or read on this machine's clock
/// alone (`--clock-offset none`), which is right only if the server shares it.
pub(crate) fn clock_note(addr: SocketAddr, mode: ClockMode) -> Option<String> {
    if addr.ip().is_loopback() {
        return None;
    }
    Some(match mode {
        ClockMode::Estimate => format!(
            "pushbench: server {addr} is not a loopback address: every latency is converted to its clock by an offset estimated at each phase's start, and carries that estimate's error bound (meta.json clock, summary.csv clock_error_us; docs/distributed.md)"
        ),
        ClockMode::None => format!(
            "pushbench: server {addr} is not a loopback address and --clock-offset none reads latency on this machine's clock alone: right only if the server runs on this machine (the offset is still estimated, in meta.json clock)"
        ),
    })
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
        // Another machine's address: measured through the clock offset.
        assert_eq!(
            parse_server("http://10.0.0.1:80").unwrap(),
            "10.0.0.1:80".parse().unwrap()
        );
        assert!(parse_server("https://127.0.0.1:80").is_err());
        assert!(parse_server("127.0.0.1").is_err());
        assert!(parse_server("bench-server").is_err());
        assert!(parse_server("bench-server:http").is_err());
        // A name is resolved (here through /etc/hosts: only `localhost:` is read as
        // 127.0.0.1 without asking).
        let named = parse_server("http://LOCALHOST:9").unwrap();
        assert!(named.ip().is_loopback() && named.port() == 9, "{named}");
        // `.invalid` never resolves (RFC 6761).
        let e = parse_server("http://no-such-host.invalid:80").unwrap_err();
        assert!(e.to_string().contains("cannot resolve"), "{e}");
    }

    #[test]
    fn the_clock_is_noted_off_loopback_only() {
        let here: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let there: SocketAddr = "10.0.0.1:80".parse().unwrap();
        assert_eq!(clock_note(here, ClockMode::Estimate), None);
        assert!(
            clock_note(there, ClockMode::Estimate)
                .unwrap()
                .contains("error bound")
        );
        assert!(
            clock_note(there, ClockMode::None)
                .unwrap()
                .contains("--clock-offset none")
        );
        let opts = |clock_offset| RunOptions {
            scenario: PathBuf::new(),
            out: None,
            server: None,
            target: None,
            quiet: true,
            control_token: None,
            pin: None,
            paired: None,
            shard: None,
            clock_offset,
        };
        assert_eq!(opts(None).clock_mode(here), ClockMode::None);
        assert_eq!(opts(None).clock_mode(there), ClockMode::Estimate);
        assert_eq!(
            opts(Some(ClockMode::Estimate)).clock_mode(here),
            ClockMode::Estimate
        );
        assert_eq!(
            opts(Some(ClockMode::None)).clock_mode(there),
            ClockMode::None
        );
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
