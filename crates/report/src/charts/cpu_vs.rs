//! `server_cpu_vs_<dimension>`: the server's CPU per 1,000 delivered messages at every point
//! of a sweep.

use super::sweep::{self, Line, Plot, Span};
use super::{Area, Chart, DrawError, axis};
use crate::RunData;
use pushbench_model::SweepDimension;
use pushbench_model::rows::{Figures, SweepRow};
use std::fmt::Write as _;

/// Server CPU per 1,000 delivered messages against the swept dimension.
pub struct CpuVs(pub SweepDimension);

const PLOT: Plot = Plot {
    lines: &[Line {
        name: "server CPU",
        dashed: false,
        // Seconds per 1,000 messages; the axis picks ms or µs.
        value: |r| r.server_cpu_s_per_1k_messages(),
    }],
    quantity: "server CPU time per 1,000 messages",
    units: axis::SECONDS,
    caption: "server CPU over the whole phases (connecting included) / messages delivered in their windows",
};

impl Chart for CpuVs {
    fn name(&self) -> String {
        sweep::name("server_cpu", self.0)
    }

    fn title(&self) -> String {
        sweep::title("Server CPU per 1,000 delivered messages", self.0)
    }

    fn whole_sweep(&self) -> bool {
        true
    }

    fn draw(&self, run: &RunData, area: &Area) -> Result<(), DrawError> {
        sweep::draw(run, area, &PLOT)
    }

    fn reading(&self, run: &RunData) -> String {
        let Some(span) = Span::of(run) else {
            return String::new();
        };
        let cpu = |r: &SweepRow| r.server_cpu_ms_per_1k_messages();
        let mut s = format!(
            "The server's CPU seconds over each whole phase (connecting the clients during the ramp-up, the \
             warm-up and the measured window) divided by the messages delivered in the measured window, per \
             1,000 messages, repetitions pooled: what one delivered message costs the server, the cost of \
             connecting and holding its clients included. Costs that do not grow with the deliveries are \
             spread over more of them as load grows, so a falling line means those dominate, and a rising one \
             that each delivery costs more under load. {}: {}.",
            span.from(),
            span.values(&cpu, &|v| format!("{v:.1} ms")),
        );
        let top: Vec<(String, f64)> = run
            .transports()
            .iter()
            .filter_map(|t| Some((t.clone(), cpu(span.at(t, span.hi)?)?)))
            .collect();
        let cheapest = top.iter().min_by(|a, b| a.1.total_cmp(&b.1));
        let dearest = top.iter().max_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(c), Some(e)) = (cheapest, dearest)
            && c.0 != e.0
        {
            let _ = write!(
                s,
                " At {} {} was the cheapest to serve and {} the most expensive.",
                span.hi, c.0, e.0
            );
        }
        s
    }
}
