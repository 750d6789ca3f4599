//! Behaviour kept through restructuring: `pushbench report` and `pushbench compare` on run
//! directories made by earlier code (`tests/fixtures/runs/`, see its README) give exactly
//! the files and answers recorded in `tests/fixtures/expected/`.
//!
//! Everything is compared byte for byte. Charts are compared by SHA-1 (the PNGs are too
//! large to keep, and the SVGs are kept once, inside the normalised `report.html`): every
//! inline `<svg>…</svg>` of an HTML page is replaced by `<svg sha1="…"/>` before comparing,
//! and `charts.sha1` lists every chart file with its SHA-1.
//!
//! `PUSHBENCH_BLESS=1 cargo test -p pushbench --test fixtures` rewrites `expected/` from the
//! current code: only for an intended change, listed in the fixtures' README.

mod common;

use common::{copy_dir, pushbench};
use pushbench_testkit::temp_dir;
use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn bless() -> bool {
    std::env::var_os("PUSHBENCH_BLESS").is_some_and(|v| v == "1")
}

fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The page with each inline SVG replaced by its SHA-1.
fn normalise_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 4);
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..]
            .find("</svg>")
            .map(|e| start + e + "</svg>".len())
            .expect("every <svg> is closed");
        out.push_str(&rest[..start]);
        out.push_str(&format!(
            "<svg sha1=\"{}\"/>",
            sha1_hex(&rest.as_bytes()[start..end])
        ));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `name sha1` for every file of `dir` (not its subdirectories), sorted by name.
fn manifest(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| format!("{n} {}\n", sha1_hex(&std::fs::read(dir.join(n)).unwrap())))
        .collect()
}

/// Compares `actual` with the expected file (or writes it, when blessing); on a mismatch
/// the actual text is left next to the run it came from, for `diff`.
fn check(expected: &Path, actual: &str, scratch: &Path) {
    if bless() {
        std::fs::create_dir_all(expected.parent().unwrap()).unwrap();
        std::fs::write(expected, actual).unwrap();
        return;
    }
    let want =
        std::fs::read_to_string(expected).unwrap_or_else(|e| panic!("{}: {e}", expected.display()));
    if want != actual {
        let name = expected.file_name().unwrap().to_string_lossy();
        let got = scratch.join(format!("actual-{name}"));
        std::fs::write(&got, actual).unwrap();
        panic!(
            "{} differs from what the code makes now; compare with {}",
            expected.display(),
            got.display()
        );
    }
}

/// The runs, each a directory as `pushbench run` left it minus what `report` makes.
const RUNS: [&str; 8] = [
    "smoke",
    "sweep",
    "sweep-rtt",
    "echo",
    "network",
    "ci-a",
    "ci-b",
    "old-format",
];

#[test]
fn report_reproduces_every_fixture() {
    let scratch = temp_dir("fixtures-report");
    for name in RUNS {
        let run = scratch.join(name);
        copy_dir(&fixtures().join("runs").join(name), &run);
        let before = manifest(&run);
        let out = pushbench().arg("report").arg(&run).output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = fixtures().join("expected").join(name);
        let read = |f: &str| std::fs::read_to_string(run.join(f)).unwrap();
        check(&expected.join("report.md"), &read("report.md"), &run);
        check(
            &expected.join("report.html"),
            &normalise_html(&read("report.html")),
            &run,
        );
        check(
            &expected.join("charts.sha1"),
            &manifest(&run.join("charts")),
            &run,
        );
        // The files `report` reads are left as they were; it adds only its own.
        let mut now = manifest(&run);
        for own in ["report.html", "report.md", "sweep.csv"] {
            now = now
                .lines()
                .filter(|l| !l.starts_with(&format!("{own} ")))
                .map(|l| format!("{l}\n"))
                .collect();
        }
        assert_eq!(now, before, "{name}: report changed a file it reads");
        let sweep = run.join("sweep.csv");
        if name.starts_with("sweep") {
            check(
                &expected.join("sweep.csv"),
                &std::fs::read_to_string(&sweep).unwrap(),
                &run,
            );
        } else {
            assert!(
                !sweep.exists(),
                "{name}: a run without a sweep has no sweep.csv"
            );
        }
    }
    std::fs::remove_dir_all(&scratch).unwrap();
}

/// `pushbench compare` cases: name, baseline, candidate, extra arguments.
const COMPARISONS: [(&str, &str, &str, &[&str]); 8] = [
    ("ci-a-ci-b", "ci-a", "ci-b", &[]),
    ("ci-b-ci-a", "ci-b", "ci-a", &["--format", "json"]),
    ("ci-a-ci-b-strict", "ci-a", "ci-b", &["--threshold", "0%"]),
    (
        "ci-a-ci-b-thresholds",
        "ci-a",
        "ci-b",
        &[
            "--threshold",
            "5%",
            "--threshold",
            "p99=50%",
            "--format",
            "json",
        ],
    ),
    ("sweep-sweep", "sweep", "sweep", &[]),
    ("old-format-ci-a", "old-format", "ci-a", &[]),
    ("smoke-network", "smoke", "network", &[]),
    (
        "smoke-ci-a-allowed",
        "smoke",
        "ci-a",
        &["--allow-different", "--format", "json"],
    ),
];

#[test]
fn compare_gives_the_same_verdict_and_table() {
    let scratch = temp_dir("fixtures-compare");
    let expected = fixtures().join("expected").join("compare");
    for (case, base, new, extra) in COMPARISONS {
        let html = scratch.join(format!("{case}.html"));
        // Relative paths, as a user types them: the reports name the directories.
        let out = pushbench()
            .current_dir(fixtures())
            .arg("compare")
            .arg(format!("runs/{base}"))
            .arg(format!("runs/{new}"))
            .args(extra)
            .arg("--html")
            .arg(&html)
            .output()
            .unwrap();
        let answer = format!(
            "exit code: {:?}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        check(&expected.join(format!("{case}.exit")), &answer, &scratch);
        check(
            &expected.join(format!("{case}.out")),
            &String::from_utf8_lossy(&out.stdout),
            &scratch,
        );
        if out.status.code() != Some(2) {
            check(
                &expected.join(format!("{case}.html")),
                &normalise_html(&std::fs::read_to_string(&html).unwrap()),
                &scratch,
            );
        }
    }
    std::fs::remove_dir_all(&scratch).unwrap();
}
