//! A run directory read back from its files alone, so charts, reports and comparisons are
//! made from exactly what was written, whether the run just ended or was copied elsewhere.

use crate::ReportError;
use crate::sweep::SweepRow;
use pushbench_model::{SweepDimension, SweepPoint};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One row of `summary.csv`: the phase's identity and every numeric column by name.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// The phase label.
    pub transport: String,
    /// Repetition, from 1.
    pub repetition: u32,
    /// The sweep point (`sweep_dimension`, `sweep_value` columns), when the run swept.
    pub sweep: Option<SweepPoint>,
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

    /// The phase's key.
    pub fn key(&self) -> PhaseKey {
        PhaseKey::new(&self.transport, self.sweep, self.repetition)
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

/// A phase's key: transport label, sweep point and repetition. Keys order by transport,
/// then point (ascending), then repetition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PhaseKey {
    /// The transport label.
    pub transport: String,
    /// The sweep point, when the run swept.
    pub sweep: Option<SweepPoint>,
    /// Repetition, from 1.
    pub repetition: u32,
}

impl PhaseKey {
    /// A key.
    pub fn new(transport: impl Into<String>, sweep: Option<SweepPoint>, repetition: u32) -> Self {
        PhaseKey {
            transport: transport.into(),
            sweep,
            repetition,
        }
    }
}

/// What `compare` matches between two runs: a transport at a sweep point (or just a
/// transport, without a sweep).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    /// The transport label.
    pub transport: String,
    /// The sweep point, when the run swept.
    pub sweep: Option<SweepPoint>,
}

impl Group {
    /// Whether a phase belongs to this group.
    pub fn has(&self, transport: &str, sweep: Option<SweepPoint>) -> bool {
        self.transport == transport && self.sweep == sweep
    }
}

