//! The comparison as one self-contained HTML page: inline CSS and SVG, no script, nothing
//! fetched. Each transport's overlay is drawn by the charts' code
//! (`charts::overlay_svg`).

use super::render::{self, HEADER};
use super::{Comparison, Verdict};
use crate::charts::{ChartError, css_color, overlay_svg, transport_color};
use crate::html::{COMPARE_CSS, esc, head, inline_svg, swatch};
use crate::{Group, RunData};
use pushbench_model::rows::PercentileRow;
use std::fmt::Write as _;

/// The page.
pub(super) fn page<'a>(
    c: &Comparison,
    base: &'a RunData,
    new: &'a RunData,
) -> Result<String, ChartError> {
    let title = format!("pushbench compare: {}", c.candidate.scenario);
    let mut h = head(&title, COMPARE_CSS);
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
    if let Some(p) = &c.paired {
        let _ = writeln!(h, "<li>{}</li>", esc(&render::paired_line(p, false)));
    }
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
        section(&mut h, c, g, base, new)?;
    }
    let _ = writeln!(
        h,
        "<p class=\"muted\">{}</p>\n</body></html>",
        esc(&render::legend(false, c.paired.is_some()))
    );
    Ok(h)
}

/// One transport's section (at one sweep point): the overlay of both runs' latency
/// distributions above its rows of the verdict table.
fn section<'a>(
    h: &mut String,
    c: &Comparison,
    g: &Group,
    base: &'a RunData,
    new: &'a RunData,
) -> Result<(), ChartError> {
    let t = g.to_string();
    let color = css_color(new, &g.transport);
    // An id has no spaces: `sse clients=1000` becomes `sse-clients1000`.
    let id = t.replace(' ', "-").replace('=', "");
    let _ = writeln!(
        h,
        "<section id=\"{}\">\n<h2>{}{}</h2>",
        esc(&id),
        swatch(&color),
        esc(&t)
    );
    let phases = |run: &'a RunData| -> Vec<&'a [PercentileRow]> {
        run.latency
            .iter()
            .filter(|(k, _)| g.has(&k.transport, k.sweep))
            .map(|(_, points)| points.as_slice())
            .collect()
    };
    let svg = overlay_svg(
        transport_color(new, &g.transport),
        &phases(base),
        &phases(new),
    )?;
    let _ = writeln!(
        h,
        "<figure>\n{}\n<figcaption>Delivery latency by percentile, one line per repetition: baseline dashed, \
         candidate solid.</figcaption></figure>",
        inline_svg(&svg).trim_end()
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
    Ok(())
}
