//! Comparing two runs of the same scenario: a baseline and a candidate.
//!
//! Every metric of every transport (of every transport at every point, for a sweep) is
//! judged from the runs' repetitions (one sample each) with a distribution-free method: the
//! Hodges–Lehmann estimate of the ratio candidate / baseline and an exact confidence
//! interval around it, computed on log values. Two independent runs ([`compare`]) are
//! judged on every baseline repetition against every candidate repetition, with the
//! Mann–Whitney interval; the two sides of a paired run ([`compare_paired`], one run against
//! two servers, interleaved) on each candidate repetition against the baseline repetition
//! measured beside it, with the Wilcoxon signed-rank interval, so that a slow minute that
//! hit both sides of a pair cancels out. A metric regresses only when its whole interval
//! lies beyond its threshold in the bad direction, so noise between repetitions does not
//! raise false alarms; a lost, duplicated or out-of-order message or an error the baseline
//! did not have is a regression whatever the numbers. `docs/compare.md` explains the
//! method and its limits.
//!
//! ```no_run
//! use pushbench_report::RunData;
//! use pushbench_report::compare::{CompareOptions, compare, parse_threshold};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let base = RunData::load("results/baseline".as_ref())?;
//! let new = RunData::load("results/ci-run".as_ref())?;
//! let opts = CompareOptions {
//!     thresholds: vec![parse_threshold("p99=15%")?],
//!     allow_different: false,
//! };
//! let comparison = compare(&base, &new, &opts)?;
//! print!("{}", comparison.markdown());
//! std::process::exit(if comparison.regressions().is_empty() { 0 } else { 1 });
//! # }
//! ```

mod html;
mod judge;
mod metric;
mod paired;
mod render;
mod stats;
#[cfg(test)]
mod tests;

pub use metric::{Metric, Threshold, parse_threshold};

use judge::{Pairing, judge};

use crate::{Group, PairedRun, RunData};
use pushbench_model::SweepPoint;
use pushbench_model::paired::ServerSource;
use pushbench_model::rows::SummaryRow;
use serde::Serialize;

/// An output format of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// GitHub-flavoured Markdown ([`Comparison::markdown`]).
    Markdown,
    /// JSON ([`Comparison::json`]).
    Json,
}

impl Format {
    /// The comparison in this format.
    pub fn render(self, comparison: &Comparison) -> String {
        match self {
            Format::Markdown => comparison.markdown(),
            Format::Json => comparison.json(),
        }
    }
}

/// How to compare.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompareOptions {
    /// Thresholds overriding the defaults (10%; 1% for bytes per message). Later ones win.
    pub thresholds: Vec<Threshold>,
    /// Compare runs of different scenarios or transport sets: the transports both have
    /// are compared, the others listed as skipped.
    pub allow_different: bool,
}

/// Why two runs could not be compared. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// The runs are of different scenarios.
    #[error(
        "the runs are of different scenarios: baseline `{base}`, candidate `{new}` (--allow-different compares the transports they share)"
    )]
    DifferentScenario {
        /// The baseline's scenario name.
        base: String,
        /// The candidate's scenario name.
        new: String,
    },
    /// The runs measured different transport labels.
    #[error(
        "the runs measured different transports: only in the baseline [{}], only in the candidate [{}] (--allow-different compares the transports they share)",
        only_base.join(", "),
        only_new.join(", ")
    )]
    DifferentTransports {
        /// Labels only the baseline has.
        only_base: Vec<String>,
        /// Labels only the candidate has.
        only_new: Vec<String>,
    },
    /// The runs share no transport label, so there is nothing to compare.
    #[error(
        "the runs share no transport: baseline [{}], candidate [{}]",
        base.join(", "),
        new.join(", ")
    )]
    NoCommonTransports {
        /// The baseline's labels.
        base: Vec<String>,
        /// The candidate's labels.
        new: Vec<String>,
    },
    /// A threshold did not parse.
    #[error("bad threshold `{given}`: {why}")]
    BadThreshold {
        /// What was given.
        given: String,
        /// What is wrong with it, and what is accepted.
        why: String,
    },
    /// A run has no completed phase.
    #[error("the {which} run ({dir}) has no completed phase: nothing to compare")]
    NoData {
        /// `baseline` or `candidate`.
        which: &'static str,
        /// Its directory.
        dir: String,
    },
}

