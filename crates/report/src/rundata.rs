//! A run directory read back from its files alone, so charts, reports and comparisons are
//! made from exactly what was written, whether the run just ended or was copied elsewhere.

use crate::ReportError;
use crate::files::read_csv;
use pushbench_model::rows::{PercentileRow, Pooled, SecondRow, SummaryRow, SweepRow};
use pushbench_model::run::RunMeta;
use pushbench_model::{SweepDimension, SweepPoint, TransportKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// The key of a summary row's phase.
    pub fn of(r: &SummaryRow) -> Self {
        PhaseKey::new(&r.transport, r.sweep(), r.repetition)
    }

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
    /// `meta.json`.
    pub meta: RunMeta,
    /// `summary.csv`, in file order.
    pub summary: Vec<SummaryRow>,
    /// `latency_percentiles.csv` by phase (`value` in µs).
    pub latency: BTreeMap<PhaseKey, Vec<PercentileRow>>,
    /// `bandwidth_percentiles.csv` by phase (`value` in bytes per second).
    pub bandwidth: BTreeMap<PhaseKey, Vec<PercentileRow>>,
    /// `timeseries.csv` by phase.
    pub timeseries: BTreeMap<PhaseKey, Vec<SecondRow>>,
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
        let meta = read_meta(&meta_path)?;
        let summary = read_summary(&dir.join("summary.csv"))?;
        let latency = read_percentiles(&dir.join("latency_percentiles.csv"), "latency_us")?;
        let bandwidth =
            read_percentiles(&dir.join("bandwidth_percentiles.csv"), "bytes_per_second")?;
        let seconds = read_csv::<SecondRow>(&dir.join("timeseries.csv"), &[])?;
        let timeseries = by_phase(seconds, |r| {
            PhaseKey::new(&r.transport, r.sweep(), r.repetition)
        });
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

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.meta.scenario.name
    }

    /// The swept dimension, when the run swept one.
    pub fn sweep_dimension(&self) -> Option<SweepDimension> {
        self.summary
            .iter()
            .find_map(SummaryRow::sweep)
            .map(|p| p.dimension)
    }

    /// The sweep points the run has phases of, ascending; empty without a sweep.
    pub fn points(&self) -> Vec<SweepPoint> {
        let mut out: Vec<SweepPoint> = self.summary.iter().filter_map(SummaryRow::sweep).collect();
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
                .filter(|r| r.sweep() == point)
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
                .map(SummaryRow::sweep)
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

    /// The client kind of a transport label (`None` for a label the summary does not
    /// list).
    pub fn kind_of(&self, transport: &str) -> Option<TransportKind> {
        self.summary
            .iter()
            .find(|r| r.transport == transport)
            .map(|r| r.kind)
    }

    /// A transport's repetitions.
    pub fn rows_of<'a>(&'a self, transport: &'a str) -> impl Iterator<Item = &'a SummaryRow> {
        self.summary
            .iter()
            .filter(move |r| r.transport == transport)
    }

    /// A transport's repetitions pooled: the means of their quantities, so its figures are
    /// ratios of means.
    pub fn pooled(&self, transport: &str) -> Pooled {
        Pooled::mean(self.rows_of(transport))
    }

    /// Mean of a quantity over a transport's repetitions (0 for none).
    pub fn mean(&self, transport: &str, quantity: impl Fn(&SummaryRow) -> f64) -> f64 {
        let rows: Vec<&SummaryRow> = self.rows_of(transport).collect();
        if rows.is_empty() {
            0.0
        } else {
            rows.iter().map(|r| quantity(r)).sum::<f64>() / rows.len() as f64
        }
    }
}

fn read_meta(path: &Path) -> Result<RunMeta, ReportError> {
    read_json(path)
}

