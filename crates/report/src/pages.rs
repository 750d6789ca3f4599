//! `report.html` (one self-contained file: inline CSS and SVG, nothing fetched) and
//! `report.md` (the same tables in GitHub-flavoured Markdown, linking the SVG charts), both
//! made from a run directory's files and charts, with a short reading of each chart
//! generated from the numbers.

use crate::charts::{self, Drawn, words};
use crate::files::json_number;
use crate::html::{REPORT_CSS, esc, head, inline_svg, swatch};
use crate::keeping;
use crate::rundata::RunData;
use crate::sections::Section;
use pushbench_model::run::CpuPinning;
use pushbench_model::scenario::{NetworkPlan, Pattern, Scenario, duration_text};
use pushbench_model::{ClientKind, SweepDimension};
use std::fmt::Write as _;

/// Rows of the summary table: header and cells, shared by the HTML and Markdown pages.
fn table(run: &RunData) -> (Vec<&'static str>, Vec<(String, Vec<String>)>) {
    // A sweep of clients shows in the clients column; another gets a column of its own.
    let swept = run
        .sweep_dimension()
        .filter(|d| *d != SweepDimension::Clients);
    let mut header = vec![
        "transport",
        "rep",
        "clients",
        "published",
        "delivered",
        "lost",
        "dup",
        "out of order",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "bytes/msg",
        "overhead/msg",
        "errors",
        "server CPU s",
        "server peak RSS",
    ];
    if let Some(d) = swept {
        header.insert(2, d.name());
    }
    // Which client ran each phase, when a browser ran any: beside the transport, in both
    // tables.
    let clients = (run.summary.iter()).any(|r| r.client != ClientKind::Rust);
    if clients {
        header.insert(1, "client");
    }
    let rows = run
        .summary
        .iter()
        .map(|r| {
            let mut cells = vec![
                r.transport.clone(),
                r.repetition.to_string(),
                r.clients.to_string(),
                r.messages_published.to_string(),
                r.messages_delivered.to_string(),
                r.messages_lost.to_string(),
                r.messages_duplicated.to_string(),
                r.messages_out_of_order.to_string(),
                words::us(r.latency_p50_us),
                words::us(r.latency_p90_us),
                words::us(r.latency_p99_us),
                words::us(r.latency_p999_us),
                words::us(r.latency_max_us),
                format!("{:.1}", r.bytes_per_message),
                format!("{:.1}", r.overhead_per_message()),
                r.errors.to_string(),
                format!("{:.2}", r.server_cpu_s),
                format!("{:.1} MiB", r.server_peak_rss_bytes as f64 / 1048576.0),
            ];
            if swept.is_some() {
                cells.insert(2, r.sweep().map(|p| p.value_text()).unwrap_or_default());
            }
            if clients {
                cells.insert(1, r.client.name().to_string());
            }
            (r.transport.clone(), cells)
        })
        .collect();
    (header, rows)
}

/// What every other transport adds per delivered message to the raw stream, in bytes and
/// in median latency (at a sweep's largest point): the reading a run with the baseline is
/// made for. `None` without a baseline.
fn baseline_line(run: &RunData) -> Option<String> {
    let point = run.headline_point();
    let run = run.at(point);
    let base = words::baseline(&run)?;
    let bytes = words::by(&run, |r| r.bytes_per_message);
    let p50 = words::by(&run, |r| r.latency_p50_us);
    let at = |v: &[(String, f64)]| v.iter().find(|(t, _)| *t == base).map(|(_, x)| *x);
    let (base_bytes, base_p50) = (at(&bytes)?, at(&p50)?);
    let each: Vec<String> = bytes
        .iter()
        .zip(&p50)
        .filter(|((t, _), _)| *t != base)
        .map(|((t, b), (_, l))| {
            format!(
                "{t} {} and {} at p50",
                words::signed(b - base_bytes, words::bytes),
                words::signed(l - base_p50, words::us)
            )
        })
        .collect();
    if each.is_empty() {
        return None;
    }
    let at_point = point.map(|p| format!(" at {p}")).unwrap_or_default();
    Some(format!(
        "Per delivered message over the raw stream ({base}, the baseline){at_point}: {}.",
        each.join("; ")
    ))
}

