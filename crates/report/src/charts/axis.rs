//! Axis scales. Every axis is plotted on a plain linear `f64` coordinate with explicit tick
//! positions; log and "number of nines" axes transform values before plotting. That keeps
//! one chart type for all charts and puts every tick exactly where it is wanted.

use std::ops::Range;

/// What the drawing code needs of an axis.
pub trait Scale {
    /// The plotted coordinate range.
    fn range(&self) -> Range<f64>;
    /// Tick positions, in plotted coordinates.
    fn ticks(&self) -> Vec<f64>;
    /// The label of the tick at `at`.
    fn label(&self, at: f64) -> String;
    /// Whether grid lines run from the ticks.
    fn grid(&self) -> bool {
        true
    }
}

/// Latency, recorded in µs.
pub const MICROSECONDS: &[(f64, &str)] = &[(1.0, "µs"), (1e3, "ms")];
/// Byte counts.
pub const BYTES: &[(f64, &str)] = &[(1.0, "B"), (1e3, "kB"), (1e6, "MB"), (1e9, "GB")];
/// Byte rates.
pub const BYTES_PER_SECOND: &[(f64, &str)] =
    &[(1.0, "B/s"), (1e3, "kB/s"), (1e6, "MB/s"), (1e9, "GB/s")];
/// Durations recorded in seconds.
pub const SECONDS: &[(f64, &str)] = &[(1e-6, "µs"), (1e-3, "ms"), (1.0, "s")];
/// Plain counts.
pub const COUNT: &[(f64, &str)] = &[(1.0, "")];

/// A quantity axis, starting at zero when linear.
#[derive(Debug, Clone)]
pub struct ValueAxis {
    divisor: f64,
    unit: &'static str,
    log: bool,
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl ValueAxis {
    /// A linear axis from zero covering `values`.
    pub fn linear(
        values: impl IntoIterator<Item = f64>,
        units: &'static [(f64, &'static str)],
    ) -> Self {
        Self::new(values, units, f64::INFINITY)
    }

    /// Like [`ValueAxis::linear`], but logarithmic when the largest value is more than 100
    /// times the smallest positive one, so a 1 ms transport is not flattened against the
    /// axis by a 1 s one.
    pub fn auto(
        values: impl IntoIterator<Item = f64>,
        units: &'static [(f64, &'static str)],
    ) -> Self {
        Self::new(values, units, 100.0)
    }

    /// Like [`ValueAxis::auto`], logarithmic from a `spread` of largest to smallest.
    pub fn log_above(
        spread: f64,
        values: impl IntoIterator<Item = f64>,
        units: &'static [(f64, &'static str)],
    ) -> Self {
        Self::new(values, units, spread)
    }

    fn new(
        values: impl IntoIterator<Item = f64>,
        units: &'static [(f64, &'static str)],
        log_above: f64,
    ) -> Self {
        let values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        let max = values.iter().copied().fold(0.0, f64::max);
        let min_positive = values
            .iter()
            .copied()
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        // The largest unit that still shows the maximum as 10 or more: "1015 ms" rather
        // than "1.015 s", "45 kB" rather than "0.045 MB".
        let (divisor, unit) = units
            .iter()
            .rev()
            .find(|(d, _)| max / d >= 10.0)
            .or(units.first())
            .copied()
            .unwrap_or((1.0, ""));
        let log = min_positive.is_finite() && max / min_positive > log_above;
        let (lo, hi, ticks) = if log {
            let lo = (min_positive / divisor).log10().floor();
            let hi = (max / divisor).log10().ceil().max(lo + 1.0);
            let few_decades = hi - lo <= 3.0;
            let mut ticks = Vec::new();
            for decade in (lo as i32)..=(hi as i32) {
                let d = f64::from(decade);
                ticks.push(d);
                if few_decades && d < hi {
                    ticks.extend([d + 2f64.log10(), d + 5f64.log10()]);
                }
            }
            (lo, hi, ticks)
        } else {
            let top = max / divisor;
            let step = if top > 0.0 { nice_step(top / 5.0) } else { 1.0 };
            let n = (top / step - 1e-9).ceil().max(1.0) as u32;
            let ticks: Vec<f64> = (0..=n).map(|i| f64::from(i) * step).collect();
            (0.0, f64::from(n) * step, ticks)
        };
        ValueAxis {
            divisor,
            unit,
            log,
            lo,
            hi,
            ticks,
        }
    }

    /// The largest value the axis shows, in the values' own unit.
    pub fn top(&self) -> f64 {
        let hi = if self.log {
            10f64.powf(self.hi)
        } else {
            self.hi
        };
        hi * self.divisor
    }

    /// Where `value` is plotted. On a log axis, values at or below zero (which it cannot
    /// show) are drawn on its bottom edge.
    pub fn at(&self, value: f64) -> f64 {
        let v = value / self.divisor;
        if !self.log {
            v
        } else if v > 0.0 {
            v.log10().max(self.lo)
        } else {
            self.lo
        }
    }

    /// The axis description: the quantity with its unit, and the scale when logarithmic.
    pub fn describe(&self, quantity: &str) -> String {
        match (self.unit.is_empty(), self.log) {
            (true, false) => quantity.to_string(),
            (true, true) => format!("{quantity} (log scale)"),
            (false, false) => format!("{quantity} ({})", self.unit),
            (false, true) => format!("{quantity} ({}, log scale)", self.unit),
        }
    }

    /// `value` in the axis unit, without the unit.
    pub fn number(&self, value: f64) -> String {
        number(value / self.divisor)
    }

    /// `value` in the axis unit, with the unit: for labels printed on the data.
    pub fn value_label(&self, value: f64) -> String {
        let n = self.number(value);
        if self.unit.is_empty() {
            n
        } else {
            format!("{n} {}", self.unit)
        }
    }
}

