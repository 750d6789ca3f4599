//! `latency_percentiles`: each phase's delivery latency by percentile.

use super::{Area, Chart, DrawError, axis, distribution, words};
use crate::RunData;
use std::fmt::Write as _;

/// Delivery latency in µs (ms when large) by percentile, every repetition a line.
pub struct Latency;

impl Chart for Latency {
    fn name(&self) -> String {
        "latency_percentiles".into()
    }

    fn title(&self) -> String {
        "Delivery latency by percentile".into()
    }

    fn draw(&self, run: &RunData, area: &Area) -> Result<(), DrawError> {
        distribution::phases(
            run,
            area,
            &run.latency,
            "delivery latency",
            axis::MICROSECONDS,
        )
    }

    fn reading(&self, run: &RunData) -> String {
        if run.transports().is_empty() {
            return words::NO_PHASE.into();
        }
        let p99 = words::by(run, |r| r.latency_p99_us);
        let (lo, hi) = words::min_max(&p99);
        let mut s = format!(
            "{} delivered with the lowest p99 latency, {}; {} the highest, {}.",
            lo.0,
            words::us(lo.1),
            hi.0,
            words::us(hi.1)
        );
        let p50 = words::by(run, |r| r.latency_p50_us);
        let _ = write!(s, " Medians: {}.", words::list(&p50, words::us));
        if let Some(b) = words::baseline(run)
            && let (Some(p50), Some(p99)) = (
                words::over(&p50, &b, words::us),
                words::over(&p99, &b, words::us),
            )
        {
            let _ = write!(
                s,
                " Over the raw stream ({b}, the baseline): p50 {p50}; p99 {p99}."
            );
        }
        s
    }
}