/// What the comparison concluded about one metric of one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Worse beyond the threshold: the whole interval lies past it in the bad direction,
    /// or a correctness count the baseline did not have.
    Regression,
    /// Better beyond the threshold, with the same certainty.
    Improvement,
    /// The interval lies within the threshold either way.
    NoChange,
    /// The interval straddles the threshold: more repetitions would tell.
    Inconclusive,
    /// No relative change can be formed (no usable sample, or a zero baseline).
    NotComparable,
}

impl Verdict {
    /// How reports print it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::NoChange => "no significant change",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotComparable => "not comparable",
        }
    }
}

/// How a change was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Hodges–Lehmann on log values with the exact Mann–Whitney interval: a ratio.
    LogRatio,
    /// The same on raw values, divided by the baseline median: used when a value is zero
    /// or negative, where logarithms do not exist.
    Difference,
    /// A paired run: the Hodges–Lehmann estimate of the log ratios within pairs (the median
    /// of their Walsh averages) with the exact Wilcoxon signed-rank interval.
    PairedLogRatio,
    /// The same on the differences within pairs, divided by the baseline median: used when
    /// a value is zero or negative.
    PairedDifference,
    /// One repetition on a side: the ratio of medians, with no interval.
    Point,
    /// A correctness count: totals over repetitions, no statistics.
    Count,
    /// Nothing could be computed.
    None,
}

/// One side's samples of a metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Samples {
    /// One value per repetition, in repetition order (non-finite ones left out).
    pub values: Vec<f64>,
    /// Their median; for a count, their total.
    pub summary: f64,
}

/// The comparison of one metric of one transport (at one sweep point).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricResult {
    /// The transport label.
    pub transport: String,
    /// The sweep point, when the runs swept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepPoint>,
    /// The metric.
    pub metric: Metric,
    /// The baseline's samples.
    pub baseline: Samples,
    /// The candidate's samples.
    pub candidate: Samples,
    /// Estimated relative change, candidate / baseline − 1 (0.5 is 50% higher); for a
    /// count, the candidate's total minus the baseline's.
    pub change: Option<f64>,
    /// The confidence interval of the relative change, when there is one.
    pub interval: Option<[f64; 2]>,
    /// The confidence the interval achieves (0.971 for 4 against 4 repetitions).
    pub confidence: Option<f64>,
    /// The threshold applied, as a fraction; none for counts.
    pub threshold: Option<f64>,
    /// How the change was computed.
    pub method: Method,
    /// The conclusion.
    pub verdict: Verdict,
    /// Anything the reader should know about this row.
    pub note: Option<String>,
}

/// Where a run came from, for the reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    /// Its directory.
    pub dir: String,
    /// Its scenario name.
    pub scenario: String,
    /// The commit pushbench was built from, when known.
    pub git_commit: Option<String>,
    /// When it started (RFC 3339).
    pub started: Option<String>,
    /// Its server, in a paired run (`/path/pushbench serve` or a URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerSource>,
}

/// What a paired comparison was made from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedInfo {
    /// The paired run's directory.
    pub dir: String,
    /// Phases measured, both sides together.
    pub phases: usize,
    /// The load generator's commit, the same for both sides, when known.
    pub loadgen_commit: Option<String>,
}

impl MetricResult {
    /// What was compared: the transport, with its point in a sweep (`sse clients=1000`).
    pub fn group(&self) -> Group {
        Group {
            transport: self.transport.clone(),
            sweep: self.sweep,
        }
    }
}

impl RunInfo {
    fn of(run: &RunData) -> RunInfo {
        RunInfo {
            dir: run.dir.display().to_string(),
            scenario: run.name().to_string(),
            git_commit: run.meta.git_commit.clone(),
            started: Some(run.meta.started.clone()),
            server: None,
        }
    }

    /// A side of a paired run: its server instead of the commit, which is the load
    /// generator's (the same for both sides), not the server's.
    fn of_side(run: &RunData, server: &ServerSource) -> RunInfo {
        RunInfo {
            git_commit: None,
            server: Some(server.clone()),
            ..RunInfo::of(run)
        }
    }
}

