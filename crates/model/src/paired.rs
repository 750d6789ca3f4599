//! A paired run: one scenario run against two servers, a baseline and a candidate, their
//! phases interleaved by one load generator so that whatever slows the machine down for a
//! while hits both alike. `pushbench run --baseline-… --candidate-…` writes it and
//! `pushbench compare RUN` judges the candidate against the baseline pair by pair.
//!
//! The directory holds one complete run directory per side (`baseline/`, `candidate/`,
//! each readable on its own by `report` and `compare`) and `paired.json` ([`PairedMeta`]):
//! where each side's server came from, and the order the phases ran in.

use crate::scenario::SweepPoint;
use serde::{Deserialize, Serialize};

/// The name of the file a paired run records itself in, next to its sides' directories.
pub const PAIRED_FILE: &str = "paired.json";

/// One side of a paired run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The reference: the build or server the candidate is judged against.
    Baseline,
    /// The build or server under judgement.
    Candidate,
}

impl Side {
    /// Both sides, baseline first.
    pub const BOTH: [Side; 2] = [Side::Baseline, Side::Candidate];

    /// The side's name, which is also its directory in the paired run.
    pub fn name(self) -> &'static str {
        match self {
            Side::Baseline => "baseline",
            Side::Candidate => "candidate",
        }
    }

    /// The order both sides run a transport in, in repetition `repetition` (from 1): the
    /// baseline first in odd repetitions, the candidate first in even ones. Two
    /// repetitions in a row are then A B B A, so a drift in machine speed that is linear
    /// over them adds as much to the baseline as to the candidate.
    pub fn order(repetition: u32) -> [Side; 2] {
        if repetition % 2 == 1 {
            [Side::Baseline, Side::Candidate]
        } else {
            [Side::Candidate, Side::Baseline]
        }
    }
}

/// Where a side's server came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerSource {
    /// `pushbench serve` started by the run from this executable (`--baseline-bin`,
    /// `--candidate-bin`).
    Bin {
        /// The executable, as given.
        path: String,
    },
    /// A server that was already running (`--baseline-server`, `--candidate-server`).
    Url {
        /// The URL, as given.
        url: String,
    },
}

/// `PATH serve` for a server started from an executable, the URL for a running one.
impl std::fmt::Display for ServerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerSource::Bin { path } => write!(f, "{path} serve"),
            ServerSource::Url { url } => f.write_str(url),
        }
    }
}

/// One phase of a paired run, in the order they ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedPhase {
    /// Its place in the run, from 1.
    pub slot: u32,
    /// The side it ran against.
    pub side: Side,
    /// The transport label.
    pub transport: String,
    /// The repetition, from 1: the pair it belongs to.
    pub repetition: u32,
    /// The sweep point, when the scenario sweeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepPoint>,
}

/// `paired.json`: the two servers and the order the phases ran against them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairedMeta {
    /// The baseline's server.
    pub baseline: ServerSource,
    /// The candidate's server.
    pub candidate: ServerSource,
    /// Every phase measured, in the order it ran (written after each phase, so an
    /// interrupted run lists the phases its sides' files hold).
    pub order: Vec<PairedPhase>,
}

impl PairedMeta {
    /// The server of one side.
    pub fn source(&self, side: Side) -> &ServerSource {
        match side {
            Side::Baseline => &self.baseline,
            Side::Candidate => &self.candidate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_repetitions_in_a_row_run_a_b_b_a() {
        let sequence: Vec<Side> = (1..=4).flat_map(Side::order).collect();
        use Side::{Baseline as A, Candidate as B};
        assert_eq!(sequence, [A, B, B, A, A, B, B, A]);
    }

    #[test]
    fn paired_json_reads_back() {
        let meta = PairedMeta {
            baseline: ServerSource::Bin {
                path: "/tmp/base/pushbench".into(),
            },
            candidate: ServerSource::Url {
                url: "http://127.0.0.1:8080".into(),
            },
            order: vec![PairedPhase {
                slot: 1,
                side: Side::Baseline,
                transport: "sse".into(),
                repetition: 1,
                sweep: None,
            }],
        };
        let json = serde_json::to_string(&meta).unwrap();
        assert_eq!(
            json,
            r#"{"baseline":{"bin":{"path":"/tmp/base/pushbench"}},"candidate":{"url":{"url":"http://127.0.0.1:8080"}},"order":[{"slot":1,"side":"baseline","transport":"sse","repetition":1}]}"#
        );
        assert_eq!(serde_json::from_str::<PairedMeta>(&json).unwrap(), meta);
    }
}
