//! `timeseries`: each phase second by second, in three panels sharing the time axis.

use super::axis::{self, Scale, ValueAxis};
use super::frame::{self, Axes, Entry, Mark, Plane};
use super::palette::transport_color;
use super::{Area, Backend, Chart, DrawError, words};
use crate::RunData;
use plotters::coord::Shift;
use plotters::prelude::*;
use pushbench_model::rows::Figures;
use pushbench_model::rows::SecondRow;
use std::fmt::Write as _;

/// One phase per transport: its first repetition. Overlaying every repetition would
/// make three panels of near-identical tangled lines; repetitions are compared in the
/// percentile and bar charts, which draw or average them all.
fn phases(run: &RunData) -> Vec<(String, &[SecondRow])> {
    frame::labels(run)
        .into_iter()
        .filter_map(|label| {
            let (_, seconds) = run
                .timeseries
                .iter()
                .find(|(k, s)| k.transport == label && !s.is_empty())?;
            Some((label, seconds.as_slice()))
        })
        .collect()
}

/// Where a second is plotted: at its middle, since its counts cover all of it.
fn mid(s: &SecondRow) -> f64 {
    f64::from(s.second) + 0.5
}

/// The measured windows of the phases drawn, each once: `[first, last + 1)` of the seconds
/// wholly inside it. Phases of one run share their timing, so this is normally one.
fn windows(phases: &[(String, &[SecondRow])]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for (_, seconds) in phases {
        let inside = seconds.iter().filter(|s| s.in_window).map(|s| s.second);
        if let (Some(first), Some(last)) = (inside.clone().min(), inside.max()) {
            let w = (f64::from(first), f64::from(last) + 1.0);
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    out
}

/// The runs of consecutive seconds `keep` accepts, each drawn as its own line so a
/// second without data is a gap rather than a line through zero.
fn runs(seconds: &[SecondRow], keep: impl Fn(&SecondRow) -> bool) -> Vec<&[SecondRow]> {
    seconds
        .chunk_by(|a, b| b.second == a.second + 1 && keep(a) == keep(b))
        .filter(|run| keep(&run[0]))
        .collect()
}

/// Each phase second by second.
pub struct Timeseries;

impl Chart for Timeseries {
    fn name(&self) -> String {
        "timeseries".into()
    }

    fn title(&self) -> String {
        "Second by second".into()
    }

    fn size(&self) -> (u32, u32) {
        (1200, 1000)
    }

    fn draw(&self, run: &RunData, area: &Area) -> Result<(), DrawError> {
        draw(run, area)
    }

    fn reading(&self, run: &RunData) -> String {
        let ts = run.transports();
        if ts.is_empty() {
            return words::NO_PHASE.into();
        }
        let rate: Vec<(String, f64)> = ts
            .iter()
            .map(|t| (t.clone(), run.pooled(t).delivered_per_s().unwrap_or(0.0)))
            .collect();
        let worst = ts
            .iter()
            .filter_map(|t| {
                let s = words::first_repetition(&run.timeseries, t)?;
                let w = s
                    .iter()
                    .filter(|x| x.in_window)
                    .max_by_key(|x| x.latency_p99_us)?;
                Some((t.clone(), w.second, w.latency_p99_us as f64))
            })
            .max_by(|a, b| a.2.total_cmp(&b.2));
        let mut s = format!(
            "Deliveries per second in the measured window: {}.",
            words::list(&rate, |v| format!("{v:.0}/s"))
        );
        if let Some((t, sec, v)) = worst {
            let _ = write!(
                s,
                " The worst second was second {sec} of {t}, with a p99 of {}.",
                words::us(v)
            );
        }
        s
    }
}

/// Three panels: messages delivered per second, bandwidth (down solid, up dashed) and p99
/// latency per second, the measured window shaded in each.
fn draw<DB: Backend>(run: &RunData, area: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
    let phases = phases(run);
    let grey = RGBColor(80, 80, 80);
    let mut legend = frame::transport_entries(run, Mark::Line);
    legend.extend([
        Entry::new("", WHITE, Mark::Heading),
        Entry::new("bandwidth down", grey, Mark::Line),
        Entry::new("bandwidth up", grey, Mark::Dashed),
        Entry::new("measured window", frame::WINDOW, Mark::Fill),
    ]);
    let plot = frame::with_legend(area, &legend)?;
    let areas = plot.split_evenly((3, 1));
    let all = || phases.iter().flat_map(|(_, s)| s.iter());
    let delivered = ValueAxis::linear(all().map(|s| s.messages_delivered as f64), axis::COUNT);
    let rate = ValueAxis::linear(
        all().flat_map(|s| [s.bytes_up as f64, s.bytes_down as f64]),
        axis::BYTES_PER_SECOND,
    );
    // A second with no latency samples (nothing delivered, or outside the measured window,
    // where latencies are not recorded) has a p99 of 0: it is left out. Per-second p99s of
    // different transports easily differ 10 to 100 times, and on a linear axis all but the
    // slowest would then lie flat on zero: log from a 10x spread.
    let latency = ValueAxis::log_above(
        10.0,
        all()
            .filter(|s| delivering(s))
            .map(|s| s.latency_p99_us as f64),
        axis::MICROSECONDS,
    );
    let panels = Panels {
        run,
        x: ValueAxis::linear(all().map(|s| mid(s) + 0.5), axis::COUNT),
        windows: windows(&phases),
        y_room: frame::y_room(&plot, &[&delivered, &rate, &latency])?,
        phases,
    };
    panels.delivered(&areas[0], &delivered)?;
    panels.bandwidth(&areas[1], &rate)?;
    panels.latency(&areas[2], &latency)
}

/// Whether a second has latencies to draw.
fn delivering(s: &SecondRow) -> bool {
    s.latency_p99_us > 0
}

/// What the three panels share: the phases, the time axis, the windows, the room left of
/// the plane for the vertical axes (the same for all three, so they line up).
struct Panels<'a> {
    run: &'a RunData,
    phases: Vec<(String, &'a [SecondRow])>,
    x: ValueAxis,
    windows: Vec<(f64, f64)>,
    y_room: u32,
}

impl Panels<'_> {
    fn color(&self, label: &str) -> ShapeStyle {
        frame::rgb(transport_color(self.run, label)).stroke_width(2)
    }

    /// Messages delivered per second.
    fn delivered<DB: Backend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        y: &ValueAxis,
    ) -> Result<(), DrawError> {
        let caption = "delivered messages per second";
        let mut chart = self.panel(area, y, caption, y.describe("messages/s"), false)?;
        for (label, seconds) in &self.phases {
            let line = seconds
                .iter()
                .map(|s| (mid(s), y.at(s.messages_delivered as f64)));
            chart.draw_series(LineSeries::new(line, self.color(label)))?;
        }
        if self.phases.is_empty() {
            frame::note(
                &chart.plotting_area().strip_coord_spec(),
                "no per-second data",
            )?;
        }
        Ok(())
    }

    /// Bandwidth of all clients, down solid and up dashed.
    fn bandwidth<DB: Backend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        y: &ValueAxis,
    ) -> Result<(), DrawError> {
        let caption = "bandwidth, all clients (set-up included)";
        let mut chart = self.panel(area, y, caption, y.describe("bandwidth"), false)?;
        for (label, seconds) in &self.phases {
            let color = self.color(label);
            let down = seconds.iter().map(|s| (mid(s), y.at(s.bytes_down as f64)));
            chart.draw_series(LineSeries::new(down, color))?;
            let up: Vec<(f64, f64)> = seconds
                .iter()
                .map(|s| (mid(s), y.at(s.bytes_up as f64)))
                .collect();
            chart.draw_series(DashedLineSeries::new(up, 7, 5, color))?;
        }
        Ok(())
    }

    /// p99 latency per second, a gap where a second has none.
    fn latency<DB: Backend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        y: &ValueAxis,
    ) -> Result<(), DrawError> {
        let caption = "p99 delivery latency per second";
        let mut chart = self.panel(area, y, caption, y.describe("p99 latency"), true)?;
        for (label, seconds) in &self.phases {
            for part in runs(seconds, delivering) {
                let line = part.iter().map(|s| (mid(s), y.at(s.latency_p99_us as f64)));
                chart.draw_series(LineSeries::new(line, self.color(label)))?;
            }
        }
        Ok(())
    }

    fn panel<'b, DB: Backend>(
        &self,
        area: &'b DrawingArea<DB, Shift>,
        y: &ValueAxis,
        caption: &str,
        y_desc: String,
        bottom: bool,
    ) -> Result<Plane<'b, DB>, DrawError> {
        panel(
            area,
            &self.x,
            y,
            caption,
            y_desc,
            (bottom, self.y_room),
            &self.windows,
        )
    }
}

