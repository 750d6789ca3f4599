//! Set-up shared by the tests that run the real binary (`run.rs`, `target.rs`, `nchan.rs`,
//! `paired.rs`): the command, a run waited for, `summary.csv` read back by transport, and
//! `compare` on run directories copied and altered into fixtures (also `fixtures.rs`), and
//! whether Chromium is there (`browser.rs`, `browser_clients.rs`).

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

/// Chromium and chromedriver; without them `None` after one line on stderr, or a failure
/// when `CI=true` (`.ci/run` installs them with `scripts/install-chromium.sh`).
pub fn browser_installed() -> Option<(PathBuf, PathBuf)> {
    // Found as `pushbench run` finds them, PUSHBENCH_CHROMIUM and PUSHBENCH_CHROMEDRIVER
    // included, so a test skips exactly when a run would refuse.
    let why = match pushbench_loadgen::browser::locate() {
        Ok(p) => return Some((p.chromium, p.driver)),
        Err(why) => why,
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}, and CI=true: the browser tests must run");
    }
    eprintln!("skipped: {why}");
    None
}

/// `pushbench compare DIRS... EXTRA...`: exit code, stdout, stderr.
pub fn compare(dirs: &[&Path], extra: &[&str]) -> (Option<i32>, String, String) {
    let out = pushbench()
        .arg("compare")
        .args(dirs)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Copies a run directory, subdirectories included.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Rewrites the named columns of every row of a run's summary.csv.
pub fn rewrite_columns(run: &Path, columns: &[&str], f: impl Fn(f64) -> f64) {
    let path = run.join("summary.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at: Vec<usize> = columns
        .iter()
        .map(|c| header.iter().position(|h| h == c).unwrap())
        .collect();
    let mut out = header.join(",") + "\n";
    for line in lines {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        for &i in &at {
            cells[i] = f(cells[i].parse().unwrap()).to_string();
        }
        out += &(cells.join(",") + "\n");
    }
    std::fs::write(path, out).unwrap();
}
