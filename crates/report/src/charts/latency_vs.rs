//! `latency_vs_<dimension>`: each transport's median and 99th percentile delivery latency
//! at every point of a sweep.

use super::sweep::{self, Guide, Line, Plot, Span};
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

/// One, two and three one-way transits of a swept round trip (ms on x, µs on y): where a
/// push transport (one), long polling on average (two) and at worst (three, RFC 6202 §2.2)
/// deliver.
const TRANSITS: [Guide; 3] = [
    Guide {
        label: "1 transit (rtt/2)",
        slope: 500.0,
    },
    Guide {
        label: "2 transits",
        slope: 1000.0,
    },
    Guide {
        label: "3 transits",
        slope: 1500.0,
    },
];

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
        if self.0 == SweepDimension::Rtt {
            sweep::draw_with(run, area, &PLOT, &TRANSITS)
        } else {
            sweep::draw(run, area, &PLOT)
        }
    }

    fn reading(&self, run: &RunData) -> String {
        let Some(span) = Span::of(run) else {
            return String::new();
        };
        let mut text = format!(
            "Each transport's median (solid) and 99th percentile (dashed) delivery latency at every point of the \
             sweep, the repetitions' latencies merged: the slope shows how delivery slows as load grows. \
             {}, p50: {}; p99: {}.",
            span.from(),
            span.values(&SweepRow::latency_p50, &words::us),
            span.values(&SweepRow::latency_p99, &words::us),
        );
        text.push_str(&span.over_baseline(
            &[
                ("p50", &SweepRow::latency_p50),
                ("p99", &SweepRow::latency_p99),
            ],
            &words::us,
        ));
        if self.0 == SweepDimension::Rtt {
            text.push_str(&transits(run, &span));
        }
        text
    }
}

/// For a round-trip sweep: each transport's latency at the largest round trip in one-way
/// transits (rtt/2), the unit the grey lines mark.
fn transits(run: &RunData, span: &Span) -> String {
    let transit_us = span.hi.value * 1000.0 / 2.0;
    if transit_us <= 0.0 {
        return String::new();
    }
    let each: Vec<String> = run
        .transports()
        .iter()
        .filter_map(|t| {
            let r = span.at(t, span.hi)?;
            Some(format!(
                "{t} {:.1} (p99 {:.1})",
                r.latency_p50()? / transit_us,
                r.latency_p99()? / transit_us
            ))
        })
        .collect();
    format!(
        " The grey lines mark one, two and three one-way transits of the added round trip (rtt/2 each): a \
         push transport delivers in one, long polling in two on average and three at worst once messages \
         come faster than the round trip (RFC 6202 §2.2). At {} ms, in transits at p50: {}.",
        span.hi.value_text(),
        each.join(", ")
    )
}
