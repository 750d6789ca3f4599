//! The sweep charts, cost against load: a quantity of `sweep.csv` against the swept
//! dimension, one line per transport with a marker at every point.
//! `latency_vs_<dimension>` draws p50 (solid) and p99 (dashed), `bytes_per_message_vs_…`
//! the bytes per delivered message, `server_cpu_vs_…` the server's CPU per 1,000 delivered
//! messages.

use super::axis::{self, SweepAxis, ValueAxis};
use super::frame::{self, Axes, Entry, Mark};
use super::palette::transport_color;
use super::{Backend, DrawError};
use crate::RunData;
use plotters::coord::Shift;
use plotters::prelude::*;
use pushbench_model::SweepDimension;
use pushbench_model::rows::{Figures, SweepRow};

/// What a sweep chart draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Delivery latency, p50 and p99.
    Latency,
    /// Bytes on the wire per delivered message.
    BytesPerMessage,
    /// Server CPU time per 1,000 delivered messages.
    ServerCpu,
}

/// One line per transport: the quantity it draws and whether it is dashed.
struct Line {
    name: &'static str,
    dashed: bool,
    value: fn(&SweepRow) -> Option<f64>,
}

const LATENCY: [Line; 2] = [
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
];

const BYTES: [Line; 1] = [Line {
    name: "bytes per message",
    dashed: false,
    value: |r| (r.messages_delivered > 0.0).then_some(r.bytes_per_message),
}];

const CPU: [Line; 1] = [Line {
    name: "server CPU",
    dashed: false,
    // Seconds per 1,000 messages; the axis picks ms or µs.
    value: |r| r.server_cpu_s_per_1k_messages(),
}];

impl Measure {
    /// The charts of a sweep, in the order they are rendered.
    pub const ALL: [Measure; 3] = [
        Measure::Latency,
        Measure::BytesPerMessage,
        Measure::ServerCpu,
    ];

    /// The chart's file stem for a sweep of `d`: `<measure>_vs_<dimension>`.
    pub fn name(self, d: SweepDimension) -> &'static str {
        // Rows in `Measure::ALL` order, columns in `SweepDimension::ALL` order.
        const NAMES: [[&str; SweepDimension::ALL.len()]; Measure::ALL.len()] = [
            [
                "latency_vs_clients",
                "latency_vs_rate",
                "latency_vs_payload_bytes",
                "latency_vs_rtt",
                "latency_vs_bandwidth_down",
            ],
            [
                "bytes_per_message_vs_clients",
                "bytes_per_message_vs_rate",
                "bytes_per_message_vs_payload_bytes",
                "bytes_per_message_vs_rtt",
                "bytes_per_message_vs_bandwidth_down",
            ],
            [
                "server_cpu_vs_clients",
                "server_cpu_vs_rate",
                "server_cpu_vs_payload_bytes",
                "server_cpu_vs_rtt",
                "server_cpu_vs_bandwidth_down",
            ],
        ];
        let m = Measure::ALL
            .iter()
            .position(|m| *m == self)
            .expect("listed");
        let i = SweepDimension::ALL
            .iter()
            .position(|x| *x == d)
            .expect("listed");
        NAMES[m][i]
    }

    /// The measure `name` draws, if it is a sweep chart.
    pub fn of_chart(name: &str) -> Option<Measure> {
        Measure::ALL
            .into_iter()
            .find(|m| SweepDimension::ALL.into_iter().any(|d| m.name(d) == name))
    }

    /// The chart's title, before the scenario name.
    pub fn title(self, d: SweepDimension) -> String {
        let what = match self {
            Measure::Latency => "Delivery latency",
            Measure::BytesPerMessage => "Bytes on the wire per delivered message",
            Measure::ServerCpu => "Server CPU per 1,000 delivered messages",
        };
        format!("{what} against {}", d.name().replace('_', " "))
    }

    fn lines(self) -> &'static [Line] {
        match self {
            Measure::Latency => &LATENCY,
            Measure::BytesPerMessage => &BYTES,
            Measure::ServerCpu => &CPU,
        }
    }

    /// The vertical axis: its quantity and units.
    fn quantity(self) -> (&'static str, &'static [(f64, &'static str)]) {
        match self {
            Measure::Latency => ("delivery latency", axis::MICROSECONDS),
            Measure::BytesPerMessage => ("bytes per delivered message", axis::BYTES),
            Measure::ServerCpu => ("server CPU time per 1,000 messages", axis::SECONDS),
        }
    }

    fn caption(self) -> &'static str {
        match self {
            Measure::Latency => "p50 (solid) and p99 (dashed), every repetition's latencies merged",
            Measure::BytesPerMessage => {
                "both directions, after connection set-up, over the measured windows"
            }
            Measure::ServerCpu => {
                "server CPU over the whole phases (connecting included) / messages delivered in their windows"
            }
        }
    }
}

/// The chart of `measure` for a run's sweep rows.
pub fn draw<DB: Backend>(
    run: &RunData,
    area: &DrawingArea<DB, Shift>,
    measure: Measure,
) -> Result<(), DrawError> {
    let grey = RGBColor(80, 80, 80);
    let mut legend = frame::transport_entries(run, Mark::Line);
    let lines = measure.lines();
    if lines.len() > 1 {
        legend.push(Entry::new("", WHITE, Mark::Heading));
        for l in lines {
            let mark = if l.dashed { Mark::Dashed } else { Mark::Line };
            legend.push(Entry::new(l.name, grey, mark));
        }
    }
    let plot = frame::with_legend(area, &legend)?;
    let dimension = run.sweep_dimension().unwrap_or(SweepDimension::Clients);
    let x = SweepAxis::new(run.sweep.iter().map(|r| r.sweep_value));
    let (quantity, units) = measure.quantity();
    let y = ValueAxis::auto(
        run.sweep
            .iter()
            .flat_map(|r| lines.iter().filter_map(|l| (l.value)(r))),
        units,
    );
    let mut chart = frame::plane(
        &plot,
        &Axes {
            x: &x,
            y: &y,
            x_desc: x.describe(dimension.describe()),
            y_desc: y.describe(quantity),
            caption: Some(measure.caption().into()),
            y_room: None,
        },
    )?;
    for label in frame::labels(run) {
        let color = frame::rgb(transport_color(run, &label));
        let rows: Vec<&SweepRow> = run.sweep.iter().filter(|r| r.transport == label).collect();
        for l in lines {
            let at = |r: &&SweepRow| Some((x.at(r.sweep_value), y.at((l.value)(r)?)));
            // A point without a value (nothing delivered) breaks the line rather than
            // drawing it through zero.
            for part in rows.chunk_by(|a, b| at(a).is_some() == at(b).is_some()) {
                let points: Vec<(f64, f64)> = part.iter().filter_map(at).collect();
                let style = color.stroke_width(2);
                if l.dashed {
                    chart.draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))?;
                } else {
                    chart.draw_series(LineSeries::new(points.clone(), style))?;
                }
                let marker = if l.dashed {
                    color.stroke_width(2)
                } else {
                    color.filled()
                };
                chart.draw_series(points.into_iter().map(|p| Circle::new(p, 5, marker)))?;
            }
        }
    }
    if run.sweep.is_empty() {
        frame::note(&chart.plotting_area().strip_coord_spec(), "no sweep data")?;
    }
    Ok(())
}
