//! A run directory read back from its files alone, so charts, reports and comparisons are
//! made from exactly what was written, whether the run just ended or was copied elsewhere.

use crate::ReportError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One row of `summary.csv`: the phase's identity and every numeric column by name.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// The phase label.
    pub transport: String,
    /// Repetition, from 1.
    pub repetition: u32,
    /// The client kind (`kind` column).
    pub kind: String,
    /// Every other column, parsed as a number.
    pub values: BTreeMap<String, f64>,
}

impl SummaryRow {
    /// A numeric column; 0 when the file has no such column (an older run).
    pub fn get(&self, column: &str) -> f64 {
        self.values.get(column).copied().unwrap_or(0.0)
    }
}

/// One point of a percentile distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Percentile, 0 to 100.
    pub percentile: f64,
    /// The value at it (µs for latency, bytes per second for bandwidth).
    pub value: f64,
}

/// One second of `timeseries.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Second {
    /// Seconds since the phase started.
    pub second: u32,
    /// Messages delivered in it.
    pub messages_delivered: f64,
    /// Bytes written.
    pub bytes_up: f64,
    /// Bytes read.
    pub bytes_down: f64,
    /// Median latency, µs.
    pub latency_p50_us: f64,
    /// 99th percentile latency, µs.
    pub latency_p99_us: f64,
    /// Open connections at its end.
    pub connections: f64,
    /// Whether it lies wholly in the measured window.
    pub in_window: bool,
}

/// A phase's key: transport label and repetition.
pub type PhaseKey = (String, u32);

/// Everything a run directory holds, read back.
#[derive(Debug, Clone)]
pub struct RunData {
    /// The directory.
    pub dir: PathBuf,
    /// `meta.json` as written.
    pub meta: serde_json::Value,
    /// `summary.csv`, in file order.
    pub summary: Vec<SummaryRow>,
    /// `latency_percentiles.csv` by phase.
    pub latency: BTreeMap<PhaseKey, Vec<Point>>,
    /// `bandwidth_percentiles.csv` by phase.
    pub bandwidth: BTreeMap<PhaseKey, Vec<Point>>,
    /// `timeseries.csv` by phase.
    pub timeseries: BTreeMap<PhaseKey, Vec<Second>>,
}

impl RunData {
    /// Reads a run directory; fails clearly on a directory that is not one.
    pub fn load(dir: &Path) -> Result<RunData, ReportError> {
        let meta_path = dir.join("meta.json");
        if !dir.is_dir() || !meta_path.is_file() || !dir.join("summary.csv").is_file() {
            return Err(ReportError::NotARun(dir.to_owned()));
        }
        let meta_text = read(&meta_path)?;
        let meta = serde_json::from_str(&meta_text).map_err(|e| ReportError::Parse {
            path: meta_path.clone(),
            line: e.line(),
            message: e.to_string(),
        })?;
        let summary = Csv::read(&dir.join("summary.csv"))?.summary()?;
        let latency = Csv::read(&dir.join("latency_percentiles.csv"))?.points("latency_us")?;
        let bandwidth =
            Csv::read(&dir.join("bandwidth_percentiles.csv"))?.points("bytes_per_second")?;
        let timeseries = Csv::read(&dir.join("timeseries.csv"))?.seconds()?;
        Ok(RunData {
            dir: dir.to_owned(),
            meta,
            summary,
            latency,
            bandwidth,
            timeseries,
        })
    }

    /// The transport labels in the order they first appear in `summary.csv`.
    pub fn transports(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.summary {
            if !out.contains(&r.transport) {
                out.push(r.transport.clone());
            }
        }
        out
    }

    /// The client kind of a transport label (the label itself when unknown).
    pub fn kind_of(&self, transport: &str) -> String {
        self.summary
            .iter()
            .find(|r| r.transport == transport)
            .map_or_else(|| transport.to_string(), |r| r.kind.clone())
    }

    /// Mean of a summary column over a transport's repetitions.
    pub fn mean(&self, transport: &str, column: &str) -> f64 {
        let rows: Vec<&SummaryRow> = self
            .summary
            .iter()
            .filter(|r| r.transport == transport)
            .collect();
        if rows.is_empty() {
            0.0
        } else {
            rows.iter().map(|r| r.get(column)).sum::<f64>() / rows.len() as f64
        }
    }
}

