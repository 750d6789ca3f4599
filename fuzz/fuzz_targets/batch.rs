//! Poll and long-poll answers: `parse_batch`, then `parse_header` on every message line, as
//! the polling clients do; plus `parse_publish`, which reads the same kind of bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushbench_loadgen::parsers::{parse_batch, parse_header};

fuzz_target!(|data: &[u8]| {
    if let Ok((_cursor, lines)) = parse_batch(data) {
        for line in lines {
            assert!(!line.is_empty() && !line.contains(&b'\n'));
            let _ = parse_header(line);
        }
    }
    let _ = pushbench_wire::parse_publish(data);
});
