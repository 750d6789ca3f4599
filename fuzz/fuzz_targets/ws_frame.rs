//! WebSocket server frames: walks the input frame by frame with `next_frame`, as the WebSocket
//! client does, and parses every payload as a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushbench_loadgen::parsers::{next_frame, parse_header};

fuzz_target!(|data: &[u8]| {
    let mut pos = 0;
    while let Ok(Some(frame)) = next_frame(&data[pos..]) {
        let rest = &data[pos..];
        assert!(
            frame.len <= rest.len(),
            "frame of {} bytes in {}",
            frame.len,
            rest.len()
        );
        assert!(frame.payload.start <= frame.payload.end && frame.payload.end == frame.len);
        let _ = parse_header(&rest[frame.payload.clone()]);
        pos += frame.len;
    }
});
