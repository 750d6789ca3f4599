//! Set-up shared by the tests that run the real binary (`run.rs`, `target.rs`, `nchan.rs`):
//! the command, a run waited for, and `summary.csv` read back by transport.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The pushbench binary under test.
pub fn pushbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pushbench"))
}

/// A file of the repository, by its path from the root.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// `pushbench run SCENARIO --out OUT EXTRA...`, waited for.
pub fn run_with(scenario: &Path, out: &Path, extra: &[&str]) -> Output {
    pushbench()
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// The rows of `OUT/summary.csv`, each a map from column to cell, by transport label.
pub fn summary(out: &Path) -> HashMap<String, HashMap<String, String>> {
    let text = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let row: HashMap<String, String> = header
                .iter()
                .zip(l.split(','))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (row["transport"].clone(), row)
        })
        .collect()
}

/// A whole-number cell of a row of [`summary`].
pub fn num(row: &HashMap<String, String>, col: &str) -> u64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col}: {:?}", row[col]))
}
