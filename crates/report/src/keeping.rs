//! The reports' "Keeping up" section: each phase's verdict ([`pushbench_model::overload`])
//! with the figures behind it, and in a sweep where overload begins. Shown only for runs
//! whose phases were judged, so the reports of older runs are as they were.

use crate::charts::words;
use crate::rundata::RunData;
use pushbench_model::overload::Verdict;
use pushbench_model::rows::SummaryRow;

/// The section's table: header and one row of cells per phase; `None` when no phase was
/// judged.
pub(crate) fn table(run: &RunData) -> Option<(Vec<&'static str>, Vec<Vec<String>>)> {
    if !run.summary.iter().any(|r| r.verdict.is_some()) {
        return None;
    }
    let header = vec![
        "transport",
        "rep",
        "point",
        "verdict",
        "reasons",
        "owed at end",
        "publisher lag p50",
        "p99",
        "max",
        "fell behind",
        "peak queued",
        "load-gen CPU",
    ];
    let known = |v: Option<u64>, f: fn(u64) -> String| v.map_or_else(|| "unknown".into(), f);
    let us = |v: u64| words::us(v as f64);
    let rows = run
        .summary
        .iter()
        .map(|r| {
            vec![
                r.transport.clone(),
                r.repetition.to_string(),
                r.sweep().map(|p| p.value_text()).unwrap_or_default(),
                r.verdict.map_or("", Verdict::name).to_string(),
                r.overload_reasons.replace(';', ", "),
                r.messages_published
                    .saturating_sub(r.messages_delivered)
                    .to_string(),
                known(r.publisher_lag_p50_us, us),
                known(r.publisher_lag_p99_us, us),
                known(r.publisher_lag_max_us, us),
                known(r.publisher_fell_behind_us, us),
                known(r.server_peak_queued_bytes, size),
                format!("{:.0}%", r.loadgen_cpu_share * 100.0),
            ]
        })
        .collect();
    Some((header, rows))
}

/// Bytes in B, kB or MB.
fn size(b: u64) -> String {
    let b = b as f64;
    if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

/// What the verdicts mean, under the table.
pub(crate) const NOTE: &str = "A phase is overloaded when the server did not keep up: its publisher fell more than one \
period further behind its schedule across the window (publisher-lag), more deliveries were owed at the window's end \
than one burst and the last reading's delay explain (backlog), or it disconnected slow consumers (slow-consumers). \
loadgen-saturated: the load generator used more than 80% of its cores, so what fell behind may be its fault. unknown: \
no check failed, but the server did not report a figure one needs. Publisher lag is each publication's actual minus \
its scheduled time; latency counts from the scheduled time, so it includes this lag.";

/// Per transport of a sweep, the first point judged overloaded (or saturating the load
/// generator) and why; `None` outside a sweep or when no phase was judged.
pub(crate) fn onset(run: &RunData) -> Option<Vec<String>> {
    run.sweep_dimension()?;
    let mut lines = Vec::new();
    let mut transports: Vec<&str> = run.summary.iter().map(|r| r.transport.as_str()).collect();
    transports.dedup();
    for t in transports {
        let mut rows: Vec<&SummaryRow> = run
            .summary
            .iter()
            .filter(|r| r.transport == t && r.verdict.is_some())
            .collect();
        if rows.is_empty() {
            continue;
        }
        rows.sort_by(|a, b| a.sweep_value.partial_cmp(&b.sweep_value).expect("finite"));
        let bad = |r: &&&SummaryRow| {
            matches!(
                r.verdict,
                Some(Verdict::Overloaded | Verdict::LoadgenSaturated)
            )
        };
        let line = match rows.iter().find(bad) {
            Some(r) => format!(
                "{t}: {} from {} on ({}), {} of {} points.",
                r.verdict.map_or("", Verdict::name),
                r.sweep().map(|p| p.to_string()).unwrap_or_default(),
                r.overload_reasons.replace(';', ", "),
                rows.iter().filter(bad).count(),
                rows.len()
            ),
            None => format!("{t}: kept up at every point."),
        };
        lines.push(line);
    }
    Some(lines)
}
