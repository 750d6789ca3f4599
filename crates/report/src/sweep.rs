//! `sweep.csv`: one row per transport and sweep point, pooling the point's repetitions, made
//! from `summary.csv` and the phases' histogram logs alone, so `pushbench report` makes it
//! again from a copied run directory.
//!
//! Pooling keeps every ratio of two columns a true pooled ratio: quantities that add up over
//! repetitions (counts, bytes, window seconds, CPU seconds) are summed, latencies come from
//! the repetitions' histograms merged, and per-phase levels (planned clients, peak memory,
//! the load generator's CPU share) are averaged.

use crate::rundata::{SWEEP_DIMENSION, SWEEP_VALUE};
use crate::{ReportError, SUMMARY_COLUMNS, SummaryRow, hlog};
use pushbench_model::SweepPoint;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Columns summed over a point's repetitions.
const SUMMED: [&str; 17] = [
    "duration_s",
    "messages_published",
    "messages_delivered",
    "messages_lost",
    "messages_duplicated",
    "messages_out_of_order",
    "bytes_up",
    "bytes_down",
    "setup_bytes",
    "bytes_total",
    "requests",
    "empty_responses",
    "connections_opened",
    "errors",
    "reconnects",
    "server_cpu_s",
    "loadgen_cpu_s",
];

/// Columns averaged over a point's repetitions.
const AVERAGED: [&str; 5] = [
    "clients",
    "message_bytes",
    "server_peak_rss_bytes",
    "loadgen_peak_rss_bytes",
    "loadgen_cpu_share",
];

/// Columns `sweep.csv` adds after the summary columns.
const EXTRA: [&str; 6] = [
    "kind",
    "message_bytes",
    "reconnects",
    "loadgen_cpu_share",
    "messages_delivered_per_s",
    "server_cpu_ms_per_1k_messages",
];

/// One transport at one sweep point, over all its repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    /// The transport label.
    pub transport: String,
    /// Its client kind.
    pub kind: String,
    /// The point.
    pub point: SweepPoint,
    /// Repetitions pooled.
    pub repetitions: u32,
    /// Every numeric column of `sweep.csv` by name.
    pub values: BTreeMap<String, f64>,
}

impl SweepRow {
    /// A column; 0 when absent.
    pub fn get(&self, column: &str) -> f64 {
        self.values.get(column).copied().unwrap_or(0.0)
    }

    /// `column` per delivered message; `None` when nothing was delivered (a cost per
    /// message then means nothing) .
    pub fn per_message(&self, column: &str) -> Option<f64> {
        let delivered = self.get("messages_delivered");
        (delivered > 0.0).then(|| self.get(column) / delivered)
    }

    /// A latency column, `None` when nothing was delivered (the files write 0 then).
    pub fn latency(&self, column: &str) -> Option<f64> {
        (self.get("messages_delivered") > 0.0).then(|| self.get(column))
    }
}

/// The columns of `sweep.csv`, in order.
pub fn columns() -> Vec<&'static str> {
    let mut out = vec!["transport", SWEEP_DIMENSION, SWEEP_VALUE, "repetitions"];
    out.extend(&SUMMARY_COLUMNS[2..]);
    out.extend(EXTRA);
    out
}

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
        let Some(point) = r.sweep else { continue };
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
                .filter(|r| r.transport == transport && r.sweep == Some(point))
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
    let mut latency = pushbench_model::new_histogram();
    for r in reps {
        let log = hlog::read(&dir.join(hlog::file_name(transport, Some(point), r.repetition)))?;
        latency
            .add(&log)
            .expect("auto-resizing histograms always merge");
    }
    let n = reps.len() as f64;
    let mut values = BTreeMap::new();
    for c in SUMMED {
        values.insert(c.to_string(), reps.iter().map(|r| r.get(c)).sum::<f64>());
    }
    for c in AVERAGED {
        values.insert(
            c.to_string(),
            reps.iter().map(|r| r.get(c)).sum::<f64>() / n,
        );
    }
    let q = |p: f64| {
        if latency.is_empty() {
            0.0
        } else {
            latency.value_at_quantile(p) as f64
        }
    };
    for (c, v) in [
        (
            "latency_mean_us",
            if latency.is_empty() {
                0.0
            } else {
                latency.mean()
            },
        ),
        ("latency_p50_us", q(0.5)),
        ("latency_p90_us", q(0.9)),
        ("latency_p99_us", q(0.99)),
        ("latency_p999_us", q(0.999)),
        ("latency_max_us", latency.max() as f64),
    ] {
        values.insert(c.to_string(), v);
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let delivered = values["messages_delivered"];
    let derived = [
        (
            "bytes_per_message",
            ratio(values["bytes_up"] + values["bytes_down"], delivered),
        ),
        (
            "messages_delivered_per_s",
            ratio(delivered, values["duration_s"]),
        ),
        (
            "server_cpu_ms_per_1k_messages",
            ratio(values["server_cpu_s"] * 1e6, delivered),
        ),
    ];
    for (c, v) in derived {
        values.insert(c.to_string(), v);
    }
    Ok(SweepRow {
        transport: transport.to_string(),
        kind: reps
            .first()
            .map_or_else(|| transport.to_string(), |r| r.kind.clone()),
        point,
        repetitions: reps.len() as u32,
        values,
    })
}

