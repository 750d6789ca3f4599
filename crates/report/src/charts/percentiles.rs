//! Percentile distributions: delivery latency (`latency_percentiles`) and per-client
//! bandwidth (`bandwidth`), on HdrHistogram's "number of nines" axis.

use super::axis::{self, PercentileAxis, ValueAxis};
use super::frame::{self, Axes, Mark};
use super::palette::transport_color;
use super::{Backend, DrawError};
use crate::{PhaseKey, RunData};
use plotters::coord::Shift;
use plotters::prelude::*;
use pushbench_model::rows::PercentileRow;
use std::collections::BTreeMap;

/// Latency in µs (ms when large) by percentile.
pub fn latency<DB: Backend>(run: &RunData, area: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
    draw(
        run,
        area,
        &run.latency,
        "delivery latency",
        axis::MICROSECONDS,
    )
}

/// Each client's bandwidth over the window, by percentile of clients.
pub fn bandwidth<DB: Backend>(
    run: &RunData,
    area: &DrawingArea<DB, Shift>,
) -> Result<(), DrawError> {
    draw(
        run,
        area,
        &run.bandwidth,
        "bandwidth per client",
        axis::BYTES_PER_SECOND,
    )
}

/// One line per phase: every repetition is drawn, in its transport's colour, so the
/// spread between repetitions shows; the legend names each transport once.
fn draw<DB: Backend>(
    run: &RunData,
    area: &DrawingArea<DB, Shift>,
    data: &BTreeMap<PhaseKey, Vec<PercentileRow>>,
    quantity: &str,
    units: &'static [(f64, &'static str)],
) -> Result<(), DrawError> {
    let plot = frame::with_legend(area, &frame::transport_entries(run, Mark::Line))?;
    let points = || data.values().flatten().filter(|p| p.value.is_finite());
    let x = PercentileAxis::new(points().map(|p| p.percentile));
    let y = ValueAxis::auto(points().map(|p| p.value), units);
    let mut chart = frame::plane(
        &plot,
        &Axes {
            x: &x,
            y: &y,
            x_desc: "percentile (%), spaced by number of nines".into(),
            y_desc: y.describe(quantity),
            caption: None,
            y_room: None,
        },
    )?;
    for (key, phase) in data {
        let color = frame::rgb(transport_color(run, &key.transport));
        let mut line: Vec<(f64, f64)> = phase
            .iter()
            .filter(|p| p.value.is_finite() && p.percentile.is_finite())
            .map(|p| (x.at(p.percentile), y.at(p.value)))
            .collect();
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart.draw_series(LineSeries::new(line, color.stroke_width(2)))?;
    }
    if points().next().is_none() {
        frame::note(&chart.plotting_area().strip_coord_spec(), "no data")?;
    }
    Ok(())
}
