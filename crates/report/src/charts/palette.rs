//! Transport colours, shared by every chart and the HTML report.

use crate::RunData;
use pushbench_model::TransportKind;

/// An RGB triple.
pub type Rgb = (u8, u8, u8);

/// A label of no known kind (found only in a per-phase file, named like no kind): neutral
/// grey. Every kind's own colour is its descriptor's (`pushbench_model::transport`).
const OTHER: Rgb = (90, 90, 90);

/// The colour of a transport, the same in every chart and in the HTML report: the colour
/// of its client kind, so a kind keeps its colour across runs. Labels sharing a kind
/// (`poll-250ms`, `poll-1s`) are told apart by shade: the first, in summary order, gets
/// the kind's colour, the next ones alternately darker and lighter, further each time.
pub fn transport_color(run: &RunData, label: &str) -> (u8, u8, u8) {
    // A label the summary does not list is taken for the kind it is named after, if any.
    let kind_of = |t: &str| run.kind_of(t).or(TransportKind::from_name(t));
    let kind = kind_of(label);
    let base = kind.map_or(OTHER, |k| k.descriptor().colour);
    let rank = run
        .transports()
        .iter()
        .filter(|t| kind_of(t) == kind)
        .position(|t| t == label)
        .unwrap_or(0);
    if rank == 0 {
        return base;
    }
    let step = rank.div_ceil(2) as f64;
    let amount = (0.2 + 0.2 * step).min(0.8);
    if rank % 2 == 1 {
        mix(base, (0, 0, 0), amount)
    } else {
        mix(base, (255, 255, 255), amount)
    }
}

/// [`transport_color`] as a CSS colour, `#rrggbb`.
pub fn css_color(run: &RunData, label: &str) -> String {
    let (r, g, b) = transport_color(run, label);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// `from` moved `amount` (0 to 1) of the way towards `to`.
pub fn mix(from: Rgb, to: Rgb, amount: f64) -> Rgb {
    let m = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * amount).round() as u8;
    (m(from.0, to.0), m(from.1, to.1), m(from.2, to.2))
}