/// `sweep.csv`.
pub fn csv(rows: &[SweepRow]) -> String {
    let columns = columns();
    let mut out = columns.join(",") + "\n";
    for r in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|&c| match c {
                "transport" => r.transport.clone(),
                "kind" => r.kind.clone(),
                SWEEP_DIMENSION => r.point.dimension.to_string(),
                SWEEP_VALUE => r.point.value_text(),
                "repetitions" => r.repetitions.to_string(),
                c => number(r.get(c)),
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}

/// Whole numbers as such, anything else to three decimals.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::temp_dir;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::V2DeflateSerializer;
    use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
    use pushbench_model::SweepDimension;
    use std::time::{Duration, UNIX_EPOCH};

    fn point(value: f64) -> SweepPoint {
        SweepPoint {
            dimension: SweepDimension::Clients,
            value,
        }
    }

    fn row(transport: &str, value: f64, repetition: u32, values: &[(&str, f64)]) -> SummaryRow {
        SummaryRow {
            transport: transport.into(),
            repetition,
            sweep: Some(point(value)),
            kind: transport.into(),
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
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
        let cols = |delivered: f64, up: f64, down: f64, cpu: f64, rss: f64| {
            [
                ("clients", 10.0),
                ("duration_s", 5.0),
                ("messages_delivered", delivered),
                ("bytes_up", up),
                ("bytes_down", down),
                ("server_cpu_s", cpu),
                ("server_peak_rss_bytes", rss),
            ]
        };
        let summary = [
            row("sse", 2.0, 1, &cols(4.0, 0.0, 100.0, 0.5, 1e6)),
            row("sse", 10.0, 1, &cols(50.0, 10.0, 1000.0, 0.1, 2e6)),
            row("sse", 2.0, 2, &cols(0.0, 0.0, 0.0, 0.5, 1e6)),
            row("sse", 10.0, 2, &cols(50.0, 30.0, 3000.0, 0.3, 4e6)),
        ];
        let rows = rows(&dir, &summary).unwrap();
        let points: Vec<(f64, u32)> = rows
            .iter()
            .map(|r| (r.point.value, r.repetitions))
            .collect();
        assert_eq!(points, [(2.0, 2), (10.0, 2)], "points ascending");

        let r = &rows[1];
        // 1..=100 µs once each: exact in a 3-digit HdrHistogram.
        assert_eq!(r.get("latency_p50_us"), 50.0);
        assert_eq!(r.get("latency_p99_us"), 99.0);
        assert_eq!(r.get("latency_max_us"), 100.0);
        assert_eq!(r.get("latency_mean_us"), 50.5);
        assert_eq!(r.get("messages_delivered"), 100.0);
        assert_eq!(r.get("duration_s"), 10.0);
        assert_eq!(r.get("messages_delivered_per_s"), 10.0);
        // (10 + 30 + 1000 + 3000) bytes over 100 messages.
        assert_eq!(r.get("bytes_per_message"), 40.4);
        // 0.4 CPU seconds over 100 messages: 4 ms each, 4,000 ms per 1,000.
        assert!((r.get("server_cpu_ms_per_1k_messages") - 4000.0).abs() < 1e-9);
        assert_eq!(r.get("server_peak_rss_bytes"), 3e6, "a level is averaged");

        let r = &rows[0];
        assert_eq!(r.get("latency_p99_us"), 7.0);
        assert_eq!(r.get("messages_delivered"), 4.0);
        // The repetition that delivered nothing adds its CPU but no messages.
        assert!((r.get("server_cpu_ms_per_1k_messages") - 250_000.0).abs() < 1e-6);

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
        let summary = [row("ws", 5.0, 1, &[("messages_delivered", 1.0)])];
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
            sweep: None,
            ..row("ws", 5.0, 1, &[])
        }];
        assert!(rows(Path::new("/nonexistent"), &plain).unwrap().is_empty());
    }
}
