//! `bandwidth`: how evenly each phase's bandwidth was spread over its clients.

use super::{Area, Chart, DrawError, axis, distribution, words};
use crate::RunData;

/// Each client's bandwidth over the window, by percentile of clients.
pub struct Bandwidth;

impl Chart for Bandwidth {
    fn name(&self) -> String {
        "bandwidth".into()
    }

    fn title(&self) -> String {
        "Per-client bandwidth by percentile".into()
    }

    fn draw(&self, run: &RunData, area: &Area) -> Result<(), DrawError> {
        distribution::phases(
            run,
            area,
            &run.bandwidth,
            "bandwidth per client",
            axis::BYTES_PER_SECOND,
        )
    }

    fn reading(&self, run: &RunData) -> String {
        let ts = run.transports();
        if ts.is_empty() {
            return words::NO_PHASE.into();
        }
        let parts: Vec<String> = ts
            .iter()
            .filter_map(|t| {
                let pts = words::first_repetition(&run.bandwidth, t)?;
                let at = |p: f64| {
                    pts.iter()
                        .find(|x| x.percentile >= p)
                        .map_or(0.0, |x| x.value)
                };
                Some(format!(
                    "{t} {} median, {} busiest client",
                    words::rate(at(50.0)),
                    words::rate(at(100.0))
                ))
            })
            .collect();
        format!(
            "Bandwidth per client over the window (up plus down): {}.",
            parts.join("; ")
        )
    }
}
