//! A paired run directory (`pushbench run --baseline-… --candidate-…`): one run directory
//! per side (`baseline/`, `candidate/`) and `paired.json`, the servers and the order the
//! phases ran in ([`pushbench_model::paired`]).

use crate::rundata::read_json;
use crate::{PhaseKey, ReportError, RunData, RunDir};
use pushbench_model::paired::{PAIRED_FILE, PairedMeta, Side};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A paired run read back: both sides and how they were paired.
#[derive(Debug, Clone)]
pub struct PairedRun {
    /// The paired run's directory.
    pub dir: PathBuf,
    /// `paired.json`.
    pub meta: PairedMeta,
    /// The baseline's run directory, read.
    pub baseline: RunData,
    /// The candidate's run directory, read.
    pub candidate: RunData,
}

impl PairedRun {
    /// Whether `dir` is a paired run: it holds `paired.json`.
    pub fn is_paired(dir: &Path) -> bool {
        dir.join(PAIRED_FILE).is_file()
    }

    /// Reads a paired run. Besides what [`RunData::load`] checks for each side, the phases
    /// `paired.json` lists must be exactly those the sides' `summary.csv` files hold.
    pub fn load(dir: &Path) -> Result<PairedRun, ReportError> {
        let path = dir.join(PAIRED_FILE);
        if !path.is_file() {
            return Err(ReportError::NotARun(dir.to_owned()));
        }
        let meta: PairedMeta = read_json(&path)?;
        let run = PairedRun {
            dir: dir.to_owned(),
            baseline: RunData::load(&dir.join(Side::Baseline.name()))?,
            candidate: RunData::load(&dir.join(Side::Candidate.name()))?,
            meta,
        };
        for side in Side::BOTH {
            run.check_order(side)?;
        }
        Ok(run)
    }

    /// One side's run.
    pub fn side(&self, side: Side) -> &RunData {
        match side {
            Side::Baseline => &self.baseline,
            Side::Candidate => &self.candidate,
        }
    }

    /// Whether the phases `paired.json` lists for `side` are those its run holds.
    fn check_order(&self, side: Side) -> Result<(), ReportError> {
        let listed: BTreeSet<PhaseKey> = self
            .meta
            .order
            .iter()
            .filter(|p| p.side == side)
            .map(|p| PhaseKey::new(&p.transport, p.sweep, p.repetition))
            .collect();
        let held: BTreeSet<PhaseKey> = self.side(side).summary.iter().map(PhaseKey::of).collect();
        let name = |k: &PhaseKey| match &k.sweep {
            Some(p) => format!("{} {p} rep {}", k.transport, k.repetition),
            None => format!("{} rep {}", k.transport, k.repetition),
        };
        let why = if let Some(k) = listed.difference(&held).next() {
            format!(
                "lists {} of the {} (not in its summary.csv)",
                name(k),
                side.name()
            )
        } else if let Some(k) = held.difference(&listed).next() {
            format!(
                "does not list {} of the {} (in its summary.csv)",
                name(k),
                side.name()
            )
        } else {
            return Ok(());
        };
        Err(ReportError::Mismatch {
            path: self.dir.join(PAIRED_FILE),
            why,
        })
    }
}

/// A paired run directory being written: `paired.json` and one [`RunDir`] per side.
#[derive(Debug, Clone)]
pub struct PairedDir {
    path: PathBuf,
    baseline: RunDir,
    candidate: RunDir,
}

impl PairedDir {
    /// Creates the directory with its sides' directories, refusing one that already holds
    /// files.
    pub fn create(path: &Path) -> Result<PairedDir, ReportError> {
        RunDir::create(path)?;
        Ok(PairedDir {
            path: path.to_owned(),
            baseline: RunDir::create(&path.join(Side::Baseline.name()))?,
            candidate: RunDir::create(&path.join(Side::Candidate.name()))?,
        })
    }

    /// The paired run's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One side's run directory.
    pub fn side(&self, side: Side) -> &RunDir {
        match side {
            Side::Baseline => &self.baseline,
            Side::Candidate => &self.candidate,
        }
    }

    /// Writes `paired.json`.
    pub fn write_meta(&self, meta: &PairedMeta) -> Result<(), ReportError> {
        let json = serde_json::to_string_pretty(meta).expect("paired meta serializes") + "\n";
        crate::write_atomic(&self.path.join(PAIRED_FILE), json.as_bytes())
    }
}