/// One panel: its plane with the measured windows shaded behind the data.
fn panel<'a, DB: Backend>(
    area: &'a DrawingArea<DB, Shift>,
    x: &ValueAxis,
    y: &ValueAxis,
    caption: &str,
    y_desc: String,
    (bottom, y_room): (bool, u32),
    windows: &[(f64, f64)],
) -> Result<Plane<'a, DB>, DrawError> {
    let mut chart = frame::plane(
        area,
        &Axes {
            x,
            y,
            x_desc: if bottom {
                "time since the phase started (s)".into()
            } else {
                String::new()
            },
            y_desc,
            caption: Some(caption.into()),
            y_room: Some(y_room),
        },
    )?;
    let range = y.range();
    chart.draw_series(windows.iter().map(|&(from, to)| {
        Rectangle::new(
            [(from, range.start), (to, range.end)],
            frame::WINDOW_SHADE.filled(),
        )
    }))?;
    Ok(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(second: u32, delivered: u64, in_window: bool) -> SecondRow {
        SecondRow {
            transport: "t".into(),
            repetition: 1,
            second,
            messages_delivered: delivered,
            bytes_up: 0,
            bytes_down: 0,
            latency_p50_us: 0,
            latency_p99_us: 0,
            connections: 0,
            in_window,
            sweep_dimension: None,
            sweep_value: None,
        }
    }

    #[test]
    fn lines_break_at_seconds_without_data_and_at_missing_seconds() {
        let seconds: Vec<SecondRow> = [(0, 0), (1, 5), (2, 5), (3, 0), (4, 5), (6, 5)]
            .into_iter()
            .map(|(s, d)| second(s, d, false))
            .collect();
        let parts: Vec<Vec<u32>> = runs(&seconds, |s| s.messages_delivered > 0)
            .iter()
            .map(|p| p.iter().map(|s| s.second).collect())
            .collect();
        assert_eq!(parts, [vec![1, 2], vec![4], vec![6]]);
    }

    #[test]
    fn the_window_spans_its_seconds_wholly() {
        let seconds: Vec<SecondRow> = (0..10).map(|s| second(s, 1, (3..8).contains(&s))).collect();
        let phases = [
            ("a".to_string(), seconds.as_slice()),
            ("b".to_string(), seconds.as_slice()),
        ];
        assert_eq!(windows(&phases), [(3.0, 8.0)]);
    }
}
