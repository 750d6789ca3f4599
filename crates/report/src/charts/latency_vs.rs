//! `latency_vs_<dimension>`: each transport's median and 99th percentile delivery latency
//! at every point of a sweep.

use super::sweep::{self, Line, Plot, Span};
use super::{Area, Chart, DrawError, axis, words};
use crate::RunData;
use pushbench_model::SweepDimension;
use pushbench_model::rows::SweepRow;

/// Delivery latency, p50 solid and p99 dashed, against the swept dimension.
pub struct LatencyVs(pub SweepDimension);

const PLOT: Plot = Plot {
    lines: &[
        Line {
            name: "p50",
            dashed: false,
            value: SweepRow::latency_p50,
        },
        Line {
            name: "p99",
            dashed: true,
            value: SweepRow::latency_p99,
        },
    ],
    quantity: "delivery latency",
    units: axis::MICROSECONDS,
    caption: "p50 (solid) and p99 (dashed), every repetition's latencies merged",
};

impl Chart for LatencyVs {
    fn name(&self) -> String {
        sweep::name("latency", self.0)
    }

    fn title(&self) -> String {
        sweep::title("Delivery latency", self.0)
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
        format!(
            "Each transport's median (solid) and 99th percentile (dashed) delivery latency at every point of the \
             sweep, the repetitions' latencies merged: the slope shows how delivery slows as load grows. \
             {}, p50: {}; p99: {}.",
            span.from(),
            span.values(&SweepRow::latency_p50, &words::us),
            span.values(&SweepRow::latency_p99, &words::us),
        )
    }
}