impl Scale for ValueAxis {
    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }

    fn ticks(&self) -> Vec<f64> {
        self.ticks.clone()
    }

    fn label(&self, at: f64) -> String {
        number(if self.log { 10f64.powf(at) } else { at })
    }
}

/// A step of 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let m = raw / magnitude;
    let nice = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|n| m <= *n + 1e-9)
        .unwrap_or(10.0);
    nice * magnitude
}

/// A number as a person writes it: no trailing zeros, three significant digits below 100,
/// whole numbers above.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    let s = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The percentile axis HdrHistogram plots use: x = -log10(1 - p/100), the "number of
/// nines", so p90, p99, p99.9 … are one step apart and the tail gets the room.
#[derive(Debug, Clone)]
pub struct PercentileAxis {
    /// Steps covering every finite point, at least one.
    steps: u32,
    /// Whether p100 is drawn.
    has_max: bool,
}

impl PercentileAxis {
    /// An axis for these percentiles (0 to 100).
    ///
    /// p100 is infinitely far out on this scale. Rather than dropping it (it is the
    /// maximum, often the most telling point of a tail), it is drawn one step right of the
    /// last whole step covering the finite points and labelled "max".
    pub fn new(percentiles: impl IntoIterator<Item = f64>) -> Self {
        let mut steps = 1;
        let mut has_max = false;
        for p in percentiles {
            if p >= 100.0 {
                has_max = true;
            } else if p.is_finite() {
                steps = steps.max(nines(p).ceil() as u32);
            }
        }
        PercentileAxis { steps, has_max }
    }

    /// Where percentile `p` is plotted.
    pub fn at(&self, p: f64) -> f64 {
        if p >= 100.0 {
            f64::from(self.steps + 1)
        } else {
            nines(p.max(0.0))
        }
    }
}

impl Scale for PercentileAxis {
    fn range(&self) -> Range<f64> {
        0.0..f64::from(self.steps + u32::from(self.has_max))
    }

