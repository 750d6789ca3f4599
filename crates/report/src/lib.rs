//! Writes a pushbench run directory: `summary.csv`, `latency_percentiles.csv`,
//! `timeseries.csv`, `bandwidth_percentiles.csv`, the histogram logs and `meta.json`, and
//! from those files alone `sweep.csv` (for a sweep), the charts and both reports; plus the
//! compact summary table printed at the end of a run.
//!
//! It owns the layout and column order of those files (documented in the README) and
//! writes each file to a temporary name first, so an interrupted run never leaves a
//! half-written file. It measures nothing and runs nothing: it formats what it is given.
#![warn(missing_docs)]

pub mod charts;
pub mod compare;
pub mod hlog;
mod pages;
mod rundata;
pub mod sweep;
mod table;

pub use rundata::{Group, PhaseKey, Point, RunData, Second, SummaryRow};
pub use sweep::SweepRow;
pub use table::summary_table;

use hdrhistogram::Histogram;
use pushbench_model::rows::Figures;
use pushbench_model::run::RunMeta;
use pushbench_model::{ErrorKind, PhaseResult};
use std::fmt::Write as _;
use std::io::Write as _;
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

/// The first columns of `summary.csv`, in this order; more follow.
pub const SUMMARY_COLUMNS: [&str; 28] = [
    "transport",
    "repetition",
    "clients",
    "duration_s",
    "messages_published",
    "messages_delivered",
    "messages_lost",
    "messages_duplicated",
    "messages_out_of_order",
    "latency_mean_us",
    "latency_p50_us",
    "latency_p90_us",
    "latency_p99_us",
    "latency_p999_us",
    "latency_max_us",
    "bytes_up",
    "bytes_down",
    "bytes_per_message",
    "setup_bytes",
    "bytes_total",
    "requests",
    "empty_responses",
    "connections_opened",
    "errors",
    "server_cpu_s",
    "server_peak_rss_bytes",
    "loadgen_cpu_s",
    "loadgen_peak_rss_bytes",
];

