//! Charts of a run (plotters), made from the run directory's files alone.
//!
//! Each chart is a type implementing [`Chart`], in a file of its own: its name, its title,
//! what it draws and its reading of the numbers (a chart without a reading does not
//! compile). [`charts_of`] lists them in the order the reports show them; a new chart is a
//! file and a line there.
//!
//! Each chart is drawn once into an SVG string and once into an RGB bitmap encoded as PNG,
//! through the same [`Canvas`], so the two files of a chart cannot disagree. Text is laid
//! out and rasterised with ab_glyph from the DejaVu Sans file bundled in `fonts/`: PNGs get
//! legible text on a machine with no fonts installed, and SVGs get the same text metrics
//! (their text is left to the viewer's `sans-serif`).

mod axis;
mod bandwidth;
mod bytes;
mod bytes_vs;
mod canvas;
mod cost;
mod cpu_vs;
mod distribution;
mod frame;
mod latency;
mod latency_vs;
mod palette;
mod sweep;
mod timeseries;
pub(crate) mod words;

pub use canvas::Canvas;
pub use palette::{css_color, transport_color};

use crate::files::write_atomic;
use crate::{ReportError, RunData};
use plotters::coord::Shift;
use plotters::prelude::*;
use pushbench_model::rows::{PercentileRow, SummaryRow};
use std::path::Path;
use std::sync::OnceLock;

/// One chart of a run.
pub trait Chart {
    /// The file stem of its files (`charts/<name>.svg`, `.png`) and its id in the report.
    fn name(&self) -> String;

    /// What it shows: its title, before the point it shows and the scenario's name.
    fn title(&self) -> String;

    /// Its size in pixels.
    fn size(&self) -> (u32, u32) {
        (1200, 700)
    }

    /// Whether it draws every point of a sweep; the others draw the run at its headline
    /// point ([`RunData::headline_point`]) and say so in their titles.
    fn whole_sweep(&self) -> bool {
        false
    }

    /// Draws the chart's data on `area`, below its title.
    fn draw(&self, run: &RunData, area: &Area) -> Result<(), DrawError>;

    /// What the numbers it draws say, in one paragraph: the report prints it under the
    /// chart. `run` is what [`Chart::draw`] was given.
    fn reading(&self, run: &RunData) -> String;
}

/// The charts of `run`, in the order the reports show them: a sweep's first, they are what
/// a sweep is run for.
pub fn charts_of(run: &RunData) -> Vec<Box<dyn Chart>> {
    let mut charts: Vec<Box<dyn Chart>> = Vec::new();
    if let Some(d) = run.sweep_dimension() {
        charts.push(Box::new(latency_vs::LatencyVs(d)));
        charts.push(Box::new(bytes_vs::BytesVs(d)));
        charts.push(Box::new(cpu_vs::CpuVs(d)));
    }
    charts.push(Box::new(latency::Latency));
    charts.push(Box::new(bytes::BytesPerMessage));
    charts.push(Box::new(timeseries::Timeseries));
    charts.push(Box::new(cost::ServerCost));
    charts.push(Box::new(bandwidth::Bandwidth));
    charts
}

/// Where a chart draws: an area of a [`Canvas`].
pub type Area<'a> = DrawingArea<Canvas<'a>, Shift>;

/// One rendered chart, as the reports embed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// File stem: `<name>.svg`, `<name>.png`.
    pub name: String,
    /// The title drawn above it.
    pub title: String,
    /// The chart as an SVG document.
    pub svg: String,
    /// Its reading of the numbers.
    pub reading: String,
}

/// Why charts could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The bundled font did not parse (a corrupted build).
    #[error("the bundled chart font could not be loaded")]
    Font,
    /// plotters failed to draw a chart, or its PNG could not be encoded.
    #[error("chart {chart}: {message}")]
    Draw {
        /// The chart's name.
        chart: String,
        /// What went wrong.
        message: String,
    },
}

/// What a chart's drawing code fails with. Boxed because plotters' errors are generic over
/// the backend.
pub type DrawError = Box<dyn std::error::Error + Send + Sync>;

/// A drawing backend whose errors can be boxed into [`DrawError`]. The drawing helpers are
/// generic over it; charts draw on a [`Canvas`].
trait Backend: DrawingBackend<ErrorType: 'static> {}
impl<T: DrawingBackend<ErrorType: 'static>> Backend for T {}

/// A chart ready to draw: the chart, its full title, and the data it draws.
struct Planned {
    chart: Box<dyn Chart>,
    title: String,
    data: RunData,
}

impl Planned {
    fn error(&self, e: DrawError) -> ChartError {
        ChartError::Draw {
            chart: self.chart.name(),
            message: e.to_string(),
        }
    }

