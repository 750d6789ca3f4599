//! `[network]` as written, and its checks: one-way delays, jitter, bandwidth and queue,
//! checked into a [`NetworkPlan`] (`pushbench_model::scenario`). What the emulation does with
//! it is in `crate::link` and `docs/network.md`.

use super::{Checking, HumanDuration, NetworkPlan};
use crate::LoadgenError;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// `[network]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    /// Added round-trip time, half of it each way.
    #[serde(default)]
    pub rtt: Option<Spanned<HumanDuration>>,
    /// Added delay from client to server.
    #[serde(default)]
    pub delay_up: Option<Spanned<HumanDuration>>,
    /// Added delay from server to client.
    #[serde(default)]
    pub delay_down: Option<Spanned<HumanDuration>>,
    /// Extra random delay per chunk, uniform in `[0, jitter]`, never reordering.
    #[serde(default)]
    pub jitter: Option<Spanned<HumanDuration>>,
    /// Server-to-client rate, written as tc writes rates (`"10mbit"`).
    #[serde(default)]
    pub bandwidth_down: Option<Spanned<toml::Value>>,
    /// Client-to-server rate, written as tc writes rates.
    #[serde(default)]
    pub bandwidth_up: Option<Spanned<toml::Value>>,
    /// Bytes each direction may hold waiting for transmission.
    #[serde(default)]
    pub queue: Option<Spanned<i64>>,
}

/// Longest one-way delay, round trip and jitter accepted.
pub(super) const MAX_DELAY: Duration = Duration::from_secs(10);
/// Slowest and fastest bandwidth accepted, bits per second.
const MIN_BPS: u64 = 1_000;
const MAX_BPS: u64 = 100_000_000_000;
/// Smallest and largest queue accepted, bytes.
const MIN_QUEUE: i64 = 1024;
const MAX_QUEUE: i64 = 64 << 20;

/// tc's rate units (iproute2 `tc/tc_util.c`, matched without regard to case as tc does),
/// in bits per second per unit.
const RATE_UNITS: [(&str, f64); 18] = [
    ("bit", 1.0),
    ("kbit", 1e3),
    ("mbit", 1e6),
    ("gbit", 1e9),
    ("tbit", 1e12),
    ("kibit", 1024.0),
    ("mibit", 1024.0 * 1024.0),
    ("gibit", 1024.0 * 1024.0 * 1024.0),
    ("tibit", 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("bps", 8.0),
    ("kbps", 8e3),
    ("mbps", 8e6),
    ("gbps", 8e9),
    ("tbps", 8e12),
    ("kibps", 8.0 * 1024.0),
    ("mibps", 8.0 * 1024.0 * 1024.0),
    ("gibps", 8.0 * 1024.0 * 1024.0 * 1024.0),
    ("tibps", 8.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
];

/// Reads a rate as tc writes it: a decimal number directly followed by a unit, `"500kbit"`,
/// `"1.5mbit"`, `"125kbps"` (bytes). A bare number is refused although tc takes it as bit/s:
/// `1000` reads too easily as bytes.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let well_formed = !number.is_empty()
        && !number.starts_with('.')
        && !number.ends_with('.')
        && number.matches('.').count() <= 1;
    let value: f64 = match number.parse() {
        Ok(v) if well_formed => v,
        _ => {
            return Err(format!(
                "expected a rate such as \"10mbit\" or \"500kbit\", found {text:?}"
            ));
        }
    };
    if unit.is_empty() {
        return Err(format!(
            "{text:?} has no unit; write e.g. \"{text}kbit\" or \"{text}mbit\" (bits per second) or \"{text}kbps\" (bytes per second)"
        ));
    }
    let Some((_, scale)) = RATE_UNITS
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(unit))
    else {
        return Err(format!(
            "unknown rate unit {unit:?} in {text:?}; expected bit, kbit, mbit, gbit, tbit, kibit, mibit, gibit, tibit (bits per second) or bps, kbps, mbps, gbps, tbps, kibps, mibps, gibps, tibps (bytes per second)"
        ));
    };
    let bps = (value * scale).round();
    if !(MIN_BPS as f64..=MAX_BPS as f64).contains(&bps) {
        return Err(format!(
            "{text:?} is {bps} bit/s; expected 1kbit to 100gbit"
        ));
    }
    Ok(bps as u64)
}

