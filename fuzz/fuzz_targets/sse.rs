//! Server-Sent Events: walks the input event by event with `next_event`, as the SSE client
//! does with a de-chunked body, and parses every `data` field as a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushbench_loadgen::parsers::{next_event, parse_header};

fuzz_target!(|data: &[u8]| {
    let mut pos = 0;
    while let Ok(Some((used, event))) = next_event(&data[pos..]) {
        assert!(used > 0, "an event takes up at least its blank line");
        assert!(
            used <= data.len() - pos,
            "used {used} of {} bytes",
            data.len() - pos
        );
        if let Some(d) = event.data {
            let _ = parse_header(d);
        }
        pos += used;
    }
});