fn read(path: &Path) -> Result<String, ReportError> {
    std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
}

/// A CSV file of pushbench's own making: a header, then comma-separated fields with no
/// quoting (labels are restricted to letters, digits, `-` and `_`).
struct Csv {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
}

impl Csv {
    fn read(path: &Path) -> Result<Csv, ReportError> {
        let text = read(path)?;
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let header = lines
            .next()
            .map(|(_, l)| l.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default();
        let rows = lines
            .map(|(i, l)| (i + 1, l.split(',').map(|s| s.trim().to_string()).collect()))
            .collect();
        Ok(Csv {
            path: path.to_owned(),
            header,
            rows,
        })
    }

    fn col(&self, name: &str) -> Result<usize, ReportError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| ReportError::Parse {
                path: self.path.clone(),
                line: 1,
                message: format!("no column `{name}`"),
            })
    }

    fn bad(&self, line: usize, column: &str, value: &str) -> ReportError {
        ReportError::Parse {
            path: self.path.clone(),
            line,
            message: format!("column `{column}`: expected a number, found {value:?}"),
        }
    }

    fn num(
        &self,
        line: usize,
        row: &[String],
        column: &str,
        idx: usize,
    ) -> Result<f64, ReportError> {
        let v = row.get(idx).map_or("", String::as_str);
        v.parse::<f64>().map_err(|_| self.bad(line, column, v))
    }

    fn key(&self, line: usize, row: &[String]) -> Result<PhaseKey, ReportError> {
        let (t, r) = (self.col("transport")?, self.col("repetition")?);
        let rep = self.num(line, row, "repetition", r)? as u32;
        Ok((row.get(t).cloned().unwrap_or_default(), rep))
    }

    fn summary(&self) -> Result<Vec<SummaryRow>, ReportError> {
        let kind = self.col("kind").ok();
        let mut out = Vec::with_capacity(self.rows.len());
        for (line, row) in &self.rows {
            let (transport, repetition) = self.key(*line, row)?;
            let mut values = BTreeMap::new();
            for (i, name) in self.header.iter().enumerate() {
                if name == "transport" || name == "repetition" || name == "kind" {
                    continue;
                }
                values.insert(name.clone(), self.num(*line, row, name, i)?);
            }
            out.push(SummaryRow {
                kind: kind
                    .and_then(|k| row.get(k).cloned())
                    .unwrap_or_else(|| transport.clone()),
                transport,
                repetition,
                values,
            });
        }
        Ok(out)
    }

    fn points(&self, value: &str) -> Result<BTreeMap<PhaseKey, Vec<Point>>, ReportError> {
        let (p, v) = (self.col("percentile")?, self.col(value)?);
        let mut out: BTreeMap<PhaseKey, Vec<Point>> = BTreeMap::new();
        for (line, row) in &self.rows {
            let point = Point {
                percentile: self.num(*line, row, "percentile", p)?,
                value: self.num(*line, row, value, v)?,
            };
            out.entry(self.key(*line, row)?).or_default().push(point);
        }
        Ok(out)
    }

    fn seconds(&self) -> Result<BTreeMap<PhaseKey, Vec<Second>>, ReportError> {
        let names = [
            "second",
            "messages_delivered",
            "bytes_up",
            "bytes_down",
            "latency_p50_us",
            "latency_p99_us",
            "connections",
        ];
        let idx: Vec<usize> = names
            .iter()
            .map(|n| self.col(n))
            .collect::<Result<_, _>>()?;
        let in_window = self.col("in_window").ok();
        let mut out: BTreeMap<PhaseKey, Vec<Second>> = BTreeMap::new();
        for (line, row) in &self.rows {
            let n = |k: usize| self.num(*line, row, names[k], idx[k]);
            let s = Second {
                second: n(0)? as u32,
                messages_delivered: n(1)?,
                bytes_up: n(2)?,
                bytes_down: n(3)?,
                latency_p50_us: n(4)?,
                latency_p99_us: n(5)?,
                connections: n(6)?,
                in_window: in_window.and_then(|i| row.get(i)).is_some_and(|v| v == "1"),
            };
            out.entry(self.key(*line, row)?).or_default().push(s);
        }
        Ok(out)
    }
}
