//! The verdict on one metric of one transport: its samples on both sides, the relative
//! change with its interval (all pairs of repetitions for two runs, the pairs measured side
//! by side for a paired run), and where that interval lies against the threshold.

use super::{Method, Metric, MetricResult, Samples, Verdict, paired, stats};
use crate::Group;
use pushbench_model::rows::SummaryRow;

/// How the repetitions of the two sides relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pairing {
    /// Two runs: any baseline repetition may be set against any candidate repetition.
    Independent,
    /// The two sides of a paired run: repetition `r` of the candidate was measured beside
    /// repetition `r` of the baseline, and only the two together say something.
    Paired,
}

impl Pairing {
    /// The shift candidate minus baseline, as (estimate, lo, hi): over every difference
    /// `n[j] - b[i]` for two runs, over the differences within pairs `n[i] - b[i]` for a
    /// paired run (`b` and `n` are then aligned).
    fn shift(self, b: &[f64], n: &[f64]) -> (f64, f64, f64) {
        match self {
            Pairing::Independent => {
                let s = stats::shift(b, n);
                (s.estimate, s.lo, s.hi)
            }
            Pairing::Paired => {
                let d: Vec<f64> = b.iter().zip(n).map(|(x, y)| y - x).collect();
                let s = paired::shift(&d);
                (s.estimate, s.lo, s.hi)
            }
        }
    }

    /// The confidence of the interval for `b` baseline and `n` candidate values (`n`
    /// pairs, for a paired run).
    pub(super) fn confidence(self, b: usize, n: usize) -> f64 {
        match self {
            Pairing::Independent => stats::rank(b, n).1,
            Pairing::Paired => paired::rank(n).1,
        }
    }

    /// The method of a ratio, and of a difference.
    fn methods(self) -> (Method, Method) {
        match self {
            Pairing::Independent => (Method::LogRatio, Method::Difference),
            Pairing::Paired => (Method::PairedLogRatio, Method::PairedDifference),
        }
    }
}

/// Judges one metric of one transport from its repetitions.
pub(super) fn judge(
    group: &Group,
    metric: Metric,
    base_rows: &[SummaryRow],
    new_rows: &[SummaryRow],
    threshold: Option<f64>,
    pairing: Pairing,
) -> MetricResult {
    let values = |rows: &[SummaryRow]| -> Vec<(u32, f64)> {
        rows.iter()
            .map(|r| (r.repetition, metric.sample(r)))
            .filter(|(_, v)| v.is_finite())
            .collect()
    };
    let (b, n) = (values(base_rows), values(new_rows));
    let mut result = MetricResult {
        transport: group.transport.clone(),
        sweep: group.sweep,
        metric,
        baseline: samples(metric, &b),
        candidate: samples(metric, &n),
        change: None,
        interval: None,
        confidence: None,
        threshold,
        method: Method::None,
        verdict: Verdict::NotComparable,
        note: None,
    };
    if metric.is_count() {
        judge_count(&mut result);
        return result;
    }
    if b.is_empty() || n.is_empty() {
        result.note = Some(format!(
            "no usable sample in the {}: nothing delivered",
            if b.is_empty() {
                "baseline"
            } else {
                "candidate"
            }
        ));
        return result;
    }
    let (b, n) = match pairing {
        Pairing::Independent => (
            b.iter().map(|v| v.1).collect(),
            n.iter().map(|v| v.1).collect(),
        ),
        Pairing::Paired => pairs(&b, &n),
    };
    if b.is_empty() {
        result.note = Some("no repetition with a usable sample on both sides".into());
        return result;
    }
    judge_change(&mut result, &b, &n, threshold.unwrap_or(0.0), pairing);
    result
}

/// One side's samples: the values in repetition order and their summary.
fn samples(metric: Metric, v: &[(u32, f64)]) -> Samples {
    let values: Vec<f64> = v.iter().map(|p| p.1).collect();
    Samples {
        summary: summary(metric, &values),
        values,
    }
}

/// The values of the repetitions both sides have, aligned: `(b[i], n[i])` is a pair.
fn pairs(b: &[(u32, f64)], n: &[(u32, f64)]) -> (Vec<f64>, Vec<f64>) {
    b.iter()
        .filter_map(|(rep, x)| n.iter().find(|(r, _)| r == rep).map(|(_, y)| (*x, *y)))
        .unzip()
}