impl Checking<'_> {
    /// Checks `[network]`.
    pub(super) fn network(&self, f: &Spanned<NetworkFile>) -> Result<NetworkPlan, LoadgenError> {
        let n = f.get_ref();
        let mut plan = NetworkPlan::zero();
        let delay = |v: &Option<Spanned<HumanDuration>>, key: &str| match v {
            Some(d) if d.get_ref().0 > MAX_DELAY => Err(self.fail(
                d,
                &format!("network.{key}"),
                "expected a delay of at most 10s",
            )),
            Some(d) => Ok(Some(d.get_ref().0)),
            None => Ok(None),
        };
        let rtt = delay(&n.rtt, "rtt")?;
        let up = delay(&n.delay_up, "delay_up")?;
        let down = delay(&n.delay_down, "delay_down")?;
        if let Some(rtt) = rtt {
            for (given, key) in [(&n.delay_up, "delay_up"), (&n.delay_down, "delay_down")] {
                if let Some(v) = given {
                    return Err(self.fail(
                        v,
                        &format!("network.{key}"),
                        "`rtt` already gives half of the round trip each way; give either `rtt` or `delay_up`/`delay_down`, not both",
                    ));
                }
            }
            plan.set_rtt(rtt);
        }
        plan.delay_up = up.unwrap_or(plan.delay_up);
        plan.delay_down = down.unwrap_or(plan.delay_down);
        plan.jitter = delay(&n.jitter, "jitter")?.unwrap_or_default();
        let rate = |v: &Option<Spanned<toml::Value>>, key: &str| {
            let Some(v) = v else { return Ok(None) };
            let key = format!("network.{key}");
            match v.get_ref() {
                toml::Value::String(s) => parse_rate(s)
                    .map(Some)
                    .map_err(|why| self.fail(v, &key, &why)),
                other => Err(self.fail(
                    v,
                    &key,
                    &format!(
                        "expected a rate with its unit as a string, such as \"10mbit\", found {other}"
                    ),
                )),
            }
        };
        plan.bandwidth_down_bps = rate(&n.bandwidth_down, "bandwidth_down")?;
        plan.bandwidth_up_bps = rate(&n.bandwidth_up, "bandwidth_up")?;
        if let Some(q) = &n.queue {
            if !(MIN_QUEUE..=MAX_QUEUE).contains(q.get_ref()) {
                return Err(self.fail(
                    q,
                    "network.queue",
                    &format!("expected {MIN_QUEUE} to {MAX_QUEUE} bytes"),
                ));
            }
            plan.queue_bytes = *q.get_ref() as u64;
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_tc_reads_them() {
        for (text, bps) in [
            ("500kbit", 500_000),
            ("10mbit", 10_000_000),
            ("10Mbit", 10_000_000),
            ("1gbit", 1_000_000_000),
            ("1.5mbit", 1_500_000),
            ("1kibit", 1024),
            ("2mibit", 2 * 1024 * 1024),
            ("125kbps", 1_000_000),
            ("125KBps", 1_000_000),
            ("1MiBps", 8 * 1024 * 1024),
            ("8000bit", 8000),
            ("1000bps", 8000),
        ] {
            assert_eq!(parse_rate(text), Ok(bps), "{text}");
        }
        for (text, says) in [
            ("1000", "no unit"),
            ("10 mbit", "unknown rate unit"),
            ("10mb", "unknown rate unit"),
            ("10%", "unknown rate unit"),
            ("fast", "expected a rate"),
            ("1.2.3mbit", "expected a rate"),
            (".5mbit", "expected a rate"),
            ("999bit", "expected 1kbit to 100gbit"),
            ("200gbit", "expected 1kbit to 100gbit"),
        ] {
            let e = parse_rate(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
