//! `server_cost`: what the server spends per delivered message and per connection.

use super::axis::{self, Categories, ValueAxis};
use super::frame::{self, Axes, Mark};
use super::palette::transport_color;
use super::{Area, Backend, Chart, DrawError, mean_ratio, words};
use crate::RunData;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use pushbench_model::rows::{Figures, SummaryRow};
use std::fmt::Write as _;

/// One panel: a value per transport, `None` where the ratio is undefined (no message
/// delivered, no client).
struct Panel {
    caption: &'static str,
    quantity: &'static str,
    values: Vec<Option<f64>>,
    y: ValueAxis,
}

impl Panel {
    fn new(
        caption: &'static str,
        quantity: &'static str,
        values: Vec<Option<f64>>,
        units: &'static [(f64, &'static str)],
    ) -> Self {
        // Headroom above the tallest bar for its printed value.
        let y = ValueAxis::linear(values.iter().flatten().map(|v| v * 1.12), units);
        Panel {
            caption,
            quantity,
            values,
            y,
        }
    }
}

/// What the server spends per delivered message and per connection.
pub struct ServerCost;

impl Chart for ServerCost {
    fn name(&self) -> String {
        "server_cost".into()
    }

    fn title(&self) -> String {
        "Server cost".into()
    }

    fn size(&self) -> (u32, u32) {
        (1200, 850)
    }

    fn draw(&self, run: &RunData, area: &Area) -> Result<(), DrawError> {
        draw(run, area)
    }

    fn reading(&self, run: &RunData) -> String {
        let ts = run.transports();
        if ts.is_empty() {
            return words::NO_PHASE.into();
        }
        // The repetitions pooled: CPU seconds over deliveries, both means.
        let cpu: Vec<(String, f64)> = ts
            .iter()
            .map(|t| {
                let per_1k = run.pooled(t).server_cpu_s_per_1k_messages();
                (t.clone(), per_1k.unwrap_or(0.0))
            })
            .collect();
        let (lo, hi) = words::min_max(&cpu);
        let mut s = format!(
            "Server CPU per 1,000 delivered messages: {}. {} was the cheapest to serve and {} the most expensive ({:.1}× as much).",
            words::list(&cpu, |v| format!("{:.1} ms", v * 1000.0)),
            lo.0,
            hi.0,
            if lo.1 > 0.0 { hi.1 / lo.1 } else { 0.0 }
        );
        if let Some(b) = words::baseline(run)
            && let Some(over) = words::over(&cpu, &b, |v| format!("{:.1} ms", v * 1000.0))
        {
            let _ = write!(s, " Over the raw stream ({b}, the baseline): {over}.");
        }
        s
    }
}

/// Two panels of bars, one above the other so transport names never crowd: CPU per 1,000
/// delivered messages and peak RSS per connection. Each is the mean over repetitions of
/// the per-repetition ratio.
fn draw<DB: Backend>(run: &RunData, area: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
    let plot = frame::with_legend(area, &frame::transport_entries(run, Mark::Fill))?;
    let labels = frame::labels(run);
    let ratio = |ratio: fn(&SummaryRow) -> Option<f64>, scale: f64| -> Vec<Option<f64>> {
        labels
            .iter()
            .map(|l| mean_ratio(run, l, ratio).map(|v| v * scale))
            .collect()
    };
    let panels = [
        Panel::new(
            "server CPU per 1,000 delivered messages",
            "CPU time",
            ratio(|r| r.server_cpu_s_per_message(), 1000.0),
            axis::SECONDS,
        ),
        Panel::new(
            "server peak RSS per connection",
            "memory",
            ratio(SummaryRow::peak_rss_per_client, 1.0),
            axis::BYTES,
        ),
    ];
    // The same room for both vertical axes, so the panels' bars line up.
    let y_room = frame::y_room(&plot, &[&panels[0].y, &panels[1].y])?;
    let x = Categories::new(labels.clone());
    for (panel, area) in panels.iter().zip(plot.split_evenly((2, 1))) {
        let mut chart = frame::plane(
            &area,
            &Axes {
                x: &x,
                y: &panel.y,
                x_desc: "transport".into(),
                y_desc: panel.y.describe(panel.quantity),
                caption: Some(panel.caption.into()),
                y_room: Some(y_room),
            },
        )?;
        let text = frame::anchored(15, HPos::Center, VPos::Bottom);
        for (i, (label, value)) in labels.iter().zip(&panel.values).enumerate() {
            let slot = x.slot(i);
            let top = value.map_or(0.0, |v| panel.y.at(v.max(0.0)));
            if value.is_some() {
                let color = frame::rgb(transport_color(run, label));
                chart.draw_series([Rectangle::new(
                    [(slot + 0.2, 0.0), (slot + 0.8, top)],
                    color.filled(),
                )])?;
            }
            let printed = value.map_or_else(|| "n/a".to_string(), |v| panel.y.value_label(v));
            chart.draw_series([
                EmptyElement::at((slot + 0.5, top)) + Text::new(printed, (0, -4), text.clone())
            ])?;
        }
    }
    Ok(())
}
