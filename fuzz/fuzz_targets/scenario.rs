//! Scenario files: `pushbench_loadgen::scenario::parse` on the input read as UTF-8 (invalid sequences replaced),
//! including the error path that locates the line and key of a problem.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushbench_loadgen::scenario::parse;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse(Path::new("fuzz.toml"), &text);
});
