//! The reports' sections that only some runs have, each shown only when its data is there
//! (so the reports of older runs are as they were): "Clock", the clock offset every phase
//! estimated to the server (`meta.json` `clock`, `docs/distributed.md`) and the negative
//! latencies counted; and "Processes", every process of a merged run (`processes.csv`).

use crate::ReportError;
use crate::charts::words;
use crate::files::read_csv;
use crate::html::esc;
use crate::rundata::RunData;
use pushbench_model::clock::carried_error_ns;
use pushbench_model::rows::ProcessRow;
use std::fmt::Write as _;

/// One section: a heading, sentences, a table.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    title: &'static str,
    lines: Vec<String>,
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// Whether the HTML page folds the table (nothing in it changes the figures above).
    folded: bool,
}

/// The sections `run` has, in the reports' order.
pub(crate) fn of(run: &RunData) -> Result<Vec<Section>, ReportError> {
    Ok(clock(run).into_iter().chain(processes(run)?).collect())
}

/// The "Clock" section: every phase's offset estimate, per load generator; `None` for a run
/// made before offsets were estimated, or against a target.
fn clock(run: &RunData) -> Option<Section> {
    let clock = &run.meta.clock;
    if clock.is_empty() {
        return None;
    }
    let estimates = clock.iter().flat_map(|p| &p.estimates);
    let applied = estimates.clone().any(|e| e.applied);
    let all: Vec<_> = estimates.copied().collect();
    let mut lines = vec![if applied {
        format!(
            "Latency was converted to the server's clock by the offset each load generator estimated at the start of \
             every phase (the fastest of its GET /clock round trips: Cristian's method), so every latency carries that \
             offset's error bound, at most {} here. Counts and bytes carry none.",
            words::us(carried_error_ns(&all) as f64 / 1000.0)
        )
    } else {
        "Latency was read on the clock the server and the load generator share (one host): exact. The offset \
         estimated at the start of every phase is shown for its accuracy; it was not applied."
            .to_string()
    }];
    let negative: u64 = run
        .summary
        .iter()
        .filter_map(|r| r.negative_latencies)
        .sum();
    lines.push(if negative > 0 {
        format!(
            "{negative} latencies came out negative (within the offset's error bound); each is counted as 0 µs in \
             the latency figures (per phase: summary.csv, negative_latencies)."
        )
    } else {
        "No latency came out negative.".to_string()
    });
    let us = |ns: f64| format!("{:.1} µs", ns / 1000.0);
    let rows = clock
        .iter()
        .flat_map(|p| {
            p.estimates.iter().map(move |e| {
                vec![
                    p.transport.clone(),
                    p.repetition.to_string(),
                    p.sweep.map(|s| s.value_text()).unwrap_or_default(),
                    e.shard.map(|s| s.to_string()).unwrap_or_default(),
                    format!(
                        "{}{}",
                        if e.offset_ns < 0 { "−" } else { "+" },
                        us(e.offset_ns.unsigned_abs() as f64)
                    ),
                    us(e.error_ns as f64),
                    e.exchanges.to_string(),
                    if e.applied { "yes" } else { "no" }.to_string(),
                ]
            })
        })
        .collect();
    Some(Section {
        title: "Clock",
        lines,
        header: vec![
            "transport",
            "rep",
            "point",
            "shard",
            "offset (server − load generator)",
            "error bound",
            "exchanges",
            "applied",
        ],
        rows,
        folded: !applied,
    })
}

/// The "Processes" section of a merged run: every process's CPU and memory per phase
/// (`processes.csv`, which only `pushbench merge` writes); `None` without the file.
fn processes(run: &RunData) -> Result<Option<Section>, ReportError> {
    let path = run.dir.join("processes.csv");
    if !path.is_file() {
        return Ok(None);
    }
    let rows = read_csv::<ProcessRow>(&path, &[])?
        .into_iter()
        .map(|(_, r)| {
            vec![
                r.transport,
                r.repetition.to_string(),
                r.sweep_value.map(|v| v.to_string()).unwrap_or_default(),
                r.process,
                r.shard,
                r.host,
                format!("{:.2}", r.cpu_s),
                format!("{:.1} MiB", r.peak_rss_bytes as f64 / 1048576.0),
                r.connections.to_string(),
            ]
        })
        .collect();
    Ok(Some(Section {
        title: "Processes",
        lines: vec![
            "Every process of the merged run, phase by phase: the server (as shard 1 read its /stats), each \
             shard's load generator on its machine, and the load generators' total (the summary's figures). A \
             total's peak RSS is the sum of the shards' peaks (processes.csv)."
                .to_string(),
        ],
        header: vec![
            "transport",
            "rep",
            "point",
            "process",
            "shard",
            "host",
            "CPU s",
            "peak RSS",
            "connections",
        ],
        rows,
        folded: false,
    }))
}