/// `sse`, or `sse clients=1000` in a sweep.
impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sweep {
            Some(p) => write!(f, "{} {p}", self.transport),
            None => f.write_str(&self.transport),
        }
    }
}

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
    /// One row per transport and sweep point over all repetitions (`sweep.csv`), made from
    /// `summary.csv` and the phases' histogram logs; empty without a sweep.
    pub sweep: Vec<SweepRow>,
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
        let sweep = crate::sweep::rows(dir, &summary)?;
        Ok(RunData {
            dir: dir.to_owned(),
            meta,
            summary,
            latency,
            bandwidth,
            timeseries,
            sweep,
        })
    }

    /// The swept dimension, when the run swept one.
    pub fn sweep_dimension(&self) -> Option<SweepDimension> {
        self.summary
            .iter()
            .find_map(|r| r.sweep)
            .map(|p| p.dimension)
    }

    /// The sweep points the run has phases of, ascending; empty without a sweep.
    pub fn points(&self) -> Vec<SweepPoint> {
        let mut out: Vec<SweepPoint> = self.summary.iter().filter_map(|r| r.sweep).collect();
        out.sort();
        out.dedup();
        out
    }

    /// The point the single-point charts and readings show: a sweep's largest, where the
    /// transports differ most.
    pub fn headline_point(&self) -> Option<SweepPoint> {
        self.points().last().copied()
    }

    /// The run restricted to the phases at `point` (all of them for `None` in a run
    /// without a sweep), as a run of that point alone would read.
    pub fn at(&self, point: Option<SweepPoint>) -> RunData {
        fn keep<V: Clone>(
            map: &BTreeMap<PhaseKey, V>,
            point: Option<SweepPoint>,
        ) -> BTreeMap<PhaseKey, V> {
            map.iter()
                .filter(|(k, _)| k.sweep == point)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
        RunData {
            dir: self.dir.clone(),
            meta: self.meta.clone(),
            summary: self
                .summary
                .iter()
                .filter(|r| r.sweep == point)
                .cloned()
                .collect(),
            latency: keep(&self.latency, point),
            bandwidth: keep(&self.bandwidth, point),
            timeseries: keep(&self.timeseries, point),
            sweep: Vec::new(),
        }
    }

    /// Every transport at every point, transport by transport in summary order, points
    /// ascending: the groups `compare` matches.
    pub fn groups(&self) -> Vec<Group> {
        let mut out: Vec<Group> = Vec::new();
        for t in self.transports() {
            let mut points: Vec<Option<SweepPoint>> = self
                .summary
                .iter()
                .filter(|r| r.transport == t)
                .map(|r| r.sweep)
                .collect();
            points.sort();
            points.dedup();
            out.extend(points.into_iter().map(|sweep| Group {
                transport: t.clone(),
                sweep,
            }));
        }
        out
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

/// The columns every per-phase file ends with: the sweep point, empty without a sweep.
pub(crate) const SWEEP_DIMENSION: &str = "sweep_dimension";
/// See [`SWEEP_DIMENSION`].
pub(crate) const SWEEP_VALUE: &str = "sweep_value";

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
        Ok(PhaseKey::new(
            row.get(t).cloned().unwrap_or_default(),
            self.sweep(line, row)?,
            rep,
        ))
    }

    /// The sweep point of a row: none when the columns are absent (a run made before
    /// sweeps existed) or empty (a run without a sweep).
    fn sweep(&self, line: usize, row: &[String]) -> Result<Option<SweepPoint>, ReportError> {
        let (Ok(d), Ok(v)) = (self.col(SWEEP_DIMENSION), self.col(SWEEP_VALUE)) else {
            return Ok(None);
        };
        let name = row.get(d).map_or("", String::as_str);
        if name.is_empty() {
            return Ok(None);
        }
        let dimension = SweepDimension::from_name(name).ok_or_else(|| ReportError::Parse {
            path: self.path.clone(),
            line,
            message: format!(
                "column `{SWEEP_DIMENSION}`: expected clients, rate or payload_bytes, found {name:?}"
            ),
        })?;
        let value = self.num(line, row, SWEEP_VALUE, v)?;
        if !value.is_finite() {
            return Err(self.bad(line, SWEEP_VALUE, &row[v]));
        }
        Ok(Some(SweepPoint { dimension, value }))
    }

    fn summary(&self) -> Result<Vec<SummaryRow>, ReportError> {
        let kind = self.col("kind").ok();
        let mut out: Vec<SummaryRow> = Vec::with_capacity(self.rows.len());
        for (line, row) in &self.rows {
            let key = self.key(*line, row)?;
            let mut values = BTreeMap::new();
            for (i, name) in self.header.iter().enumerate() {
                if [
                    "transport",
                    "repetition",
                    "kind",
                    SWEEP_DIMENSION,
                    SWEEP_VALUE,
                ]
                .contains(&name.as_str())
                {
                    continue;
                }
                values.insert(name.clone(), self.num(*line, row, name, i)?);
            }
            // One run sweeps one dimension, and every phase of it has a point.
            if let Some(first) = out.first()
                && first.sweep.map(|p| p.dimension) != key.sweep.map(|p| p.dimension)
            {
                return Err(ReportError::Parse {
                    path: self.path.clone(),
                    line: *line,
                    message: format!(
                        "column `{SWEEP_DIMENSION}`: {:?} where the first row has {:?}; a run sweeps one dimension in every row",
                        key.sweep.map_or("", |p| p.dimension.name()),
                        first.sweep.map_or("", |p| p.dimension.name()),
                    ),
                });
            }
            out.push(SummaryRow {
                kind: kind
                    .and_then(|k| row.get(k).cloned())
                    .unwrap_or_else(|| key.transport.clone()),
                transport: key.transport,
                repetition: key.repetition,
                sweep: key.sweep,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::temp_dir;

    #[test]
    fn a_run_from_before_sweeps_reads_without_points() {
        // The committed baseline was written before the sweep columns existed.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results/baseline");
        let run = RunData::load(&dir).unwrap();
        assert!(!run.summary.is_empty());
        assert!(run.summary.iter().all(|r| r.sweep.is_none()));
        assert_eq!(run.sweep_dimension(), None);
        assert!(run.sweep.is_empty() && run.points().is_empty());
        let groups: Vec<String> = run.groups().iter().map(Group::to_string).collect();
        assert_eq!(groups, run.transports());
        assert_eq!(run.at(None).summary, run.summary);
    }

    const HEADER: &str = "transport,repetition,clients,kind,sweep_dimension,sweep_value";

    fn summary(rows: &[&str]) -> Result<Vec<SummaryRow>, ReportError> {
        let dir = temp_dir("summary-csv");
        let path = dir.join("summary.csv");
        std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
        let out = Csv::read(&path)?.summary();
        std::fs::remove_dir_all(&dir).unwrap();
        out
    }

    #[test]
    fn summary_rows_carry_their_point() {
        let rows = summary(&["sse,1,100,sse,clients,100", "sse,1,1000,sse,clients,1000"]).unwrap();
        let points: Vec<String> = rows.iter().map(|r| r.sweep.unwrap().to_string()).collect();
        assert_eq!(points, ["clients=100", "clients=1000"]);
        assert!(!rows[0].values.contains_key("sweep_value"));
        assert_eq!(rows[1].get("clients"), 1000.0);
        let plain = summary(&["sse,1,100,sse,,"]).unwrap();
        assert_eq!(plain[0].sweep, None);

        let mixed = summary(&["sse,1,100,sse,clients,100", "sse,1,100,sse,rate,2"]);
        assert!(
            mixed
                .unwrap_err()
                .to_string()
                .contains(":3: column `sweep_dimension`"),
            "one dimension per run"
        );
        let unknown = summary(&["sse,1,100,sse,topics,3"])
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("expected clients, rate or payload_bytes"),
            "{unknown}"
        );
        let bad = summary(&["sse,1,100,sse,rate,fast"])
            .unwrap_err()
            .to_string();
        assert!(bad.contains("`sweep_value`: expected a number"), "{bad}");
    }

    #[test]
    fn a_sweep_run_splits_into_points_and_groups() {
        let at = |value| {
            Some(SweepPoint {
                dimension: SweepDimension::Rate,
                value,
            })
        };
        let row = |t: &str, sweep, repetition| SummaryRow {
            transport: t.into(),
            repetition,
            sweep,
            kind: t.into(),
            values: BTreeMap::new(),
        };
        // In run order: repetitions outermost, then points, then transports.
        let mut summary = Vec::new();
        for rep in 1..=2 {
            for p in [0.5, 20.0] {
                for t in ["ws", "sse"] {
                    summary.push(row(t, at(p), rep));
                }
            }
        }
        let latency = summary
            .iter()
            .map(|r| (r.key(), Vec::new()))
            .collect::<BTreeMap<_, _>>();
        let run = RunData {
            dir: "x".into(),
            meta: serde_json::Value::Null,
            summary,
            latency,
            bandwidth: BTreeMap::new(),
            timeseries: BTreeMap::new(),
            sweep: Vec::new(),
        };
        assert_eq!(run.sweep_dimension(), Some(SweepDimension::Rate));
        assert_eq!(run.points(), [at(0.5).unwrap(), at(20.0).unwrap()]);
        assert_eq!(run.headline_point(), at(20.0));
        let groups: Vec<String> = run.groups().iter().map(Group::to_string).collect();
        assert_eq!(
            groups,
            ["ws rate=0.5", "ws rate=20", "sse rate=0.5", "sse rate=20"]
        );
        let top = run.at(at(20.0));
        assert_eq!(top.summary.len(), 4);
        assert!(top.summary.iter().all(|r| r.sweep == at(20.0)));
        assert_eq!(top.latency.len(), 4);
        assert_eq!(top.transports(), ["ws", "sse"]);
    }
}