    fn draw_on(&self, canvas: Canvas<'_>) -> Result<(), ChartError> {
        let root = canvas.into_drawing_area();
        let drawn = (|| {
            root.fill(&WHITE)?;
            let body = root.titled(&self.title, frame::font(24))?;
            self.chart.draw(&self.data, &body)?;
            root.present()?;
            Ok(())
        })();
        drawn.map_err(|e| self.error(e))
    }

    fn svg(&self) -> Result<String, ChartError> {
        let mut svg = String::new();
        self.draw_on(Canvas::Svg(SVGBackend::with_string(
            &mut svg,
            self.chart.size(),
        )))?;
        Ok(svg)
    }

    fn png(&self) -> Result<Vec<u8>, ChartError> {
        let (w, h) = self.chart.size();
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        self.draw_on(Canvas::Bitmap(BitMapBackend::with_buffer(&mut rgb, (w, h))))?;
        encode_png(&rgb, (w, h)).map_err(|e| self.error(e))
    }

    fn drawn(&self, svg: String) -> Drawn {
        Drawn {
            name: self.chart.name(),
            title: self.title.clone(),
            svg,
            reading: self.chart.reading(&self.data),
        }
    }
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, DrawError> {
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        rgb,
        w,
        h,
        image::ColorType::Rgb8,
    )
    .map_err(|e| format!("encoding PNG: {e}"))?;
    Ok(png)
}

/// Each chart with its title and data: the whole run for a chart of the whole sweep, else
/// the run at its headline point (the run itself without a sweep), named in the title.
fn plan(run: &RunData) -> Vec<Planned> {
    let point = run.at(run.headline_point());
    charts_of(run)
        .into_iter()
        .map(|chart| {
            let mut title = chart.title();
            if let (false, Some(p)) = (chart.whole_sweep(), run.headline_point()) {
                title = format!("{title} at {p}");
            }
            let title = format!("{title} — {}", run.name());
            let data = if chart.whole_sweep() {
                run.clone()
            } else {
                point.clone()
            };
            Planned { chart, title, data }
        })
        .collect()
}

/// The font every chart asks for, under the generic family name so an SVG viewer without
/// DejaVu still picks a sans-serif face.
static FONT: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");

/// Makes the bundled font known to plotters.
///
/// plotters' ab_glyph backend looks fonts up by family name in a process-wide table and
/// has no way to hand a font to one drawing, so global state is unavoidable. It is
/// harmless here: the table gains one entry, once, from immutable bytes compiled into the
/// binary, and nothing ever changes or removes it.
fn register_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(frame::FAMILY, FontStyle::Normal, FONT).is_ok()
    });
    if ok { Ok(()) } else { Err(ChartError::Font) }
}

/// Renders every chart as SVG in memory.
pub fn render(run: &RunData) -> Result<Vec<Drawn>, ChartError> {
    register_font()?;
    plan(run).iter().map(|p| Ok(p.drawn(p.svg()?))).collect()
}

/// Writes `<dir>/<name>.svg` and `<dir>/<name>.png` for every chart (creating `dir`),
/// each through a temporary file renamed into place; returns the charts.
pub fn write(run: &RunData, dir: &Path) -> Result<Vec<Drawn>, ReportError> {
    register_font()?;
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut charts = Vec::new();
    for p in plan(run) {
        let svg = p.svg()?;
        let png = p.png()?;
        let name = p.chart.name();
        write_atomic(&dir.join(format!("{name}.svg")), svg.as_bytes())?;
        write_atomic(&dir.join(format!("{name}.png")), &png)?;
        charts.push(p.drawn(svg));
    }
    Ok(charts)
}

/// Compare's overlay of one transport's latency distributions as an SVG document: one
/// line per repetition in `color` (an RGB triple), the baseline dashed and the candidate
/// solid, drawn by the same code as the `latency_percentiles` chart.
pub fn overlay_svg(
    color: (u8, u8, u8),
    base: &[&[PercentileRow]],
    new: &[&[PercentileRow]],
) -> Result<String, ChartError> {
    register_font()?;
    let mut svg = String::new();
    let drawn = (|| {
        let root = Canvas::Svg(SVGBackend::with_string(&mut svg, (1000, 440))).into_drawing_area();
        root.fill(&WHITE)?;
        distribution::overlay(&root, frame::rgb(color), base, new)?;
        root.present()?;
        Ok::<(), DrawError>(())
    })();
    drawn.map_err(|e| ChartError::Draw {
        chart: "compare overlay".into(),
        message: e.to_string(),
    })?;
    Ok(svg)
}

/// Mean over a transport's repetitions of a ratio, skipping repetitions where it has no
/// value (a ratio per delivered message means nothing when none was delivered); `None` when
/// no repetition has one.
fn mean_ratio(
    run: &RunData,
    label: &str,
    ratio: impl Fn(&SummaryRow) -> Option<f64>,
) -> Option<f64> {
    let ratios: Vec<f64> = run
        .rows_of(label)
        .filter_map(ratio)
        .filter(|v| v.is_finite())
        .collect();
    (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64)
}

#[cfg(test)]
mod tests;
