//! `sweep.csv`: one row per transport and sweep point, pooling the point's repetitions, made
//! from `summary.csv` and the phases' histogram logs alone, so `pushbench report` makes it
//! again from a copied run directory.
//!
//! Pooling keeps every ratio of two columns a true pooled ratio: quantities that add up over
//! repetitions (counts, bytes, window seconds, CPU seconds) are summed, latencies come from
//! the repetitions' histograms merged, and per-phase levels (planned clients, peak memory,
//! the load generator's CPU share) are averaged.

use crate::files::csv_text;
use crate::{ReportError, hlog};
use hdrhistogram::Histogram;
use pushbench_model::SweepPoint;
use pushbench_model::overload::{Reason, Verdict};
use pushbench_model::rows::{CsvRow, Figures, SummaryRow, SweepRow};
use std::path::Path;

/// The rows of a run whose summary rows carry sweep points: points ascending, transports
/// in summary order within each; empty for a run without a sweep. Reads the histogram log
/// of every phase from `dir`.
pub fn rows(dir: &Path, summary: &[SummaryRow]) -> Result<Vec<SweepRow>, ReportError> {
    let mut groups: Vec<(SweepPoint, usize, &str)> = Vec::new();
    let mut order: Vec<&str> = Vec::new();
    for r in summary {
        if !order.contains(&r.transport.as_str()) {
            order.push(&r.transport);
        }
        let Some(point) = r.sweep() else { continue };
        let rank = order.iter().position(|t| *t == r.transport).unwrap_or(0);
        if !groups.iter().any(|g| g.0 == point && g.2 == r.transport) {
            groups.push((point, rank, &r.transport));
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    groups
        .into_iter()
        .map(|(point, _, transport)| {
            let reps: Vec<&SummaryRow> = summary
                .iter()
                .filter(|r| r.transport == transport && r.sweep() == Some(point))
                .collect();
            pool(dir, transport, point, &reps)
        })
        .collect()
}

/// Pools one transport's repetitions at one point.
fn pool(
    dir: &Path,
    transport: &str,
    point: SweepPoint,
    reps: &[&SummaryRow],
) -> Result<SweepRow, ReportError> {
    let latency = pooled_latency(dir, transport, point, reps)?;
    let (negative_latencies, clock_error_us) = pooled_clock(reps);
    let sum = |f: fn(&SummaryRow) -> f64| reps.iter().map(|r| f(r)).sum::<f64>();
    let mean = |f: fn(&SummaryRow) -> f64| sum(f) / reps.len() as f64;
    let q = |p: f64| {
        if latency.is_empty() {
            0.0
        } else {
            latency.value_at_quantile(p) as f64
        }
    };
    let mut row = SweepRow {
        transport: transport.to_string(),
        sweep_dimension: point.dimension,
        sweep_value: point.value,
        repetitions: reps.len() as u32,
        clients: mean(|r| f64::from(r.clients)),
        duration_s: sum(|r| r.duration_s),
        messages_published: sum(|r| r.messages_published as f64),
        messages_delivered: sum(|r| r.messages_delivered as f64),
        messages_lost: sum(|r| r.messages_lost as f64),
        messages_duplicated: sum(|r| r.messages_duplicated as f64),
        messages_out_of_order: sum(|r| r.messages_out_of_order as f64),
        latency_mean_us: if latency.is_empty() {
            0.0
        } else {
            latency.mean()
        },
        latency_p50_us: q(0.5),
        latency_p90_us: q(0.9),
        latency_p99_us: q(0.99),
        latency_p999_us: q(0.999),
        latency_max_us: latency.max() as f64,
        bytes_up: sum(|r| r.bytes_up as f64),
        bytes_down: sum(|r| r.bytes_down as f64),
        bytes_per_message: 0.0,
        setup_bytes: sum(|r| r.setup_bytes as f64),
        bytes_total: sum(|r| r.bytes_total as f64),
        requests: sum(|r| r.requests as f64),
        empty_responses: sum(|r| r.empty_responses as f64),
        connections_opened: sum(|r| r.connections_opened as f64),
        errors: sum(|r| r.errors as f64),
        server_cpu_s: sum(|r| r.server_cpu_s),
        server_peak_rss_bytes: mean(|r| r.server_peak_rss_bytes as f64),
        loadgen_cpu_s: sum(|r| r.loadgen_cpu_s),
        loadgen_peak_rss_bytes: mean(|r| r.loadgen_peak_rss_bytes as f64),
        kind: reps
            .first()
            .map(|r| r.kind)
            .expect("a point has a repetition"),
        message_bytes: mean(|r| r.message_bytes as f64),
        reconnects: sum(|r| r.reconnects as f64),
        loadgen_cpu_share: mean(|r| r.loadgen_cpu_share),
        messages_delivered_per_s: 0.0,
        server_cpu_ms_per_1k_messages: 0.0,
        verdict: reps.iter().filter_map(|r| r.verdict).reduce(Verdict::worse),
        overload_reasons: None,
        negative_latencies,
        clock_error_us,
    };
    if row.verdict.is_some() {
        row.overload_reasons = Some(pooled_reasons(reps));
    }
    // The pooled ratios: summed numerators over summed denominators.
    row.bytes_per_message = row.wire_bytes_per_message().unwrap_or(0.0);
    row.messages_delivered_per_s = row.delivered_per_s().unwrap_or(0.0);
    row.server_cpu_ms_per_1k_messages = row.server_cpu_ms_per_1k_messages().unwrap_or(0.0);
    Ok(row)
}

/// The latency histogram of all of `reps`: their logs added, so its percentiles are those of
/// every sample.
fn pooled_latency(
    dir: &Path,
    transport: &str,
    point: SweepPoint,
    reps: &[&SummaryRow],
) -> Result<Histogram<u64>, ReportError> {
    let mut latency = pushbench_model::new_histogram();
    for r in reps {
        let log = hlog::read(&dir.join(hlog::file_name(transport, Some(point), r.repetition)))?;
        latency
            .add(&log)
            .expect("auto-resizing histograms always merge");
    }
    Ok(latency)
}

/// Negative latencies summed and the largest clock error bound over `reps`; `None` when any
/// repetition was made before they were recorded.
fn pooled_clock(reps: &[&SummaryRow]) -> (Option<f64>, Option<f64>) {
    let negative = reps
        .iter()
        .map(|r| r.negative_latencies.map(|n| n as f64))
        .sum();
    let error = reps
        .iter()
        .map(|r| r.clock_error_us.map(|e| e as f64))
        .reduce(|a, b| Some(a?.max(b?)))
        .flatten();
    (negative, error)
}

/// Every reason any of `reps` found, once each, in [`Reason::ALL`] order.
fn pooled_reasons(reps: &[&SummaryRow]) -> String {
    let found = |name: &str| {
        reps.iter()
            .any(|r| r.overload_reasons.split(';').any(|n| n == name))
    };
    let names: Vec<&str> = Reason::ALL
        .iter()
        .map(|r| r.name())
        .filter(|n| found(n))
        .collect();
    names.join(";")
}

/// `sweep.csv`. The verdict columns are written when any point was judged (a run made
/// before phases were judged gets the file it always got); a point that was not then
/// reads `unknown`, which is what it is. The same for the clock columns
/// (`negative_latencies`, `clock_error_us`) and runs made before they were recorded.
pub fn csv(rows: &[SweepRow]) -> String {
    let judged = rows.iter().any(|r| r.verdict.is_some());
    let clocked = rows.iter().any(|r| r.negative_latencies.is_some());
    let left_out: &[&str] = match (judged, clocked) {
        (true, true) => &[],
        (true, false) => &["negative_latencies", "clock_error_us"],
        (false, true) => &["verdict", "overload_reasons"],
        (false, false) => &[
            "verdict",
            "overload_reasons",
            "negative_latencies",
            "clock_error_us",
        ],
    };
    let header: Vec<&str> = SweepRow::columns()
        .iter()
        .copied()
        .filter(|c| !left_out.contains(c))
        .collect();
    let filled: Vec<SweepRow> = rows
        .iter()
        .cloned()
        .map(|mut r| {
            if judged {
                r.verdict.get_or_insert(Verdict::Unknown);
                r.overload_reasons.get_or_insert_with(String::new);
            }
            if clocked {
                r.negative_latencies.get_or_insert(0.0);
                r.clock_error_us.get_or_insert(0.0);
            }
            r
        })
        .collect();
    csv_text(Some(&header), &filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::temp_dir;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::V2DeflateSerializer;
    use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
    use pushbench_model::{SweepDimension, TransportKind};
    use std::time::{Duration, UNIX_EPOCH};

    /// The columns a row sets, by name: what a summary.csv line would give.
    #[derive(Clone, Copy)]
    struct Cols {
        clients: u32,
        duration_s: f64,
        delivered: u64,
        up: u64,
        down: u64,
        cpu: f64,
        rss: u64,
    }

    fn row(transport: &str, value: f64, repetition: u32, c: Option<Cols>) -> SummaryRow {
        let mut r = SummaryRow {
            sweep_dimension: Some(SweepDimension::Clients),
            sweep_value: Some(value),
            ..SummaryRow::empty(transport, TransportKind::Sse, repetition)
        };
        if let Some(c) = c {
            r.clients = c.clients;
            r.duration_s = c.duration_s;
            r.messages_delivered = c.delivered;
            r.bytes_up = c.up;
            r.bytes_down = c.down;
            r.server_cpu_s = c.cpu;
            r.server_peak_rss_bytes = c.rss;
        }
        r
    }

    /// A log of two one-second intervals holding `latencies` (µs), split between them.
    fn write_log(path: &Path, latencies: impl Iterator<Item = u64>) {
        let (mut a, mut b) = (
            Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
            Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
        );
        for (i, v) in latencies.enumerate() {
            if i % 2 == 0 { &mut a } else { &mut b }.record(v).unwrap();
        }
        let mut out = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .with_start_time(UNIX_EPOCH)
            .begin_log_with(&mut out, &mut serializer)
            .unwrap();
        for (i, h) in [a, b].iter().enumerate() {
            log.write_histogram(
                h,
                Duration::from_secs(i as u64),
                Duration::from_secs(1),
                None,
            )
            .unwrap();
        }
        drop(log);
        std::fs::write(path, out).unwrap();
    }

    #[test]
    fn repetitions_pool_into_one_row_per_transport_and_point() {
        let dir = temp_dir("pool");
        // sse at 10 clients: repetition 1 saw 1..=50 µs, repetition 2 saw 51..=100 µs.
        write_log(&dir.join("sse-clients10-1.hlog"), 1..=50);
        write_log(&dir.join("sse-clients10-2.hlog"), 51..=100);
        write_log(&dir.join("sse-clients2-1.hlog"), std::iter::repeat_n(7, 4));
        write_log(&dir.join("sse-clients2-2.hlog"), std::iter::empty());
        let cols = |delivered, up, down, cpu, rss| {
            Some(Cols {
                clients: 10,
                duration_s: 5.0,
                delivered,
                up,
                down,
                cpu,
                rss,
            })
        };
        let summary = [
            row("sse", 2.0, 1, cols(4, 0, 100, 0.5, 1_000_000)),
            row("sse", 10.0, 1, cols(50, 10, 1000, 0.1, 2_000_000)),
            row("sse", 2.0, 2, cols(0, 0, 0, 0.5, 1_000_000)),
            row("sse", 10.0, 2, cols(50, 30, 3000, 0.3, 4_000_000)),
        ];
        let rows = rows(&dir, &summary).unwrap();
        let points: Vec<(f64, u32)> = rows
            .iter()
            .map(|r| (r.sweep_value, r.repetitions))
            .collect();
        assert_eq!(points, [(2.0, 2), (10.0, 2)], "points ascending");

        let r = &rows[1];
        // 1..=100 µs once each: exact in a 3-digit HdrHistogram.
        assert_eq!(r.latency_p50_us, 50.0);
        assert_eq!(r.latency_p99_us, 99.0);
        assert_eq!(r.latency_max_us, 100.0);
        assert_eq!(r.latency_mean_us, 50.5);
        assert_eq!(r.messages_delivered, 100.0);
        assert_eq!(r.duration_s, 10.0);
        assert_eq!(r.messages_delivered_per_s, 10.0);
        // (10 + 30 + 1000 + 3000) bytes over 100 messages.
        assert_eq!(r.bytes_per_message, 40.4);
        // 0.4 CPU seconds over 100 messages: 4 ms each, 4,000 ms per 1,000.
        assert!((r.server_cpu_ms_per_1k_messages - 4000.0).abs() < 1e-9);
        assert_eq!(r.server_peak_rss_bytes, 3e6, "a level is averaged");

        let r = &rows[0];
        assert_eq!(r.latency_p99_us, 7.0);
        assert_eq!(r.messages_delivered, 4.0);
        // The repetition that delivered nothing adds its CPU but no messages.
        assert!((r.server_cpu_ms_per_1k_messages - 250_000.0).abs() < 1e-6);

        let text = csv(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("transport,sweep_dimension,sweep_value,repetitions,clients,"));
        assert!(
            lines[2].starts_with("sse,clients,10,2,10,10,"),
            "{}",
            lines[2]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_log_is_named() {
        let dir = temp_dir("missing");
        let mut one = row("ws", 5.0, 1, None);
        one.messages_delivered = 1;
        let summary = [one];
        let e = rows(&dir, &summary).unwrap_err().to_string();
        assert!(e.contains("ws-clients5-1.hlog"), "{e}");
        std::fs::write(
            dir.join("ws-clients5-1.hlog"),
            "Tag=x,garbage\n0.1,1,2,!!!\n",
        )
        .unwrap();
        let e = rows(&dir, &summary).unwrap_err().to_string();
        assert!(e.contains("not a readable histogram log"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        // A run without a sweep has no rows and reads no log.
        let plain = [SummaryRow {
            sweep_dimension: None,
            sweep_value: None,
            ..row("ws", 5.0, 1, None)
        }];
        assert!(rows(Path::new("/nonexistent"), &plain).unwrap().is_empty());
    }

    #[test]
    fn the_clock_columns_are_written_for_runs_that_recorded_them() {
        let point = SweepPoint {
            dimension: SweepDimension::Clients,
            value: 10.0,
        };
        let old = SweepRow::empty("sse", TransportKind::Sse, point);
        let header = |text: &str| text.lines().next().unwrap().to_string();
        assert!(
            header(&csv(std::slice::from_ref(&old))).ends_with(",server_cpu_ms_per_1k_messages")
        );
        let new = SweepRow {
            negative_latencies: Some(2.0),
            clock_error_us: Some(13.0),
            ..old
        };
        let text = csv(&[new]);
        assert!(
            header(&text)
                .ends_with(",server_cpu_ms_per_1k_messages,negative_latencies,clock_error_us"),
            "{text}"
        );
        assert!(
            text.lines().nth(1).unwrap().ends_with(",0,0,2,13"),
            "{text}"
        );
    }
}