/// A JSON file read as `T`; an error names the file, the line and the key.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut json = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let line = e.inner().line();
        let message = match e.path().to_string().as_str() {
            "." => e.inner().to_string(),
            key => format!("{key}: {}", e.inner()),
        };
        ReportError::Parse {
            path: path.to_owned(),
            line,
            message,
        }
    })
}

/// `summary.csv`, in file order. One run sweeps one dimension, and every phase of it has a
/// point.
fn read_summary(path: &Path) -> Result<Vec<SummaryRow>, ReportError> {
    let rows = read_csv::<SummaryRow>(path, &[])?;
    let first = rows.first().map(|(_, r)| r.sweep_dimension);
    for (line, r) in &rows {
        if let Some(first) = first.filter(|f| *f != r.sweep_dimension) {
            return Err(ReportError::Parse {
                path: path.to_owned(),
                line: *line,
                message: format!(
                    "column `sweep_dimension`: {:?} where the first row has {:?}; a run sweeps one dimension in every row",
                    r.sweep_dimension.map_or("", SweepDimension::name),
                    first.map_or("", SweepDimension::name),
                ),
            });
        }
        if let (Some(_), None) = (r.sweep_dimension, r.sweep_value) {
            return Err(ReportError::Parse {
                path: path.to_owned(),
                line: *line,
                message: "column `sweep_value`: expected a number, found \"\"".into(),
            });
        }
    }
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}

/// A percentile file whose values are the column `unit`, by phase.
fn read_percentiles(
    path: &Path,
    unit: &str,
) -> Result<BTreeMap<PhaseKey, Vec<PercentileRow>>, ReportError> {
    let rows = read_csv::<PercentileRow>(path, &[(unit, "value")])?;
    Ok(by_phase(rows, |r| {
        PhaseKey::new(&r.transport, r.sweep(), r.repetition)
    }))
}

