//! Percentile distributions on HdrHistogram's "number of nines" axis: what the
//! `latency_percentiles` and `bandwidth` charts draw, and compare's overlay of two runs.

use super::axis::{PercentileAxis, ValueAxis};
use super::frame::{self, Axes, Entry, Mark};
use super::palette::transport_color;
use super::{Backend, DrawError};
use crate::{PhaseKey, RunData};
use plotters::coord::Shift;
use plotters::prelude::*;
use pushbench_model::rows::PercentileRow;
use std::collections::BTreeMap;

/// One distribution: a phase's percentiles, drawn as one line.
pub struct Series<'a> {
    /// The line's colour.
    pub color: RGBColor,
    /// Dashed rather than solid.
    pub dashed: bool,
    /// The points.
    pub points: &'a [PercentileRow],
}

/// How the value axis is chosen.
#[derive(Clone, Copy)]
pub enum ValueScale {
    /// Linear, logarithmic when the values span more than a factor of 100.
    Auto,
    /// Logarithmic whenever the values differ.
    Log,
}

/// Every phase of a run's percentile file, in its transport's colour, so the spread
/// between repetitions shows; the legend names each transport once.
pub fn phases<DB: Backend>(
    run: &RunData,
    area: &DrawingArea<DB, Shift>,
    data: &BTreeMap<PhaseKey, Vec<PercentileRow>>,
    quantity: &str,
    units: &'static [(f64, &'static str)],
) -> Result<(), DrawError> {
    let series: Vec<Series> = data
        .iter()
        .map(|(key, points)| Series {
            color: frame::rgb(transport_color(run, &key.transport)),
            dashed: false,
            points,
        })
        .collect();
    let legend = frame::transport_entries(run, Mark::Line);
    draw(area, &legend, &series, quantity, units, ValueScale::Auto)
}

/// One line per series on a number-of-nines percentile axis, the legend at the right.
pub fn draw<DB: Backend>(
    area: &DrawingArea<DB, Shift>,
    legend: &[Entry],
    series: &[Series],
    quantity: &str,
    units: &'static [(f64, &'static str)],
    scale: ValueScale,
) -> Result<(), DrawError> {
    let plot = frame::with_legend(area, legend)?;
    let points = || {
        series
            .iter()
            .flat_map(|s| s.points)
            .filter(|p| p.value.is_finite())
    };
    let x = PercentileAxis::new(points().map(|p| p.percentile));
    let values = points().map(|p| p.value);
    let y = match scale {
        ValueScale::Auto => ValueAxis::auto(values, units),
        ValueScale::Log => ValueAxis::log_above(1.0, values, units),
    };
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
    for s in series {
        let mut line: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.value.is_finite() && p.percentile.is_finite())
            .map(|p| (x.at(p.percentile), y.at(p.value)))
            .collect();
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        let style = s.color.stroke_width(2);
        if s.dashed {
            chart.draw_series(DashedLineSeries::new(line, 7, 5, style))?;
        } else {
            chart.draw_series(LineSeries::new(line, style))?;
        }
    }
    if points().next().is_none() {
        frame::note(&chart.plotting_area().strip_coord_spec(), "no data")?;
    }
    Ok(())
}

/// Compare's overlay of one transport (at one sweep point): both runs' latency
/// distributions, one line per repetition in the transport's colour, the baseline dashed
/// and the candidate solid, on a logarithmic latency axis.
pub fn overlay<DB: Backend>(
    area: &DrawingArea<DB, Shift>,
    color: RGBColor,
    base: &[&[PercentileRow]],
    new: &[&[PercentileRow]],
) -> Result<(), DrawError> {
    let reps = |n: usize| format!("{n} repetition{}", if n == 1 { "" } else { "s" });
    let legend = [
        Entry::new(
            format!("baseline ({})", reps(base.len())),
            color,
            Mark::Dashed,
        ),
        Entry::new(
            format!("candidate ({})", reps(new.len())),
            color,
            Mark::Line,
        ),
    ];
    // The baseline first, so the candidate is drawn over it.
    let series: Vec<Series> = base
        .iter()
        .map(|p| (p, true))
        .chain(new.iter().map(|p| (p, false)))
        .map(|(points, dashed)| Series {
            color,
            dashed,
            points,
        })
        .collect();
    draw(
        area,
        &legend,
        &series,
        "delivery latency",
        super::axis::MICROSECONDS,
        ValueScale::Log,
    )
}
