//! What every chart shares: text styles, the legend strip and the plotting plane.

use super::axis::Scale;
use super::palette::{Rgb, transport_color};
use super::{Backend, DrawError};
use crate::RunData;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use pushbench_model::TransportKind;

/// The font family every chart asks for; the bundled font is registered under it.
pub const FAMILY: &str = "sans-serif";

/// Black text of `size` pixels.
pub fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

/// Text of `size` pixels anchored at `h`, `v`.
pub fn anchored(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    font(size).pos(Pos::new(h, v))
}

/// An RGB triple as a plotters colour.
pub fn rgb((r, g, b): Rgb) -> RGBColor {
    RGBColor(r, g, b)
}

/// How the measured window is shaded: translucent, so grid lines show through it.
pub const WINDOW_SHADE: RGBAColor = RGBAColor(0, 0, 0, 0.09);
/// [`WINDOW_SHADE`] as it looks on white, for the legend.
pub const WINDOW: RGBColor = RGBColor(232, 232, 232);

const GRID: RGBColor = RGBColor(225, 225, 225);
const LEGEND_ROW: i32 = 26;
const TICK_SIZE: u32 = 14;

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    /// A solid line.
    Line,
    /// A dashed line.
    Dashed,
    /// A filled box.
    Fill,
    /// A heading: text only.
    Heading,
}

/// One row of a legend.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The text.
    pub label: String,
    /// The swatch colour.
    pub color: RGBColor,
    /// The swatch.
    pub mark: Mark,
}

impl Entry {
    /// A row.
    pub fn new(label: impl Into<String>, color: RGBColor, mark: Mark) -> Self {
        Entry {
            label: label.into(),
            color,
            mark,
        }
    }
}

/// The transport labels to draw: `summary.csv`'s, then any found only in the other files,
/// so nothing drawn goes unnamed in the legend.
pub fn labels(run: &RunData) -> Vec<String> {
    let mut out = run.transports();
    let keys = run
        .latency
        .keys()
        .chain(run.bandwidth.keys())
        .chain(run.timeseries.keys());
    for key in keys {
        if !out.contains(&key.transport) {
            out.push(key.transport.clone());
        }
    }
    out
}

/// A legend row per transport, in its colour; the baseline's says so.
pub fn transport_entries(run: &RunData, mark: Mark) -> Vec<Entry> {
    labels(run)
        .into_iter()
        .map(|l| {
            let color = rgb(transport_color(run, &l));
            let text = if run.kind_of(&l).is_some_and(TransportKind::is_baseline) {
                format!("{l} (baseline)")
            } else {
                l
            };
            Entry::new(text, color, mark)
        })
        .collect()
}

/// Draws `entries` in a strip at the right of `area` and returns the rest of it. The
/// legend gets its own strip so it never covers data, whatever shape the data takes.
pub fn with_legend<DB: Backend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry],
) -> Result<DrawingArea<DB, Shift>, DrawError> {
    let style = anchored(15, HPos::Left, VPos::Center);
    let mut text_width = 0;
    for e in entries {
        text_width = text_width.max(area.estimate_text_size(&e.label, &style)?.0);
    }
    let (w, _) = area.dim_in_pixel();
    let width = (text_width + 70).clamp(130, w / 3);
    let (plot, legend) = area.split_horizontally(w - width);
    for (i, e) in entries.iter().enumerate() {
        let y = 40 + i as i32 * LEGEND_ROW;
        let line = |from: i32, to: i32| {
            PathElement::new(vec![(from, y), (to, y)], e.color.stroke_width(3))
        };
        match e.mark {
            Mark::Line => legend.draw(&line(8, 42))?,
            Mark::Dashed => {
                for x in [8, 22, 36] {
                    legend.draw(&line(x, x + 7))?;
                }
            }
            Mark::Fill => {
                legend.draw(&Rectangle::new(
                    [(10, y - 8), (40, y + 8)],
                    e.color.filled(),
                ))?;
                legend.draw(&Rectangle::new(
                    [(10, y - 8), (40, y + 8)],
                    RGBColor(120, 120, 120),
                ))?;
            }
            Mark::Heading => {}
        }
        let x = if e.mark == Mark::Heading { 8 } else { 50 };
        legend.draw(&Text::new(e.label.clone(), (x, y), style.clone()))?;
    }
    Ok(plot)
}