fn by_phase<T>(rows: Vec<(usize, T)>, key: impl Fn(&T) -> PhaseKey) -> BTreeMap<PhaseKey, Vec<T>> {
    let mut out: BTreeMap<PhaseKey, Vec<T>> = BTreeMap::new();
    for (_, r) in rows {
        out.entry(key(&r)).or_default().push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::temp_dir;
    use pushbench_model::rows::CsvRow;

    #[test]
    fn a_run_from_before_sweeps_reads_without_points() {
        // The committed baseline was written before the sweep columns existed.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results/baseline");
        let run = RunData::load(&dir).unwrap();
        assert!(!run.summary.is_empty());
        assert!(run.summary.iter().all(|r| r.sweep().is_none()));
        assert_eq!(run.sweep_dimension(), None);
        assert!(run.sweep.is_empty() && run.points().is_empty());
        let groups: Vec<String> = run.groups().iter().map(Group::to_string).collect();
        assert_eq!(groups, run.transports());
        assert_eq!(run.at(None).summary, run.summary);
    }

    /// A summary.csv whose rows give `transport,repetition,clients,kind,sweep_dimension,
    /// sweep_value` as `rows` say, and 0 in every other column.
    fn summary(rows: &[&str]) -> Result<Vec<SummaryRow>, ReportError> {
        const GIVEN: [&str; 6] = [
            "transport",
            "repetition",
            "clients",
            "kind",
            "sweep_dimension",
            "sweep_value",
        ];
        let columns = SummaryRow::columns();
        let mut text = columns.join(",") + "\n";
        for r in rows {
            let given: Vec<&str> = r.split(',').collect();
            let cells: Vec<&str> = columns
                .iter()
                .map(|c| match GIVEN.iter().position(|g| g == c) {
                    Some(i) => given[i],
                    // A word, not a number.
                    None if *c == "verdict" => "ok",
                    None if *c == "client" => "rust",
                    None => "0",
                })
                .collect();
            text += &(cells.join(",") + "\n");
        }
        let dir = temp_dir("summary-csv");
        let path = dir.join("summary.csv");
        std::fs::write(&path, text).unwrap();
        let out = read_summary(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        out
    }

    #[test]
    fn summary_rows_carry_their_point() {
        let rows = summary(&["sse,1,100,sse,clients,100", "sse,1,1000,sse,clients,1000"]).unwrap();
        let points: Vec<String> = rows
            .iter()
            .map(|r| r.sweep().unwrap().to_string())
            .collect();
        assert_eq!(points, ["clients=100", "clients=1000"]);
        assert_eq!(rows[1].clients, 1000);
        let plain = summary(&["sse,1,100,sse,,"]).unwrap();
        assert_eq!(plain[0].sweep(), None);

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

    /// A summary.csv of one zero row with every column but `leave_out`.
    fn summary_without(leave_out: &[&str]) -> Result<Vec<SummaryRow>, ReportError> {
        let columns: Vec<&str> = SummaryRow::columns()
            .iter()
            .copied()
            .filter(|c| !leave_out.contains(c))
            .collect();
        let cells: Vec<&str> = columns
            .iter()
            .map(|c| match *c {
                "transport" | "kind" => "sse",
                "repetition" => "1",
                "sweep_dimension" | "sweep_value" => "",
                "verdict" => "ok",
                "client" => "browser",
                _ => "0",
            })
            .collect();
        let dir = temp_dir("summary-columns");
        let path = dir.join("summary.csv");
        std::fs::write(
            &path,
            format!("{}\n{}\n", columns.join(","), cells.join(",")),
        )
        .unwrap();
        let out = read_summary(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        out
    }

    #[test]
    fn a_missing_column_is_named_unless_it_was_added_later() {
        for column in [
            "kind",
            "messages_delivered",
            "latency_p99_us",
            "server_cpu_s",
        ] {
            let e = summary_without(&[column]).unwrap_err().to_string();
            assert!(
                e.ends_with(&format!("summary.csv:1: no column `{column}`")),
                "{e}"
            );
        }
        // Columns added after the first release read as not measured, and no sweep.
        let old = summary_without(SummaryRow::OPTIONAL).unwrap();
        assert_eq!(old[0].request_p99_us, None);
        assert_eq!(old[0].server_rss_per_connection_bytes, None);
        assert_eq!(old[0].sweep(), None);
        assert_eq!(old[0].client, pushbench_model::ClientKind::Rust);
        assert_eq!(old[0].clock_error_us, None);
        let new = summary_without(&[]).unwrap();
        assert_eq!(new[0].request_p99_us, Some(0));
        assert_eq!(new[0].client, pushbench_model::ClientKind::Browser);
    }

    #[test]
    fn a_cell_that_does_not_read_names_its_line_and_column() {
        let rows = ["sse,x,100,sse,,"];
        let e = summary(&rows).unwrap_err().to_string();
        assert!(
            e.contains("summary.csv:2: column `repetition`: expected a whole number, found \"x\""),
            "{e}"
        );
        let e = summary(&["sse,1,100,carrier-pigeon,,"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column `kind`: unknown variant `carrier-pigeon`"),
            "{e}"
        );
    }

    #[test]
    fn a_sweep_run_splits_into_points_and_groups() {
        let at = |value| {
            Some(SweepPoint {
                dimension: SweepDimension::Rate,
                value,
            })
        };
        let row = |t: &str, sweep: Option<SweepPoint>, repetition| SummaryRow {
            sweep_dimension: sweep.map(|p| p.dimension),
            sweep_value: sweep.map(|p| p.value),
            ..SummaryRow::empty(t, TransportKind::Sse, repetition)
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
            .map(|r| (PhaseKey::of(r), Vec::new()))
            .collect::<BTreeMap<_, _>>();
        let run = RunData {
            dir: "x".into(),
            meta: crate::tests::meta("x", 2),
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
        assert!(top.summary.iter().all(|r| r.sweep() == at(20.0)));
        assert_eq!(top.latency.len(), 4);
        assert_eq!(top.transports(), ["ws", "sse"]);
    }
}