/// The sections on the HTML page.
pub(crate) fn html(h: &mut String, sections: &[Section]) {
    for s in sections {
        let _ = writeln!(h, "<h2>{}</h2>", esc(s.title));
        for line in &s.lines {
            let _ = writeln!(h, "<p>{}</p>", esc(line));
        }
        if s.folded {
            let _ = writeln!(h, "<details><summary>{} rows</summary>", s.rows.len());
        }
        h.push_str("<table><thead><tr>");
        for c in &s.header {
            let _ = write!(h, "<th>{}</th>", esc(c));
        }
        h.push_str("</tr></thead><tbody>\n");
        for cells in &s.rows {
            h.push_str("<tr>");
            for c in cells {
                let _ = write!(h, "<td>{}</td>", esc(c));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table>\n");
        if s.folded {
            h.push_str("</details>\n");
        }
    }
}

/// The sections on the Markdown page.
pub(crate) fn markdown(m: &mut String, sections: &[Section]) {
    for s in sections {
        let _ = writeln!(m, "\n## {}\n", s.title);
        for line in &s.lines {
            let _ = writeln!(m, "{line}\n");
        }
        let _ = writeln!(m, "| {} |", s.header.join(" | "));
        let _ = writeln!(m, "|---|{}", "---:|".repeat(s.header.len() - 1));
        for cells in &s.rows {
            let _ = writeln!(m, "| {} |", cells.join(" | "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushbench_model::TransportKind;
    use pushbench_model::clock::{ClockEstimate, PhaseClock};
    use pushbench_model::rows::SummaryRow;

    fn estimate(shard: u32, offset_ns: i64, error_ns: u64, applied: bool) -> ClockEstimate {
        ClockEstimate {
            shard: Some(shard),
            offset_ns,
            error_ns,
            exchanges: 16,
            applied,
        }
    }

    #[test]
    fn the_clock_section_lists_every_shards_offset_and_counts_negatives() {
        let mut run = crate::tests::run_data("t");
        assert!(
            of(&run).unwrap().is_empty(),
            "nothing to show, nothing shown"
        );
        run.meta.clock = vec![PhaseClock {
            transport: "sse".into(),
            repetition: 1,
            sweep: None,
            estimates: vec![
                estimate(1, -1_234_567, 41_000, true),
                estimate(2, 2_500, 87_450, true),
            ],
        }];
        let mut row = SummaryRow::empty("sse", TransportKind::Sse, 1);
        row.negative_latencies = Some(3);
        run.summary.push(row);
        let sections = of(&run).unwrap();
        let [s] = sections.as_slice() else {
            panic!("{sections:?}")
        };
        assert_eq!(s.title, "Clock");
        assert!(!s.folded);
        // The largest bound, 87.45 µs, as the reports write microseconds.
        assert!(s.lines[0].contains(&words::us(87.45)), "{}", s.lines[0]);
        assert!(s.lines[1].starts_with("3 latencies came out negative"));
        let cells: Vec<(&str, &str, &str)> = s
            .rows
            .iter()
            .map(|r| (r[3].as_str(), r[4].as_str(), r[5].as_str()))
            .collect();
        assert_eq!(
            cells,
            [("1", "−1234.6 µs", "41.0 µs"), ("2", "+2.5 µs", "87.5 µs")]
        );
        let mut md = String::new();
        markdown(&mut md, &sections);
        assert!(md.contains("\n## Clock\n") && md.contains("| sse | 1 |  | 2 | +2.5 µs |"));
        // On one host, not applied: said so, and the table folded.
        run.meta.clock[0].estimates = vec![estimate(1, 800, 9_000, false)];
        run.summary[0].negative_latencies = Some(0);
        let s = &of(&run).unwrap()[0];
        assert!(s.folded && s.lines[0].contains("not applied"), "{s:?}");
        assert_eq!(s.lines[1], "No latency came out negative.");
    }

    #[test]
    fn a_merged_runs_processes_are_shown_from_processes_csv() {
        let dir = crate::tests::temp_dir("sections");
        std::fs::write(
            dir.join("processes.csv"),
            "transport,repetition,process,shard,host,cpu_s,peak_rss_bytes,connections,sweep_dimension,sweep_value\n\
             sse,1,server,1,,0.500,10485760,30,,\n\
             sse,1,loadgen,1,a,0.250,2097152,10,,\n",
        )
        .unwrap();
        let mut run = crate::tests::run_data("t");
        run.dir = dir.clone();
        let sections = of(&run).unwrap();
        let [s] = sections.as_slice() else {
            panic!("{sections:?}")
        };
        assert_eq!(s.title, "Processes");
        assert_eq!(
            s.rows[1],
            ["sse", "1", "", "loadgen", "1", "a", "0.25", "2.0 MiB", "10"]
        );
        let mut h = String::new();
        html(&mut h, &sections);
        assert!(h.contains("<h2>Processes</h2>") && h.contains("<td>10.0 MiB</td>"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
