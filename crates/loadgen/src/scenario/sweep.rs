//! `[sweep]`: one workload dimension (clients, rate or payload size) run at several values,
//! every transport at every value, so cost can be drawn against load.

use super::network::{MAX_DELAY, parse_rate};
use super::{
    Checking, MAX_CLIENTS, MAX_PAYLOAD, MAX_RATE, NetworkFile, NetworkPlan, Scenario, invalid,
    line_of,
};
use crate::LoadgenError;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
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

/// What a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepDimension {
    /// `clients` of every transport.
    Clients,
    /// The workload's `rate`.
    Rate,
    /// The workload's `payload_bytes`.
    PayloadBytes,
    /// The emulated link's round-trip time, `[network] rtt`; values in milliseconds.
    Rtt,
    /// The emulated link's downstream bandwidth, `[network] bandwidth_down`; values in
    /// Mbit/s.
    BandwidthDown,
}

impl SweepDimension {
    /// Every dimension, in the order `[sweep]` lists them.
    pub const ALL: [SweepDimension; 5] = [
        SweepDimension::Clients,
        SweepDimension::Rate,
        SweepDimension::PayloadBytes,
        SweepDimension::Rtt,
        SweepDimension::BandwidthDown,
    ];

    /// The key in `[sweep]`, in result files and in chart names.
    pub fn name(self) -> &'static str {
        match self {
            SweepDimension::Clients => "clients",
            SweepDimension::Rate => "rate",
            SweepDimension::PayloadBytes => "payload_bytes",
            SweepDimension::Rtt => "rtt",
            SweepDimension::BandwidthDown => "bandwidth_down",
        }
    }

    /// The dimension named `name` (as [`SweepDimension::name`] writes it).
    pub fn from_name(name: &str) -> Option<SweepDimension> {
        SweepDimension::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Whether its values are whole numbers.
    pub fn integral(self) -> bool {
        matches!(self, SweepDimension::Clients | SweepDimension::PayloadBytes)
    }

    /// Whether it sets the emulated link (`[network]`) rather than the workload.
    pub fn is_network(self) -> bool {
        matches!(self, SweepDimension::Rtt | SweepDimension::BandwidthDown)
    }

    /// What one value means, for axis titles: `clients per transport`, …
    pub fn describe(self) -> &'static str {
        match self {
            SweepDimension::Clients => "concurrent clients",
            SweepDimension::Rate => "workload rate (messages/s)",
            SweepDimension::PayloadBytes => "payload (bytes per message)",
            SweepDimension::Rtt => "added round-trip time (ms)",
            SweepDimension::BandwidthDown => "downstream bandwidth per connection (Mbit/s)",
        }
    }

    /// What a sweep of it varies, in a sentence: "the number of clients".
    pub fn subject(self) -> &'static str {
        match self {
            SweepDimension::Clients => "the number of clients",
            SweepDimension::Rate => "the rate",
            SweepDimension::PayloadBytes => "the payload size",
            SweepDimension::Rtt => "the round-trip time",
            SweepDimension::BandwidthDown => "the bandwidth",
        }
    }

    /// Checks one written value against the same range as the single value it replaces.
    fn check(self, v: &toml::Value) -> Result<f64, String> {
        let int = v.as_integer();
        let found = || format!("found {v}");
        match self {
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
}

impl std::fmt::Display for SweepDimension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One point of a sweep: the dimension and its value there.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SweepPoint {
    /// What is varied.
    pub dimension: SweepDimension,
    /// Its value at this point (a whole number for clients and payload sizes).
    pub value: f64,
}

impl SweepPoint {
    /// The value as result files and file names write it: `1000`, `0.5`.
    pub fn value_text(&self) -> String {
        // f64's Display writes whole numbers without a fraction and any other value in the
        // fewest digits that read back to it, so the text parses back to the same point.
        self.value.to_string()
    }
}

impl SweepPoint {
    /// Puts a network point's value in place on `link` (the other dimensions leave it).
    fn set_link(&self, link: &mut NetworkPlan) {
        // Whole nanoseconds and bits: the values came from a duration in ms and a rate.
        match self.dimension {
            SweepDimension::Rtt => link.set_rtt(std::time::Duration::from_nanos(
                (self.value * 1e6).round() as u64,
            )),
            SweepDimension::BandwidthDown => {
                link.bandwidth_down_bps = Some((self.value * 1e6).round() as u64);
            }
            _ => {}
        }
    }
}

/// `clients=1000`, as progress lines and reports show a point.
impl std::fmt::Display for SweepPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.dimension, self.value_text())
    }
}