/// The relative change of `n` against `b`, its interval and the verdict, into `result`.
fn judge_change(result: &mut MetricResult, b: &[f64], n: &[f64], t: f64, pairing: Pairing) {
    let single = b.len() < 2 || n.len() < 2;
    if single {
        result.note = Some(match pairing {
            Pairing::Independent => {
                format!(
                    "no confidence interval ({} repetition)",
                    b.len().min(n.len())
                )
            }
            Pairing::Paired => "no confidence interval (1 pair)".to_string(),
        });
    }
    let Some((estimate, lo, hi)) = relative_change(result, b, n, pairing) else {
        return;
    };
    result.change = Some(estimate);
    if !single {
        result.interval = Some([lo, hi]);
        result.confidence = Some(pairing.confidence(b.len(), n.len()));
    }
    result.verdict = classify(lo, hi, t, result.metric.higher_is_worse());
}

/// A correctness count: any the candidate has where the baseline had none regresses.
fn judge_count(result: &mut MetricResult) {
    let (before, after) = (result.baseline.summary, result.candidate.summary);
    result.method = Method::Count;
    result.change = Some(after - before);
    result.verdict = if after > 0.0 && before == 0.0 {
        result.note = Some("the baseline had none".into());
        Verdict::Regression
    } else if after == 0.0 && before > 0.0 {
        Verdict::Improvement
    } else {
        if after > 0.0 {
            result.note = Some("the baseline had some too".into());
        }
        Verdict::NoChange
    };
}

/// The change of candidate samples `n` against baseline samples `b` and its interval,
/// relative, as (estimate, lo, hi), with the method (and a note) recorded in `result`;
/// `None` when no relative change exists (a zero baseline).
fn relative_change(
    result: &mut MetricResult,
    b: &[f64],
    n: &[f64],
    pairing: Pairing,
) -> Option<(f64, f64, f64)> {
    let all_same = b.iter().chain(n).all(|v| *v == b[0]);
    let positive = b.iter().chain(n).all(|v| *v > 0.0);
    let single = b.len() < 2 || n.len() < 2;
    let (mb, mn) = (result.baseline.summary, result.candidate.summary);
    let (log_ratio, difference) = pairing.methods();
    Some(if all_same {
        result.method = if single {
            Method::Point
        } else if positive {
            log_ratio
        } else {
            difference
        };
        (0.0, 0.0, 0.0)
    } else if !positive && mb == 0.0 {
        result.method = difference;
        result.note = Some("the baseline is zero: no relative change".into());
        return None;
    } else if single {
        result.method = Method::Point;
        let (mb, mn) = match pairing {
            Pairing::Independent => (mb, mn),
            Pairing::Paired => (b[0], n[0]),
        };
        let c = if positive {
            mn / mb - 1.0
        } else {
            (mn - mb) / mb.abs()
        };
        (c, c, c)
    } else if positive {
        result.method = log_ratio;
        let ln = |v: &[f64]| v.iter().map(|x| x.ln()).collect::<Vec<_>>();
        let (e, lo, hi) = pairing.shift(&ln(b), &ln(n));
        (e.exp_m1(), lo.exp_m1(), hi.exp_m1())
    } else {
        result.method = difference;
        result.note = Some("a zero or negative value: compared as a difference".into());
        let (e, lo, hi) = pairing.shift(b, n);
        let scale = mb.abs();
        (e / scale, lo / scale, hi / scale)
    })
}

/// The median of a metric's samples; the total for a count.
fn summary(metric: Metric, v: &[f64]) -> f64 {
    if metric.is_count() {
        v.iter().sum()
    } else if v.is_empty() {
        f64::NAN
    } else {
        stats::median(v)
    }
}

/// Places a relative change interval against a threshold `t`: a regression when it lies
/// wholly beyond `t` in the bad direction, an improvement when wholly beyond it in the good
/// one, no change when wholly within `±t`, inconclusive otherwise.
pub(super) fn classify(lo: f64, hi: f64, t: f64, higher_is_worse: bool) -> Verdict {
    // Turned so that up is bad.
    let (lo, hi) = if higher_is_worse {
        (lo, hi)
    } else {
        (-hi, -lo)
    };
    if lo > t {
        Verdict::Regression
    } else if hi < -t {
        Verdict::Improvement
    } else if lo >= -t && hi <= t {
        Verdict::NoChange
    } else {
        Verdict::Inconclusive
    }
}
