//! `pushbench run --pin`: where the server and the load generator run, recorded in
//! meta.json, and one-line refusals of CPU lists that cannot work.

use std::process::Command;

use pushbench_testkit::temp_dir;

fn pushbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pushbench"))
}

const TINY: &str = r#"
name = "pin"
duration = "500ms"
warmup = "100ms"
ramp_up = "100ms"
[workload]
rate = 20
payload_bytes = 8
[[transports]]
kind = "sse"
clients = 2
"#;

/// The CPUs the kernel reports for a process, from `/proc/<pid>/status`.
fn cpus_of(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in /proc/*/status")
        .trim()
        .to_string()
}

#[test]
fn pin_splits_the_cpus_and_meta_json_says_how() {
    let own = cpus_of(&std::fs::read_to_string("/proc/self/status").unwrap());
    if !own.contains(['-', ',']) {
        eprintln!("skipped: this test process may use only CPU {own}");
        return;
    }
    let dir = temp_dir("pin");
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, TINY).unwrap();
    let out = dir.join("out");
    let run = pushbench()
        .args(["run", scenario.to_str().unwrap(), "--quiet", "--pin"])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta.json")).unwrap()).unwrap();
    let (server, loadgen) = (
        meta["cpu_pinning"]["server"].as_str().unwrap(),
        meta["cpu_pinning"]["loadgen"].as_str().unwrap(),
    );
    // Two halves of the CPUs this process may use: disjoint, non-empty, server first.
    assert!(!server.is_empty() && !loadgen.is_empty(), "{meta}");
    assert_ne!(server, loadgen);
    let first = |list: &str| -> u32 { list.split([',', '-']).next().unwrap().parse().unwrap() };
    assert!(first(server) < first(loadgen), "{meta}");
    assert!(
        std::fs::read_to_string(out.join("report.md"))
            .unwrap()
            .contains(&format!("server pinned to CPUs {server}")),
        "the report says where the processes ran"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn impossible_cpu_lists_are_refused_in_one_line() {
    let dir = temp_dir("pin-bad");
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, TINY).unwrap();
    for (pin, says) in [
        ("0:0", "given to both"),
        ("0", "expected SERVER:LOADGEN"),
        ("0:1-", "expected a CPU list"),
        ("0:1000", "CPU 1000 is not available"),
    ] {
        let run = pushbench()
            .args(["run", scenario.to_str().unwrap(), "--quiet", "--pin", pin])
            .args(["--out", dir.join("out").to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "--pin {pin}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--pin") && stderr.contains(says),
            "{stderr}"
        );
        assert!(!dir.join("out").exists(), "nothing written for bad input");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
