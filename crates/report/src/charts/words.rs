//! What the charts' readings share: how numbers are written in a sentence, and the few
//! ways a reading picks its numbers out of a run.

use crate::{PhaseKey, RunData};
use pushbench_model::TransportKind;
use pushbench_model::rows::SummaryRow;
use std::collections::BTreeMap;

/// What a reading says about a run without a completed phase.
pub const NO_PHASE: &str = "The run has no completed phase.";

/// Each transport with the mean of `quantity` over its repetitions, in summary order.
pub fn by(run: &RunData, quantity: fn(&SummaryRow) -> f64) -> Vec<(String, f64)> {
    run.transports()
        .into_iter()
        .map(|t| {
            let v = run.mean(&t, quantity);
            (t, v)
        })
        .collect()
}

/// The transports with the lowest and the highest value.
pub fn min_max(v: &[(String, f64)]) -> ((String, f64), (String, f64)) {
    let lo = v
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .cloned()
        .unwrap_or_default();
    let hi = v
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .cloned()
        .unwrap_or_default();
    (lo, hi)
}

/// A transport's first repetition in one of the per-phase tables (of a run, or of one point
/// of a sweep).
pub fn first_repetition<'a, V>(map: &'a BTreeMap<PhaseKey, V>, transport: &str) -> Option<&'a V> {
    map.iter()
        .find(|(k, _)| k.transport == transport && k.repetition == 1)
        .map(|(_, v)| v)
}

/// The run's baseline: its first transport of the baseline kind (the raw stream), the one
/// the readings express the others against; `None` in a run without one.
pub fn baseline(run: &RunData) -> Option<String> {
    run.transports()
        .into_iter()
        .find(|t| run.kind_of(t).is_some_and(TransportKind::is_baseline))
}

/// Each transport but `base` with its value minus `base`'s, `f` writing the size of the
/// difference: `websocket +4.0 B, sse +31.0 B`. `None` when `v` has no `base` or nothing
/// else.
pub fn over(v: &[(String, f64)], base: &str, f: impl Fn(f64) -> String) -> Option<String> {
    let b = v.iter().find(|(t, _)| t == base)?.1;
    let others: Vec<String> = v
        .iter()
        .filter(|(t, _)| t != base)
        .map(|(t, x)| format!("{t} {}", signed(x - b, &f)))
        .collect();
    (!others.is_empty()).then(|| others.join(", "))
}

/// A difference with its sign: `+4.0 B`, `-12 µs`.
pub fn signed(d: f64, f: impl Fn(f64) -> String) -> String {
    let sign = if d < 0.0 { '-' } else { '+' };
    format!("{sign}{}", f(d.abs()))
}

/// `poll 1.2 ms, sse 300 µs`.
pub fn list(v: &[(String, f64)], f: impl Fn(f64) -> String) -> String {
    v.iter()
        .map(|(t, x)| format!("{t} {}", f(*x)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Microseconds as µs, or ms from 1,000.
pub fn us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// Bytes, one decimal.
pub fn bytes(b: f64) -> String {
    format!("{b:.1} B")
}

/// Bytes per second as B/s, kB/s or MB/s.
pub fn rate(bps: f64) -> String {
    if bps >= 1e6 {
        format!("{:.2} MB/s", bps / 1e6)
    } else if bps >= 1e3 {
        format!("{:.1} kB/s", bps / 1e3)
    } else {
        format!("{bps:.0} B/s")
    }
}