/// The comparison of a candidate run against a baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The baseline run.
    pub baseline: RunInfo,
    /// The candidate run.
    pub candidate: RunInfo,
    /// The transports compared, in the baseline's order; in a sweep each transport at each
    /// point (`sse clients=1000`).
    pub transports: Vec<String>,
    /// Transports only one run has, each with the run that has it (when different runs
    /// are allowed).
    pub skipped: Vec<String>,
    /// Things that qualify the whole comparison (different scenarios, few repetitions).
    pub notes: Vec<String>,
    /// For the two sides of a paired run: the run they came from. Absent for two runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired: Option<PairedInfo>,
    /// One result per transport and metric.
    pub results: Vec<MetricResult>,
}

impl Comparison {
    /// The regressed metrics: none means the candidate passes (exit 0), any means it
    /// fails (exit 1).
    pub fn regressions(&self) -> Vec<&MetricResult> {
        self.with(Verdict::Regression)
    }

    /// The results with this verdict.
    pub fn with(&self, verdict: Verdict) -> Vec<&MetricResult> {
        self.results
            .iter()
            .filter(|r| r.verdict == verdict)
            .collect()
    }

    /// The comparison as GitHub-flavoured Markdown: the verdict first, then a table row
    /// per transport and metric, then a legend.
    pub fn markdown(&self) -> String {
        render::markdown(self)
    }

    /// The comparison as JSON: `verdict` (`pass` or `regression`), the number of
    /// regressions, and every field of [`Comparison`].
    pub fn json(&self) -> String {
        render::json(self)
    }

    /// A self-contained HTML page (inline CSS and SVG, no script, nothing fetched): per
    /// transport, both runs' latency percentile distributions overlaid (baseline dashed,
    /// candidate solid, in the transport's colour) above its rows of the verdict table.
    pub fn html(&self, base: &RunData, new: &RunData) -> Result<String, crate::charts::ChartError> {
        html::page(self, base, new)
    }
}

/// The confidence of the widest interval a paired comparison of `pairs` pairs can give:
/// `1 − 2/2^pairs` up to 6 pairs (the smallest Walsh average to the largest), at least 95%
/// from 6 on.
pub fn paired_confidence(pairs: usize) -> f64 {
    paired::rank(pairs.max(1)).1
}

/// The fewest pairs whose paired interval reaches 95% confidence: 6 (96.9%; 5 give 93.75%).
pub fn min_pairs() -> usize {
    (1..)
        .find(|&n| paired_confidence(n) >= stats::LEVEL)
        .expect("the confidence reaches 95% with enough pairs")
}

/// Compares `new` (the candidate) against `base` (the baseline), transport by transport:
/// two runs, made apart, whose repetitions are independent samples.
///
/// Fails when the runs are of different scenarios or transport sets (unless
/// [`CompareOptions::allow_different`]), or when either has no completed phase.
pub fn compare(
    base: &RunData,
    new: &RunData,
    opts: &CompareOptions,
) -> Result<Comparison, CompareError> {
    let mut c = compare_runs(base, new, opts, Pairing::Independent)?;
    c.baseline = RunInfo::of(base);
    c.candidate = RunInfo::of(new);
    Ok(c)
}

/// Judges the candidate of a paired run against its baseline, pair by pair: repetition `r`
/// of the candidate against repetition `r` of the baseline, measured beside it.
///
/// Fails as [`compare`] does, for sides of different scenarios or transports (a paired run
/// put together by hand) or a side with no completed phase.
pub fn compare_paired(run: &PairedRun, opts: &CompareOptions) -> Result<Comparison, CompareError> {
    let mut c = compare_runs(&run.baseline, &run.candidate, opts, Pairing::Paired)?;
    c.baseline = RunInfo::of_side(&run.baseline, &run.meta.baseline);
    c.candidate = RunInfo::of_side(&run.candidate, &run.meta.candidate);
    c.paired = Some(PairedInfo {
        dir: run.dir.display().to_string(),
        phases: run.meta.order.len(),
        loadgen_commit: run.candidate.meta.git_commit.clone(),
    });
    Ok(c)
}

