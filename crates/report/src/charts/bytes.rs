//! `bytes_per_message`: what a delivered message costs on the wire, split into the message,
//! the per-message overhead and the amortised connection set-up.

use super::axis::{self, Categories, ValueAxis};
use super::frame::{self, Axes, Entry, Mark};
use super::palette::{Rgb, mix, transport_color};
use super::{Area, Backend, Chart, DrawError, mean_ratio, words};
use crate::RunData;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use pushbench_model::TransportKind;
use pushbench_model::rows::SummaryRow;
use std::fmt::Write as _;

/// How far each part of a bar is lightened from the transport's colour.
const PARTS: [(&str, f64); 3] = [("message", 0.0), ("overhead", 0.45), ("set-up", 0.75)];

/// A transport's bytes per delivered message, means over the repetitions that delivered
/// anything (per-message costs are undefined for the others).
struct Split {
    message: f64,
    overhead: f64,
    setup: f64,
}

impl Split {
    fn of(run: &RunData, label: &str) -> Option<Split> {
        let setup = mean_ratio(run, label, SummaryRow::setup_bytes_per_message)?;
        let rows: Vec<&SummaryRow> = run.rows_of(label).filter(|r| r.delivered_any()).collect();
        let mean = |f: &dyn Fn(&SummaryRow) -> f64| {
            rows.iter().map(|r| f(r)).sum::<f64>() / rows.len() as f64
        };
        let message = mean(&|r| r.message_bytes as f64);
        // Clamped: rounding in `bytes_per_message` must not draw a bar part backwards.
        let overhead = mean(&|r| r.overhead_per_message().max(0.0));
        [message, overhead, setup]
            .iter()
            .all(|v| v.is_finite())
            .then_some(Split {
                message: message.max(0.0),
                overhead,
                setup: setup.max(0.0),
            })
    }

    fn parts(&self) -> [f64; 3] {
        [self.message, self.overhead, self.setup]
    }

    fn total(&self) -> f64 {
        self.parts().iter().sum()
    }
}

/// What a delivered message costs on the wire, per transport.
pub struct BytesPerMessage;

impl Chart for BytesPerMessage {
    fn name(&self) -> String {
        "bytes_per_message".into()
    }

    fn title(&self) -> String {
        "Bytes on the wire per delivered message".into()
    }

    fn draw(&self, run: &RunData, area: &Area) -> Result<(), DrawError> {
        draw(run, area)
    }

    fn reading(&self, run: &RunData) -> String {
        let ts = run.transports();
        if ts.is_empty() {
            return words::NO_PHASE.into();
        }
        let bpm = words::by(run, |r| r.bytes_per_message);
        let msg = run.summary.first().map_or(0.0, |r| r.message_bytes as f64);
        let mut s = format!(
            "Each message is {msg:.0} bytes. Per delivered message the wire carried {}.",
            words::list(&bpm, words::bytes)
        );
        // The yardstick: the raw stream when the run has one, the bare connection; else
        // WebSocket, whose frame is the smallest overhead a push transport adds.
        let baseline = words::baseline(run);
        if let Some(b) = &baseline
            && let Some(over) = words::over(&bpm, b, words::bytes)
        {
            let _ = write!(s, " Over the raw stream ({b}, the baseline): {over}.");
        }
        let Some(yardstick) = baseline.or_else(|| {
            ts.iter()
                .find(|t| run.kind_of(t) == Some(TransportKind::WebSocket))
                .cloned()
        }) else {
            return s;
        };
        let base = run.mean(&yardstick, |r| r.bytes_per_message);
        if base > 0.0 {
            let rel: Vec<(String, f64)> = bpm
                .iter()
                .filter(|(t, _)| *t != yardstick)
                .map(|(t, v)| (t.clone(), v / base))
                .collect();
            if !rel.is_empty() {
                let _ = write!(
                    s,
                    " Relative to {yardstick}: {}.",
                    words::list(&rel, |v| format!("{v:.2}×"))
                );
            }
        }
        s
    }
}

/// Horizontal stacked bars, one per transport from the top; each bar's numbers are printed
/// just above it, where they never collide with a neighbour or a longer bar.
fn draw<DB: Backend>(run: &RunData, area: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
    let labels = frame::labels(run);
    let splits: Vec<Option<Split>> = labels.iter().map(|l| Split::of(run, l)).collect();

    let mut legend = frame::transport_entries(run, Mark::Fill);
    legend.push(Entry::new("", WHITE, Mark::Heading));
    legend.push(Entry::new(
        "bar parts, left to right:",
        BLACK,
        Mark::Heading,
    ));
    let grey: Rgb = (80, 80, 80);
    for (name, lighten) in PARTS {
        let name = if name == "set-up" {
            "set-up, amortised"
        } else {
            name
        };
        legend.push(Entry::new(
            name,
            frame::rgb(mix(grey, (255, 255, 255), lighten)),
            Mark::Fill,
        ));
    }
    let plot = frame::with_legend(area, &legend)?;

    let x = ValueAxis::linear(splits.iter().flatten().map(Split::total), axis::BYTES);
    let y = Categories::top_down(labels.clone());
    let mut chart = frame::plane(
        &plot,
        &Axes {
            x: &x,
            y: &y,
            x_desc: x.describe("bytes per delivered message, mean over repetitions"),
            y_desc: "transport".into(),
            caption: None,
            y_room: None,
        },
    )?;

    let text = frame::anchored(15, HPos::Left, VPos::Center);
    for (i, (label, split)) in labels.iter().zip(&splits).enumerate() {
        let slot = y.slot(i);
        let base = transport_color(run, label);
        let caption = match split {
            None => "no messages delivered".to_string(),
            Some(s) => {
                let mut from = 0.0;
                for ((_, lighten), value) in PARTS.iter().zip(s.parts()) {
                    let to = from + value;
                    let corners = [(x.at(from), slot + 0.2), (x.at(to), slot + 0.66)];
                    let fill = frame::rgb(mix(base, (255, 255, 255), *lighten));
                    chart.draw_series([
                        Rectangle::new(corners, fill.filled()),
                        Rectangle::new(corners, frame::rgb(base).stroke_width(1)),
                    ])?;
                    from = to;
                }
                format!(
                    "{} = {} message + {} overhead + {} set-up",
                    x.value_label(s.total()),
                    x.number(s.message),
                    x.number(s.overhead),
                    x.number(s.setup),
                )
            }
        };
        chart.draw_series([
            EmptyElement::at((0.0, slot + 0.84)) + Text::new(caption, (6, 0), text.clone())
        ])?;
    }
    Ok(())
}
