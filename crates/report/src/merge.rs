//! `pushbench merge`: the shard run directories of one sharded run (`pushbench run --shard
//! I/N`) into one run directory, equal in form to a single-process run's. Each shard's
//! phases are read from their whole records (`<phase>.phase.json`, every histogram and
//! count), added up by [`pushbench_model::shard::merge_phase`], and written by the same
//! code as a run's ([`RunDir::write_results`]); `processes.csv` keeps every process's CPU
//! and memory apart, and `meta.json` lists the shards.

use crate::files::csv_text;
use crate::{ReportError, RunDir};
use pushbench_model::PhaseResult;
use pushbench_model::clock::PhaseClock;
use pushbench_model::record::{self, PhaseRecord};
use pushbench_model::rows::ProcessRow;
use pushbench_model::run::RunMeta;
use pushbench_model::shard::{MergedMeta, MergedShard, ShardMeta, ShardPart, merge_phase};
use std::path::{Path, PathBuf};

/// One shard run directory, read.
struct ShardRun {
    dir: PathBuf,
    meta: RunMeta,
    shard: ShardMeta,
    /// Its phases, in plan order, as far as it got.
    phases: Vec<PhaseResult>,
}

/// What [`merge`] made.
#[derive(Debug, Clone)]
pub struct Merged {
    /// Phases merged.
    pub phases: Vec<PhaseResult>,
    /// Whether every shard completed every phase of the plan.
    pub completed: bool,
}

fn refuse(path: &Path, why: String) -> ReportError {
    ReportError::Shards {
        path: path.to_owned(),
        why,
    }
}

/// Merges the shard run directories `dirs` (every shard of one run, in any order) into a new
/// run directory `out`, and renders its reports. Refuses, naming the directory, shards of
/// different scenarios, plans, start times or pushbench versions, and a missing or
/// duplicated shard.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, ReportError> {
    let shards = dirs
        .iter()
        .map(|d| read_shard(d))
        .collect::<Result<Vec<_>, _>>()?;
    let shards = check(shards)?;
    let plan = &shards[0].shard.plan;
    // Phases every shard has: a shard that stopped early ends the merged run there too.
    let done = shards.iter().map(|s| s.phases.len()).min().unwrap_or(0);
    let mut phases = Vec::with_capacity(done);
    for k in 0..done {
        let parts: Vec<ShardPart<'_>> = shards
            .iter()
            .map(|s| ShardPart {
                phase: &s.phases[k],
                shard: s.shard.shard,
                hostname: &s.meta.host.hostname,
            })
            .collect();
        phases.push(merge_phase(&parts));
    }
    let completed = done == plan.len() && shards.iter().all(|s| s.meta.completed);
    let run_dir = RunDir::create(out)?;
    let mut meta = merged_meta(&shards, completed, done, plan.len());
    // Every shard's offset of every merged phase, each with its shard.
    meta.clock = PhaseClock::of(&phases);
    run_dir.write_meta(&meta)?;
    if !phases.is_empty() {
        run_dir.write_results(&phases)?;
        run_dir.write(
            "processes.csv",
            &csv_text(None, &process_rows(&shards, done)),
        )?;
        crate::render(out)?;
    }
    Ok(Merged { phases, completed })
}

/// Reads a shard run directory: its `meta.json` and the records of the phases it ran.
fn read_shard(dir: &Path) -> Result<ShardRun, ReportError> {
    let meta_path = dir.join("meta.json");
    let text = std::fs::read_to_string(&meta_path).map_err(|e| {
        refuse(
            dir,
            format!("not a run directory (cannot read meta.json: {e})"),
        )
    })?;
    let meta: RunMeta = serde_json::from_str(&text).map_err(|e| {
        refuse(
            &meta_path,
            format!("does not read as pushbench's meta.json: {e}"),
        )
    })?;
    let shard = meta.shard.clone().ok_or_else(|| {
        refuse(
            dir,
            "not a shard run (its meta.json names no shard; shards are made by pushbench run --shard I/N)".into(),
        )
    })?;
    let mut phases = Vec::new();
    for planned in &shard.plan {
        let name = record::file_name(&planned.transport, planned.sweep, planned.repetition);
        let path = dir.join(&name);
        if !path.exists() {
            break;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ReportError::Io {
            path: path.clone(),
            source,
        })?;
        let rec: PhaseRecord = serde_json::from_str(&text)
            .map_err(|e| refuse(&path, format!("not a phase record: {e}")))?;
        phases.push(rec.into_result().map_err(|why| refuse(&path, why))?);
    }
    Ok(ShardRun {
        dir: dir.to_owned(),
        meta,
        shard,
        phases,
    })
}