fn compare_runs(
    base: &RunData,
    new: &RunData,
    opts: &CompareOptions,
    pairing: Pairing,
) -> Result<Comparison, CompareError> {
    for (which, run) in [("baseline", base), ("candidate", new)] {
        if run.summary.is_empty() {
            return Err(CompareError::NoData {
                which,
                dir: run.dir.display().to_string(),
            });
        }
    }
    let mut notes = scenario_notes(base, new, opts)?;
    notes.extend(client_notes(base, new));
    let matched = Matched::of(base, new, opts)?;
    let mut results = Vec::with_capacity(matched.shared.len() * Metric::ALL.len());
    let mut counts = Vec::with_capacity(matched.shared.len());
    for g in &matched.shared {
        let (b, n) = (repetitions(base, g), repetitions(new, g));
        counts.push(Counted::of(g, &b, &n));
        for metric in Metric::ALL {
            let threshold = metric::threshold_for(metric, &opts.thresholds);
            results.push(judge(g, metric, &b, &n, threshold, pairing));
        }
    }
    notes.extend(match pairing {
        Pairing::Independent => repetition_notes(&counts),
        Pairing::Paired => pair_notes(&counts),
    });
    Ok(Comparison {
        baseline: RunInfo::of(base),
        candidate: RunInfo::of(new),
        transports: matched.shared.iter().map(Group::to_string).collect(),
        skipped: matched.skipped,
        notes,
        paired: None,
        results,
    })
}

/// What qualifies a comparison of runs of different scenarios (refused unless allowed), or
/// of one scenario whose settings differ.
fn scenario_notes(
    base: &RunData,
    new: &RunData,
    opts: &CompareOptions,
) -> Result<Vec<String>, CompareError> {
    let (base_name, new_name) = (base.name().to_string(), new.name().to_string());
    if base_name != new_name {
        if !opts.allow_different {
            return Err(CompareError::DifferentScenario {
                base: base_name,
                new: new_name,
            });
        }
        return Ok(vec![format!(
            "The runs are of different scenarios (baseline `{base_name}`, candidate `{new_name}`): only the transports they share are compared."
        )]);
    }
    let json = |run: &RunData| serde_json::to_value(&run.meta.scenario).unwrap_or_default();
    let changed = differing_keys(&json(base), &json(new));
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![format!(
        "Scenario `{base_name}` differs between the runs in: {}. Changes may come from the scenario rather than the build.",
        changed.join(", ")
    )])
}

/// A note for each transport label that one client ran in the baseline and the other in the
/// candidate (`summary.csv`'s `client`): its changes are the client's as much as the
/// server's.
fn client_notes(base: &RunData, new: &RunData) -> Vec<String> {
    let mut notes = Vec::new();
    for b in &base.summary {
        let changed =
            (new.summary.iter()).find(|n| n.transport == b.transport && n.client != b.client);
        if let Some(n) = changed
            && !notes
                .iter()
                .any(|s: &String| s.starts_with(&format!("`{}`", b.transport)))
        {
            notes.push(format!(
                "`{}` ran {} clients in the baseline and {} clients in the candidate: its changes are the client's as much as the server's.",
                b.transport, b.client, n.client
            ));
        }
    }
    notes
}

/// The groups both runs have, and those only one has. A sweep is compared point by point:
/// a group is a transport at one point.
struct Matched {
    /// Groups both runs have, in the baseline's order.
    shared: Vec<Group>,
    /// The others, each with the run that has it.
    skipped: Vec<String>,
}

impl Matched {
    fn of(base: &RunData, new: &RunData, opts: &CompareOptions) -> Result<Matched, CompareError> {
        let (base_groups, new_groups) = (base.groups(), new.groups());
        let only = |of: &[Group], other: &[Group]| -> Vec<String> {
            of.iter()
                .filter(|g| !other.contains(g))
                .map(Group::to_string)
                .collect()
        };
        let (only_base, only_new) = (
            only(&base_groups, &new_groups),
            only(&new_groups, &base_groups),
        );
        if (!only_base.is_empty() || !only_new.is_empty()) && !opts.allow_different {
            return Err(CompareError::DifferentTransports {
                only_base,
                only_new,
            });
        }
        let shared: Vec<Group> = base_groups
            .iter()
            .filter(|g| new_groups.contains(g))
            .cloned()
            .collect();
        if shared.is_empty() {
            let names = |g: &[Group]| g.iter().map(Group::to_string).collect::<Vec<_>>();
            return Err(CompareError::NoCommonTransports {
                base: names(&base_groups),
                new: names(&new_groups),
            });
        }
        let skipped = only_base
            .iter()
            .map(|t| format!("{t} (only in the baseline)"))
            .chain(
                only_new
                    .iter()
                    .map(|t| format!("{t} (only in the candidate)")),
            )
            .collect();
        Ok(Matched { shared, skipped })
    }
}

