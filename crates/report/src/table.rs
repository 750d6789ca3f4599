//! The compact table `pushbench run` prints at its end.

use pushbench_model::overload::Verdict;
use pushbench_model::rows::Figures;
use pushbench_model::{PhaseResult, SweepDimension};
use std::fmt::Write as _;

/// The compact table printed at the end of a run: one line per phase, with a column for
/// the swept value when the run sweeps the rate or the payload size (a sweep of clients
/// shows in the clients column).
pub fn summary_table(phases: &[PhaseResult]) -> String {
    let mut out = String::new();
    let swept = phases
        .iter()
        .find_map(|p| p.sweep)
        .map(|p| p.dimension)
        .filter(|d| *d != SweepDimension::Clients);
    let point = |p: &PhaseResult| match swept {
        Some(_) => format!(
            "{:>13} ",
            p.sweep.map(|s| s.value_text()).unwrap_or_default()
        ),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "{:<12} {:>3} {}{:>7} {:>10} {:>10} {:>6} {:>5} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "transport",
        "rep",
        swept.map_or_else(String::new, |d| format!("{:>13} ", d.name())),
        "clients",
        "published",
        "delivered",
        "lost",
        "dup",
        "p50_us",
        "p99_us",
        "max_us",
        "B/msg",
        "errors"
    );
    for p in phases {
        let c = &p.counters;
        let q = |v: f64| {
            if p.latency.is_empty() {
                0
            } else {
                p.latency.value_at_quantile(v)
            }
        };
        let _ = writeln!(
            out,
            "{:<12} {:>3} {}{:>7} {:>10} {:>10} {:>6} {:>5} {:>9} {:>9} {:>9} {:>9.1} {:>7}",
            p.label,
            p.repetition,
            point(p),
            p.clients,
            c.messages_published,
            c.messages_delivered,
            c.messages_lost,
            c.messages_duplicated + c.messages_out_of_order,
            q(0.5),
            q(0.99),
            p.latency.max(),
            p.wire_bytes_per_message().unwrap_or(0.0),
            p.errors.total()
        );
    }
    out.push_str(&warnings(phases));
    out.push_str(&clock_notes(phases));
    out
}

/// A line saying the latencies were converted by estimated clock offsets (a server on
/// another machine) and the largest error bound they carry, and one for each phase with
/// negative latencies; nothing when every latency was read on a shared clock.
fn clock_notes(phases: &[PhaseResult]) -> String {
    let mut out = String::new();
    let carried = |p: &&PhaseResult| pushbench_model::clock::carried_error_ns(&p.clock);
    if let Some(worst) = phases.iter().filter(|p| carried(p) > 0).max_by_key(carried) {
        let _ = writeln!(
            out,
            "clock: latencies converted to the server's clock by the offset estimated at each phase's start; each carries at most {:.1} µs of error ({} rep {}; meta.json clock)",
            carried(&worst) as f64 / 1000.0,
            worst.label,
            worst.repetition
        );
    }
    for p in phases.iter().filter(|p| p.counters.negative_latencies > 0) {
        let _ = writeln!(
            out,
            "note: {} rep {}: {} negative latencies, within the clock offset's error bound (counted as 0 µs: summary.csv negative_latencies)",
            p.label, p.repetition, p.counters.negative_latencies
        );
    }
    out
}

/// A line for each phase judged overloaded or whose load generator was near saturation,
/// and one for each phase with errors or reconnects.
fn warnings(phases: &[PhaseResult]) -> String {
    let mut out = String::new();
    let at = |p: &PhaseResult| p.sweep.map(|s| format!(" {s}")).unwrap_or_default();
    for p in phases.iter().filter(|p| p.loadgen_saturated()) {
        let _ = writeln!(
            out,
            "warning: {}{} rep {}: loadgen-saturated: the load generator used {:.0}% of its cores; its numbers may describe the load generator, not the transport",
            p.label,
            at(p),
            p.repetition,
            p.loadgen_cpu_share * 100.0
        );
    }
    for p in phases
        .iter()
        .filter(|p| p.keeping_up.judgement.verdict == Some(Verdict::Overloaded))
    {
        let k = &p.keeping_up;
        let lag = k.publisher_fell_behind_us.map_or_else(
            || "unknown".into(),
            |us| format!("{:.3} s", us as f64 / 1e6),
        );
        let _ = writeln!(
            out,
            "overloaded: {}{} rep {}: {} (publisher fell behind by {lag}; {} deliveries owed at the window's end)",
            p.label,
            at(p),
            p.repetition,
            k.judgement.reasons_text().replace(';', ", "),
            p.counters
                .messages_published
                .saturating_sub(p.counters.messages_delivered)
        );
    }
    for p in phases
        .iter()
        .filter(|p| p.errors.total() > 0 || p.counters.reconnects > 0)
    {
        let _ = writeln!(
            out,
            "note: {}{} rep {}: {} errors, {} reconnects (see summary.csv errors_* columns)",
            p.label,
            at(p),
            p.repetition,
            p.errors.total(),
            p.counters.reconnects
        );
    }
    out
}