/// A linear `f64` coordinate ticked exactly where its [`Scale`] says. plotters' own
/// `WithKeyPoints` would do, but it cannot take a label formatter.
#[derive(Clone)]
pub struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(scale: &dyn Scale) -> Self {
        Ticked {
            inner: scale.range().into(),
            ticks: scale.ticks(),
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // Only bold ticks: light grid lines between them would add clutter, not reading aid.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// A chart whose both axes are linear `f64` coordinates with explicit ticks.
pub type Plane<'a, DB> = ChartContext<'a, DB, Cartesian2d<Ticked, Ticked>>;

/// The axes of a [`Plane`].
pub struct Axes<'s> {
    /// Horizontal.
    pub x: &'s dyn Scale,
    /// Vertical.
    pub y: &'s dyn Scale,
    /// Horizontal axis description; empty for none (and no tick labels either: a panel
    /// sharing the x axis of the panel below).
    pub x_desc: String,
    /// Vertical axis description.
    pub y_desc: String,
    /// A caption above the plane.
    pub caption: Option<String>,
    /// Room left of the plane for the vertical axis, when panels stacked on one time axis
    /// must line up; `None` to fit this axis's labels.
    pub y_room: Option<u32>,
}

/// Room for the tick labels and description of whichever of `scales` has the widest.
pub fn y_room<DB: Backend>(
    area: &DrawingArea<DB, Shift>,
    scales: &[&dyn Scale],
) -> Result<u32, DrawError> {
    let style = font(TICK_SIZE);
    let mut widest = 0;
    for scale in scales {
        for t in scale.ticks() {
            widest = widest.max(area.estimate_text_size(&scale.label(t), &style)?.0);
        }
    }
    Ok(widest + 52)
}

/// Builds a plane on `area` and draws its axes, ticks and grid.
pub fn plane<'a, DB: Backend>(
    area: &'a DrawingArea<DB, Shift>,
    axes: &Axes<'_>,
) -> Result<Plane<'a, DB>, DrawError> {
    let tick_style = font(TICK_SIZE);
    let y_room = match axes.y_room {
        Some(room) => room,
        None => y_room(area, &[axes.y])?,
    };
    let show_x = !axes.x_desc.is_empty();
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(10)
        .margin_right(30)
        .x_label_area_size(if show_x { 56 } else { 8 })
        .y_label_area_size(y_room);
    if let Some(caption) = &axes.caption {
        builder.caption(caption, font(17));
    }
    let mut chart = builder.build_cartesian_2d(Ticked::new(axes.x), Ticked::new(axes.y))?;
    let x_label = |v: &f64| {
        if show_x {
            axes.x.label(*v)
        } else {
            String::new()
        }
    };
    let y_label = |v: &f64| axes.y.label(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style(tick_style.clone())
        .axis_desc_style(font(16))
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .y_desc(axes.y_desc.as_str());
    if show_x {
        mesh.x_desc(axes.x_desc.as_str());
    }
    if !axes.x.grid() {
        mesh.disable_x_mesh();
    }
    if !axes.y.grid() {
        mesh.disable_y_mesh();
    }
    mesh.draw()?;
    Ok(chart)
}

/// A note in the middle of `area`, for data that is missing or meaningless.
pub fn note<DB: Backend>(area: &DrawingArea<DB, Shift>, text: &str) -> Result<(), DrawError> {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        text.to_string(),
        (w as i32 / 2, h as i32 / 2),
        anchored(18, HPos::Center, VPos::Center).color(&RGBColor(110, 110, 110)),
    ))?;
    Ok(())
}
