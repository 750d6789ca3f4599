//! `[sweep]` as written, and its checks: exactly one dimension, a non-empty array of distinct
//! values each checked like the single value it replaces. The checked [`Sweep`] and its
//! points are `pushbench_model::scenario`'s.

use super::network::{MAX_DELAY, parse_rate};
use super::{
    Checking, MAX_CLIENTS, MAX_PAYLOAD, MAX_RATE, NetworkFile, NetworkPlan, Sweep, SweepDimension,
    invalid, line_of,
};
use crate::LoadgenError;
use serde::Deserialize;
use toml::Spanned;

/// The values of one dimension as written: elements are checked one by one, so that an
/// error names the line of the element that is wrong.
type Values = Spanned<Vec<Spanned<toml::Value>>>;

/// `[sweep]` as written: exactly one of its keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// Client counts of every transport.
    #[serde(default)]
    pub clients: Option<Values>,
    /// Workload rates.
    #[serde(default)]
    pub rate: Option<Values>,
    /// Workload payload sizes.
    #[serde(default)]
    pub payload_bytes: Option<Values>,
    /// Round-trip times of the emulated link (`[network] rtt`), as durations.
    #[serde(default)]
    pub rtt: Option<Values>,
    /// Downstream bandwidths of the emulated link (`[network] bandwidth_down`), as rates.
    #[serde(default)]
    pub bandwidth_down: Option<Values>,
}

/// Checks one written value of `dimension` against the same range as the single value it
/// replaces.
fn check_value(dimension: SweepDimension, v: &toml::Value) -> Result<f64, String> {
    let int = v.as_integer();
    let found = || format!("found {v}");
    match dimension {
        SweepDimension::Clients => match int {
            Some(n) if (1..=i64::from(MAX_CLIENTS)).contains(&n) => Ok(n as f64),
            _ => Err(format!(
                "expected whole numbers of clients from 1 to {MAX_CLIENTS}, {}",
                found()
            )),
        },
        SweepDimension::PayloadBytes => match int {
            Some(n) if (0..=MAX_PAYLOAD as i64).contains(&n) => Ok(n as f64),
            _ => Err(format!(
                "expected whole numbers of bytes from 0 to {MAX_PAYLOAD}, {}",
                found()
            )),
        },
        SweepDimension::Rate => match v.as_float().or(int.map(|n| n as f64)) {
            Some(r) if r.is_finite() && r > 0.0 && r <= MAX_RATE => Ok(r),
            _ => Err(format!(
                "expected rates above 0 and at most {MAX_RATE} messages per second, {}",
                found()
            )),
        },
        SweepDimension::Rtt => {
            let max = 2 * MAX_DELAY;
            let rtt = v
                .as_str()
                .and_then(|s| humantime::parse_duration(s).ok())
                .filter(|d| *d <= max);
            rtt.map(|d| d.as_secs_f64() * 1000.0).ok_or_else(|| {
                format!(
                    "expected round-trip times such as \"50ms\", from \"0ms\" to \"{}\", {}",
                    humantime::format_duration(max),
                    found()
                )
            })
        }
        SweepDimension::BandwidthDown => match v.as_str() {
            Some(s) => parse_rate(s).map(|bps| bps as f64 / 1e6),
            None => Err(format!(
                "expected rates with their unit as strings, such as \"10mbit\", {}",
                found()
            )),
        },
    }
}

impl Checking<'_> {
    /// The link of a scenario that sweeps a network dimension: `[network]` as checked (or a
    /// link that adds nothing) with the sweep's largest value in place, refusing the swept
    /// key in `[network]` itself.
    pub(super) fn swept_network(
        &self,
        file: Option<&Spanned<NetworkFile>>,
        plan: Option<NetworkPlan>,
        sweep: Option<&Sweep>,
    ) -> Result<Option<NetworkPlan>, LoadgenError> {
        let Some(s) = sweep.filter(|s| s.dimension.is_network()) else {
            return Ok(plan);
        };
        if let Some(n) = file.map(Spanned::get_ref) {
            let written = match s.dimension {
                SweepDimension::Rtt => [
                    ("rtt", n.rtt.as_ref().map(Spanned::span)),
                    ("delay_up", n.delay_up.as_ref().map(Spanned::span)),
                    ("delay_down", n.delay_down.as_ref().map(Spanned::span)),
                ],
                _ => [
                    (
                        "bandwidth_down",
                        n.bandwidth_down.as_ref().map(Spanned::span),
                    ),
                    ("", None),
                    ("", None),
                ],
            };
            if let Some((key, Some(span))) = written.into_iter().find(|(_, at)| at.is_some()) {
                return Err(invalid(
                    self.path,
                    self.text,
                    span,
                    &format!("network.{key}"),
                    &format!(
                        "`[sweep] {}` gives the values; remove `{key}` here",
                        s.dimension
                    ),
                ));
            }
        }
        let mut link = plan.unwrap_or_else(NetworkPlan::zero);
        s.points()
            .last()
            .expect("a sweep has a point")
            .set_link(&mut link);
        Ok(Some(link))
    }

    /// Checks `[sweep]`: exactly one key, a non-empty array of distinct valid values.
    pub(super) fn sweep(&self, f: &Spanned<SweepFile>) -> Result<Sweep, LoadgenError> {
        let given: Vec<(SweepDimension, &Values)> = [
            (SweepDimension::Clients, &f.get_ref().clients),
            (SweepDimension::Rate, &f.get_ref().rate),
            (SweepDimension::PayloadBytes, &f.get_ref().payload_bytes),
            (SweepDimension::Rtt, &f.get_ref().rtt),
            (SweepDimension::BandwidthDown, &f.get_ref().bandwidth_down),
        ]
        .into_iter()
        .filter_map(|(d, v)| Some((d, v.as_ref()?)))
        .collect();
        let (dimension, values) = match given.as_slice() {
            [one] => *one,
            [] => {
                return Err(self.fail(
                    f,
                    "sweep",
                    "expected exactly one of `clients`, `rate`, `payload_bytes`, `rtt` or `bandwidth_down`, e.g. clients = [100, 1000]",
                ));
            }
            [first, second, ..] => {
                return Err(self.fail(
                    second.1,
                    &format!("sweep.{}", second.0),
                    &format!(
                        "a sweep varies one dimension; `{}` is swept already (expected exactly one of `clients`, `rate`, `payload_bytes`, `rtt` or `bandwidth_down`)",
                        first.0
                    ),
                ));
            }
        };
        let key = format!("sweep.{dimension}");
        if values.get_ref().is_empty() {
            return Err(self.fail(
                values,
                &key,
                "expected a non-empty array of values, e.g. [100, 1000]",
            ));
        }
        let mut checked: Vec<(f64, usize)> = Vec::with_capacity(values.get_ref().len());
        for v in values.get_ref() {
            let value =
                check_value(dimension, v.get_ref()).map_err(|why| self.fail(v, &key, &why))?;
            if checked.iter().any(|(w, _)| *w == value) {
                return Err(self.fail(
                    v,
                    &key,
                    &format!("{} is listed twice; expected distinct values", v.get_ref()),
                ));
            }
            checked.push((value, line_of(self.text, v.span().start)));
        }
        checked.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(Sweep {
            dimension,
            values: checked.iter().map(|c| c.0).collect(),
            lines: checked.iter().map(|c| c.1).collect(),
        })
    }
}
