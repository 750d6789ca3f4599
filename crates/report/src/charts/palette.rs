//! Transport colours, shared by every chart and the HTML report.

use crate::RunData;

/// An RGB triple.
pub type Rgb = (u8, u8, u8);

/// One colour per client kind from Okabe & Ito's palette, which stays distinguishable
/// under the common colour-vision deficiencies. Its yellow is left out: it vanishes on
/// white. Related kinds get related hues (poll orange, long-poll vermillion).
const KINDS: [(&str, Rgb); 5] = [
    ("poll", (230, 159, 0)),
    ("long-poll", (213, 94, 0)),
    ("stream", (0, 158, 115)),
    ("sse", (0, 114, 178)),
    ("websocket", (204, 121, 167)),
];

/// A kind pushbench does not know (a newer run read by an older build): neutral grey.
const OTHER: Rgb = (90, 90, 90);

/// The colour of a transport, the same in every chart and in the HTML report: the colour
/// of its client kind, so a kind keeps its colour across runs. Labels sharing a kind
/// (`poll-250ms`, `poll-1s`) are told apart by shade: the first, in summary order, gets
/// the kind's colour, the next ones alternately darker and lighter, further each time.
pub fn transport_color(run: &RunData, label: &str) -> (u8, u8, u8) {
    let kind = run.kind_of(label);
    let base = KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(OTHER, |(_, c)| *c);
    let rank = run
        .transports()
        .iter()
        .filter(|t| run.kind_of(t) == kind)
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