    fn ticks(&self) -> Vec<f64> {
        (0..=self.steps + u32::from(self.has_max))
            .map(f64::from)
            .collect()
    }

    fn label(&self, at: f64) -> String {
        match at.round() as u32 {
            n if n > self.steps => "max".into(),
            0 => "0".into(),
            1 => "90".into(),
            n => format!("99.{}", "9".repeat(n as usize - 2))
                .trim_end_matches('.')
                .into(),
        }
    }
}

/// -log10(1 - p/100): 0 at p0, 1 at p90, 2 at p99, 3 at p99.9.
fn nines(p: f64) -> f64 {
    -(1.0 - p / 100.0).log10()
}

/// The axis of a sweep's points, ticked at exactly the values swept: logarithmic when they
/// are positive and span a factor of 10 or more (100 to 10,000 clients), linear otherwise,
/// with a margin so the first and last markers are not cut by the frame.
#[derive(Debug, Clone)]
pub struct SweepAxis {
    points: Vec<f64>,
    log: bool,
    lo: f64,
    hi: f64,
}

impl SweepAxis {
    /// An axis for these values.
    pub fn new(values: impl IntoIterator<Item = f64>) -> Self {
        let mut points: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        points.sort_by(f64::total_cmp);
        points.dedup();
        let (Some(&min), Some(&max)) = (points.first(), points.last()) else {
            return SweepAxis {
                points,
                log: false,
                lo: 0.0,
                hi: 1.0,
            };
        };
        let log = min > 0.0 && max / min >= 10.0;
        let t = |v: f64| if log { v.log10() } else { v };
        let (a, b) = (t(min), t(max));
        let pad = if b > a {
            (b - a) * 0.06
        } else {
            (a.abs() * 0.5).max(1.0)
        };
        SweepAxis {
            points,
            log,
            lo: a - pad,
            hi: b + pad,
        }
    }

    /// Where `value` is plotted.
    pub fn at(&self, value: f64) -> f64 {
        if self.log { value.log10() } else { value }
    }

    /// The smallest value the axis can show: zero on a linear axis, the smallest point on
    /// a logarithmic one.
    pub fn first_plottable(&self) -> f64 {
        match (self.log, self.points.first()) {
            (true, Some(&p)) => p,
            _ => 0.0,
        }
    }

    /// The axis description: the quantity, and the scale when logarithmic.
    pub fn describe(&self, quantity: &str) -> String {
        if self.log {
            format!("{quantity} (log scale)")
        } else {
            quantity.to_string()
        }
    }
}

impl Scale for SweepAxis {
    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }

    fn ticks(&self) -> Vec<f64> {
        self.points.iter().map(|&p| self.at(p)).collect()
    }

    /// The point the tick stands at, written exactly (not read back from a logarithm).
    fn label(&self, at: f64) -> String {
        self.points
            .iter()
            .min_by(|a, b| {
                (self.at(**a) - at)
                    .abs()
                    .total_cmp(&(self.at(**b) - at).abs())
            })
            .map_or_else(String::new, |p| number(*p))
    }
}

/// One slot per label, in order, ticked at the slot centres: slot `i` spans `i..i + 1`.
#[derive(Debug, Clone)]
pub struct Categories {
    labels: Vec<String>,
    /// Whether the first label takes the last slot, so on a vertical axis it reads first,
    /// at the top.
    top_down: bool,
}

impl Categories {
    /// Slots left to right (or bottom to top).
    pub fn new(labels: Vec<String>) -> Self {
        Categories {
            labels,
            top_down: false,
        }
    }

    /// Slots top to bottom on a vertical axis.
    pub fn top_down(labels: Vec<String>) -> Self {
        Categories {
            labels,
            top_down: true,
        }
    }

    /// The start of label `i`'s slot.
    pub fn slot(&self, i: usize) -> f64 {
        let n = self.labels.len().max(1);
        (if self.top_down {
            n - 1 - i.min(n - 1)
        } else {
            i
        }) as f64
    }
}

