//! Writes a pushbench run directory: `summary.csv`, `latency_percentiles.csv`,
//! `timeseries.csv`, `bandwidth_percentiles.csv`, the histogram logs and `meta.json`, and
//! reads it back to make `sweep.csv` (for a sweep), the charts, both reports and the
//! comparison of two runs; plus the compact summary table printed at the end of a run.
//!
//! It owns the files' layout (the typed rows of `pushbench-model`, written and read with the
//! `csv` crate), the charts (one file each under `charts/`, all listed in `charts_of`) and
//! the pages; it writes each file to a temporary name first, so an interrupted run never
//! leaves a half-written file. It measures nothing, runs nothing and needs no async runtime.
#![warn(missing_docs)]

pub mod charts;
pub mod compare;
mod files;
pub mod hlog;
mod html;
mod keeping;
mod merge;
mod pages;
mod paired;
mod rundata;
mod sections;
pub mod sweep;
mod table;

pub use merge::{Merged, merge};
pub use paired::{PairedDir, PairedRun};
pub use rundata::{Group, PhaseKey, RunData};
pub use table::summary_table;

use files::csv_text;
pub use files::write_atomic;
use hdrhistogram::Histogram;
use pushbench_model::PhaseResult;
use pushbench_model::rows::{PercentileRow, SecondRow, SummaryRow, percentile};
use pushbench_model::run::RunMeta;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a run directory could not be written.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The directory exists and holds files: results are never mixed or overwritten.
    #[error("{}: refusing to write into a non-empty directory", .0.display())]
    NotEmpty(PathBuf),
    /// The directory is not a pushbench run directory.
    #[error("{}: not a pushbench run directory (no meta.json and summary.csv)", .0.display())]
    NotARun(PathBuf),
    /// A file of the run directory does not read as pushbench wrote it.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// The files of a paired run do not agree with each other.
    #[error("{}: {why}", path.display())]
    Mismatch {
        /// The file that disagrees (`paired.json`).
        path: PathBuf,
        /// What does not match.
        why: String,
    },
    /// A histogram log could not be read back.
    #[error("{}: not a readable histogram log: {message}", path.display())]
    Hlog {
        /// The log file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A histogram log could not be encoded.
    #[error("{}: cannot encode the histogram log: {message}", path.display())]
    Encode {
        /// The log file.
        path: PathBuf,
        /// What the encoder said.
        message: String,
    },
    /// Shard run directories that cannot be merged (`pushbench merge`), or one of their
    /// files that does not read.
    #[error("{}: {why}", path.display())]
    Shards {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A chart could not be drawn or written.
    #[error("{0}")]
    Chart(#[from] charts::ChartError),
    /// A file or directory could not be created or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

pub use pushbench_model::PERCENTILES;

/// The files [`render`] wrote.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `report.html`.
    pub html: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// Chart names, each written as `charts/<name>.svg` and `.png`.
    pub charts: Vec<String>,
}

/// Makes the charts and both reports of a run directory from its files alone: what
/// `pushbench run` does at the end of a run, and `pushbench report` does again later.
pub fn render(dir: &Path) -> Result<Rendered, ReportError> {
    let run = RunData::load(dir)?;
    let out = RunDir {
        path: dir.to_owned(),
    };
    if !run.sweep.is_empty() {
        out.write("sweep.csv", &sweep::csv(&run.sweep))?;
    }
    let charts = charts::write(&run, &dir.join("charts"))?;
    let sections = sections::of(&run)?;
    out.write("report.html", &pages::html(&run, &charts, &sections))?;
    out.write("report.md", &pages::markdown(&run, &charts, &sections))?;
    Ok(Rendered {
        html: dir.join("report.html"),
        markdown: dir.join("report.md"),
        charts: charts.into_iter().map(|c| c.name).collect(),
    })
}

/// A run directory being written.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates the directory (and its parents), refusing one that already holds files.
    pub fn create(path: &Path) -> Result<RunDir, ReportError> {
        let io = |source| ReportError::Io {
            path: path.to_owned(),
            source,
        };
        if path.exists() {
            if std::fs::read_dir(path).map_err(io)?.next().is_some() {
                return Err(ReportError::NotEmpty(path.to_owned()));
            }
        } else {
            std::fs::create_dir_all(path).map_err(io)?;
        }
        Ok(RunDir {
            path: path.to_owned(),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the four CSV files and the histogram logs for the phases so far (called
    /// after every phase, so a run that stops early keeps what it measured).
    pub fn write_results(&self, phases: &[PhaseResult]) -> Result<(), ReportError> {
        let summary: Vec<SummaryRow> = phases.iter().map(SummaryRow::of).collect();
        self.write("summary.csv", &csv_text(None, &summary))?;
        let latency = percentile_rows(phases, |p| &p.latency);
        let header = PercentileRow::header("latency_us");
        self.write(
            "latency_percentiles.csv",
            &csv_text(Some(&header), &latency),
        )?;
        self.write("timeseries.csv", &csv_text(None, &second_rows(phases)))?;
        let bandwidth = percentile_rows(phases, |p| &p.bandwidth);
        let header = PercentileRow::header("bytes_per_second");
        self.write(
            "bandwidth_percentiles.csv",
            &csv_text(Some(&header), &bandwidth),
        )?;
        for p in phases {
            let name = hlog::file_name(&p.label, p.sweep, p.repetition);
            let log = hlog::encode(p).map_err(|message| ReportError::Encode {
                path: self.path.join(&name),
                message,
            })?;
            self.write_bytes(&name, &log)?;
        }
        Ok(())
    }

    /// Writes each phase's whole record (`<phase>.phase.json`,
    /// [`pushbench_model::record`]): what `pushbench merge` adds up. Shard runs only.
    pub fn write_phase_records(&self, phases: &[PhaseResult]) -> Result<(), ReportError> {
        for p in phases {
            let name = pushbench_model::record::file_name(&p.label, p.sweep, p.repetition);
            let rec = pushbench_model::record::PhaseRecord::of(p);
            let json = serde_json::to_string(&rec).expect("a phase record serializes") + "\n";
            self.write(&name, &json)?;
        }
        Ok(())
    }

    /// Writes `meta.json`.
    pub fn write_meta(&self, meta: &RunMeta) -> Result<(), ReportError> {
        let json = serde_json::to_string_pretty(meta).expect("meta serializes") + "\n";
        self.write("meta.json", &json)
    }

    fn write(&self, name: &str, contents: &str) -> Result<(), ReportError> {
        self.write_bytes(name, contents.as_bytes())
    }

    fn write_bytes(&self, name: &str, contents: &[u8]) -> Result<(), ReportError> {
        write_atomic(&self.path.join(name), contents)
    }
}

/// The rows of a percentile file: every phase at every one of [`PERCENTILES`].
fn percentile_rows(
    phases: &[PhaseResult],
    pick: impl Fn(&PhaseResult) -> &Histogram<u64>,
) -> Vec<PercentileRow> {
    let mut out = Vec::with_capacity(phases.len() * PERCENTILES.len());
    for p in phases {
        for q in PERCENTILES {
            out.push(PercentileRow {
                transport: p.label.clone(),
                repetition: p.repetition,
                percentile: q,
                value: percentile(pick(p), q) as f64,
                sweep_dimension: p.sweep.map(|s| s.dimension),
                sweep_value: p.sweep.map(|s| s.value),
            });
        }
    }
    out
}

/// The rows of `timeseries.csv`: every second of every phase.
fn second_rows(phases: &[PhaseResult]) -> Vec<SecondRow> {
    let mut out = Vec::new();
    for p in phases {
        for s in &p.seconds {
            out.push(SecondRow {
                transport: p.label.clone(),
                repetition: p.repetition,
                second: s.second,
                messages_delivered: s.messages_delivered,
                bytes_up: s.bytes_up,
                bytes_down: s.bytes_down,
                latency_p50_us: percentile(&s.latency, 50.0),
                latency_p99_us: percentile(&s.latency, 99.0),
                connections: s.connections,
                in_window: s.in_window,
                sweep_dimension: p.sweep.map(|s| s.dimension),
                sweep_value: p.sweep.map(|s| s.value),
            });
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh, empty directory under the system's temporary directory, unique to this test
    /// process and `tag`.
    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pushbench-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create a temporary directory");
        d
    }

    /// An empty run of scenario `name`, repeated once.
    pub(crate) fn run_data(name: &str) -> RunData {
        RunData {
            dir: name.into(),
            meta: meta(name, 1),
            summary: Vec::new(),
            latency: Default::default(),
            bandwidth: Default::default(),
            timeseries: Default::default(),
            sweep: Vec::new(),
        }
    }

    /// The `meta.json` of a run of scenario `name`, repeated `repeat` times, made on an
    /// unnamed machine, with no transports listed (tests add their rows themselves).
    pub(crate) fn meta(name: &str, repeat: u32) -> RunMeta {
        use pushbench_model::scenario::{HttpPlan, Pattern, Scenario, Workload};
        use std::time::Duration;
        RunMeta {
            scenario: Scenario {
                name: name.into(),
                duration: Duration::from_secs(7),
                warmup: Duration::from_secs(1),
                ramp_up: Duration::from_secs(1),
                repeat,
                workload: Workload {
                    pattern: Pattern::Broadcast,
                    rate: 20.0,
                    payload_bytes: 128,
                    topics: 1,
                    closed_loop: false,
                },
                loadgen_threads: 2,
                reconnect_backoff: Duration::from_millis(100),
                server_threads: None,
                server_runtime: None,
                ring_capacity: 4096,
                transports: Vec::new(),
                sweep: None,
                http: HttpPlan::default(),
                network: None,
                target: None,
            },
            scenario_path: format!("scenarios/{name}.toml"),
            pushbench_version: "0.1.0".into(),
            git_commit: Some("0123456789abcdef".into()),
            host: pushbench_model::run::HostInfo {
                hostname: "host".into(),
                cpu_model: "a CPU".into(),
                cores: 2,
                kernel: "6.0".into(),
                memory_bytes: 8 << 30,
            },
            server: "started by pushbench on 127.0.0.1:1".into(),
            started: "2025-01-01T00:00:00Z".into(),
            ended: "2025-01-01T00:01:00Z".into(),
            completed: true,
            incomplete_reason: None,
            probe_control_bytes: 0,
            cpu_pinning: None,
            shard: None,
            merged: None,
            clock: Vec::new(),
        }
    }

    #[test]
    fn refuses_non_empty_directory_and_leaves_no_temp_files() {
        let dir =
            std::env::temp_dir().join(format!("pushbench-report-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let run = RunDir::create(&dir).unwrap();
        run.write("a.csv", "x\n").unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("a.csv")).unwrap(), "x\n");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.csv")]);
        assert!(matches!(
            RunDir::create(&dir),
            Err(ReportError::NotEmpty(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
