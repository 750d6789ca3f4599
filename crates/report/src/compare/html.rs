//! The comparison as one self-contained HTML page: inline CSS and SVG, no script, nothing
//! fetched.

use super::render::{self, HEADER};
use super::{Comparison, Verdict};
use crate::charts::css_color;
use crate::{Group, RunData};
use pushbench_model::rows::PercentileRow as Point;
use std::fmt::Write as _;

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;\
color:#222;padding:0 1rem}table{border-collapse:collapse;font-size:.85rem;margin:1rem 0}th,td{border:1px solid #ccc;\
padding:.25rem .5rem;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child,td:last-child,th:last-child\
{text-align:left}.swatch{display:inline-block;width:.9rem;height:.9rem;border-radius:2px;margin-right:.5rem;\
vertical-align:middle}.verdict{padding:.6rem 1rem;border-radius:4px;font-size:1.2rem;font-weight:600}\
.fail{background:#fde2e1;border:1px solid #d9534f}.pass{background:#e3f4e1;border:1px solid #5cb85c}\
tr.regression td{background:#fdecea}tr.improvement td{background:#eef8ec}figure{margin:1rem 0}\
figure svg{max-width:100%;height:auto}figcaption,.muted{color:#666;font-size:.9rem}";

/// The page.
pub(super) fn page(c: &Comparison, base: &RunData, new: &RunData) -> String {
    let title = format!("pushbench compare: {}", c.candidate.scenario);
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{CSS}</style></head><body>\n\
         <h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let class = if c.regressions().is_empty() {
        "pass"
    } else {
        "fail"
    };
    let _ = writeln!(
        h,
        "<p class=\"verdict {class}\">{}</p>",
        esc(&render::headline(c, false))
    );
    if !c.regressions().is_empty() {
        h.push_str("<ul>\n");
        for r in c.regressions() {
            let _ = writeln!(h, "<li>{}</li>", esc(&render::regression_line(r)));
        }
        h.push_str("</ul>\n");
    }
    let _ = writeln!(h, "<p>{}</p>\n<ul>", esc(&render::tally(c)));
    let _ = writeln!(
        h,
        "<li>Baseline: {}</li>\n<li>Candidate: {}</li>",
        esc(&render::run_line(&c.baseline, false)),
        esc(&render::run_line(&c.candidate, false))
    );
    if !c.skipped.is_empty() {
        let _ = writeln!(h, "<li>Skipped: {}</li>", esc(&c.skipped.join(", ")));
    }
    for n in &c.notes {
        let _ = writeln!(h, "<li>Note: {}</li>", esc(n));
    }
    h.push_str("</ul>\n");
    let mut groups: Vec<Group> = c.results.iter().map(|r| r.group()).collect();
    groups.dedup();
    for g in &groups {
        let t = g.to_string();
        let color = css_color(new, &g.transport);
        // An id has no spaces: `sse clients=1000` becomes `sse-clients1000`.
        let id = t.replace(' ', "-").replace('=', "");
        let _ = writeln!(
            h,
            "<section id=\"{}\">\n<h2><span class=\"swatch\" style=\"background:{color}\"></span>{}</h2>",
            esc(&id),
            esc(&t)
        );
        let phases = |run: &RunData| -> Vec<Vec<Point>> {
            run.latency
                .iter()
                .filter(|(k, _)| g.has(&k.transport, k.sweep))
                .map(|(_, points)| points.clone())
                .collect()
        };
        let _ = writeln!(
            h,
            "<figure>\n{}\n<figcaption>Delivery latency by percentile, one line per repetition: baseline dashed, \
             candidate solid.</figcaption></figure>",
            overlay(&t, &color, &phases(base), &phases(new))
        );
        h.push_str("<table><thead><tr>");
        for head in &HEADER[1..] {
            let _ = write!(h, "<th>{}</th>", esc(head));
        }
        h.push_str("</tr></thead><tbody>\n");
        for r in c.results.iter().filter(|r| r.group() == *g) {
            let class = match r.verdict {
                Verdict::Regression => " class=\"regression\"",
                Verdict::Improvement => " class=\"improvement\"",
                _ => "",
            };
            let _ = write!(h, "<tr{class}>");
            let cells = render::cells(r);
            for cell in &cells[1..7] {
                let _ = write!(h, "<td>{}</td>", esc(cell));
            }
            let _ = write!(
                h,
                "<td>{} {}</td>",
                render::symbol(r.verdict, false),
                esc(&cells[7])
            );
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table>\n</section>\n");
    }
    let _ = writeln!(
        h,
        "<p class=\"muted\">{}</p>\n</body></html>",
        esc(&render::legend(false))
    );
    h
}

/// A latency tick (1, 2 or 5 times a power of ten µs) without trailing zeros.
fn tick_label(us: f64) -> String {
    if us >= 1e6 {
        format!("{} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{} ms", us / 1e3)
    } else {
        format!("{us} µs")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 340.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 48.0;

/// -log10(1 - p/100): the "number of nines", 1 at p90, 2 at p99, 3 at p99.9.
fn nines(p: f64) -> f64 {
    -(1.0 - p / 100.0).log10()
}

/// One transport's latency distributions, baseline dashed and candidate solid, on a
/// number-of-nines percentile axis (p100 one step right of the rest, labelled "max") and a
/// logarithmic latency axis.
fn overlay(label: &str, color: &str, base: &[Vec<Point>], new: &[Vec<Point>]) -> String {
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" \
         height=\"{HEIGHT}\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\">\
         <title>{}: latency by percentile, baseline dashed, candidate solid</title>\n",
        esc(label)
    );
    let points = || {
        base.iter()
            .chain(new)
            .flatten()
            .filter(|p| p.value.is_finite() && p.percentile.is_finite())
    };
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
    if points().next().is_none() {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\">no latency percentiles</text></svg>",
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return s;
    }
    // Percentile axis.
    let steps = points()
        .filter(|p| p.percentile < 100.0)
        .map(|p| nines(p.percentile.max(0.0)).ceil() as u32)
        .max()
        .unwrap_or(1)
        .max(1);
    let has_max = points().any(|p| p.percentile >= 100.0);
    let x_span = f64::from(steps + u32::from(has_max));
    let x_of = |p: f64| {
        let at = if p >= 100.0 {
            f64::from(steps + 1)
        } else {
            nines(p.max(0.0))
        };
        x0 + (x1 - x0) * at / x_span
    };
    // Latency axis, logarithmic in whole decades.
    let max = points().map(|p| p.value).fold(0.0, f64::max);
    let min = points()
        .map(|p| p.value)
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let (lo, hi) = if min.is_finite() {
        let lo = min.log10().floor();
        (lo, max.log10().ceil().max(lo + 1.0))
    } else {
        (0.0, 1.0)
    };
    let y_of = |v: f64| {
        let at = if v > 0.0 { v.log10().max(lo) } else { lo };
        y0 + (y1 - y0) * (at - lo) / (hi - lo)
    };
    // Grid and tick labels.
    let mut y_ticks = Vec::new();
    for decade in (lo as i32)..=(hi as i32) {
        let d = 10f64.powi(decade);
        y_ticks.push(d);
        if hi - lo <= 2.0 && f64::from(decade) < hi {
            y_ticks.extend([2.0 * d, 5.0 * d]);
        }
    }
    for v in y_ticks {
        let y = y_of(v);
        let _ = writeln!(
            s,
            "<line x1=\"{x0}\" x2=\"{x1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e1e1e1\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 6.0,
            y + 4.0,
            esc(&tick_label(v))
        );
    }
    for step in 0..=steps + u32::from(has_max) {
        let x = x0 + (x1 - x0) * f64::from(step) / x_span;
        let text = match step {
            n if n > steps => "max".to_string(),
            0 => "0".to_string(),
            1 => "90".to_string(),
            n => format!("99.{}", "9".repeat(n as usize - 2))
                .trim_end_matches('.')
                .to_string(),
        };
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{y0}\" y2=\"{y1}\" stroke=\"#e1e1e1\"/>\
             <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{text}</text>",
            y0 + 16.0
        );
    }
    let _ = writeln!(
        s,
        "<rect x=\"{x0}\" y=\"{y1}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">percentile (%), spaced by number of nines</text>\
         <text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">delivery latency (log scale)</text>",
        x1 - x0,
        y0 - y1,
        (x0 + x1) / 2.0,
        HEIGHT - 10.0,
        (y0 + y1) / 2.0
    );
    // The distributions: baseline first, so the candidate is drawn over it.
    for (phases, dash) in [(base, " stroke-dasharray=\"7 5\""), (new, "")] {
        for phase in phases {
            let mut line: Vec<(f64, f64)> = phase
                .iter()
                .filter(|p| p.value.is_finite() && p.percentile.is_finite())
                .map(|p| (x_of(p.percentile), y_of(p.value)))
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            let pts: Vec<String> = line.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = writeln!(
                s,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
                pts.join(" ")
            );
        }
    }
    // Legend above the plot.
    for (i, (name, n, dash)) in [
        ("baseline", base.len(), " stroke-dasharray=\"7 5\""),
        ("candidate", new.len(), ""),
    ]
    .into_iter()
    .enumerate()
    {
        let x = x0 + 10.0 + i as f64 * 220.0;
        let _ = writeln!(
            s,
            "<line x1=\"{x}\" x2=\"{}\" y1=\"16\" y2=\"16\" stroke=\"{color}\" stroke-width=\"2.5\"{dash}/>\
             <text x=\"{}\" y=\"20\">{name} ({n} repetition{})</text>",
            x + 36.0,
            x + 44.0,
            if n == 1 { "" } else { "s" }
        );
    }
    s.push_str("</svg>");
    s
}
