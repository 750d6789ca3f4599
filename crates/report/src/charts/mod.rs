//! Charts of a run (plotters), made from the run directory's files alone.
//!
//! Each chart is drawn by one backend-generic function, once into an SVG string and once
//! into an RGB bitmap encoded as PNG, so the two files of a chart cannot disagree. Text is
//! laid out and rasterised with ab_glyph from the DejaVu Sans file bundled in `fonts/`:
//! PNGs get legible text on a machine with no fonts installed, and SVGs get the same text
//! metrics (their text is left to the viewer's `sans-serif`).

mod axis;
mod bytes;
mod cost;
mod frame;
mod palette;
mod percentiles;
mod sweep;
mod timeseries;

pub use palette::{css_color, transport_color};
pub use sweep::Measure;

use crate::RunData;
use plotters::coord::Shift;
use plotters::prelude::*;
use pushbench_model::SweepDimension;
use pushbench_model::rows::SummaryRow;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One rendered chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File stem: `<name>.svg`, `<name>.png`.
    pub name: &'static str,
    /// The title drawn above it.
    pub title: String,
    /// The chart as an SVG document.
    pub svg: String,
}

/// Why charts could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The bundled font did not parse (a corrupted build).
    #[error("the bundled chart font could not be loaded")]
    Font,
    /// plotters failed to draw a chart, or its PNG could not be encoded.
    #[error("chart {chart}: {message}")]
    Draw {
        /// The chart's name.
        chart: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A chart file or its directory could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// What a chart's drawing code fails with. Boxed because plotters' errors are generic over
/// the backend and each chart is drawn on two of them.
type DrawError = Box<dyn std::error::Error + Send + Sync>;

/// A drawing backend whose errors can be boxed into [`DrawError`].
trait Backend: DrawingBackend<ErrorType: 'static> {}
impl<T: DrawingBackend<ErrorType: 'static>> Backend for T {}

/// The charts.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Latency,
    BytesPerMessage,
    Timeseries,
    ServerCost,
    Bandwidth,
    /// A sweep chart: a measure against the swept dimension.
    Sweep(Measure, SweepDimension),
}

/// The charts of every run, in the order they are rendered. In a sweep they show one
/// point, [`RunData::headline_point`].
const KINDS: [Kind; 5] = [
    Kind::Latency,
    Kind::BytesPerMessage,
    Kind::Timeseries,
    Kind::ServerCost,
    Kind::Bandwidth,
];

/// The charts of `run`: a sweep's charts first, they are what a sweep is run for.
fn kinds(run: &RunData) -> Vec<Kind> {
    let sweep = run
        .sweep_dimension()
        .into_iter()
        .flat_map(|d| Measure::ALL.map(|m| Kind::Sweep(m, d)));
    sweep.chain(KINDS).collect()
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Latency => "latency_percentiles",
            Kind::BytesPerMessage => "bytes_per_message",
            Kind::Timeseries => "timeseries",
            Kind::ServerCost => "server_cost",
            Kind::Bandwidth => "bandwidth",
            Kind::Sweep(m, d) => m.name(d),
        }
    }

    fn size(self) -> (u32, u32) {
        match self {
            Kind::Timeseries => (1200, 1000),
            Kind::ServerCost => (1200, 850),
            _ => (1200, 700),
        }
    }

    /// The title; a single-point chart of a sweep names its point.
    fn title(self, run: &RunData) -> String {
        let mut what = match self {
            Kind::Latency => "Delivery latency by percentile".to_string(),
            Kind::BytesPerMessage => "Bytes on the wire per delivered message".to_string(),
            Kind::Timeseries => "Second by second".to_string(),
            Kind::ServerCost => "Server cost".to_string(),
            Kind::Bandwidth => "Per-client bandwidth by percentile".to_string(),
            Kind::Sweep(m, d) => m.title(d),
        };
        if let (false, Some(p)) = (matches!(self, Kind::Sweep(..)), run.headline_point()) {
            what = format!("{what} at {p}");
        }
        format!("{what} — {}", run.name())
    }

    fn draw<DB: Backend>(
        self,
        run: &RunData,
        root: &DrawingArea<DB, Shift>,
        title: &str,
    ) -> Result<(), DrawError> {
        root.fill(&WHITE)?;
        let body = root.titled(title, frame::font(24))?;
        match self {
            Kind::Latency => percentiles::latency(run, &body)?,
            Kind::BytesPerMessage => bytes::draw(run, &body)?,
            Kind::Timeseries => timeseries::draw(run, &body)?,
            Kind::ServerCost => cost::draw(run, &body)?,
            Kind::Bandwidth => percentiles::bandwidth(run, &body)?,
            Kind::Sweep(m, _) => sweep::draw(run, &body, m)?,
        }
        root.present()?;
        Ok(())
    }

    fn svg(self, run: &RunData, title: &str) -> Result<String, ChartError> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size()).into_drawing_area();
            self.draw(run, &root, title).map_err(|e| self.error(e))?;
        }
        Ok(svg)
    }

    fn png(self, run: &RunData, title: &str) -> Result<Vec<u8>, ChartError> {
        let (w, h) = self.size();
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            self.draw(run, &root, title).map_err(|e| self.error(e))?;
        }
        let mut png = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut png),
            &rgb,
            w,
            h,
            image::ColorType::Rgb8,
        )
        .map_err(|e| self.error(format!("encoding PNG: {e}").into()))?;
        Ok(png)
    }

    fn error(self, e: DrawError) -> ChartError {
        ChartError::Draw {
            chart: self.name(),
            message: e.to_string(),
        }
    }
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

/// Each chart with the data it is drawn from: the whole run for a sweep chart, else the
/// run at its headline point (the run itself without a sweep).
fn plan(run: &RunData) -> Vec<(Kind, String, RunData)> {
    let point = run.at(run.headline_point());
    kinds(run)
        .into_iter()
        .map(|kind| {
            let data = if matches!(kind, Kind::Sweep(..)) {
                run.clone()
            } else {
                point.clone()
            };
            (kind, kind.title(run), data)
        })
        .collect()
}

/// Renders every chart as SVG in memory.
pub fn render(run: &RunData) -> Result<Vec<Chart>, ChartError> {
    register_font()?;
    plan(run)
        .into_iter()
        .map(|(kind, title, data)| {
            let svg = kind.svg(&data, &title)?;
            Ok(Chart {
                name: kind.name(),
                title,
                svg,
            })
        })
        .collect()
}

/// Writes `<dir>/<name>.svg` and `<dir>/<name>.png` for every chart (creating `dir`),
/// each through a temporary file renamed into place; returns the charts.
pub fn write(run: &RunData, dir: &Path) -> Result<Vec<Chart>, ChartError> {
    register_font()?;
    std::fs::create_dir_all(dir).map_err(|source| ChartError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let plan = plan(run);
    let mut charts = Vec::with_capacity(plan.len());
    for (kind, title, data) in plan {
        let svg = kind.svg(&data, &title)?;
        let png = kind.png(&data, &title)?;
        write_atomic(&dir.join(format!("{}.svg", kind.name())), svg.as_bytes())?;
        write_atomic(&dir.join(format!("{}.png", kind.name())), &png)?;
        charts.push(Chart {
            name: kind.name(),
            title,
            svg,
        });
    }
    Ok(charts)
}

/// Writes through `.<file>.tmp` so a reader never sees half a chart; the temporary file is
/// removed when writing fails.
fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), ChartError> {
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        ChartError::Io {
            path: path.to_owned(),
            source,
        }
    })
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
