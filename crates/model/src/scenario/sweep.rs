//! `[sweep]` as checked: one dimension (clients, rate, payload size, or the emulated link's
//! round trip or bandwidth) run at several values, every transport at every value, so cost
//! can be drawn against load.

use super::{NetworkPlan, Scenario};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

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
}

impl std::fmt::Display for SweepDimension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One point of a sweep: the dimension and its value there.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
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
    pub fn set_link(&self, link: &mut NetworkPlan) {
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
    /// The line each value is written on, in `values` order, for errors about a point; empty
    /// when read back from `meta.json`.
    pub lines: Vec<usize>,
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

    /// The line `value` is written on (0 when unknown).
    pub fn line_of(&self, value: f64) -> usize {
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

/// Reads what [`Sweep`]'s `Serialize` writes; the values' lines are unknown then.
impl<'de> Deserialize<'de> for Sweep {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Written {
            dimension: SweepDimension,
            values: Vec<f64>,
        }
        let w = Written::deserialize(d)?;
        Ok(Sweep {
            dimension: w.dimension,
            values: w.values,
            lines: Vec::new(),
        })
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
