//! The comparison as Markdown and JSON, and the table cells the HTML page shares.

use super::{Comparison, Method, MetricResult, Verdict};
use crate::Group;
use serde::Serialize;
use std::fmt::Write as _;

/// The table's column headings.
pub(super) const HEADER: [&str; 8] = [
    "transport",
    "metric",
    "baseline",
    "candidate",
    "change",
    "interval (confidence)",
    "threshold",
    "verdict",
];

/// What the symbols and columns mean, in one line; `paired` for the two sides of a paired
/// run.
pub(super) fn legend(emoji: bool, paired: bool) -> String {
    let sym = |v| symbol(v, emoji);
    let method = if paired {
        "The change is the Hodges–Lehmann estimate of candidate / baseline − 1 from the pairs (each candidate \
         repetition divided by the baseline repetition measured beside it: the median of the Walsh averages of \
         their logarithms), the interval its exact Wilcoxon signed-rank confidence interval (distribution-free) at \
         the confidence shown."
    } else {
        "The change is the Hodges–Lehmann estimate of candidate / baseline − 1, the interval its exact \
         Mann–Whitney confidence interval (distribution-free) at the confidence shown."
    };
    format!(
        "Legend: ▲ higher, ▼ lower than the baseline, = equal. Baseline and candidate are medians over \
         repetitions (totals for lost, duplicated, out of order and errors). {method} {} regression: the whole \
         interval lies beyond the threshold in the bad direction (up; down for delivered/s), or a correctness count \
         the baseline did not have; {} improvement: the whole interval lies beyond it in the good direction; {} no \
         significant change: the interval lies within ±threshold; {} inconclusive: the interval straddles the \
         threshold (more repetitions would tell). See docs/compare.md.",
        sym(Verdict::Regression),
        sym(Verdict::Improvement),
        sym(Verdict::NoChange),
        sym(Verdict::Inconclusive)
    )
}

/// The verdict symbol: emoji for Markdown (GitHub renders them everywhere), plain
/// glyphs for HTML (any font has them).
pub(super) fn symbol(v: Verdict, emoji: bool) -> &'static str {
    match (v, emoji) {
        (Verdict::Regression, true) => "❌",
        (Verdict::Regression, false) => "✗",
        (Verdict::Improvement, true) => "✅",
        (Verdict::Improvement, false) => "✓",
        (Verdict::NoChange, _) => "≈",
        (Verdict::Inconclusive, true) => "❔",
        (Verdict::Inconclusive, false) => "?",
        (Verdict::NotComparable, _) => "–",
    }
}

/// A relative change as a signed percentage.
pub(super) fn percent(f: f64) -> String {
    if !f.is_finite() {
        return "n/a".into();
    }
    let p = f * 100.0;
    if p == 0.0 {
        "0.0%".into()
    } else if p.abs() >= 1000.0 {
        format!("{p:+.0}%")
    } else {
        format!("{p:+.1}%")
    }
}

/// The arrow for a change.
fn arrow(change: f64) -> &'static str {
    if change > 0.0 {
        "▲"
    } else if change < 0.0 {
        "▼"
    } else {
        "="
    }
}

/// The eight cells of a result's table row, as plain text; the verdict without its
/// symbol.
pub(super) fn cells(r: &MetricResult) -> [String; 8] {
    let m = r.metric;
    let change = match (r.change, r.method) {
        (None, _) => "n/a".to_string(),
        (Some(c), Method::Count) => format!("{} {c:+.0}", arrow(c)),
        (Some(c), _) => format!("{} {}", arrow(c), percent(c)),
    };
    let interval = match (r.interval, r.confidence) {
        (Some([lo, hi]), Some(conf)) => {
            format!("{} … {} ({:.1}%)", percent(lo), percent(hi), conf * 100.0)
        }
        _ if r.method == Method::Point => r.note.clone().unwrap_or_default(),
        _ => "—".to_string(),
    };
    let threshold = match r.threshold {
        Some(t) => format!("±{}%", trim(t * 100.0)),
        None => "any new".to_string(),
    };
    let mut verdict = r.verdict.label().to_string();
    if let Some(note) = r.note.as_ref().filter(|_| r.method != Method::Point) {
        let _ = write!(verdict, " ({note})");
    }
    [
        r.group().to_string(),
        m.label().to_string(),
        m.format(r.baseline.summary),
        m.format(r.candidate.summary),
        change,
        interval,
        threshold,
        verdict,
    ]
}