/// The shards in order, once they are known to be every shard of one run.
fn check(mut shards: Vec<ShardRun>) -> Result<Vec<ShardRun>, ReportError> {
    let Some(first) = shards.first() else {
        return Err(refuse(Path::new("."), "no shard directories given".into()));
    };
    let (v0, c0) = (&first.meta.pushbench_version, &first.meta.git_commit);
    let scenario0 = serde_json::to_value(&first.meta.scenario).expect("scenario serializes");
    for s in &shards[1..] {
        let (a, b) = (&s.shard, &first.shard);
        let differs = |what: &str| {
            refuse(
                &s.dir,
                format!(
                    "{what} differs from {}'s: shards of one run only",
                    first.dir.display()
                ),
            )
        };
        if (&s.meta.pushbench_version, &s.meta.git_commit) != (v0, c0) {
            return Err(refuse(
                &s.dir,
                format!(
                    "made by pushbench {} ({}), {} by {} ({}): merge shards of one version",
                    s.meta.pushbench_version,
                    commit(&s.meta.git_commit),
                    first.dir.display(),
                    v0,
                    commit(c0)
                ),
            ));
        }
        if serde_json::to_value(&s.meta.scenario).expect("scenario serializes") != scenario0 {
            return Err(differs("its scenario"));
        }
        if a.shard.count != b.shard.count {
            return Err(differs("its shard count"));
        }
        if a.start_at_unix_ns != b.start_at_unix_ns {
            return Err(differs("its start time (--start-at)"));
        }
        if a.plan != b.plan {
            return Err(differs("its phase plan"));
        }
    }
    shards.sort_by_key(|s| s.shard.shard.index);
    for w in shards.windows(2) {
        if w[0].shard.shard.index == w[1].shard.shard.index {
            return Err(refuse(
                &w[1].dir,
                format!(
                    "shard {}/{} again (also {})",
                    w[1].shard.shard.index,
                    w[1].shard.shard.count,
                    w[0].dir.display()
                ),
            ));
        }
    }
    let count = shards[0].shard.shard.count;
    let missing: Vec<String> = (1..=count)
        .filter(|i| !shards.iter().any(|s| s.shard.shard.index == *i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(refuse(
            &shards[0].dir,
            format!(
                "shard(s) {} missing: give every one of the run's {count} shard directories",
                missing.join(", ")
            ),
        ));
    }
    Ok(shards)
}

fn commit(c: &Option<String>) -> String {
    c.as_deref()
        .map_or("commit unknown".into(), |c| format!("commit {c}"))
}

/// The merged run's `meta.json`: the scenario and version the shards share, shard 1's host
/// and server, the span of the shards' times, and the shards.
fn merged_meta(shards: &[ShardRun], completed: bool, done: usize, planned: usize) -> RunMeta {
    let first = &shards[0];
    let mut meta = first.meta.clone();
    meta.started = shards
        .iter()
        .map(|s| s.meta.started.clone())
        .min()
        .unwrap_or_default();
    meta.ended = shards
        .iter()
        .map(|s| s.meta.ended.clone())
        .max()
        .unwrap_or_default();
    meta.completed = completed;
    meta.incomplete_reason = (!completed).then(|| {
        let why: Vec<String> = shards
            .iter()
            .filter_map(|s| {
                let reason = s.meta.incomplete_reason.as_deref()?;
                Some(format!("shard {}: {reason}", s.shard.shard.index))
            })
            .collect();
        format!("{done} of {planned} phases merged; {}", why.join("; "))
    });
    meta.probe_control_bytes = shards.iter().map(|s| s.meta.probe_control_bytes).sum();
    meta.shard = None;
    meta.merged = Some(MergedMeta {
        start_at: first.shard.start_at.clone(),
        plan: first.shard.plan.clone(),
        shards: shards
            .iter()
            .map(|s| MergedShard {
                index: s.shard.shard.index,
                dir: s.dir.display().to_string(),
                hostname: s.meta.host.hostname.clone(),
                started: s.meta.started.clone(),
                ended: s.meta.ended.clone(),
                completed: s.meta.completed,
                incomplete_reason: s.meta.incomplete_reason.clone(),
            })
            .collect(),
    });
    meta
}

/// `processes.csv`: for each phase the server (as shard 1 read it), every load generator,
/// and their total.
fn process_rows(shards: &[ShardRun], done: usize) -> Vec<ProcessRow> {
    let mut rows = Vec::new();
    for k in 0..done {
        let p0 = &shards[0].phases[k];
        let row =
            |process: &str, shard: String, host: &str, usage: (f64, u64), conns: u64| ProcessRow {
                transport: p0.label.clone(),
                repetition: p0.repetition,
                process: process.into(),
                shard,
                host: host.into(),
                cpu_s: usage.0,
                peak_rss_bytes: usage.1,
                connections: conns,
                sweep_dimension: p0.sweep.map(|s| s.dimension),
                sweep_value: p0.sweep.map(|s| s.value),
            };
        let all: u64 = shards.iter().map(|s| s.phases[k].connections).sum();
        let (server, loadgen) = (p0.server, |s: &ShardRun| s.phases[k].loadgen);
        rows.push(row(
            "server",
            "1".into(),
            "",
            (server.cpu_s, server.peak_rss_bytes),
            all,
        ));
        for s in shards {
            let (u, p) = (loadgen(s), &s.phases[k]);
            let host = &s.meta.host.hostname;
            let index = s.shard.shard.index.to_string();
            rows.push(row(
                "loadgen",
                index,
                host,
                (u.cpu_s, u.peak_rss_bytes),
                p.connections,
            ));
        }
        let cpu = shards.iter().map(|s| loadgen(s).cpu_s).sum();
        let rss = shards.iter().map(|s| loadgen(s).peak_rss_bytes).sum();
        rows.push(row("loadgen", "total".into(), "", (cpu, rss), all));
    }
    rows
}
