//! `report.html` (one self-contained file: inline CSS and SVG, nothing fetched) and
//! `report.md` (the same tables in GitHub-flavoured Markdown, linking the SVG charts), both
//! made from a run directory's files and charts, with a short reading of each chart
//! generated from the numbers.

use crate::charts::{self, Chart, Measure};
use crate::files::json_number;
use crate::rundata::{PhaseKey, RunData};
use pushbench_model::rows::{Figures, SummaryRow, SweepRow};
use pushbench_model::run::CpuPinning;
use pushbench_model::scenario::{NetworkPlan, Pattern, duration_text};
use pushbench_model::{SweepDimension, TransportKind};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One paragraph per chart saying what it shows and what the numbers are: a sweep chart's
/// from the whole run, any other chart's from the run at its headline point (the point its
/// chart shows).
pub(crate) fn reading(run: &RunData, chart: &str) -> String {
    match Measure::of_chart(chart) {
        Some(m) => sweep_findings(run, m),
        None => findings(&run.at(run.headline_point()), chart),
    }
}

/// The reading of a sweep chart: what it plots, then each transport from the smallest point
/// to the largest.
fn sweep_findings(run: &RunData, m: Measure) -> String {
    let (Some(d), points) = (run.sweep_dimension(), run.points()) else {
        return String::new();
    };
    let (Some(lo), Some(hi)) = (points.first().copied(), points.last().copied()) else {
        return String::new();
    };
    let dim = d.name().replace('_', " ");
    let at = |t: &str, p| {
        run.sweep
            .iter()
            .find(|r| r.transport == t && r.point() == p)
    };
    let span = |f: &dyn Fn(&SweepRow) -> Option<f64>, fmt: &dyn Fn(f64) -> String| {
        run.transports()
            .iter()
            .map(|t| {
                let v = |p| at(t, p).and_then(f).map_or_else(|| "n/a".to_string(), fmt);
                format!("{t} {} → {}", v(lo), v(hi))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let from = format!("From {dim} {} to {}", lo.value_text(), hi.value_text());
    match m {
        Measure::Latency => format!(
            "Each transport's median (solid) and 99th percentile (dashed) delivery latency at every point of the \
             sweep, the repetitions' latencies merged: the slope shows how delivery slows as load grows. \
             {from}, p50: {}; p99: {}.",
            span(&|r| r.latency_p50(), &fmt_us),
            span(&|r| r.latency_p99(), &fmt_us),
        ),
        Measure::BytesPerMessage => format!(
            "What the wire carried per delivered message, both directions, after connection set-up: a flat \
             line means the transport's overhead does not depend on {}. {from}: {}.",
            d.subject(),
            span(
                &|r| (r.messages_delivered > 0.0).then_some(r.bytes_per_message),
                &fmt_bytes
            ),
        ),
        Measure::ServerCpu => {
            let cpu = |r: &SweepRow| r.server_cpu_ms_per_1k_messages();
            let mut s = format!(
                "The server's CPU seconds over each whole phase (connecting the clients during the ramp-up, the \
                 warm-up and the measured window) divided by the messages delivered in the measured window, per \
                 1,000 messages, repetitions pooled: what one delivered message costs the server, the cost of \
                 connecting and holding its clients included. Costs that do not grow with the deliveries are \
                 spread over more of them as load grows, so a falling line means those dominate, and a rising one \
                 that each delivery costs more under load. {from}: {}.",
                span(&cpu, &|v| format!("{v:.1} ms")),
            );
            let top: Vec<(String, f64)> = run
                .transports()
                .iter()
                .filter_map(|t| Some((t.clone(), cpu(at(t, hi)?)?)))
                .collect();
            let cheapest = top.iter().min_by(|a, b| a.1.total_cmp(&b.1));
            let dearest = top.iter().max_by(|a, b| a.1.total_cmp(&b.1));
            if let (Some(c), Some(e)) = (cheapest, dearest)
                && c.0 != e.0
            {
                let _ = write!(
                    s,
                    " At {hi} {} was the cheapest to serve and {} the most expensive.",
                    c.0, e.0
                );
            }
            s
        }
    }
}

/// One paragraph per chart saying what the numbers show, keyed by chart name.
pub(crate) fn findings(run: &RunData, chart: &str) -> String {
    let ts = run.transports();
    if ts.is_empty() {
        return "The run has no completed phase.".into();
    }
    let by = |col: fn(&SummaryRow) -> f64| -> Vec<(String, f64)> {
        ts.iter().map(|t| (t.clone(), run.mean(t, col))).collect()
    };
    let min_max = |v: &[(String, f64)]| {
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
    };
    match chart {
        "latency_percentiles" => {
            let p99 = by(|r| r.latency_p99_us);
            let (lo, hi) = min_max(&p99);
            let mut s = format!(
                "{} delivered with the lowest p99 latency, {}; {} the highest, {}.",
                lo.0,
                fmt_us(lo.1),
                hi.0,
                fmt_us(hi.1)
            );
            let p50 = by(|r| r.latency_p50_us);
            let _ = write!(s, " Medians: {}.", list(&p50, fmt_us));
            s
        }
        "bytes_per_message" => {
            let bpm = by(|r| r.bytes_per_message);
            let msg = run.summary.first().map_or(0.0, |r| r.message_bytes as f64);
            let mut s = format!(
                "Each message is {msg:.0} bytes. Per delivered message the wire carried {}.",
                list(&bpm, fmt_bytes)
            );
            if let Some(ws) = ts
                .iter()
                .find(|t| run.kind_of(t) == Some(TransportKind::WebSocket))
            {
                let base = run.mean(ws, |r| r.bytes_per_message);
                if base > 0.0 {
                    let rel: Vec<(String, f64)> = bpm
                        .iter()
                        .filter(|(t, _)| t != ws)
                        .map(|(t, v)| (t.clone(), v / base))
                        .collect();
                    if !rel.is_empty() {
                        let _ = write!(
                            s,
                            " Relative to {ws}: {}.",
                            list(&rel, |v| format!("{v:.2}×"))
                        );
                    }
                }
            }
            s
        }
        "timeseries" => {
            let rate: Vec<(String, f64)> = ts
                .iter()
                .map(|t| (t.clone(), run.pooled(t).delivered_per_s().unwrap_or(0.0)))
                .collect();
            let worst = ts
                .iter()
                .filter_map(|t| {
                    let s = first_repetition(&run.timeseries, t)?;
                    let w = s
                        .iter()
                        .filter(|x| x.in_window)
                        .max_by_key(|x| x.latency_p99_us)?;
                    Some((t.clone(), w.second, w.latency_p99_us as f64))
                })
                .max_by(|a, b| a.2.total_cmp(&b.2));
            let mut s = format!(
                "Deliveries per second in the measured window: {}.",
                list(&rate, |v| format!("{v:.0}/s"))
            );
            if let Some((t, sec, v)) = worst {
                let _ = write!(
                    s,
                    " The worst second was second {sec} of {t}, with a p99 of {}.",
                    fmt_us(v)
                );
            }
            s
        }
        "server_cost" => {
            let cpu: Vec<(String, f64)> = ts
                .iter()
                .map(|t| {
                    let per_1k = run.pooled(t).server_cpu_s_per_1k_messages();
                    (t.clone(), per_1k.unwrap_or(0.0))
                })
                .collect();
            let (lo, hi) = min_max(&cpu);
            format!(
                "Server CPU per 1,000 delivered messages: {}. {} was the cheapest to serve and {} the most expensive ({:.1}× as much).",
                list(&cpu, |v| format!("{:.1} ms", v * 1000.0)),
                lo.0,
                hi.0,
                if lo.1 > 0.0 { hi.1 / lo.1 } else { 0.0 }
            )
        }
        "bandwidth" => {
            let spread: Vec<(String, f64, f64)> = ts
                .iter()
                .filter_map(|t| {
                    let pts = first_repetition(&run.bandwidth, t)?;
                    let at = |p: f64| {
                        pts.iter()
                            .find(|x| x.percentile >= p)
                            .map_or(0.0, |x| x.value)
                    };
                    Some((t.clone(), at(50.0), at(100.0)))
                })
                .collect();
            let parts: Vec<String> = spread
                .iter()
                .map(|(t, p50, max)| {
                    format!(
                        "{t} {} median, {} busiest client",
                        fmt_rate(*p50),
                        fmt_rate(*max)
                    )
                })
                .collect();
            format!(
                "Bandwidth per client over the window (up plus down): {}.",
                parts.join("; ")
            )
        }
        _ => String::new(),
    }
}

/// A transport's first repetition in one of the per-phase tables (of a run, or of one point
/// of a sweep).
fn first_repetition<'a, V>(map: &'a BTreeMap<PhaseKey, V>, transport: &str) -> Option<&'a V> {
    map.iter()
        .find(|(k, _)| k.transport == transport && k.repetition == 1)
        .map(|(_, v)| v)
}

fn list(v: &[(String, f64)], f: impl Fn(f64) -> String) -> String {
    v.iter()
        .map(|(t, x)| format!("{t} {}", f(*x)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn fmt_bytes(b: f64) -> String {
    format!("{b:.1} B")
}

fn fmt_rate(bps: f64) -> String {
    if bps >= 1e6 {
        format!("{:.2} MB/s", bps / 1e6)
    } else if bps >= 1e3 {
        format!("{:.1} kB/s", bps / 1e3)
    } else {
        format!("{bps:.0} B/s")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

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
                fmt_us(r.latency_p50_us),
                fmt_us(r.latency_p90_us),
                fmt_us(r.latency_p99_us),
                fmt_us(r.latency_p999_us),
                fmt_us(r.latency_max_us),
                format!("{:.1}", r.bytes_per_message),
                format!("{:.1}", r.overhead_per_message()),
                r.errors.to_string(),
                format!("{:.2}", r.server_cpu_s),
                format!("{:.1} MiB", r.server_peak_rss_bytes as f64 / 1048576.0),
            ];
            if swept.is_some() {
                cells.insert(2, r.sweep().map(|p| p.value_text()).unwrap_or_default());
            }
            (r.transport.clone(), cells)
        })
        .collect();
    (header, rows)
}

fn scenario_lines(run: &RunData) -> Vec<String> {
    let s = &run.meta.scenario;
    let w = &s.workload;
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
    let transports = s.transports.len();
    let phases = if values.is_empty() {
        format!("{transports} phases")
    } else {
        format!(
            "{transports} transports at {} points ({} phases)",
            values.len(),
            transports * values.len()
        )
    };
    let or_swept = |key: &str, v: String| {
        if key == swept {
            format!("{} swept", key.replace('_', " "))
        } else {
            v
        }
    };
    let duration = duration_text;
    let mut out = vec![
        format!(
            "{phases} of {} measured after {} ramp-up and {} warm-up, {} repetition(s)",
            duration(s.duration),
            duration(s.ramp_up),
            duration(s.warmup),
            s.repeat
        ),
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
        ),
    ];
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
        out.push(if swept == "clients" {
            format!("{label}: kind {kind}{extra}, clients swept")
        } else {
            format!("{label}: {} clients of kind {kind}{extra}", t.clients)
        });
    }
    out
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

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;\
color:#222;padding:0 1rem}h1{margin-bottom:.2rem}table{border-collapse:collapse;font-size:.85rem;margin:1rem 0}\
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child\
{text-align:left}.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.4rem;\
vertical-align:middle}.warn{background:#fff3cd;border:1px solid #e0c060;padding:.5rem 1rem}figure{margin:2rem 0}\
figure svg{max-width:100%;height:auto}figcaption{font-size:.95rem;margin-top:.5rem}.muted{color:#666}";

/// The self-contained HTML page.
pub(crate) fn html(run: &RunData, charts: &[Chart]) -> String {
    let name = run.name();
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>pushbench: {}</title>\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{CSS}</style></head><body>\n\
         <h1>pushbench: {}</h1>\n<p class=\"muted\">{}</p>\n",
        esc(name),
        esc(name),
        esc(&host_line(run))
    );
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
    h.push_str("</ul>\n<h2>Summary</h2>\n<table><thead><tr>");
    let (header, rows) = table(run);
    for c in &header {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr></thead><tbody>\n");
    for (t, cells) in rows {
        h.push_str("<tr>");
        for (i, c) in cells.iter().enumerate() {
            if i == 0 {
                let _ = write!(
                    h,
                    "<td><span class=\"swatch\" style=\"background:{}\"></span>{}</td>",
                    charts::css_color(run, &t),
                    esc(c)
                );
            } else {
                let _ = write!(h, "<td>{}</td>", esc(c));
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str(
        "</tbody></table>\n<p class=\"muted\">Latency: from the message's scheduled publish time to the moment the client \
         had read it. bytes/msg: everything the connections carried in the measured window, both directions, per \
         delivered message; overhead/msg is that minus the message itself.</p>\n<h2>Charts</h2>\n",
    );
    if let Some(note) = sweep_note(run) {
        let _ = writeln!(h, "<p>{}</p>", esc(&note));
    }
    for c in charts {
        let _ = writeln!(
            h,
            "<figure id=\"{}\">\n{}\n<figcaption><strong>{}.</strong> {}</figcaption></figure>",
            c.name,
            strip_xml_prolog(&c.svg),
            esc(&c.title),
            esc(&reading(run, c.name))
        );
    }
    h.push_str("</body></html>\n");
    h
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

/// An SVG document's `<?xml ...?>` prolog is not allowed inside HTML.
fn strip_xml_prolog(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// The Markdown page, for pull requests and CI summaries.
pub(crate) fn markdown(run: &RunData, charts: &[Chart]) -> String {
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
    m.push_str("\n## Charts\n\n");
    if let Some(note) = sweep_note(run) {
        let _ = writeln!(m, "{note}\n");
    }
    for c in charts {
        let _ = writeln!(
            m,
            "### {}\n\n![{}](charts/{}.svg)\n\n{}\n",
            c.title,
            c.title,
            c.name,
            reading(run, c.name)
        );
    }
    m
}

#[cfg(test)]
mod tests {
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