/// The files [`render`] wrote.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `report.html`.
    pub html: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// Chart names, each written as `charts/<name>.svg` and `.png`.
    pub charts: Vec<&'static str>,
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
    out.write("report.html", &pages::html(&run, &charts))?;
    out.write("report.md", &pages::markdown(&run, &charts))?;
    Ok(Rendered {
        html: dir.join("report.html"),
        markdown: dir.join("report.md"),
        charts: charts.iter().map(|c| c.name).collect(),
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

    /// Writes the four CSV files and the histogram logs for the phases so far (called after every phase, so a run
    /// that stops early keeps what it measured).
    pub fn write_results(&self, phases: &[PhaseResult]) -> Result<(), ReportError> {
        self.write("summary.csv", &summary_csv(phases))?;
        self.write(
            "latency_percentiles.csv",
            &percentiles_csv("latency_us", phases, |p| &p.latency),
        )?;
        self.write("timeseries.csv", &timeseries_csv(phases))?;
        self.write(
            "bandwidth_percentiles.csv",
            &percentiles_csv("bytes_per_second", phases, |p| &p.bandwidth),
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

    /// Writes `meta.json`.
    pub fn write_meta(&self, meta: &RunMeta) -> Result<(), ReportError> {
        let json = serde_json::to_string_pretty(meta).expect("meta serializes") + "\n";
        self.write("meta.json", &json)
    }

    fn write(&self, name: &str, contents: &str) -> Result<(), ReportError> {
        self.write_bytes(name, contents.as_bytes())
    }

    /// Writes `name` through a temporary file renamed into place.
    fn write_bytes(&self, name: &str, contents: &[u8]) -> Result<(), ReportError> {
        let target = self.path.join(name);
        let tmp = self.path.join(format!(".{name}.tmp"));
        let io = |source| ReportError::Io {
            path: target.clone(),
            source,
        };
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(contents).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &target).map_err(io)
    }
}

fn mean(h: &Histogram<u64>) -> f64 {
    if h.is_empty() { 0.0 } else { h.mean() }
}

fn pct(h: &Histogram<u64>, p: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(p / 100.0)
    }
}

fn summary_csv(phases: &[PhaseResult]) -> String {
    let mut out = SUMMARY_COLUMNS.join(",");
    out.push_str(",kind,message_bytes,reconnects");
    for k in ErrorKind::ALL {
        let _ = write!(out, ",errors_{}", k.name());
    }
    out.push_str(",connect_p50_us,connect_p99_us,loadgen_cpu_share,control_bytes,server_rss_per_connection_bytes,loadgen_rss_per_connection_bytes,request_p50_us,request_p90_us,request_p99_us,request_max_us,sweep_dimension,sweep_value\n");
    for p in phases {
        let c = &p.counters;
        let l = &p.latency;
        let _ = write!(
            out,
            "{},{},{},{:.3},{},{},{},{},{},{:.1},{},{},{},{},{},{},{},{:.2},{},{},{},{},{},{},{:.3},{},{:.3},{}",
            p.label,
            p.repetition,
            p.clients,
            p.duration_s,
            c.messages_published,
            c.messages_delivered,
            c.messages_lost,
            c.messages_duplicated,
            c.messages_out_of_order,
            mean(l),
            pct(l, 50.0),
            pct(l, 90.0),
            pct(l, 99.0),
            pct(l, 99.9),
            l.max(),
            c.bytes_up,
            c.bytes_down,
            p.wire_bytes_per_message().unwrap_or(0.0),
            c.setup_bytes,
            c.bytes_total,
            c.requests,
            c.empty_responses,
            c.connections_opened,
            p.errors.total(),
            p.server.cpu_s,
            p.server.peak_rss_bytes,
            p.loadgen.cpu_s,
            p.loadgen.peak_rss_bytes,
        );
        let _ = write!(out, ",{},{},{}", p.transport, p.message_bytes, c.reconnects);
        for k in ErrorKind::ALL {
            let _ = write!(out, ",{}", p.errors.get(k));
        }
        let _ = writeln!(
            out,
            ",{},{},{:.3},{},{},{},{},{},{},{},{}",
            pct(&p.connect_latency, 50.0),
            pct(&p.connect_latency, 99.0),
            p.loadgen_cpu_share,
            p.control_bytes,
            p.server.rss_per_connection(p.connections),
            p.loadgen.rss_per_connection(p.connections),
            pct(&p.request_latency, 50.0),
            pct(&p.request_latency, 90.0),
            pct(&p.request_latency, 99.0),
            p.request_latency.max(),
            sweep_cells(p)
        );
    }
    out
}

fn percentiles_csv(
    unit: &str,
    phases: &[PhaseResult],
    pick: impl Fn(&PhaseResult) -> &Histogram<u64>,
) -> String {
    let mut out = format!("transport,repetition,percentile,{unit},sweep_dimension,sweep_value\n");
    for p in phases {
        let h = pick(p);
        let point = sweep_cells(p);
        for q in PERCENTILES {
            let _ = writeln!(
                out,
                "{},{},{},{},{point}",
                p.label,
                p.repetition,
                q,
                pct(h, q)
            );
        }
    }
    out
}

/// The last two cells of a phase's rows: its sweep dimension and value, or two empty cells.
fn sweep_cells(p: &PhaseResult) -> String {
    p.sweep.map_or_else(
        || ",".to_string(),
        |s| format!("{},{}", s.dimension, s.value_text()),
    )
}

fn timeseries_csv(phases: &[PhaseResult]) -> String {
    let mut out = String::from(
        "transport,repetition,second,messages_delivered,bytes_up,bytes_down,latency_p50_us,latency_p99_us,connections,in_window,sweep_dimension,sweep_value\n",
    );
    for p in phases {
        let point = sweep_cells(p);
        for s in &p.seconds {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{point}",
                p.label,
                p.repetition,
                s.second,
                s.messages_delivered,
                s.bytes_up,
                s.bytes_down,
                pct(&s.latency, 50.0),
                pct(&s.latency, 99.0),
                s.connections,
                u8::from(s.in_window)
            );
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
