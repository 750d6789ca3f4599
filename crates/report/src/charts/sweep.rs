//! What the sweep charts share (cost against load: a quantity of `sweep.csv` against the
//! swept dimension, one line per transport with a marker at every point): their drawing,
//! and the span from the smallest point to the largest their readings give.

use super::axis::{SweepAxis, ValueAxis};
use super::frame::{self, Axes, Entry, Mark};
use super::palette::transport_color;
use super::{Backend, DrawError, words};
use crate::RunData;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use pushbench_model::overload::Verdict;
use pushbench_model::rows::SweepRow;
use pushbench_model::{SweepDimension, SweepPoint};

/// A named quantity read off a sweep row, for the readings against the baseline.
pub type Quantity<'a> = (&'a str, &'a dyn Fn(&SweepRow) -> Option<f64>);

/// One line per transport: the quantity it draws and whether it is dashed.
pub struct Line {
    /// The legend's name for it, when a chart draws more than one line per transport.
    pub name: &'static str,
    /// Dashed rather than solid.
    pub dashed: bool,
    /// Its value at a point; `None` breaks the line there.
    pub value: fn(&SweepRow) -> Option<f64>,
}

/// A straight reference line through the origin, `y = slope × x` in the plot's units (the
/// swept value on x, the quantity's base unit on y), drawn thin and grey under the data with
/// its label at the right end.
pub struct Guide {
    /// What it marks: `1 transit (rtt/2)`.
    pub label: &'static str,
    /// Its slope.
    pub slope: f64,
}

/// What a sweep chart plots.
pub struct Plot {
    /// The lines of each transport.
    pub lines: &'static [Line],
    /// The vertical axis's quantity.
    pub quantity: &'static str,
    /// Its units.
    pub units: &'static [(f64, &'static str)],
    /// The caption above the plot.
    pub caption: &'static str,
}

/// A sweep chart's file stem: `<what>_vs_<dimension>`.
pub fn name(what: &str, d: SweepDimension) -> String {
    format!("{what}_vs_{d}")
}

/// A sweep chart's title, before the scenario name: `<what> against <dimension>`.
pub fn title(what: &str, d: SweepDimension) -> String {
    format!("{what} against {}", d.name().replace('_', " "))
}

/// The smallest and the largest point of a sweep, for the readings.
pub struct Span<'a> {
    run: &'a RunData,
    /// The swept dimension.
    pub dimension: SweepDimension,
    /// The smallest point.
    pub lo: SweepPoint,
    /// The largest point.
    pub hi: SweepPoint,
}

impl<'a> Span<'a> {
    /// The span of `run`'s sweep; `None` without one.
    pub fn of(run: &'a RunData) -> Option<Span<'a>> {
        let points = run.points();
        Some(Span {
            run,
            dimension: run.sweep_dimension()?,
            lo: *points.first()?,
            hi: *points.last()?,
        })
    }

    /// A transport's row at a point.
    pub fn at(&self, transport: &str, p: SweepPoint) -> Option<&'a SweepRow> {
        self.run
            .sweep
            .iter()
            .find(|r| r.transport == transport && r.point() == p)
    }

    /// `From clients 100 to 1000`.
    pub fn from(&self) -> String {
        format!(
            "From {} {} to {}",
            self.dimension.name().replace('_', " "),
            self.lo.value_text(),
            self.hi.value_text()
        )
    }