/// A percentage without trailing zeros: 10, 1.5, 0.25.
fn trim(p: f64) -> String {
    let s = format!("{p:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One sentence per regression: transport, metric, values, change and interval.
pub(super) fn regression_line(r: &MetricResult) -> String {
    let m = r.metric;
    let values = format!(
        "{} → {}",
        m.format(r.baseline.summary),
        m.format(r.candidate.summary)
    );
    let detail = match (r.method, r.change, r.interval, r.confidence, r.threshold) {
        (Method::Count, _, _, _, _) => "the baseline had none".to_string(),
        (_, Some(c), Some([lo, hi]), Some(conf), Some(t)) => format!(
            "{}, {:.1}% interval {} to {}, threshold {}%",
            percent(c),
            conf * 100.0,
            percent(lo),
            percent(hi),
            trim(t * 100.0)
        ),
        (_, Some(c), _, _, Some(t)) => format!(
            "{}, threshold {}%, {}",
            percent(c),
            trim(t * 100.0),
            r.note.as_deref().unwrap_or("no confidence interval")
        ),
        _ => String::new(),
    };
    format!("{} {}: {values} ({detail})", r.group(), m.label())
}

/// The verdict headline: "❌ Regression: …" or "✅ No regression".
pub(super) fn headline(c: &Comparison, emoji: bool) -> String {
    let regressions = c.regressions();
    if regressions.is_empty() {
        format!("{} No regression", symbol(Verdict::Improvement, emoji))
    } else {
        let mut transports: Vec<Group> = regressions.iter().map(|r| r.group()).collect();
        transports.dedup();
        format!(
            "{} Regression: {} metric{} of {} transport{} regressed",
            symbol(Verdict::Regression, emoji),
            regressions.len(),
            plural(regressions.len()),
            transports.len(),
            plural(transports.len())
        )
    }
}

/// How many results got each verdict, in one sentence.
pub(super) fn tally(c: &Comparison) -> String {
    let count = |v| c.with(v).len();
    format!(
        "{} metrics on {} transport{}: {} regression{}, {} improvement{}, {} without significant change, {} inconclusive{}.",
        c.results.len(),
        c.transports.len(),
        plural(c.transports.len()),
        count(Verdict::Regression),
        plural(count(Verdict::Regression)),
        count(Verdict::Improvement),
        plural(count(Verdict::Improvement)),
        count(Verdict::NoChange),
        count(Verdict::Inconclusive),
        match count(Verdict::NotComparable) {
            0 => String::new(),
            n => format!(", {n} not comparable"),
        }
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A run in one line: directory (in backquotes for Markdown), commit, start.
pub(super) fn run_line(info: &super::RunInfo, markdown: bool) -> String {
    let mut s = if markdown {
        format!("`{}`", info.dir)
    } else {
        info.dir.clone()
    };
    match (&info.server, markdown) {
        (Some(server), true) => {
            let _ = write!(s, ", server `{server}`");
        }
        (Some(server), false) => {
            let _ = write!(s, ", server {server}");
        }
        (None, _) => {}
    }
    if let Some(c) = &info.git_commit {
        let _ = write!(s, ", commit {}", &c[..c.len().min(12)]);
    }
    if let Some(t) = &info.started {
        let _ = write!(s, ", started {t}");
    }
    s
}

/// What a paired comparison was made from, in one line.
pub(super) fn paired_line(p: &super::PairedInfo, markdown: bool) -> String {
    let dir = if markdown {
        format!("`{}`", p.dir)
    } else {
        p.dir.clone()
    };
    let mut s = format!(
        "Paired run {dir}: {} phases, baseline and candidate alternating A B B A under one load generator",
        p.phases
    );
    if let Some(c) = &p.loadgen_commit {
        let _ = write!(s, " (commit {})", &c[..c.len().min(12)]);
    }
    s
}

/// The Markdown report.
pub(super) fn markdown(c: &Comparison) -> String {
    let mut m = format!(
        "## {} — pushbench compare, scenario `{}`\n\n",
        headline(c, true),
        c.candidate.scenario
    );
    for r in c.regressions() {
        let _ = writeln!(m, "- **{}**", md(&regression_line(r)));
    }
    if !c.regressions().is_empty() {
        m.push('\n');
    }
    let _ = writeln!(m, "{}\n", tally(c));
    if let Some(p) = &c.paired {
        let _ = writeln!(m, "- {}", paired_line(p, true));
    }
    let _ = writeln!(m, "- Baseline: {}", run_line(&c.baseline, true));
    let _ = writeln!(m, "- Candidate: {}", run_line(&c.candidate, true));
    if !c.skipped.is_empty() {
        let _ = writeln!(m, "- Skipped: {}", c.skipped.join(", "));
    }
    for n in &c.notes {
        let _ = writeln!(m, "- Note: {}", n);
    }
    let _ = writeln!(m, "\n| {} |", HEADER.join(" | "));
    m.push_str("|---|---|---:|---:|---:|---|---:|---|\n");
    for r in &c.results {
        let mut cells = cells(r).map(|s| md(&s));
        cells[7] = if r.verdict == Verdict::Regression {
            format!("{} **{}**", symbol(r.verdict, true), cells[7])
        } else {
            format!("{} {}", symbol(r.verdict, true), cells[7])
        };
        let _ = writeln!(m, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(m, "\n{}", legend(true, c.paired.is_some()));
    m
}

/// Text made safe inside a Markdown table cell.
fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The JSON document: the overall verdict, the tally, and every field of the comparison.
#[derive(Serialize)]
struct Json<'a> {
    verdict: &'static str,
    regressions: usize,
    improvements: usize,
    inconclusive: usize,
    #[serde(flatten)]
    comparison: &'a Comparison,
}

/// The JSON report.
pub(super) fn json(c: &Comparison) -> String {
    let regressions = c.regressions().len();
    let doc = Json {
        verdict: if regressions == 0 {
            "pass"
        } else {
            "regression"
        },
        regressions,
        improvements: c.with(Verdict::Improvement).len(),
        inconclusive: c.with(Verdict::Inconclusive).len(),
        comparison: c,
    };
    serde_json::to_string_pretty(&doc).expect("a comparison serializes") + "\n"
}