// Values are finite (checked when read), so the total order is the numeric one.
impl PartialEq for SweepPoint {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for SweepPoint {}
impl PartialOrd for SweepPoint {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for SweepPoint {
    fn cmp(&self, o: &Self) -> Ordering {
        self.dimension
            .cmp(&o.dimension)
            .then(self.value.total_cmp(&o.value))
    }
}

/// The checked sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// What is varied.
    pub dimension: SweepDimension,
    /// Its values, ascending, each once: the order the points run in.
    pub values: Vec<f64>,
    /// The line each value is written on, in `values` order.
    lines: Vec<usize>,
}

impl Sweep {
    /// The points, ascending.
    pub fn points(&self) -> impl Iterator<Item = SweepPoint> + '_ {
        self.values.iter().map(|&value| SweepPoint {
            dimension: self.dimension,
            value,
        })
    }

    /// The largest value.
    pub fn largest(&self) -> f64 {
        *self.values.last().expect("a sweep has at least one value")
    }

    /// The line `value` is written on.
    pub(crate) fn line_of(&self, value: f64) -> usize {
        self.values
            .iter()
            .position(|v| *v == value)
            .map_or(0, |i| self.lines[i])
    }
}

/// `{"dimension": "clients", "values": [100, 1000]}`, whole numbers written as such.
impl Serialize for Sweep {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Sweep", 2)?;
        st.serialize_field("dimension", &self.dimension)?;
        if self.dimension.integral() {
            let whole: Vec<u64> = self.values.iter().map(|v| *v as u64).collect();
            st.serialize_field("values", &whole)?;
        } else {
            st.serialize_field("values", &self.values)?;
        }
        st.end()
    }
}

/// The concrete plan of one point: the scenario with the point's value in place.
#[derive(Debug, Clone)]
pub struct PointPlan {
    /// The point; `None` for a scenario without a sweep.
    pub point: Option<SweepPoint>,
    /// The scenario at this point (without a sweep of its own).
    pub scenario: Scenario,
}

impl Scenario {
    /// One plan per point, ascending; a single plan, the scenario itself, without a sweep.
    pub fn points(&self) -> Vec<PointPlan> {
        match &self.sweep {
            None => vec![PointPlan {
                point: None,
                scenario: self.clone(),
            }],
            Some(s) => s
                .points()
                .map(|p| PointPlan {
                    point: Some(p),
                    scenario: self.at(p),
                })
                .collect(),
        }
    }

    /// This scenario with `point`'s value in place of the swept one, and no sweep.
    pub fn at(&self, point: SweepPoint) -> Scenario {
        let mut s = self.clone();
        s.sweep = None;
        match point.dimension {
            SweepDimension::Clients => {
                for t in &mut s.transports {
                    t.clients = point.value as u32;
                }
            }
            SweepDimension::Rate => s.workload.rate = point.value,
            SweepDimension::PayloadBytes => s.workload.payload_bytes = point.value as usize,
            SweepDimension::Rtt | SweepDimension::BandwidthDown => {
                point.set_link(s.network.get_or_insert_with(NetworkPlan::zero));
            }
        }
        s
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
            let value = dimension
                .check(v.get_ref())
                .map_err(|why| self.fail(v, &key, &why))?;
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