    /// Each transport's value at the smallest and the largest point: `sse 1 → 2, …`.
    pub fn values(
        &self,
        f: &dyn Fn(&SweepRow) -> Option<f64>,
        fmt: &dyn Fn(f64) -> String,
    ) -> String {
        self.run
            .transports()
            .iter()
            .map(|t| {
                let v = |p| {
                    self.at(t, p)
                        .and_then(f)
                        .map_or_else(|| "n/a".to_string(), fmt)
                };
                format!("{t} {} → {}", v(self.lo), v(self.hi))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// At the largest point, each transport's quantities minus the baseline's (the raw
    /// stream), one `(name, value)` per quantity:
    /// ` Over the raw stream (raw) at clients=1000: p50 websocket +12 µs, …; p99 ….`; empty
    /// in a run without a baseline.
    pub fn over_baseline(
        &self,
        quantities: &[Quantity<'_>],
        fmt: &dyn Fn(f64) -> String,
    ) -> String {
        let Some(base) = words::baseline(self.run) else {
            return String::new();
        };
        let parts: Vec<String> = quantities
            .iter()
            .filter_map(|(name, f)| {
                let at_hi: Vec<(String, f64)> = self
                    .run
                    .transports()
                    .into_iter()
                    .filter_map(|t| {
                        let v = self.at(&t, self.hi).and_then(f)?;
                        Some((t, v))
                    })
                    .collect();
                Some(format!("{name} {}", words::over(&at_hi, &base, fmt)?))
            })
            .collect();
        if parts.is_empty() {
            return String::new();
        }
        format!(
            " Over the raw stream ({base}) at {}: {}.",
            self.hi,
            parts.join("; ")
        )
    }
}

/// `plot` for a run's sweep rows.
pub fn draw<DB: Backend>(
    run: &RunData,
    area: &DrawingArea<DB, Shift>,
    plot: &Plot,
) -> Result<(), DrawError> {
    draw_with(run, area, plot, &[])
}

/// The colour of the ring around an overloaded point.
const RING: RGBColor = RGBColor(200, 30, 30);

/// The legend of a sweep chart: the transports, the plotted lines when there are several,
/// and the meaning of a ring when any point is overloaded.
fn legend(run: &RunData, lines: &[Line]) -> Vec<Entry> {
    let grey = RGBColor(80, 80, 80);
    let mut legend = frame::transport_entries(run, Mark::Line);
    if lines.len() > 1 {
        legend.push(Entry::new("", WHITE, Mark::Heading));
        for l in lines {
            let mark = if l.dashed { Mark::Dashed } else { Mark::Line };
            legend.push(Entry::new(l.name, grey, mark));
        }
    }
    if run.sweep.iter().any(overloaded) {
        legend.push(Entry::new("", WHITE, Mark::Heading));
        legend.push(Entry::new("ringed: overloaded", RING, Mark::Heading));
    }
    legend
}

/// Whether the server did not keep up at a swept point (or the load generator saturated).
fn overloaded(r: &SweepRow) -> bool {
    matches!(
        r.verdict,
        Some(Verdict::Overloaded | Verdict::LoadgenSaturated)
    )
}

/// `plot` for a run's sweep rows, over `guides`. With guides the vertical axis is linear, so
/// that the lines through the origin stay straight and their slopes can be compared.
pub fn draw_with<DB: Backend>(
    run: &RunData,
    area: &DrawingArea<DB, Shift>,
    plot: &Plot,
    guides: &[Guide],
) -> Result<(), DrawError> {
    let lines = plot.lines;
    let area = frame::with_legend(area, &legend(run, lines))?;
    let dimension = run.sweep_dimension().unwrap_or(SweepDimension::Clients);
    let x = SweepAxis::new(run.sweep.iter().map(|r| r.sweep_value));
    let (quantity, units) = (plot.quantity, plot.units);
    let values = run
        .sweep
        .iter()
        .flat_map(|r| lines.iter().filter_map(|l| (l.value)(r)));
    let y = if guides.is_empty() {
        ValueAxis::auto(values, units)
    } else {
        ValueAxis::linear(values, units)
    };
    let mut chart = frame::plane(
        &area,
        &Axes {
            x: &x,
            y: &y,
            x_desc: x.describe(dimension.describe()),
            y_desc: y.describe(quantity),
            caption: Some(plot.caption.into()),
            y_room: None,
        },
    )?;
    draw_guides(&mut chart, &x, &y, run, guides)?;
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
            // Where the server did not keep up (or the load generator saturated): a ring
            // around the point, so the chart shows where overload begins.
            let rings = rows.iter().filter(|r| overloaded(r)).filter_map(at);
            chart.draw_series(rings.map(|p| Circle::new(p, 10, RING.stroke_width(2))))?;
        }
    }
    if run.sweep.is_empty() {
        frame::note(&chart.plotting_area().strip_coord_spec(), "no sweep data")?;
    }
    Ok(())
}

/// The guides, clipped to the plot: each from the origin to where it leaves the plot or
/// reaches the largest swept value, labelled there.
fn draw_guides<DB: Backend>(
    chart: &mut frame::Plane<'_, DB>,
    x: &SweepAxis,
    y: &ValueAxis,
    run: &RunData,
    guides: &[Guide],
) -> Result<(), DrawError> {
    let largest = run.sweep.iter().map(|r| r.sweep_value).fold(0.0, f64::max);
    let (start, top) = (x.first_plottable(), y.top());
    let grey = RGBColor(150, 150, 150);
    for g in guides {
        let end = largest.min(top / g.slope);
        if g.slope <= 0.0 || end <= start {
            continue;
        }
        // Sampled, so that the line also follows a logarithmic swept axis.
        const STEPS: u32 = 40;
        let points: Vec<(f64, f64)> = (0..=STEPS)
            .map(|i| start + (end - start) * f64::from(i) / f64::from(STEPS))
            .map(|v| (x.at(v), y.at(v * g.slope)))
            .collect();
        // Labelled a little before its end, clear of the markers of the largest point.
        let (ex, ey) = points[points.len() * 9 / 10];
        chart.draw_series(DashedLineSeries::new(points, 3, 4, grey.stroke_width(1)))?;
        chart.draw_series(std::iter::once(Text::new(
            g.label,
            (ex, ey),
            frame::anchored(13, HPos::Right, VPos::Bottom).color(&grey),
        )))?;
    }
    Ok(())
}
