//! `bytes_per_message_vs_<dimension>`: what the wire carried per delivered message at every
//! point of a sweep.

use super::sweep::{self, Line, Plot, Span};
use super::{Area, Chart, DrawError, axis, words};
use crate::RunData;
use pushbench_model::SweepDimension;
use pushbench_model::rows::SweepRow;

/// Bytes per delivered message against the swept dimension.
pub struct BytesVs(pub SweepDimension);

/// The pooled bytes per message, where anything was delivered.
fn bytes(r: &SweepRow) -> Option<f64> {
    (r.messages_delivered > 0.0).then_some(r.bytes_per_message)
}

const PLOT: Plot = Plot {
    lines: &[Line {
        name: "bytes per message",
        dashed: false,
        value: bytes,
    }],
    quantity: "bytes per delivered message",
    units: axis::BYTES,
    caption: "both directions, after connection set-up, over the measured windows",
};

impl Chart for BytesVs {
    fn name(&self) -> String {
        sweep::name("bytes_per_message", self.0)
    }

    fn title(&self) -> String {
        sweep::title("Bytes on the wire per delivered message", self.0)
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
            "What the wire carried per delivered message, both directions, after connection set-up: a flat \
             line means the transport's overhead does not depend on {}. {}: {}.{}",
            span.dimension.subject(),
            span.from(),
            span.values(&bytes, &words::bytes),
            span.over_baseline(&[("bytes per message", &bytes)], &words::bytes),
        )
    }
}
