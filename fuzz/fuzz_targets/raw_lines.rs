//! The raw stream: the input after its first byte, fed in two reads split at a position
//! taken from that first byte, walked message by message with `Lines`, as the raw client
//! does, and every message parsed as an envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushbench_loadgen::parsers::{Lines, parse_header};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(first) % (rest.len() + 1);
    let mut lines = Lines::new(256);
    let mut buf = Vec::new();
    for piece in [&rest[..cut], &rest[cut..]] {
        buf.extend_from_slice(piece);
        while let Ok(Some(n)) = lines.next(&buf) {
            assert!(n < buf.len() && buf[n] == b'\n', "a message ends at a newline");
            assert!(!buf[..n].contains(&b'\n'), "and holds none");
            let _ = parse_header(&buf[..n]);
            buf.drain(..=n);
        }
    }
});