impl Scale for Categories {
    fn range(&self) -> Range<f64> {
        0.0..self.labels.len().max(1) as f64
    }

    fn ticks(&self) -> Vec<f64> {
        (0..self.labels.len()).map(|i| self.slot(i) + 0.5).collect()
    }

    fn label(&self, at: f64) -> String {
        let n = self.labels.len();
        let slot = at.floor().max(0.0) as usize;
        let i = if self.top_down {
            n.saturating_sub(1).saturating_sub(slot)
        } else {
            slot
        };
        self.labels.get(i).cloned().unwrap_or_default()
    }

    fn grid(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis_places_the_usual_percentiles_one_step_apart() {
        let axis = PercentileAxis::new(crate::PERCENTILES);
        assert_eq!(axis.at(0.0), 0.0);
        assert!((axis.at(90.0) - 1.0).abs() < 1e-9);
        assert!((axis.at(99.0) - 2.0).abs() < 1e-9);
        assert!((axis.at(99.999) - 5.0).abs() < 1e-6);
        assert_eq!(axis.at(100.0), 6.0);
        let labels: Vec<String> = axis.ticks().into_iter().map(|t| axis.label(t)).collect();
        assert_eq!(labels, ["0", "90", "99", "99.9", "99.99", "99.999", "max"]);
    }

    #[test]
    fn log_scale_only_for_a_wide_spread() {
        assert!(!ValueAxis::auto([10.0, 999.0], MICROSECONDS).log);
        let wide = ValueAxis::auto([0.0, 10.0, 1_015_295.0], MICROSECONDS);
        assert!(wide.log);
        assert_eq!(wide.unit, "ms");
        // 10 µs = 0.01 ms: the axis starts at that decade, and zero sits on it.
        assert_eq!(wide.range(), -2.0..4.0);
        assert_eq!(wide.at(0.0), -2.0);
        let zeros = ValueAxis::auto([0.0, 0.0], MICROSECONDS);
        assert!(!zeros.log);
        assert_eq!(zeros.range(), 0.0..1.0);
    }

    #[test]
    fn linear_ticks_are_round_and_cover_the_maximum() {
        let axis = ValueAxis::linear([308.15], BYTES);
        assert_eq!(axis.ticks(), [0.0, 100.0, 200.0, 300.0, 400.0]);
        assert_eq!(number(0.30000000000000004), "0.3");
        assert_eq!(number(17.333), "17.3");
        assert_eq!(number(308.15), "308");
        assert_eq!(number(0.8251), "0.825");
    }

    #[test]
    fn sweep_axis_ticks_at_the_points_and_goes_log_across_decades() {
        let axis = SweepAxis::new([10_000.0, 100.0, 1_000.0, 5_000.0]);
        assert!(axis.log);
        let labels: Vec<String> = axis.ticks().into_iter().map(|t| axis.label(t)).collect();
        assert_eq!(labels, ["100", "1000", "5000", "10000"]);
        // Decades 2 to 4, with a margin either side.
        let r = axis.range();
        assert!(
            r.start < 2.0 && r.start > 1.8 && r.end > 4.0 && r.end < 4.2,
            "{r:?}"
        );
        let narrow = SweepAxis::new([1.0, 2.0, 5.0]);
        assert!(!narrow.log);
        assert_eq!(narrow.at(2.0), 2.0);
        // A zero (an empty payload) cannot go on a log axis.
        assert!(!SweepAxis::new([0.0, 100.0, 10_000.0]).log);
        let single = SweepAxis::new([64.0]);
        assert!(single.range().contains(&64.0));
    }

    #[test]
    fn categories_read_top_down() {
        let c = Categories::top_down(vec!["a".into(), "b".into(), "c".into()]);
        assert_eq!(c.slot(0), 2.0);
        assert_eq!(c.label(2.5), "a");
        assert_eq!(c.label(0.5), "c");
    }
}