fn scenario_lines(run: &RunData) -> Vec<String> {
    let s = &run.meta.scenario;
    let swept = s.sweep.as_ref().map_or("", |s| s.dimension.name());
    let unit = match swept {
        "rtt" => " ms",
        "bandwidth_down" => " Mbit/s",
        _ => "",
    };
    // f64's Display writes 10.0 as 10.
    let values: Vec<String> = s
        .sweep
        .iter()
        .flat_map(|s| &s.values)
        .map(|v| format!("{v}{unit}"))
        .collect();
    let mut out = vec![timing_line(s, values.len()), workload_line(s, swept)];
    if !values.is_empty() {
        out.push(format!(
            "sweep: {swept} = {}; every transport runs at every point, smallest first",
            values.join(", ")
        ));
    }
    if let Some(n) = &s.network {
        out.push(network_line(n, swept));
    }
    for t in &s.transports {
        let extra: String = t
            .kind
            .descriptor()
            .options
            .iter()
            .map(|o| o.describe(t))
            .collect();
        let (label, kind) = (&t.label, t.kind.name());
        let by = match t.client {
            ClientKind::Rust => String::new(),
            ClientKind::Browser => format!(
                ", run by headless Chromium ({} clients per page)",
                pushbench_model::client::BROWSER_CLIENTS_PER_PAGE
            ),
        };
        out.push(if swept == "clients" {
            format!("{label}: kind {kind}{extra}, clients swept{by}")
        } else {
            format!("{label}: {} clients of kind {kind}{extra}{by}", t.clients)
        });
    }
    out
}

/// The phases and their timing, for a sweep of `points` points (0 without one).
fn timing_line(s: &Scenario, points: usize) -> String {
    let transports = s.transports.len();
    let phases = if points == 0 {
        format!("{transports} phases")
    } else {
        format!(
            "{transports} transports at {points} points ({} phases)",
            transports * points
        )
    };
    format!(
        "{phases} of {} measured after {} ramp-up and {} warm-up, {} repetition(s)",
        duration_text(s.duration),
        duration_text(s.ramp_up),
        duration_text(s.warmup),
        s.repeat
    )
}

/// The workload, its `swept` setting named as swept.
fn workload_line(s: &Scenario, swept: &str) -> String {
    let w = &s.workload;
    let or_swept = |key: &str, v: String| {
        if key == swept {
            format!("{} swept", key.replace('_', " "))
        } else {
            v
        }
    };
    format!(
        "workload: {}, {} {}, {}, {} topic(s)",
        w.pattern.name(),
        or_swept("rate", format!("{} messages/s", json_number(w.rate))),
        if w.pattern == Pattern::Echo {
            "per client"
        } else {
            "per topic"
        },
        or_swept(
            "payload_bytes",
            format!(
                "{} payload bytes ({} bytes per message)",
                w.payload_bytes,
                w.message_bytes()
            )
        ),
        w.topics
    )
}

/// The emulated link of `[network]` (docs/network.md), as `meta.json` records it; a swept
/// setting (which `meta.json` holds at its largest value) is named as swept.
fn network_line(n: &NetworkPlan, swept: &str) -> String {
    let rate = |v: Option<u64>| match v.map(|b| b as f64) {
        None => "unlimited".to_string(),
        Some(b) if b >= 1e9 => format!("{} Gbit/s", b / 1e9),
        Some(b) if b >= 1e6 => format!("{} Mbit/s", b / 1e6),
        Some(b) => format!("{} kbit/s", b / 1e3),
    };
    let text = duration_text;
    let delay = if swept == "rtt" {
        "round trip swept (half each way)".to_string()
    } else {
        format!("delay {} up, {} down", text(n.delay_up), text(n.delay_down))
    };
    let down = if swept == "bandwidth_down" {
        "swept".to_string()
    } else {
        rate(n.bandwidth_down_bps)
    };
    format!(
        "emulated network link per connection: {delay}, jitter {}, bandwidth {down} down, {} up, queue {} bytes per direction",
        text(n.jitter),
        rate(n.bandwidth_up_bps),
        n.queue_bytes
    )
}

