//! HTTP/1.1 response heads: `parse_head`, which every HTTP client and the WebSocket upgrade
//! run on the first bytes of a response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushbench_loadgen::parsers::parse_head;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(head)) = parse_head(data) {
        assert!(
            head.len <= data.len(),
            "head of {} bytes in {}",
            head.len,
            data.len()
        );
    }
});