/// A group's repetitions, in repetition order.
fn repetitions(run: &RunData, g: &Group) -> Vec<SummaryRow> {
    let mut rows: Vec<SummaryRow> = run
        .summary
        .iter()
        .filter(|r| g.has(&r.transport, r.sweep()))
        .cloned()
        .collect();
    rows.sort_by_key(|r| r.repetition);
    rows
}

/// How many repetitions of a group each side has, and how many both (the pairs of a paired
/// run).
struct Counted {
    group: Group,
    base: usize,
    new: usize,
    both: usize,
}

impl Counted {
    fn of(group: &Group, b: &[SummaryRow], n: &[SummaryRow]) -> Counted {
        Counted {
            group: group.clone(),
            base: b.len(),
            new: n.len(),
            both: b
                .iter()
                .filter(|r| n.iter().any(|s| s.repetition == r.repetition))
                .count(),
        }
    }
}

/// What the repetition counts (baseline, candidate) of the groups compared qualify: a
/// single repetition, judged without an interval, or counts whose best interval falls short
/// of 95%, each once.
fn repetition_notes(counts: &[Counted]) -> Vec<String> {
    let mut notes = Vec::new();
    let mut weak: Vec<(usize, usize, f64)> = Vec::new();
    for c in counts.iter().filter(|c| c.base >= 2 && c.new >= 2) {
        let (b, n) = (c.base, c.new);
        let (_, confidence) = stats::rank(b, n);
        if confidence < stats::LEVEL && !weak.iter().any(|w| (w.0, w.1) == (b, n)) {
            weak.push((b, n, confidence));
        }
    }
    if counts.iter().any(|c| c.base < 2 || c.new < 2) {
        notes.push(
            "A transport has a single repetition in one of the runs: its changes are judged from single values against \
             the threshold, with no confidence interval. Use repeat = 4 or more in both runs."
                .into(),
        );
    }
    for (b, n, confidence) in weak {
        notes.push(format!(
            "With {b} baseline against {n} candidate repetitions the widest interval has only {:.1}% confidence, \
             so noise passes for a change more often. Use repeat = 4 or more in both runs.",
            confidence * 100.0
        ));
    }
    notes
}

/// What the pair counts of a paired run's groups qualify: repetitions one side lacks (an
/// interrupted run), a single pair, or too few pairs for a 95% interval, each once.
fn pair_notes(counts: &[Counted]) -> Vec<String> {
    let mut notes = Vec::new();
    for c in counts
        .iter()
        .filter(|c| c.base != c.both || c.new != c.both)
    {
        notes.push(format!(
            "{}: the baseline has {} repetitions and the candidate {}; only the {} measured on both sides are compared.",
            c.group, c.base, c.new, c.both
        ));
    }
    let mut pairs: Vec<usize> = counts.iter().map(|c| c.both).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let enough = min_pairs();
    for n in pairs {
        if n == 0 {
            // Each of its metrics says so; only its correctness counts are judged.
            continue;
        }
        let confidence = paired_confidence(n);
        if n < 2 {
            notes.push(format!(
                "A transport has a single pair: its changes are judged from that pair's ratio against the threshold, \
                 with no confidence interval. Use repeat = {enough} or more for a paired run."
            ));
        } else if confidence < stats::LEVEL {
            notes.push(format!(
                "With {n} pairs the widest interval has only {:.1}% confidence (1 - 2/2^{n}), so noise passes for a \
                 change more often. Use repeat = {enough} or more for a paired run.",
                confidence * 100.0
            ));
        }
    }
    notes
}

/// The top-level keys of two scenario objects that differ, `name` aside.
fn differing_keys(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| k.as_str() != "name" && a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}