fn host_line(run: &RunData) -> String {
    let m = &run.meta;
    format!(
        "{} ({} cores, {:.1} GiB), Linux {}; pushbench {}{}; {} to {}",
        m.host.cpu_model,
        m.host.cores,
        m.host.memory_bytes as f64 / 1073741824.0,
        m.host.kernel,
        m.pushbench_version,
        match m.git_commit.as_deref() {
            Some(c) if c.len() >= 12 => format!(" ({})", &c[..12]),
            _ => String::new(),
        },
        m.started,
        m.ended
    ) + &pinning_note(run)
        + &shard_note(run)
}

/// `; shard 2 of 3, …` for a shard run, `; merged from 3 shards …` for a merged one
/// (docs/sharding.md), so that a reader knows whose clients the figures cover.
fn shard_note(run: &RunData) -> String {
    let m = &run.meta;
    if let Some(s) = &m.shard {
        return format!(
            "; shard {} of {} (its share of the clients), plan starting {}",
            s.shard.index, s.shard.count, s.start_at
        );
    }
    let Some(merged) = &m.merged else {
        return String::new();
    };
    let mut hosts: Vec<&str> = merged.shards.iter().map(|s| s.hostname.as_str()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    format!(
        "; merged from {} shards on {} (load generators summed, server as shard 1 read it: processes.csv)",
        merged.shards.len(),
        hosts.join(", ")
    )
}

/// `; server on CPUs 0, load generator on CPUs 1`, for a run made with `--pin`.
fn pinning_note(run: &RunData) -> String {
    match &run.meta.cpu_pinning {
        Some(CpuPinning {
            server: Some(s),
            loadgen: l,
        }) => format!("; server pinned to CPUs {s}, load generator to CPUs {l}"),
        Some(CpuPinning {
            server: None,
            loadgen: l,
        }) => {
            format!("; load generator pinned to CPUs {l}")
        }
        None => String::new(),
    }
}

fn incomplete(run: &RunData) -> Option<String> {
    (!run.meta.completed).then(|| run.meta.incomplete_reason.clone().unwrap_or_default())
}

/// The self-contained HTML page.
pub(crate) fn html(run: &RunData, charts: &[Drawn], sections: &[Section]) -> String {
    let mut h = head(&format!("pushbench: {}", run.name()), REPORT_CSS);
    let _ = writeln!(h, "<p class=\"muted\">{}</p>", esc(&host_line(run)));
    if let Some(why) = incomplete(run) {
        let _ = writeln!(
            h,
            "<p class=\"warn\">This run did not complete: {}. The tables show the phases that finished.</p>",
            esc(&why)
        );
    }
    h.push_str("<h2>Scenario</h2>\n<ul>\n");
    for l in scenario_lines(run) {
        let _ = writeln!(h, "<li>{}</li>", esc(&l));
    }
    h.push_str("</ul>\n<h2>Summary</h2>\n");
    // Every column at once is wider than a laptop's window: the columns most read first,
    // the others in a second table below, folded.
    let (header, rows) = table(run);
    // Transport, repetition and a swept value head both tables.
    let key = |c: &&str| !SUMMARY_FIRST.contains(c) && !SUMMARY_MORE.contains(c);
    let columns = |of: &[&str]| -> Vec<usize> {
        (0..header.len())
            .filter(|&i| key(&header[i]) || of.contains(&header[i]))
            .collect()
    };
    let (first, more) = (columns(&SUMMARY_FIRST), columns(&SUMMARY_MORE));
    summary_table(&mut h, run, &header, &rows, &first);
    h.push_str(
        "<p class=\"muted\">Latency: from the message's scheduled publish time to the moment the client \
         had read it. bytes/msg: everything the connections carried in the measured window, both directions, per \
         delivered message; overhead/msg is that minus the message itself.</p>\n",
    );
    if let Some(line) = baseline_line(run) {
        let _ = writeln!(h, "<p>{}</p>", esc(&line));
    }
    let _ = writeln!(
        h,
        "<details><summary>More columns: {}</summary>",
        esc(&SUMMARY_MORE.join(", "))
    );
    summary_table(&mut h, run, &header, &rows, &more);
    h.push_str("</details>\n");
    keeping_up_html(&mut h, run);
    crate::sections::html(&mut h, sections);
    h.push_str("<h2>Charts</h2>\n");
    if let Some(note) = sweep_note(run) {
        let _ = writeln!(h, "<p>{}</p>", esc(&note));
    }
    for c in charts {
        let _ = writeln!(
            h,
            "<figure id=\"{}\">\n{}\n<figcaption><strong>{}.</strong> {}</figcaption></figure>",
            c.name,
            inline_svg(&c.svg),
            esc(&c.title),
            esc(&c.reading)
        );
    }
    h.push_str("</body></html>\n");
    h
}

/// The columns of the summary's first table, after the transport, the repetition and a
/// swept value: what a reader compares transports by.
const SUMMARY_FIRST: [&str; 9] = [
    "clients",
    "delivered",
    "lost",
    "p50",
    "p99",
    "max",
    "bytes/msg",
    "overhead/msg",
    "errors",
];

/// The columns of the second table, folded under the first.
const SUMMARY_MORE: [&str; 7] = [
    "published",
    "dup",
    "out of order",
    "p90",
    "p99.9",
    "server CPU s",
    "server peak RSS",
];

/// One HTML table of the summary's columns `cols` (indices into `header`), each row's first
/// cell with its transport's colour.
fn summary_table(
    h: &mut String,
    run: &RunData,
    header: &[&str],
    rows: &[(String, Vec<String>)],
    cols: &[usize],
) {
    h.push_str("<table><thead><tr>");
    for &i in cols {
        let _ = write!(h, "<th>{}</th>", esc(header[i]));
    }
    h.push_str("</tr></thead><tbody>\n");
    for (t, cells) in rows {
        h.push_str("<tr>");
        for &i in cols {
            if i == 0 {
                let color = charts::css_color(run, t);
                let _ = write!(h, "<td>{}{}</td>", swatch(&color), esc(&cells[i]));
            } else {
                let _ = write!(h, "<td>{}</td>", esc(&cells[i]));
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
}

/// Which charts show what, in a sweep.
fn sweep_note(run: &RunData) -> Option<String> {
    let d = run.sweep_dimension()?;
    let point = run.headline_point()?;
    Some(format!(
        "The first three charts show every transport at every point of the {} sweep (their numbers are in \
         sweep.csv); the others show the largest point, {point}, alone. The summary table lists every phase.",
        d.name().replace('_', " ")
    ))
}

/// The "Keeping up" section of the HTML page, for runs whose phases were judged.
fn keeping_up_html(h: &mut String, run: &RunData) {
    let Some((header, rows)) = keeping::table(run) else {
        return;
    };
    h.push_str("<h2>Keeping up</h2>\n");
    for line in keeping::onset(run).unwrap_or_default() {
        let _ = writeln!(h, "<p>{}</p>", esc(&line));
    }
    h.push_str("<table><thead><tr>");
    for c in &header {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr></thead><tbody>\n");
    for cells in &rows {
        h.push_str("<tr>");
        for c in cells {
            let _ = write!(h, "<td>{}</td>", esc(c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
    let _ = writeln!(h, "<p class=\"muted\">{}</p>", esc(keeping::NOTE));
}

/// The "Keeping up" section of the Markdown page, for runs whose phases were judged.
fn keeping_up_markdown(m: &mut String, run: &RunData) {
    let Some((header, rows)) = keeping::table(run) else {
        return;
    };
    m.push_str("\n## Keeping up\n\n");
    for line in keeping::onset(run).unwrap_or_default() {
        let _ = writeln!(m, "{line}\n");
    }
    let _ = writeln!(m, "| {} |", header.join(" | "));
    let _ = writeln!(m, "|---|{}", "---:|".repeat(header.len() - 1));
    for cells in rows {
        let _ = writeln!(m, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(m, "\n{}", keeping::NOTE);
}

/// The Markdown page, for pull requests and CI summaries.
pub(crate) fn markdown(run: &RunData, charts: &[Drawn], sections: &[Section]) -> String {
    let name = run.name();
    let mut m = format!("# pushbench: {name}\n\n{}\n\n", host_line(run));
    if let Some(why) = incomplete(run) {
        let _ = writeln!(
            m,
            "> **This run did not complete:** {why}. The tables show the phases that finished.\n"
        );
    }
    m.push_str("## Scenario\n\n");
    for l in scenario_lines(run) {
        let _ = writeln!(m, "- {l}");
    }
    m.push_str("\n## Summary\n\n");
    let (header, rows) = table(run);
    let _ = writeln!(m, "| {} |", header.join(" | "));
    let _ = writeln!(
        m,
        "|{}",
        header
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
            .collect::<String>()
    );
    for (_, cells) in rows {
        let _ = writeln!(m, "| {} |", cells.join(" | "));
    }
    if let Some(line) = baseline_line(run) {
        let _ = writeln!(m, "\n{line}");
    }
    keeping_up_markdown(&mut m, run);
    crate::sections::markdown(&mut m, sections);
    m.push_str("\n## Charts\n\n");
    if let Some(note) = sweep_note(run) {
        let _ = writeln!(m, "{note}\n");
    }
    for c in charts {
        let _ = writeln!(
            m,
            "### {}\n\n![{}](charts/{}.svg)\n\n{}\n",
            c.title, c.title, c.name, c.reading
        );
    }
    m
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_summary_column_is_in_one_of_the_two_tables() {
        use super::{SUMMARY_FIRST, SUMMARY_MORE};
        let mut run = crate::tests::run_data("t");
        run.summary.push(pushbench_model::rows::SummaryRow::empty(
            "sse",
            pushbench_model::TransportKind::Sse,
            1,
        ));
        let (header, _) = super::table(&run);
        for c in &header[2..] {
            let places = [SUMMARY_FIRST.contains(c), SUMMARY_MORE.contains(c)];
            assert_eq!(places.iter().filter(|p| **p).count(), 1, "{c}");
        }
        assert_eq!(header.len(), 2 + SUMMARY_FIRST.len() + SUMMARY_MORE.len());
        // Wide enough to compare transports by, narrow enough for a laptop's window.
        assert!(2 + SUMMARY_FIRST.len() <= 12);
    }

    #[test]
    fn the_summary_reads_each_transport_over_the_raw_stream() {
        use pushbench_model::TransportKind;
        use pushbench_model::rows::SummaryRow;
        let mut run = crate::tests::run_data("t");
        // 162-byte messages (a 128-byte payload): 163 bytes on a raw stream, 166 in a
        // WebSocket frame (RFC 6455: 2 bytes and a 16-bit length), and a chunk of
        // `a3\r\n<message>\n\r\n` on a stream, 7 more than the message.
        for (label, kind, bytes, p50) in [
            ("raw", TransportKind::Raw, 163.0, 480.0),
            ("websocket", TransportKind::WebSocket, 166.0, 492.0),
            ("stream", TransportKind::Stream, 169.0, 470.0),
        ] {
            run.summary.push(SummaryRow {
                messages_delivered: 1000,
                message_bytes: 162,
                bytes_per_message: bytes,
                latency_p50_us: p50,
                ..SummaryRow::empty(label, kind, 1)
            });
        }
        let want = "Per delivered message over the raw stream (raw, the baseline): websocket +3.0 B and +12 µs at p50; stream +6.0 B and -10 µs at p50.";
        assert_eq!(super::baseline_line(&run).as_deref(), Some(want));
        let md = super::markdown(&run, &[], &[]);
        assert!(md.contains(want), "{md}");
        let html = super::html(&run, &[], &[]);
        assert!(html.contains(&format!("<p>{want}</p>")), "{html}");
        // Without the raw stream there is no such line.
        run.summary.remove(0);
        assert_eq!(super::baseline_line(&run), None);
    }

    #[test]
    fn the_network_line_reads_meta_json() {
        let n: pushbench_model::scenario::NetworkPlan = serde_json::from_value(serde_json::json!({
            "delay_up": "50ms", "delay_down": "50ms", "jitter": "0s",
            "bandwidth_up_bps": null, "bandwidth_down_bps": 1_500_000,
            "queue_bytes": 65536
        }))
        .unwrap();
        assert_eq!(
            super::network_line(&n, ""),
            "emulated network link per connection: delay 50ms up, 50ms down, jitter 0s, bandwidth 1.5 Mbit/s down, unlimited up, queue 65536 bytes per direction"
        );
    }
}
